//! The agent roster new tickets are routed to ([`domain::desk::triage::choose_agent`]):
//! each agent's handle, skills (categories), seniority, maximum open tickets and whether it
//! takes tickets now, and the teams it belongs to (a ticket with a team is routed among that
//! team's members only, [`super::teams`]). Managers edit it; the load is counted from the
//! tickets themselves.

use crate::{App, AppResult, Principal};
use domain::FieldError;
use domain::desk::triage::{AGENT_LOAD_MAX, AGENTS_MAX};
use domain::desk::{Category, parse_assignee};

/// An agent as a request describes it.
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct AgentInput {
    /// Category codes; empty: every category.
    pub skills: Vec<String>,
    pub senior: bool,
    pub max_load: i64,
    pub active: bool,
    /// Names of existing teams; the agent is in exactly these afterwards.
    pub teams: Vec<String>,
}

/// An agent with its current load.
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct AgentView {
    pub handle: String,
    pub skills: Vec<String>,
    pub senior: bool,
    pub max_load: i64,
    pub active: bool,
    /// Tickets assigned and not solved or closed.
    pub load: i64,
    /// The teams it belongs to, by name.
    pub teams: Vec<String>,
}

impl App {
    /// The roster with loads, by handle.
    pub fn agents(&self) -> AppResult<Vec<AgentView>> {
        let (roster, memberships) = self.store.read(|tx| {
            anyhow::Ok((
                store::desk_triage::agents(tx)?,
                store::desk_teams::memberships(tx)?,
            ))
        })?;
        Ok(roster
            .into_iter()
            .map(|a| AgentView {
                teams: memberships
                    .iter()
                    .filter(|(h, _)| *h == a.handle)
                    .map(|(_, t)| t.clone())
                    .collect(),
                skills: a
                    .skills
                    .split(',')
                    .filter(|s| !s.is_empty())
                    .map(str::to_owned)
                    .collect(),
                handle: a.handle,
                senior: a.senior,
                max_load: a.max_load,
                active: a.active,
                load: a.load,
            })
            .collect())
    }

    /// Creates or replaces an agent; bad skills or loads are refused naming the field.
    pub fn put_agent(
        &self,
        who: &Principal,
        handle: &str,
        input: &AgentInput,
    ) -> AppResult<AgentView> {
        let handle = parse_assignee(handle).map_err(|e| FieldError::new("handle", e.reason))?;
        let mut skills = Vec::new();
        for (i, s) in input.skills.iter().enumerate() {
            let c = Category::parse(s).map_err(|e| e.within(&format!("skills[{i}]")))?;
            if !skills.contains(&c.as_str()) {
                skills.push(c.as_str());
            }
        }
        if !(1..=AGENT_LOAD_MAX).contains(&input.max_load) {
            return Err(
                FieldError::new("max_load", format!("must be 1 to {AGENT_LOAD_MAX}")).into(),
            );
        }
        let mut teams: Vec<String> = Vec::new();
        for (i, t) in input.teams.iter().enumerate() {
            let t = domain::desk::teams::parse_team(t)
                .map_err(|e| FieldError::new(format!("teams[{i}]"), e.reason))?;
            if !teams.contains(&t) {
                teams.push(t);
            }
        }
        let now = self.now_micros();
        self.store.write(|tx| {
            for (i, t) in teams.iter().enumerate() {
                if !store::desk_teams::team_exists(tx, t)? {
                    return Err(FieldError::new(format!("teams[{i}]"), "no such team").into());
                }
            }
            let roster = store::desk_triage::agents(tx)?;
            if roster.len() >= AGENTS_MAX && !roster.iter().any(|a| a.handle == handle) {
                return Err(
                    FieldError::new("handle", format!("at most {AGENTS_MAX} agents")).into(),
                );
            }
            store::desk_triage::put_agent(
                tx,
                &handle,
                &skills.join(","),
                input.senior,
                input.max_load,
                input.active,
                now,
            )?;
            store::desk_teams::set_agent_teams(tx, &handle, &teams)?;
            store::audit::insert(
                tx,
                now,
                &who.actor,
                "desk_agent.put",
                Some(&format!("agent:{handle}")),
                None,
            )?;
            Ok::<_, crate::AppError>(())
        })?;
        self.agents()?
            .into_iter()
            .find(|a| a.handle == handle)
            .ok_or(crate::AppError::NotFound)
    }
}
