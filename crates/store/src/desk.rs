//! The service desk's tables: tickets (a projection of their log, for queues), the
//! append-only `ticket_events` log, business calendars and SLA policies stored as JSON
//! documents, and `sla_events`, where a warning or breach of one clock instance is stored
//! once whoever computes it first (unique index, `ON CONFLICT DO NOTHING`).

use crate::sql::{Arg, Row, Tx};
use crate::{args, instant};
use anyhow::Result;

#[derive(Debug, Clone, PartialEq, Eq)]
pub struct TicketRow {
    pub id: i64,
    pub reference: String,
    pub channel: String,
    pub status: String,
    pub priority: String,
    pub category: Option<String>,
    pub subject: Option<String>,
    pub customer_id: Option<i64>,
    pub order_event_id: Option<i64>,
    pub assignee: Option<String>,
    pub opened_by: String,
    pub created_at: jiff::Timestamp,
    pub updated_at: jiff::Timestamp,
    pub sla_policy: Option<String>,
    pub sla_next_due_at: Option<jiff::Timestamp>,
    pub sla_breached: bool,
    pub sla_error: Option<String>,
}

pub(crate) const TICKET_COLUMNS: &str = "id, reference, channel, status, priority, category, subject, \
    customer_id, order_event_id, assignee, opened_by, created_at, updated_at, sla_policy, \
    sla_next_due_at, sla_breached, sla_error";

pub(crate) fn ticket(r: &Row) -> Result<TicketRow> {
    Ok(TicketRow {
        id: r.int(0)?,
        reference: r.opt_text(1)?.unwrap_or_default().to_owned(),
        channel: r.text(2)?.to_owned(),
        status: r.text(3)?.to_owned(),
        priority: r.text(4)?.to_owned(),
        category: r.opt_text(5)?.map(str::to_owned),
        subject: r.opt_text(6)?.map(str::to_owned),
        customer_id: r.opt_int(7)?,
        order_event_id: r.opt_int(8)?,
        assignee: r.opt_text(9)?.map(str::to_owned),
        opened_by: r.text(10)?.to_owned(),
        created_at: instant(r.int(11)?)?,
        updated_at: instant(r.int(12)?)?,
        sla_policy: r.opt_text(13)?.map(str::to_owned),
        sla_next_due_at: r.opt_int(14)?.map(instant).transpose()?,
        sla_breached: r.int(15)? != 0,
        sla_error: r.opt_text(16)?.map(str::to_owned),
    })
}

#[derive(Debug, Clone)]
pub struct NewTicket<'a> {
    pub channel: &'a str,
    pub status: &'a str,
    pub priority: &'a str,
    pub category: Option<&'a str>,
    pub subject: Option<&'a str>,
    pub customer_id: Option<i64>,
    pub order_event_id: Option<i64>,
    pub assignee: Option<&'a str>,
    pub opened_by: &'a str,
    pub now_micros: i64,
}

/// Inserts a ticket; returns its id. The reference is set next, once the id is known.
pub fn insert_ticket(tx: &mut Tx<'_>, t: &NewTicket<'_>) -> Result<i64> {
    tx.query_one(
        "INSERT INTO tickets (channel, status, priority, category, subject, customer_id,
                              order_event_id, assignee, opened_by, created_at, updated_at)
         VALUES ($1, $2, $3, $4, $5, $6, $7, $8, $9, $10, $10) RETURNING id",
        args![
            t.channel,
            t.status,
            t.priority,
            t.category,
            t.subject,
            t.customer_id,
            t.order_event_id,
            t.assignee,
            t.opened_by,
            t.now_micros
        ],
    )?
    .int(0)
}

pub fn set_reference(tx: &mut Tx<'_>, id: i64, reference: &str) -> Result<()> {
    tx.execute(
        "UPDATE tickets SET reference = $2 WHERE id = $1",
        args![id, reference],
    )?;
    Ok(())
}

pub fn get_ticket(tx: &mut Tx<'_>, id: i64) -> Result<Option<TicketRow>> {
    tx.query_opt(
        &format!("SELECT {TICKET_COLUMNS} FROM tickets WHERE id = $1"),
        args![id],
    )?
    .map(|r| ticket(&r))
    .transpose()
}

/// The ticket, locked for the rest of the transaction (on PostgreSQL `FOR UPDATE`; SQLite
/// has one writer), so that events of one ticket are appended and evaluated one at a time.
pub fn lock_ticket(tx: &mut Tx<'_>, id: i64) -> Result<Option<TicketRow>> {
    let lock = if tx.is_postgres() { " FOR UPDATE" } else { "" };
    tx.query_opt(
        &format!("SELECT {TICKET_COLUMNS} FROM tickets WHERE id = $1{lock}"),
        args![id],
    )?
    .map(|r| ticket(&r))
    .transpose()
}

/// The queue fields a ticket event may change (the log is the record; this is its projection).
#[derive(Debug, Clone)]
pub struct TicketState<'a> {
    pub status: &'a str,
    pub priority: &'a str,
    pub category: Option<&'a str>,
    pub assignee: Option<&'a str>,
    pub now_micros: i64,
}

pub fn update_state(tx: &mut Tx<'_>, id: i64, s: &TicketState<'_>) -> Result<()> {
    tx.execute(
        "UPDATE tickets SET status = $2, priority = $3, category = $4, assignee = $5, updated_at = $6
         WHERE id = $1",
        args![id, s.status, s.priority, s.category, s.assignee, s.now_micros],
    )?;
    Ok(())
}

/// What the last SLA evaluation found, for queues sorted by deadline.
pub fn update_sla(
    tx: &mut Tx<'_>,
    id: i64,
    policy: Option<&str>,
    next_due_micros: Option<i64>,
    breached: bool,
    error: Option<&str>,
) -> Result<()> {
    tx.execute(
        "UPDATE tickets SET sla_policy = $2, sla_next_due_at = $3, sla_breached = $4, sla_error = $5,
             sla_horizon = NULL, sla_calendar_id = NULL
         WHERE id = $1",
        args![id, policy, next_due_micros, i64::from(breached), error],
    )?;
    Ok(())
}

/// Which tickets a queue shows.
#[derive(Debug, Clone, Default)]
pub struct TicketFilter<'a> {
    pub statuses: Vec<&'a str>,
    /// `Some(None)`: unassigned only.
    pub assignee: Option<Option<&'a str>>,
    pub customer_id: Option<i64>,
    /// Only tickets carrying this tag.
    pub tag: Option<&'a str>,
    /// `Some(None)`: tickets of no team only.
    pub team: Option<Option<&'a str>>,
}

/// Tickets in id order after `after_id`, matching `filter`.
pub fn list_tickets(
    tx: &mut Tx<'_>,
    filter: &TicketFilter<'_>,
    after_id: i64,
    limit: i64,
) -> Result<Vec<TicketRow>> {
    let mut params: Vec<Arg<'_>> = vec![Arg::Int(after_id), Arg::Int(limit)];
    let mut clauses = vec!["id > $1".to_owned()];
    if !filter.statuses.is_empty() {
        let list: Vec<String> = filter
            .statuses
            .iter()
            .map(|s| {
                params.push(Arg::Text(s));
                format!("${}", params.len())
            })
            .collect();
        clauses.push(format!("status IN ({})", list.join(", ")));
    }
    match filter.assignee {
        None => {}
        Some(None) => clauses.push("assignee IS NULL".to_owned()),
        Some(Some(a)) => {
            params.push(Arg::Text(a));
            clauses.push(format!("assignee = ${}", params.len()));
        }
    }
    if let Some(c) = filter.customer_id {
        params.push(Arg::Int(c));
        clauses.push(format!("customer_id = ${}", params.len()));
    }
    if let Some(tag) = filter.tag {
        params.push(Arg::Text(tag));
        clauses.push(format!(
            "EXISTS (SELECT 1 FROM ticket_tags g WHERE g.ticket_id = tickets.id AND g.tag = ${})",
            params.len()
        ));
    }
    match filter.team {
        None => {}
        Some(None) => clauses.push("team IS NULL".to_owned()),
        Some(Some(team)) => {
            params.push(Arg::Text(team));
            clauses.push(format!("team = ${}", params.len()));
        }
    }
    let sql = format!(
        "SELECT {TICKET_COLUMNS} FROM tickets WHERE {} ORDER BY id LIMIT $2",
        clauses.join(" AND ")
    );
    tx.query(&sql, &params)?.iter().map(ticket).collect()
}

/// Ids of tickets not closed, after `after_id` (background recompute after a calendar edit).
pub fn unclosed_ticket_ids(tx: &mut Tx<'_>, after_id: i64, limit: i64) -> Result<Vec<i64>> {
    tx.query(
        "SELECT id FROM tickets WHERE status <> 'closed' AND id > $1 ORDER BY id LIMIT $2",
        args![after_id, limit],
    )?
    .iter()
    .map(|r| r.int(0))
    .collect()
}

/// One row of the ticket log, as stored. Which columns are set depends on `kind`.
#[derive(Debug, Clone, PartialEq, Eq, Default)]
pub struct TicketEventRow {
    pub id: i64,
    pub ticket_id: i64,
    pub at_micros: i64,
    pub kind: String,
    pub actor: String,
    pub sender: Option<String>,
    pub ack_only: bool,
    pub body: Option<String>,
    /// The new value of a status, assignee, priority, category or the channel at opening.
    pub value: Option<String>,
    /// The value before a status change; who opened the ticket at opening.
    pub previous: Option<String>,
    /// The other ticket of a merge.
    pub other_id: Option<i64>,
    pub clock: Option<String>,
    pub instance: Option<i64>,
    pub action: Option<String>,
}

const EVENT_COLUMNS: &str = "id, ticket_id, at, kind, actor, sender, ack_only, body, value, \
    previous, other_id, clock, instance, action";

fn event(r: &Row) -> Result<TicketEventRow> {
    Ok(TicketEventRow {
        id: r.int(0)?,
        ticket_id: r.int(1)?,
        at_micros: r.int(2)?,
        kind: r.text(3)?.to_owned(),
        actor: r.text(4)?.to_owned(),
        sender: r.opt_text(5)?.map(str::to_owned),
        ack_only: r.int(6)? != 0,
        body: r.opt_text(7)?.map(str::to_owned),
        value: r.opt_text(8)?.map(str::to_owned),
        previous: r.opt_text(9)?.map(str::to_owned),
        other_id: r.opt_int(10)?,
        clock: r.opt_text(11)?.map(str::to_owned),
        instance: r.opt_int(12)?,
        action: r.opt_text(13)?.map(str::to_owned),
    })
}

/// The columns a log entry is inserted with, in the order of [`event_args`].
pub(crate) const EVENT_INSERT_COLUMNS: &str = "ticket_id, at, kind, actor, sender, ack_only, \
    body, value, previous, other_id, clock, instance, action";
/// How many: the arguments of one entry in a (multi-row) insert.
pub(crate) const EVENT_INSERT_WIDTH: usize = 13;

/// The arguments inserting `e` into [`EVENT_INSERT_COLUMNS`] (its `id` is the database's);
/// the one list both the single and the multi-row insert use.
pub(crate) fn event_args(e: &TicketEventRow) -> [Arg<'_>; EVENT_INSERT_WIDTH] {
    [
        Arg::from(e.ticket_id),
        Arg::from(e.at_micros),
        Arg::from(e.kind.as_str()),
        Arg::from(e.actor.as_str()),
        Arg::from(e.sender.as_deref()),
        Arg::from(i64::from(e.ack_only)),
        Arg::from(e.body.as_deref()),
        Arg::from(e.value.as_deref()),
        Arg::from(e.previous.as_deref()),
        Arg::from(e.other_id),
        Arg::from(e.clock.as_deref()),
        Arg::from(e.instance),
        Arg::from(e.action.as_deref()),
    ]
}

/// [`append_event`]'s statement, written once.
static APPEND_EVENT_SQL: std::sync::LazyLock<String> = std::sync::LazyLock::new(|| {
    format!(
        "INSERT INTO ticket_events ({EVENT_INSERT_COLUMNS}) VALUES {} RETURNING id",
        crate::events::placeholders(1, EVENT_INSERT_WIDTH, 1)
    )
});

/// Appends one entry to a ticket's log (`id` of `e` is ignored); returns its id.
pub fn append_event(tx: &mut Tx<'_>, e: &TicketEventRow) -> Result<i64> {
    tx.query_one(&APPEND_EVENT_SQL, &event_args(e))?.int(0)
}

/// The id of the last message from `sender` in a ticket's log.
pub fn last_message_id(tx: &mut Tx<'_>, ticket_id: i64, sender: &str) -> Result<Option<i64>> {
    tx.query_opt(
        "SELECT id FROM ticket_events WHERE ticket_id = $1 AND kind = 'message' AND sender = $2
         ORDER BY id DESC LIMIT 1",
        args![ticket_id, sender],
    )?
    .map(|r| r.int(0))
    .transpose()
}

/// A ticket's log in order.
pub fn events_of(tx: &mut Tx<'_>, ticket_id: i64) -> Result<Vec<TicketEventRow>> {
    tx.query(
        &format!("SELECT {EVENT_COLUMNS} FROM ticket_events WHERE ticket_id = $1 ORDER BY id"),
        args![ticket_id],
    )?
    .iter()
    .map(event)
    .collect()
}

/// One persisted SLA metric event.
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct SlaEventRow {
    pub ticket_id: i64,
    pub clock: String,
    pub instance: i64,
    pub action: String,
    pub at_micros: i64,
    pub policy: String,
    pub recorded_at_micros: i64,
}

/// Stores an SLA event; false when the same warning, breach (or other once-only action) of
/// this clock instance, or the same pause at the same instant, is already stored.
pub fn insert_sla_event(tx: &mut Tx<'_>, e: &SlaEventRow) -> Result<bool> {
    Ok(tx
        .query_opt(
            "INSERT INTO sla_events (ticket_id, clock, instance, action, at, policy, recorded_at)
             VALUES ($1, $2, $3, $4, $5, $6, $7)
             ON CONFLICT DO NOTHING RETURNING id",
            args![
                e.ticket_id,
                e.clock.as_str(),
                e.instance,
                e.action.as_str(),
                e.at_micros,
                e.policy.as_str(),
                e.recorded_at_micros
            ],
        )?
        .is_some())
}

pub fn sla_events_of(tx: &mut Tx<'_>, ticket_id: i64) -> Result<Vec<SlaEventRow>> {
    tx.query(
        "SELECT ticket_id, clock, instance, action, at, policy, recorded_at
         FROM sla_events WHERE ticket_id = $1 ORDER BY id",
        args![ticket_id],
    )?
    .iter()
    .map(|r| {
        Ok(SlaEventRow {
            ticket_id: r.int(0)?,
            clock: r.text(1)?.to_owned(),
            instance: r.int(2)?,
            action: r.text(3)?.to_owned(),
            at_micros: r.int(4)?,
            policy: r.text(5)?.to_owned(),
            recorded_at_micros: r.int(6)?,
        })
    })
    .collect()
}

/// `(ticket_id, count)` of stored SLA events with `action` on `clock`, per ticket.
pub fn count_sla_events(tx: &mut Tx<'_>, clock: &str, action: &str) -> Result<Vec<(i64, i64)>> {
    tx.query(
        "SELECT ticket_id, COUNT(*) FROM sla_events WHERE clock = $1 AND action = $2
         GROUP BY ticket_id ORDER BY ticket_id",
        args![clock, action],
    )?
    .iter()
    .map(|r| Ok((r.int(0)?, r.int(1)?)))
    .collect()
}

#[derive(Debug, Clone, PartialEq, Eq)]
pub struct CalendarRow {
    pub id: i64,
    pub name: String,
    /// The calendar JSON document.
    pub spec: String,
    pub version: i64,
    pub updated_at: jiff::Timestamp,
}

pub fn get_calendar(tx: &mut Tx<'_>, id: i64) -> Result<Option<CalendarRow>> {
    tx.query_opt(
        "SELECT id, name, spec, version, updated_at FROM calendars WHERE id = $1",
        args![id],
    )?
    .map(|r| {
        Ok(CalendarRow {
            id: r.int(0)?,
            name: r.text(1)?.to_owned(),
            spec: r.text(2)?.to_owned(),
            version: r.int(3)?,
            updated_at: instant(r.int(4)?)?,
        })
    })
    .transpose()
}

/// Creates or replaces a calendar; returns its new version (1 when created).
pub fn put_calendar(
    tx: &mut Tx<'_>,
    id: i64,
    name: &str,
    spec: &str,
    now_micros: i64,
) -> Result<i64> {
    tx.query_one(
        "INSERT INTO calendars (id, name, spec, version, updated_at) VALUES ($1, $2, $3, 1, $4)
         ON CONFLICT (id) DO UPDATE SET name = excluded.name, spec = excluded.spec,
             version = calendars.version + 1, updated_at = excluded.updated_at
         RETURNING version",
        args![id, name, spec, now_micros],
    )?
    .int(0)
}

#[derive(Debug, Clone, PartialEq, Eq)]
pub struct PolicyRow {
    pub position: i64,
    pub name: String,
    /// The policy JSON document.
    pub spec: String,
    pub calendar_id: i64,
}

/// SLA policies in order (first match wins).
pub fn policies(tx: &mut Tx<'_>) -> Result<Vec<PolicyRow>> {
    tx.query(
        "SELECT position, name, spec, calendar_id FROM sla_policies ORDER BY position",
        &[],
    )?
    .iter()
    .map(|r| {
        Ok(PolicyRow {
            position: r.int(0)?,
            name: r.text(1)?.to_owned(),
            spec: r.text(2)?.to_owned(),
            calendar_id: r.int(3)?,
        })
    })
    .collect()
}

/// Replaces the whole ordered policy list.
pub fn replace_policies(tx: &mut Tx<'_>, rows: &[PolicyRow], now_micros: i64) -> Result<()> {
    tx.execute("DELETE FROM sla_policies", &[])?;
    for p in rows {
        tx.execute(
            "INSERT INTO sla_policies (position, name, spec, calendar_id, updated_at)
             VALUES ($1, $2, $3, $4, $5)",
            args![
                p.position,
                p.name.as_str(),
                p.spec.as_str(),
                p.calendar_id,
                now_micros
            ],
        )?;
    }
    Ok(())
}

/// The open conversation of a customer on a channel: the newest ticket not closed.
pub fn latest_unclosed_ticket(
    tx: &mut Tx<'_>,
    customer_id: i64,
    channel: &str,
) -> Result<Option<i64>> {
    tx.query_opt(
        "SELECT id FROM tickets WHERE customer_id = $1 AND channel = $2 AND status <> 'closed'
         ORDER BY id DESC LIMIT 1",
        args![customer_id, channel],
    )?
    .map(|r| r.int(0))
    .transpose()
}

/// What a reply template may say about a customer's history: orders placed, and tickets
/// opened before `before_ticket_id`.
pub fn customer_history(
    tx: &mut Tx<'_>,
    customer_id: i64,
    before_ticket_id: i64,
) -> Result<(i64, i64)> {
    let orders = tx
        .query_one(
            "SELECT COUNT(*) FROM events WHERE customer_id = $1 AND kind = 'order_placed'",
            args![customer_id],
        )?
        .int(0)?;
    let tickets = tx
        .query_one(
            "SELECT COUNT(*) FROM tickets WHERE customer_id = $1 AND id < $2",
            args![customer_id, before_ticket_id],
        )?
        .int(0)?;
    Ok((orders, tickets))
}

/// The LINE channel's settings. The secret and token redact themselves in `Debug`.
#[derive(Clone, PartialEq, Eq)]
pub struct LineChannelRow {
    pub channel_secret: String,
    pub access_token: String,
    pub api_base_url: String,
    pub updated_at: jiff::Timestamp,
}

impl std::fmt::Debug for LineChannelRow {
    fn fmt(&self, f: &mut std::fmt::Formatter<'_>) -> std::fmt::Result {
        f.debug_struct("LineChannelRow")
            .field("channel_secret", &"<redacted>")
            .field("access_token", &"<redacted>")
            .field("api_base_url", &self.api_base_url)
            .field("updated_at", &self.updated_at)
            .finish()
    }
}

pub fn line_channel(tx: &mut Tx<'_>) -> Result<Option<LineChannelRow>> {
    tx.query_opt(
        "SELECT channel_secret, access_token, api_base_url, updated_at FROM line_channel WHERE id = 1",
        &[],
    )?
    .map(|r| {
        Ok(LineChannelRow {
            channel_secret: r.text(0)?.to_owned(),
            access_token: r.text(1)?.to_owned(),
            api_base_url: r.text(2)?.to_owned(),
            updated_at: instant(r.int(3)?)?,
        })
    })
    .transpose()
}

pub fn put_line_channel(
    tx: &mut Tx<'_>,
    secret: &str,
    token: &str,
    base_url: &str,
    now_micros: i64,
) -> Result<()> {
    tx.execute(
        "INSERT INTO line_channel (id, channel_secret, access_token, api_base_url, updated_at)
         VALUES (1, $1, $2, $3, $4)
         ON CONFLICT (id) DO UPDATE SET channel_secret = excluded.channel_secret,
             access_token = excluded.access_token, api_base_url = excluded.api_base_url,
             updated_at = excluded.updated_at",
        args![secret, token, base_url, now_micros],
    )?;
    Ok(())
}

/// Records a LINE webhook event id; false when it was handled before (a redelivery).
pub fn insert_line_event(tx: &mut Tx<'_>, event_id: &str, now_micros: i64) -> Result<bool> {
    Ok(tx
        .query_opt(
            "INSERT INTO line_webhook_events (event_id, received_at) VALUES ($1, $2)
             ON CONFLICT DO NOTHING RETURNING event_id",
            args![event_id, now_micros],
        )?
        .is_some())
}

pub fn set_line_event_ticket(tx: &mut Tx<'_>, event_id: &str, ticket_id: i64) -> Result<()> {
    tx.execute(
        "UPDATE line_webhook_events SET ticket_id = $2 WHERE event_id = $1",
        args![event_id, ticket_id],
    )?;
    Ok(())
}

/// The LINE user id of a customer, if they have one.
pub fn line_user_of(tx: &mut Tx<'_>, customer_id: i64) -> Result<Option<String>> {
    tx.query_opt(
        "SELECT value FROM customer_identities WHERE customer_id = $1 AND kind = 'line_user_id'
         ORDER BY value LIMIT 1",
        args![customer_id],
    )?
    .map(|r| Ok(r.text(0)?.to_owned()))
    .transpose()
}

#[derive(Debug, Clone, PartialEq, Eq)]
pub struct TemplateRow {
    pub key: String,
    pub locale: String,
    pub body: String,
    pub version: i64,
    pub updated_at: jiff::Timestamp,
}

fn template(r: &Row) -> Result<TemplateRow> {
    Ok(TemplateRow {
        key: r.text(0)?.to_owned(),
        locale: r.text(1)?.to_owned(),
        body: r.text(2)?.to_owned(),
        version: r.int(3)?,
        updated_at: instant(r.int(4)?)?,
    })
}

pub fn templates(tx: &mut Tx<'_>) -> Result<Vec<TemplateRow>> {
    tx.query(
        "SELECT key, locale, body, version, updated_at FROM reply_templates ORDER BY key, locale",
        &[],
    )?
    .iter()
    .map(template)
    .collect()
}

pub fn get_template(tx: &mut Tx<'_>, key: &str, locale: &str) -> Result<Option<TemplateRow>> {
    tx.query_opt(
        "SELECT key, locale, body, version, updated_at FROM reply_templates
         WHERE key = $1 AND locale = $2",
        args![key, locale],
    )?
    .map(|r| template(&r))
    .transpose()
}

/// Creates or replaces a template; returns its version.
pub fn put_template(
    tx: &mut Tx<'_>,
    key: &str,
    locale: &str,
    body: &str,
    now_micros: i64,
) -> Result<i64> {
    tx.query_one(
        "INSERT INTO reply_templates (key, locale, body, version, updated_at)
         VALUES ($1, $2, $3, 1, $4)
         ON CONFLICT (key, locale) DO UPDATE SET body = excluded.body,
             version = reply_templates.version + 1, updated_at = excluded.updated_at
         RETURNING version",
        args![key, locale, body, now_micros],
    )?
    .int(0)
}

#[derive(Debug, Clone, PartialEq, Eq)]
pub struct ArticleRow {
    pub id: i64,
    pub locale: String,
    pub title: String,
    pub body: String,
    pub created_at: jiff::Timestamp,
    pub updated_at: jiff::Timestamp,
}

fn article(r: &Row) -> Result<ArticleRow> {
    Ok(ArticleRow {
        id: r.int(0)?,
        locale: r.text(1)?.to_owned(),
        title: r.text(2)?.to_owned(),
        body: r.text(3)?.to_owned(),
        created_at: instant(r.int(4)?)?,
        updated_at: instant(r.int(5)?)?,
    })
}

/// Stores an article with its search terms; returns its id.
pub fn insert_article(
    tx: &mut Tx<'_>,
    locale: &str,
    title: &str,
    body: &str,
    terms: &[String],
    now_micros: i64,
) -> Result<i64> {
    let id = tx
        .query_one(
            "INSERT INTO kb_articles (locale, title, body, created_at, updated_at)
             VALUES ($1, $2, $3, $4, $4) RETURNING id",
            args![locale, title, body, now_micros],
        )?
        .int(0)?;
    for term in terms {
        tx.execute(
            "INSERT INTO kb_postings (term, article_id) VALUES ($1, $2) ON CONFLICT DO NOTHING",
            args![term.as_str(), id],
        )?;
    }
    Ok(id)
}

pub fn get_article(tx: &mut Tx<'_>, id: i64) -> Result<Option<ArticleRow>> {
    tx.query_opt(
        "SELECT id, locale, title, body, created_at, updated_at FROM kb_articles WHERE id = $1",
        args![id],
    )?
    .map(|r| article(&r))
    .transpose()
}

pub fn count_articles(tx: &mut Tx<'_>) -> Result<i64> {
    tx.query_one("SELECT COUNT(*) FROM kb_articles", &[])?
        .int(0)
}

/// `(term, article_id)` postings of the given terms.
pub fn postings(tx: &mut Tx<'_>, terms: &[String]) -> Result<Vec<(String, i64)>> {
    if terms.is_empty() {
        return Ok(Vec::new());
    }
    let params: Vec<Arg<'_>> = terms.iter().map(|t| Arg::Text(t)).collect();
    let list: Vec<String> = (1..=terms.len()).map(|i| format!("${i}")).collect();
    let sql = format!(
        "SELECT term, article_id FROM kb_postings WHERE term IN ({}) ORDER BY term, article_id",
        list.join(", ")
    );
    tx.query(&sql, &params)?
        .iter()
        .map(|r| Ok((r.text(0)?.to_owned(), r.int(1)?)))
        .collect()
}
