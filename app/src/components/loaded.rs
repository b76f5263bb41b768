//! A page's data from a server function in its three states (loading, failed, loaded): a page
//! writes only its loading text and the view of the value, and a failure is always the one alert
//! of `field_error`, not a branch each page writes again.

use crate::components::field_error::error_alert;
use crate::error::AppError;
use leptos::either::Either;
use leptos::prelude::*;

/// `children(value)` once `resource` has loaded; its error as the alert if it failed; until
/// then `loading`, as a status, or nothing without it.
#[component]
pub fn Loaded<T, F, V>(
    /// The server function's answer.
    resource: Resource<Result<T, AppError>>,
    /// Said while the resource loads ("Cargando leads…").
    #[prop(optional)]
    loading: Option<&'static str>,
    /// The view of the loaded value; `let:name` on the tag names the value.
    children: F,
) -> impl IntoView
where
    T: Clone + Send + Sync + 'static,
    F: Fn(T) -> V + Clone + Send + 'static,
    V: IntoView + 'static,
{
    view! {
        <Suspense fallback=move || loading.map(|text| view! { <p role="status">{text}</p> })>
            {move || {
                let children = children.clone();
                Suspend::new(async move {
                    match resource.await {
                        Ok(value) => Either::Left(children(value)),
                        Err(err) => Either::Right(error_alert(err)),
                    }
                })
            }}
        </Suspense>
    }
}
