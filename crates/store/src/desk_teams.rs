//! The desk's teams and tags: `desk_teams` (name, the categories a new ticket joins it by),
//! `desk_team_members` (which agents are in which team), `tickets.team` and `ticket_tags`
//! (projections of the ticket log's `handed_off`, `tagged` and `untagged` entries).

use crate::args;
use crate::sql::{Arg, Tx};
use anyhow::Result;

/// A team with its members.
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct TeamRow {
    pub name: String,
    /// Category codes separated by commas; empty: joined by hand only.
    pub categories: String,
    pub members: Vec<String>,
    pub created_at_micros: i64,
    pub updated_at_micros: i64,
}

/// Every team, by name, with its members by handle.
pub fn teams(tx: &mut Tx<'_>) -> Result<Vec<TeamRow>> {
    let mut out: Vec<TeamRow> = tx
        .query(
            "SELECT name, categories, created_at, updated_at FROM desk_teams ORDER BY name",
            &[],
        )?
        .iter()
        .map(|r| {
            Ok(TeamRow {
                name: r.text(0)?.to_owned(),
                categories: r.text(1)?.to_owned(),
                members: Vec::new(),
                created_at_micros: r.int(2)?,
                updated_at_micros: r.int(3)?,
            })
        })
        .collect::<Result<_>>()?;
    for r in tx.query(
        "SELECT team, handle FROM desk_team_members ORDER BY team, handle",
        &[],
    )? {
        let team = r.text(0)?;
        if let Some(t) = out.iter_mut().find(|t| t.name == team) {
            t.members.push(r.text(1)?.to_owned());
        }
    }
    Ok(out)
}

/// Whether a team exists.
pub fn team_exists(tx: &mut Tx<'_>, name: &str) -> Result<bool> {
    Ok(tx
        .query_opt("SELECT 1 FROM desk_teams WHERE name = $1", args![name])?
        .is_some())
}

/// The members of a team, by handle.
pub fn members(tx: &mut Tx<'_>, team: &str) -> Result<Vec<String>> {
    tx.query(
        "SELECT handle FROM desk_team_members WHERE team = $1 ORDER BY handle",
        args![team],
    )?
    .iter()
    .map(|r| Ok(r.text(0)?.to_owned()))
    .collect()
}

/// Creates or replaces a team and its member list.
pub fn put_team(
    tx: &mut Tx<'_>,
    name: &str,
    categories: &str,
    members: &[String],
    now_micros: i64,
) -> Result<()> {
    tx.execute(
        "INSERT INTO desk_teams (name, categories, created_at, updated_at) VALUES ($1, $2, $3, $3)
         ON CONFLICT (name) DO UPDATE SET categories = excluded.categories,
             updated_at = excluded.updated_at",
        args![name, categories, now_micros],
    )?;
    tx.execute("DELETE FROM desk_team_members WHERE team = $1", args![name])?;
    for handle in members {
        tx.execute(
            "INSERT INTO desk_team_members (team, handle) VALUES ($1, $2)",
            args![name, handle.as_str()],
        )?;
    }
    Ok(())
}

/// The teams of each agent, as `(handle, team)` pairs by handle then team.
pub fn memberships(tx: &mut Tx<'_>) -> Result<Vec<(String, String)>> {
    tx.query(
        "SELECT handle, team FROM desk_team_members ORDER BY handle, team",
        &[],
    )?
    .iter()
    .map(|r| Ok((r.text(0)?.to_owned(), r.text(1)?.to_owned())))
    .collect()
}

/// Puts an agent in exactly `teams` (all of which exist).
pub fn set_agent_teams(tx: &mut Tx<'_>, handle: &str, teams: &[String]) -> Result<()> {
    tx.execute(
        "DELETE FROM desk_team_members WHERE handle = $1",
        args![handle],
    )?;
    for team in teams {
        tx.execute(
            "INSERT INTO desk_team_members (team, handle) VALUES ($1, $2)",
            args![team.as_str(), handle],
        )?;
    }
    Ok(())
}

/// A ticket's team.
pub fn team_of(tx: &mut Tx<'_>, ticket_id: i64) -> Result<Option<String>> {
    Ok(tx
        .query_opt("SELECT team FROM tickets WHERE id = $1", args![ticket_id])?
        .map(|r| r.opt_text(0).map(|t| t.map(str::to_owned)))
        .transpose()?
        .flatten())
}

pub fn set_team(tx: &mut Tx<'_>, ticket_id: i64, team: Option<&str>) -> Result<()> {
    tx.execute(
        "UPDATE tickets SET team = $2 WHERE id = $1",
        args![ticket_id, team],
    )?;
    Ok(())
}

/// A ticket's tags, sorted.
pub fn tags_of(tx: &mut Tx<'_>, ticket_id: i64) -> Result<Vec<String>> {
    tx.query(
        "SELECT tag FROM ticket_tags WHERE ticket_id = $1 ORDER BY tag",
        args![ticket_id],
    )?
    .iter()
    .map(|r| Ok(r.text(0)?.to_owned()))
    .collect()
}

pub fn add_tag(tx: &mut Tx<'_>, ticket_id: i64, tag: &str) -> Result<()> {
    tx.execute(
        "INSERT INTO ticket_tags (ticket_id, tag) VALUES ($1, $2) ON CONFLICT DO NOTHING",
        args![ticket_id, tag],
    )?;
    Ok(())
}

pub fn remove_tag(tx: &mut Tx<'_>, ticket_id: i64, tag: &str) -> Result<()> {
    tx.execute(
        "DELETE FROM ticket_tags WHERE ticket_id = $1 AND tag = $2",
        args![ticket_id, tag],
    )?;
    Ok(())
}

/// A ticket's team and sorted tags.
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct TicketLabels {
    pub ticket_id: i64,
    pub team: Option<String>,
    pub tags: Vec<String>,
}

/// The team and tags of each of `ids`, in id order (one query for the teams and one for the
/// tags, whatever the page size).
pub fn labels_of(tx: &mut Tx<'_>, ids: &[i64]) -> Result<Vec<TicketLabels>> {
    if ids.is_empty() {
        return Ok(Vec::new());
    }
    let params: Vec<Arg<'_>> = ids.iter().map(|i| Arg::Int(*i)).collect();
    let list: Vec<String> = (1..=ids.len()).map(|i| format!("${i}")).collect();
    let list = list.join(", ");
    let mut out: Vec<TicketLabels> = tx
        .query(
            &format!("SELECT id, team FROM tickets WHERE id IN ({list}) ORDER BY id"),
            &params,
        )?
        .iter()
        .map(|r| {
            Ok(TicketLabels {
                ticket_id: r.int(0)?,
                team: r.opt_text(1)?.map(str::to_owned),
                tags: Vec::new(),
            })
        })
        .collect::<Result<_>>()?;
    for r in tx.query(
        &format!(
            "SELECT ticket_id, tag FROM ticket_tags WHERE ticket_id IN ({list})
             ORDER BY ticket_id, tag"
        ),
        &params,
    )? {
        let id = r.int(0)?;
        if let Ok(i) = out.binary_search_by_key(&id, |t| t.ticket_id) {
            out[i].tags.push(r.text(1)?.to_owned());
        }
    }
    Ok(out)
}
