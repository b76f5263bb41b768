//! The Leads list: search, filters by source and stage, counts and pages.

use crate::backend::error::{Context, Result};
use crate::backend::state::AppState;
use crate::backend::store::leads;
use crate::domain::{LeadList, LeadRow, Source, StageFilter};
use crate::format::local_datetime;

pub const PAGE_SIZE: i64 = 25;
/// How deep paging goes through a search too large to count (narrow the search instead).
const MAX_UNCOUNTED_PAGE: i64 = 400;

/// Turns what staff type in the search box into an FTS5 expression: every word must match the
/// start of a word of the name, phone or e-mail. Digits typed in groups ("612 34 56 78") are one
/// number. `None` when nothing searchable was typed.
pub fn search_expression(input: &str) -> Option<String> {
    let mut terms: Vec<String> = Vec::new();
    let mut previous_was_digits = false;
    // An e-mail is searched by its local part: its domain ("example", "com") is shared by most
    // leads and would make the search read them all.
    let local_parts = input
        .split_whitespace()
        .map(|word| word.split_once('@').map_or(word, |(local, _)| local))
        .collect::<Vec<_>>()
        .join(" ");
    for word in local_parts.split(|c: char| !c.is_alphanumeric()) {
        if word.is_empty() {
            continue;
        }
        let digits = word.bytes().all(|b| b.is_ascii_digit());
        match terms.last_mut() {
            Some(last) if digits && previous_was_digits => last.push_str(word),
            _ => terms.push(word.to_string()),
        }
        previous_was_digits = digits;
    }
    if terms.is_empty() {
        return None;
    }
    Some(
        terms
            .iter()
            .map(|term| format!("\"{}\"*", term.replace('"', "")))
            .collect::<Vec<_>>()
            .join(" AND "),
    )
}

/// One page of the Leads list.
pub async fn list(
    state: &AppState,
    search: &str,
    source: Option<Source>,
    stage: Option<StageFilter>,
    page: i64,
) -> Result<LeadList> {
    let expression = search_expression(search);
    let filter = leads::ListFilter {
        search: expression.as_deref(),
        source,
        stage,
    };
    let reader = &state.db.reader;
    let stage_counts = leads::count_by_stage(reader, &filter)
        .await
        .context("counting leads")?;
    let total = stage_counts.as_ref().map(|counts| match stage {
        Some(stage) => counts
            .iter()
            .find(|(filter, _)| *filter == stage)
            .map_or(0, |(_, n)| *n),
        None => counts.iter().map(|(_, n)| n).sum(),
    });
    let pages = total.map(|total| ((total + PAGE_SIZE - 1) / PAGE_SIZE).max(1));
    let page = page.clamp(1, pages.unwrap_or(MAX_UNCOUNTED_PAGE));
    // One row more than a page says whether there is a next one.
    let mut rows = leads::list(reader, &filter, PAGE_SIZE + 1, (page - 1) * PAGE_SIZE)
        .await
        .context("listing leads")?;
    let has_next = rows.len() as i64 > PAGE_SIZE;
    rows.truncate(PAGE_SIZE as usize);
    let tz = state.config.timezone;
    Ok(LeadList {
        rows: rows
            .into_iter()
            .map(|lead| LeadRow {
                id: lead.id,
                name: lead.name,
                phone: lead
                    .phone
                    .or_else(|| lead.whatsapp_username.map(|u| format!("WhatsApp @{u}"))),
                email: lead.email,
                source: lead.source,
                stage: lead.stage,
                lost: lead.lost,
                created: local_datetime(lead.created_at, tz),
            })
            .collect(),
        total,
        page,
        pages,
        has_next,
        stage_counts,
    })
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn search_words_become_prefix_terms() {
        assert_eq!(search_expression("  "), None);
        assert_eq!(search_expression("María"), Some("\"María\"*".into()));
        assert_eq!(
            search_expression("ana gar"),
            Some("\"ana\"* AND \"gar\"*".into())
        );
        assert_eq!(
            search_expression("612 34 56 78"),
            Some("\"612345678\"*".into())
        );
        assert_eq!(
            search_expression("+34 612-345-678"),
            Some("\"34612345678\"*".into())
        );
        assert_eq!(
            search_expression("ana.gil@example.com"),
            Some("\"ana\"* AND \"gil\"*".into())
        );
        assert_eq!(search_expression("@example.com"), None);
        // FTS5 syntax typed by staff is searched as text, never run as a query.
        assert_eq!(
            search_expression("a\" OR \"b NEAR(x"),
            Some("\"a\"* AND \"OR\"* AND \"b\"* AND \"NEAR\"* AND \"x\"*".into())
        );
    }
}
