//! mini-crm's application: the pages and server functions, compiled for the server (`ssr`) and
//! for the browser (`hydrate`), and the server-only backend behind `ssr`.

pub mod api;
#[cfg(feature = "ssr")]
pub mod backend;
mod components;
pub mod domain;
pub mod error;
pub mod format;
mod pages;

use components::shell::Shell;
use leptos::prelude::*;
use leptos_meta::{provide_meta_context, MetaTags, Stylesheet, Title};
use leptos_router::components::{ParentRoute, Route, Router, Routes};
use leptos_router::path;
use pages::lead_form::{EditLeadPage, NewLeadPage};
use pages::{ajustes::AjustesPage, informes::InformesPage, integraciones::IntegracionesPage};
use pages::{lead::LeadPage, leads::LeadsPage, login::LoginPage, not_found::NotFound};

/// Hydrates the page's islands. Everything else on a page is server HTML whose links and forms
/// work without any wasm.
#[cfg(feature = "hydrate")]
pub fn hydrate() {
    // A server function that redirects (signing in, saving a lead) moves the browser itself:
    // there is no client-side router to do it.
    let _ = leptos::server_fn::redirect::set_redirect_hook(|location: &str| {
        let _ = window().location().set_href(location);
    });
    leptos::mount::hydrate_islands();
    // Leptos' loader hydrates the islands right after this returns, within one run of
    // microtasks; a zero-delay timeout fires after them. Browser tests wait for this mark
    // before they click: a click before hydration would be lost.
    set_timeout(
        || {
            if let Some(body) = document().body() {
                let _ = body.set_attribute("data-hydrated", "true");
            }
        },
        std::time::Duration::ZERO,
    );
}

/// Where a signed-in user lands by default.
pub const HOME_PATH: &str = "/informes";

/// The HTML document around the app, rendered on the server.
pub fn shell(options: LeptosOptions) -> impl IntoView {
    view! {
        <!DOCTYPE html>
        <html lang="es">
            <head>
                <meta charset="utf-8" />
                <meta name="viewport" content="width=device-width, initial-scale=1" />
                <link rel="icon" href="/favicon.svg" type="image/svg+xml" />
                // ECharts must be loaded before hydration draws the charts; `defer` keeps it
                // ahead of the (module) hydration script without blocking the first paint.
                <script src="/echarts.min.js" defer nonce=use_nonce()></script>
                <HydrationScripts options islands=true />
                <MetaTags />
            </head>
            <body>
                <App />
            </body>
        </html>
    }
}

/// The document title of a page. leptos_meta writes the title into the server's HTML without
/// escaping it (the view macros escape everything else), and a page's title can hold a lead's
/// name: escaped here, on the server. In the browser `document.title` takes plain text.
fn page_title(page: String) -> String {
    #[cfg(feature = "ssr")]
    let page = html_escape::encode_text(&page).into_owned();
    format!("{page} · mini-crm")
}

#[component]
pub fn App() -> impl IntoView {
    provide_meta_context();
    view! {
        <Stylesheet id="leptos" href="/pkg/mini-crm.css" />
        <Title formatter=page_title />
        <Router>
            <Routes fallback=NotFound>
                <Route path=path!("/login") view=LoginPage />
                <ParentRoute path=path!("") view=Shell>
                    <Route path=path!("/informes") view=InformesPage />
                    <Route path=path!("/leads") view=LeadsPage />
                    <Route path=path!("/leads/nuevo") view=NewLeadPage />
                    <Route path=path!("/leads/:id") view=LeadPage />
                    <Route path=path!("/leads/:id/editar") view=EditLeadPage />
                    <Route path=path!("/integraciones") view=IntegracionesPage />
                    <Route path=path!("/ajustes") view=AjustesPage />
                </ParentRoute>
            </Routes>
        </Router>
    }
}

/// The page to go to after signing in: `next` when it is a path of this site, else Informes.
/// Anything that could leave the site (`//host`, `/\host`, a scheme) is ignored.
pub fn safe_next(next: Option<&str>) -> String {
    match next {
        Some(path)
            if path.starts_with('/')
                && !path.starts_with("//")
                && !path.starts_with("/\\")
                && !path.chars().any(|c| c.is_control() || c == '\\')
                && !path.starts_with("/login") =>
        {
            path.to_string()
        }
        _ => HOME_PATH.to_string(),
    }
}

#[cfg(test)]
mod tests {
    use super::safe_next;

    #[test]
    fn next_stays_on_this_site() {
        assert_eq!(safe_next(Some("/leads?source=meta")), "/leads?source=meta");
        assert_eq!(safe_next(None), "/informes");
        for hostile in [
            "//evil.example",
            "/\\evil.example",
            "https://evil.example",
            "javascript:x",
            "/a\\b",
            "/login?next=/x",
        ] {
            assert_eq!(safe_next(Some(hostile)), "/informes", "{hostile}");
        }
    }
}
