//! Teams and tags on tickets ([`domain::desk::teams`]).
//!
//! Managers configure teams (`PUT /desk/teams/{name}`: the categories whose new tickets join
//! the team); agents join teams through the roster ([`super::agents`]). A new ticket joins the
//! team its request names or the first team listing its category, and triage routes it among
//! that team's members only. A hand-off moves a ticket to another team with a note: a
//! `handed_off` entry in the log, the assignment cleared unless the agent is in the new team;
//! the status is untouched, so the SLA clocks run on (a hand-off is not a pause).
//!
//! Tags are added and removed through the log (`tagged` / `untagged`), and queues filter by
//! them. Agents may tag and hand off tickets in their own queue (assigned to their key or
//! unassigned); managers and admins any ticket.

use super::{Current, TicketView, change_ticket_tx, refused};
use crate::{App, AppError, AppResult, Principal};
use domain::FieldError;
use domain::access::Role;
use domain::desk::teams::{
    self, TEAMS_MAX, Team, assignee_after_handoff, parse_handoff_note, parse_team, tag_change,
};
use domain::desk::{self, Body, Category, TicketEvent};
use store::desk as rows;
use store::desk_teams as team_rows;
use store::sql::Tx;

/// A team as a request describes it.
#[derive(Debug, Clone, Default, PartialEq, Eq)]
pub struct TeamInput {
    /// Category codes whose new tickets join the team; empty: joined by hand-off only.
    pub categories: Vec<String>,
}

/// A team with its members.
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct TeamView {
    pub name: String,
    pub categories: Vec<String>,
    /// Agent handles, sorted (set through the roster).
    pub members: Vec<String>,
    pub created_at: jiff::Timestamp,
    pub updated_at: jiff::Timestamp,
}

fn categories(text: &str) -> Vec<Category> {
    text.split(',')
        .filter_map(|c| Category::parse(c.trim()).ok())
        .collect()
}

/// The team a new ticket joins: `explicit` (which must exist), else the first team listing
/// `category`, else none.
pub(crate) fn resolve_team(
    tx: &mut Tx<'_>,
    explicit: Option<&str>,
    category: Option<Category>,
) -> AppResult<Option<String>> {
    if let Some(name) = explicit {
        if !team_rows::team_exists(tx, name)? {
            return Err(FieldError::new("team", format!("no team {name:?}")).into());
        }
        return Ok(Some(name.to_owned()));
    }
    let Some(category) = category else {
        return Ok(None);
    };
    let all: Vec<Team> = team_rows::teams(tx)?
        .into_iter()
        .map(|t| Team {
            categories: categories(&t.categories),
            name: t.name,
        })
        .collect();
    Ok(teams::team_for_category(&all, category).map(|t| t.name.clone()))
}

/// Whether `who` may tag or hand off ticket `t`: managers and admins any ticket, an agent
/// one assigned to its key or unassigned.
fn may_work_on(who: &Principal, t: &rows::TicketRow) -> bool {
    match who.role {
        Role::Admin | Role::Manager => true,
        Role::Agent => t.assignee.as_deref().is_none_or(|a| a == who.actor),
        Role::Analyst | Role::Integration => false,
    }
}

fn locked_for(tx: &mut Tx<'_>, who: &Principal, id: i64) -> AppResult<rows::TicketRow> {
    let row = rows::lock_ticket(tx, id)?.ok_or(AppError::NotFound)?;
    if !may_work_on(who, &row) {
        return Err(AppError::Forbidden);
    }
    Ok(row)
}

impl App {
    /// Every team with its members, by name.
    pub fn teams(&self) -> AppResult<Vec<TeamView>> {
        self.store
            .read(team_rows::teams)?
            .into_iter()
            .map(|t| {
                Ok(TeamView {
                    categories: categories(&t.categories)
                        .into_iter()
                        .map(|c| c.as_str().to_owned())
                        .collect(),
                    name: t.name,
                    members: t.members,
                    created_at: store::instant(t.created_at_micros)?,
                    updated_at: store::instant(t.updated_at_micros)?,
                })
            })
            .collect::<anyhow::Result<_>>()
            .map_err(AppError::from)
    }

    /// Creates or replaces a team (its members stay).
    pub fn put_team(&self, who: &Principal, name: &str, input: &TeamInput) -> AppResult<TeamView> {
        let name = parse_team(name)?;
        let mut codes: Vec<&str> = Vec::new();
        for (i, c) in input.categories.iter().enumerate() {
            let c = Category::parse(c).map_err(|e| e.within(&format!("categories[{i}]")))?;
            if !codes.contains(&c.as_str()) {
                codes.push(c.as_str());
            }
        }
        let now = self.now_micros();
        self.store.write(|tx| {
            let existing = team_rows::teams(tx)?;
            let known = existing.iter().find(|t| t.name == name);
            if known.is_none() && existing.len() >= TEAMS_MAX {
                return Err(FieldError::new("name", format!("at most {TEAMS_MAX} teams")).into());
            }
            let members = known.map(|t| t.members.clone()).unwrap_or_default();
            team_rows::put_team(tx, &name, &codes.join(","), &members, now)?;
            store::audit::insert(
                tx,
                now,
                &who.actor,
                "desk_team.put",
                Some(&format!("team:{name}")),
                Some(&format!("categories={}", codes.join(","))),
            )?;
            Ok::<_, AppError>(())
        })?;
        self.teams()?
            .into_iter()
            .find(|t| t.name == name)
            .ok_or(AppError::NotFound)
    }

    /// Adds and removes tags; each change is a `tagged` or `untagged` entry in the log.
    /// Tags already there (or already absent) change nothing.
    pub fn tag_ticket(
        &self,
        who: &Principal,
        id: i64,
        add: &[String],
        remove: &[String],
    ) -> AppResult<TicketView> {
        // Validate before touching the store: bad input changes nothing.
        tag_change(&[], add, remove)?;
        let now = self.now();
        let attempts_max = self.settings.job_attempts_max;
        self.store.write(|tx| {
            locked_for(tx, who, id)?;
            let current = team_rows::tags_of(tx, id)?;
            let change = tag_change(&current, add, remove)?;
            for t in &change.added {
                team_rows::add_tag(tx, id, t)?;
            }
            for t in &change.removed {
                team_rows::remove_tag(tx, id, t)?;
            }
            change_ticket_tx(
                tx,
                who,
                id,
                now,
                attempts_max,
                "ticket.tag",
                |state: &mut Current| {
                    if change.added.is_empty() && change.removed.is_empty() {
                        return Ok(Vec::new());
                    }
                    desk::check_writable(state.status).map_err(refused)?;
                    let mut log: Vec<TicketEvent> = change
                        .added
                        .iter()
                        .map(|tag| TicketEvent::Tagged { tag: tag.clone() })
                        .collect();
                    log.extend(
                        change
                            .removed
                            .iter()
                            .map(|tag| TicketEvent::Untagged { tag: tag.clone() }),
                    );
                    Ok(log)
                },
            )
        })?;
        self.ticket(id)
    }

    /// Hands the ticket off to `team` with an optional note for that team. The assignee
    /// stays only when a member of the new team; the status, and so every SLA clock, is
    /// untouched. Handing off to the team the ticket is with changes nothing.
    pub fn hand_off_ticket(
        &self,
        who: &Principal,
        id: i64,
        team: &str,
        note: Option<&str>,
    ) -> AppResult<TicketView> {
        let team = parse_team(team)?;
        let note = parse_handoff_note(note)?
            .map(|n| Body::parse(&n).map_err(|e| FieldError::new("note", e.reason)))
            .transpose()?;
        let now = self.now();
        let attempts_max = self.settings.job_attempts_max;
        let moved = self.store.write(|tx| {
            locked_for(tx, who, id)?;
            if !team_rows::team_exists(tx, &team)? {
                return Err(FieldError::new("team", format!("no team {team:?}")).into());
            }
            let from = team_rows::team_of(tx, id)?;
            if from.as_deref() == Some(team.as_str()) {
                return Ok(false);
            }
            let members = team_rows::members(tx, &team)?;
            change_ticket_tx(
                tx,
                who,
                id,
                now,
                attempts_max,
                "ticket.hand_off",
                |state: &mut Current| {
                    desk::check_writable(state.status).map_err(refused)?;
                    let mut log = vec![TicketEvent::HandedOff {
                        from: from.clone(),
                        to: team.clone(),
                        note: note.clone(),
                    }];
                    let kept = assignee_after_handoff(state.assignee.as_deref(), &members);
                    if kept != state.assignee {
                        state.assignee = kept.clone();
                        log.push(TicketEvent::Assigned { assignee: kept });
                    }
                    Ok(log)
                },
            )?;
            team_rows::set_team(tx, id, Some(&team))?;
            Ok::<_, AppError>(true)
        })?;
        if moved {
            tracing::info!(ticket_id = id, "ticket handed off");
        }
        self.ticket(id)
    }
}
