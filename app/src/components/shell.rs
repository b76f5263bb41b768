//! The frame of every signed-in page: brand, menu, the user and "Salir".

use crate::api::session::{get_current_user, Logout};
use crate::domain::CurrentUser;
use crate::error::AppError;
use leptos::prelude::*;
use leptos_router::components::Outlet;
use leptos_router::hooks::use_location;

const MENU: [(&str, &str); 4] = [
    ("/informes", "Informes"),
    ("/leads", "Leads"),
    ("/integraciones", "Integraciones"),
    ("/ajustes", "Ajustes"),
];

/// The signed-in user, provided to every page of the shell (pages show admins' controls by it;
/// the server functions check the role themselves).
pub type SignedInUser = Resource<Result<CurrentUser, AppError>>;

#[component]
pub fn Shell() -> impl IntoView {
    let user: SignedInUser = Resource::new_blocking(|| (), |_| get_current_user());
    provide_context(user);
    // Rendered on the server only: a plain form, so "Salir" works before and without wasm.
    let logout = ServerAction::<Logout>::new();
    let path = use_location().pathname.get_untracked();
    view! {
        <header class="topbar">
            <a class="brand" href="/informes">"mini-crm"</a>
            <nav class="menu" aria-label="Menú principal">
                {MENU
                    .into_iter()
                    .map(|(href, label)| {
                        let current = (path == href || path.starts_with(&format!("{href}/")))
                            .then_some("page");
                        view! { <a href=href aria-current=current>{label}</a> }
                    })
                    .collect_view()}
            </nav>
            <div class="account">
                <Suspense>
                    {move || Suspend::new(async move {
                        match user.await {
                            Ok(user) => {
                                view! { <span class="user-name" title=user.email>{user.name}</span> }
                                    .into_any()
                            }
                            _ => view! { <a href="/login">"Iniciar sesión"</a> }.into_any(),
                        }
                    })}
                </Suspense>
                <ActionForm action=logout attr:class="logout">
                    <button type="submit" class="button secondary">"Salir"</button>
                </ActionForm>
            </div>
        </header>
        <main class="page">
            <Outlet />
        </main>
    }
}
