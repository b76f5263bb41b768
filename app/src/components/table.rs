//! The pages' tables in one markup: each scrolls sideways on a narrow screen, is named for
//! screen readers by a hidden caption and heads its columns alike.

use leptos::either::Either;
use leptos::prelude::*;

/// A table in its scrolling frame: the caption (hidden: the section's heading says it on screen)
/// names it for screen readers, then the column headings, then the rows given as children.
#[component]
pub fn DataTable(
    /// The table's name, as screen readers announce it.
    caption: &'static str,
    /// The column headings, left to right.
    columns: &'static [&'static str],
    /// Adds a last column for each row's buttons, headed "Acciones" for screen readers only.
    #[prop(optional)]
    actions: bool,
    /// A class of the table itself, for a table styled apart (the leads list).
    #[prop(optional)]
    class: Option<&'static str>,
    /// The rows (`<tr>`).
    children: Children,
) -> impl IntoView {
    let headings = columns
        .iter()
        .map(|&name| Either::Left(view! { <th scope="col">{name}</th> }))
        .chain(actions.then(|| {
            Either::Right(view! {
                <th scope="col"><span class="visually-hidden">"Acciones"</span></th>
            })
        }))
        .collect_view();
    let contents = view! {
        <caption class="visually-hidden">{caption}</caption>
        <thead>
            <tr>{headings}</tr>
        </thead>
        <tbody>{children()}</tbody>
    };
    // `class=None` would still write an empty `class=""`: without a class, no attribute.
    let table = match class {
        Some(class) => Either::Left(view! { <table class=class>{contents}</table> }),
        None => Either::Right(view! { <table>{contents}</table> }),
    };
    view! { <div class="table-wrap">{table}</div> }
}
