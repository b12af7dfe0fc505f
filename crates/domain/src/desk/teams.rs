//! Tags and teams on the desk.
//!
//! A **tag** is a short label on a ticket (`vip`, `退貨`, `媒體`) that queues filter by; tags are
//! added and removed through the ticket's log (`tagged` / `untagged`), never edited.
//!
//! A **team** (客服, 物流, 退貨, 技術) is a queue a ticket belongs to. A new ticket joins the first
//! team, by name, that lists its category ([`team_for_category`]); a person can hand it off to
//! another team with a note. Agents belong to teams: routing picks only among the team's
//! members, and a hand-off keeps the assignee only when that agent is in the new team
//! ([`assignee_after_handoff`]). A hand-off changes no status, so SLA clocks run on.

use super::Category;
use crate::FieldError;

/// Longest tag, in characters.
pub const TAG_CHARS_MAX: usize = 32;
/// Tags one ticket may carry.
pub const TICKET_TAGS_MAX: usize = 20;
/// Tags added or removed by one request.
pub const TAG_CHANGES_MAX: usize = 20;
/// Longest team name, in characters.
pub const TEAM_NAME_CHARS_MAX: usize = 32;
/// Teams a desk may have.
pub const TEAMS_MAX: usize = 100;
/// Longest hand-off note, in characters.
pub const HANDOFF_NOTE_CHARS_MAX: usize = 2_000;

/// Letters (any script), digits and `-`, `_`, `.`, `:`, `/`, `&`, `+`: no spaces, commas or
/// control characters, so a name is one token in a query string or a list.
fn label_char(c: char) -> bool {
    c.is_alphanumeric() || "-_.:/&+".contains(c)
}

fn label(field: &str, text: &str, max: usize) -> Result<String, FieldError> {
    let trimmed = text.trim();
    let count = trimmed.chars().count();
    if count == 0 || count > max {
        return Err(FieldError::new(field, format!("1 to {max} characters")));
    }
    if !trimmed.chars().all(label_char) {
        return Err(FieldError::new(
            field,
            "letters, digits and - _ . : / & + only (no spaces or commas)",
        ));
    }
    Ok(trimmed.to_owned())
}

/// A tag: trimmed, ASCII letters lower-cased (`VIP` and `vip` are one tag), 1 to
/// [`TAG_CHARS_MAX`] characters of [`label_char`].
pub fn parse_tag(text: &str) -> Result<String, FieldError> {
    Ok(label("tag", text, TAG_CHARS_MAX)?.to_ascii_lowercase())
}

/// A team name: trimmed, 1 to [`TEAM_NAME_CHARS_MAX`] characters of [`label_char`]. Case is
/// kept (names are shown as written).
pub fn parse_team(text: &str) -> Result<String, FieldError> {
    label("team", text, TEAM_NAME_CHARS_MAX)
}

/// A hand-off note: optional; when given, not blank, at most [`HANDOFF_NOTE_CHARS_MAX`]
/// characters, no NUL.
pub fn parse_handoff_note(text: Option<&str>) -> Result<Option<String>, FieldError> {
    let Some(text) = text.map(str::trim).filter(|t| !t.is_empty()) else {
        return Ok(None);
    };
    if text.chars().count() > HANDOFF_NOTE_CHARS_MAX {
        return Err(FieldError::new(
            "note",
            format!("at most {HANDOFF_NOTE_CHARS_MAX} characters"),
        ));
    }
    if text.contains('\0') {
        return Err(FieldError::new("note", "must not contain NUL characters"));
    }
    Ok(Some(text.to_owned()))
}

/// A team as routing sees it.
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct Team {
    pub name: String,
    /// Categories whose new tickets join this team; empty: only by hand.
    pub categories: Vec<Category>,
}

/// The team a new ticket of `category` joins: the first team by name listing it.
pub fn team_for_category(teams: &[Team], category: Category) -> Option<&Team> {
    teams
        .iter()
        .filter(|t| t.categories.contains(&category))
        .min_by(|a, b| a.name.cmp(&b.name))
}

/// The assignee after a hand-off to a team with `members`: kept when the agent is a member,
/// cleared otherwise.
pub fn assignee_after_handoff(assignee: Option<&str>, members: &[String]) -> Option<String> {
    assignee
        .filter(|a| members.iter().any(|m| m == a))
        .map(str::to_owned)
}

/// What a tag request does to a ticket's tags: the tags to add (not there yet) and to
/// remove (there now), in request order, without repeats. Refused when the ticket would
/// carry more than [`TICKET_TAGS_MAX`], or a tag is both added and removed.
#[derive(Debug, Clone, PartialEq, Eq, Default)]
pub struct TagChange {
    pub added: Vec<String>,
    pub removed: Vec<String>,
}

pub fn tag_change(
    current: &[String],
    add: &[String],
    remove: &[String],
) -> Result<TagChange, FieldError> {
    if add.len() + remove.len() > TAG_CHANGES_MAX {
        return Err(FieldError::new(
            "add",
            format!("at most {TAG_CHANGES_MAX} tags added and removed per request"),
        ));
    }
    let mut change = TagChange::default();
    let mut wanted_add = Vec::new();
    for (i, t) in add.iter().enumerate() {
        let tag = parse_tag(t).map_err(|e| FieldError::new(format!("add[{i}]"), e.reason))?;
        if !wanted_add.contains(&tag) {
            wanted_add.push(tag);
        }
    }
    let mut wanted_remove = Vec::new();
    for (i, t) in remove.iter().enumerate() {
        let tag = parse_tag(t).map_err(|e| FieldError::new(format!("remove[{i}]"), e.reason))?;
        if wanted_add.contains(&tag) {
            return Err(FieldError::new(
                format!("remove[{i}]"),
                "the same tag cannot be added and removed",
            ));
        }
        if !wanted_remove.contains(&tag) {
            wanted_remove.push(tag);
        }
    }
    change.added = wanted_add
        .into_iter()
        .filter(|t| !current.contains(t))
        .collect();
    change.removed = wanted_remove
        .into_iter()
        .filter(|t| current.contains(t))
        .collect();
    let after = current.len() + change.added.len() - change.removed.len();
    if after > TICKET_TAGS_MAX {
        return Err(FieldError::new(
            "add",
            format!("a ticket carries at most {TICKET_TAGS_MAX} tags"),
        ));
    }
    Ok(change)
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn tags_and_team_names() {
        assert_eq!(parse_tag(" VIP ").unwrap(), "vip");
        assert_eq!(parse_tag("退貨").unwrap(), "退貨");
        assert_eq!(parse_tag("媒體:蘋果").unwrap(), "媒體:蘋果");
        for bad in [
            "",
            "  ",
            "a b",
            "a,b",
            "x\u{7}",
            &"長".repeat(TAG_CHARS_MAX + 1),
        ] {
            assert!(parse_tag(bad).is_err(), "{bad:?}");
        }
        assert_eq!(parse_team("物流").unwrap(), "物流");
        assert_eq!(parse_team("Tech").unwrap(), "Tech");
        assert_eq!(parse_team("客 服").unwrap_err().field, "team");
        assert_eq!(parse_handoff_note(Some("  ")).unwrap(), None);
        assert_eq!(
            parse_handoff_note(Some(" 請物流確認 ")).unwrap().as_deref(),
            Some("請物流確認")
        );
        assert!(parse_handoff_note(Some(&"字".repeat(HANDOFF_NOTE_CHARS_MAX + 1))).is_err());
    }

    #[test]
    fn teams_by_category_and_handoff() {
        let teams = vec![
            Team {
                name: "退貨".into(),
                categories: vec![Category::ReturnRefund],
            },
            Team {
                name: "物流".into(),
                categories: vec![Category::LogisticsDelay, Category::OrderStatus],
            },
            Team {
                name: "客服".into(),
                categories: vec![Category::OrderStatus],
            },
        ];
        assert_eq!(
            team_for_category(&teams, Category::LogisticsDelay).map(|t| t.name.as_str()),
            Some("物流")
        );
        // Two teams list order_status: the first by name (客 U+5BA2 < 物 U+7269).
        assert_eq!(
            team_for_category(&teams, Category::OrderStatus).map(|t| t.name.as_str()),
            Some("客服")
        );
        assert_eq!(team_for_category(&teams, Category::Praise), None);
        let members = vec!["amy".to_owned(), "ben".to_owned()];
        assert_eq!(
            assignee_after_handoff(Some("ben"), &members).as_deref(),
            Some("ben")
        );
        assert_eq!(assignee_after_handoff(Some("cindy"), &members), None);
        assert_eq!(assignee_after_handoff(None, &members), None);
    }

    #[test]
    fn tag_changes() {
        let current = vec!["vip".to_owned(), "退貨".to_owned()];
        let s = |v: &[&str]| v.iter().map(|t| t.to_string()).collect::<Vec<_>>();
        let c = tag_change(
            &current,
            &s(&["VIP", "媒體", "媒體"]),
            &s(&["退貨", "nope"]),
        )
        .unwrap();
        assert_eq!(
            c.added,
            s(&["媒體"]),
            "present and repeated tags are not added again"
        );
        assert_eq!(c.removed, s(&["退貨"]), "absent tags are not removed");
        assert_eq!(
            tag_change(&current, &s(&["a"]), &s(&["A"]))
                .unwrap_err()
                .field,
            "remove[0]"
        );
        assert_eq!(
            tag_change(&current, &s(&["ok", "bad tag"]), &[])
                .unwrap_err()
                .field,
            "add[1]"
        );
        let full: Vec<String> = (0..TICKET_TAGS_MAX).map(|i| format!("t{i}")).collect();
        assert!(tag_change(&full, &s(&["one-more"]), &[]).is_err());
        assert!(tag_change(&full, &s(&["one-more"]), &s(&["t0"])).is_ok());
    }
}
