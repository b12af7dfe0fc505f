//! Desk triage tables: stored classifier versions (`classifier_models`), the messages agents
//! labelled (for retraining), and the agent roster with each agent's open-ticket load
//! (`desk_agents`) for routing.

use crate::args;
use crate::sql::Tx;
use anyhow::Result;

/// The highest stored model version, if any.
pub fn latest_model_version(tx: &mut Tx<'_>) -> Result<Option<i64>> {
    tx.query_one("SELECT MAX(version) FROM classifier_models", &[])?
        .opt_int(0)
}

/// A stored model's JSON document.
pub fn model(tx: &mut Tx<'_>, version: i64) -> Result<Option<String>> {
    tx.query_opt(
        "SELECT model FROM classifier_models WHERE version = $1",
        args![version],
    )?
    .map(|r| Ok(r.text(0)?.to_owned()))
    .transpose()
}

/// Stores a model as the next version; returns the version.
pub fn insert_model(
    tx: &mut Tx<'_>,
    examples: i64,
    agent_labels: i64,
    model: &str,
    now_micros: i64,
) -> Result<i64> {
    tx.query_one(
        "INSERT INTO classifier_models (version, trained_at, examples, agent_labels, model)
         SELECT COALESCE(MAX(version), 0) + 1, $1, $2, $3, $4 FROM classifier_models
         RETURNING version",
        args![now_micros, examples, agent_labels, model],
    )?
    .int(0)
}

/// A ticket whose category a person set, with its first customer message.
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct LabelledMessage {
    pub ticket_id: i64,
    pub subject: Option<String>,
    pub body: String,
    pub category: String,
}

/// Most labelled tickets read for one retrain (the newest are kept).
pub const LABELLED_MESSAGES_MAX: i64 = 100_000;

/// Tickets whose latest category event was written by someone other than `system`, with
/// their first customer message, newest first.
pub fn agent_labelled_messages(tx: &mut Tx<'_>) -> Result<Vec<LabelledMessage>> {
    let rows = tx.query(
        "SELECT t.id, t.subject, t.category,
                (SELECT m.body FROM ticket_events m
                  WHERE m.ticket_id = t.id AND m.kind = 'message' AND m.sender = 'customer'
                  ORDER BY m.id LIMIT 1)
           FROM tickets t
          WHERE t.category IS NOT NULL
            AND (SELECT c.actor FROM ticket_events c
                  WHERE c.ticket_id = t.id AND c.kind = 'category'
                  ORDER BY c.id DESC LIMIT 1) <> 'system'
          ORDER BY t.id DESC
          LIMIT $1",
        args![LABELLED_MESSAGES_MAX],
    )?;
    let mut out = Vec::with_capacity(rows.len());
    for r in rows {
        let Some(body) = r.opt_text(3)? else {
            continue;
        };
        out.push(LabelledMessage {
            ticket_id: r.int(0)?,
            subject: r.opt_text(1)?.map(str::to_owned),
            body: body.to_owned(),
            category: r.text(2)?.to_owned(),
        });
    }
    Ok(out)
}

/// An agent on the roster with its current load.
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct AgentRow {
    pub handle: String,
    /// Category codes separated by commas; empty for every category.
    pub skills: String,
    pub senior: bool,
    pub max_load: i64,
    pub active: bool,
    pub last_assigned_seq: i64,
    /// Tickets assigned to the agent and not solved or closed.
    pub load: i64,
}

/// The roster, by handle, with loads.
pub fn agents(tx: &mut Tx<'_>) -> Result<Vec<AgentRow>> {
    tx.query(
        "SELECT a.handle, a.skills, a.senior, a.max_load, a.active, a.last_assigned_seq,
                (SELECT COUNT(*) FROM tickets t
                  WHERE t.assignee = a.handle AND t.status NOT IN ('solved', 'closed'))
           FROM desk_agents a ORDER BY a.handle",
        &[],
    )?
    .iter()
    .map(|r| {
        Ok(AgentRow {
            handle: r.text(0)?.to_owned(),
            skills: r.text(1)?.to_owned(),
            senior: r.int(2)? != 0,
            max_load: r.int(3)?,
            active: r.int(4)? != 0,
            last_assigned_seq: r.int(5)?,
            load: r.int(6)?,
        })
    })
    .collect()
}

/// Creates or replaces an agent (its place in the round robin is kept).
pub fn put_agent(
    tx: &mut Tx<'_>,
    handle: &str,
    skills: &str,
    senior: bool,
    max_load: i64,
    active: bool,
    now_micros: i64,
) -> Result<()> {
    tx.execute(
        "INSERT INTO desk_agents (handle, skills, senior, max_load, active, last_assigned_seq, updated_at)
         VALUES ($1, $2, $3, $4, $5, 0, $6)
         ON CONFLICT (handle) DO UPDATE SET skills = excluded.skills, senior = excluded.senior,
             max_load = excluded.max_load, active = excluded.active,
             updated_at = excluded.updated_at",
        args![
            handle,
            skills,
            i64::from(senior),
            max_load,
            i64::from(active),
            now_micros
        ],
    )?;
    Ok(())
}

/// Moves an agent to the end of the round robin.
pub fn record_assignment(tx: &mut Tx<'_>, handle: &str) -> Result<()> {
    tx.execute(
        "UPDATE desk_agents SET last_assigned_seq =
             (SELECT COALESCE(MAX(last_assigned_seq), 0) + 1 FROM desk_agents)
         WHERE handle = $1",
        args![handle],
    )?;
    Ok(())
}

/// The customer's latest order (the id of its `order_placed` event).
pub fn latest_order_of(tx: &mut Tx<'_>, customer_id: i64) -> Result<Option<i64>> {
    tx.query_opt(
        "SELECT id FROM events WHERE customer_id = $1 AND kind = 'order_placed'
         ORDER BY occurred_at DESC, id DESC LIMIT 1",
        args![customer_id],
    )?
    .map(|r| r.int(0))
    .transpose()
}
