//! How an error is shown: a refused change next to its field when the error names one, else —
//! and every other failure a page meets — as one alert, whose markup lives only here.

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
        Some(other) => Some(error_alert(other)),
    }
}

/// An error as staff read it: its Spanish message, as text, in an alert.
pub fn error_alert(error: AppError) -> impl IntoView {
    view! { <p class="alert error" role="alert">{error.to_string()}</p> }
}
