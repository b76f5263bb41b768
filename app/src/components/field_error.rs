//! How a refused change is explained: next to its field when the error names one, else as an
//! alert above the form.

use crate::error::AppError;
use leptos::prelude::*;

/// The message of `error` when it is about `field`.
#[component]
pub fn FieldError(error: Signal<Option<AppError>>, field: &'static str) -> impl IntoView {
    move || match error.get() {
        Some(AppError::InvalidInput {
            field: Some(name),
            message,
        }) if name == field => Some(view! { <p class="field-error" role="alert">{message}</p> }),
        _ => None,
    }
}

/// The message of `error` when it names no field.
#[component]
pub fn GeneralError(error: Signal<Option<AppError>>) -> impl IntoView {
    move || match error.get() {
        Some(AppError::InvalidInput { field: Some(_), .. }) | None => None,
        Some(other) => Some(view! { <p class="alert error" role="alert">{other.to_string()}</p> }),
    }
}
