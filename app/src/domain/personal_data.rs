//! What a provider or a failure says is stored, logged and shown (Integraciones, `/healthz`,
//! the lead's page, `webhooks list`); providers quote the number or the address they refuse, and
//! a patient's contact details have no place there.

/// `text` with every phone-like number cut to its last three digits and every e-mail address
/// replaced (see [`super::phone::mask_phone_numbers`], [`super::email::mask_email_addresses`]).
pub fn mask_personal_data(text: &str) -> String {
    super::phone::mask_phone_numbers(&super::email::mask_email_addresses(text))
}

#[cfg(test)]
mod tests {
    #[test]
    fn numbers_and_addresses_both_go() {
        assert_eq!(
            super::mask_personal_data("34600111222 (ana@example.com) is not a WhatsApp user"),
            "•••222 (•••@•••) is not a WhatsApp user"
        );
    }
}
