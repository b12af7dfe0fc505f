//! The desk's operations tables: merge pointers, CSAT ratings and their survey tokens, template
//! uses, template A/B tests and their assignments; and the read-only queries KPIs, trends and
//! A/B results are computed from (no message bodies are read).

use crate::sql::{Arg, Row, Tx};
use crate::{args, instant};
use anyhow::Result;

/// The ticket `id` was merged into, if it was.
pub fn merged_into(tx: &mut Tx<'_>, id: i64) -> Result<Option<i64>> {
    Ok(tx
        .query_opt("SELECT merged_into FROM tickets WHERE id = $1", args![id])?
        .map(|r| r.opt_int(0))
        .transpose()?
        .flatten())
}

/// What an SLA evaluation found, with the digest of what it persisted and how far it looked
/// at which calendar (`horizon_micros`: `i64::MIN` when not at all; see migration 17).
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub struct SlaUpdate<'a> {
    pub id: i64,
    pub policy: &'a str,
    pub next_due_micros: Option<i64>,
    pub breached: bool,
    pub digest: i64,
    pub horizon_micros: i64,
    pub calendar_id: i64,
    /// The timer scheduled (`i64::MIN`: none), which `digest` covers (migration 18).
    pub timer_micros: i64,
}

pub fn update_sla(tx: &mut Tx<'_>, u: &SlaUpdate<'_>) -> Result<()> {
    tx.execute(
        "UPDATE tickets SET sla_policy = $2, sla_next_due_at = $3, sla_breached = $4,
             sla_error = NULL, sla_digest = $5, sla_horizon = $6, sla_calendar_id = $7,
             sla_timer = $8
         WHERE id = $1",
        args![
            u.id,
            u.policy,
            u.next_due_micros,
            i64::from(u.breached),
            u.digest,
            u.horizon_micros,
            u.calendar_id,
            u.timer_micros
        ],
    )?;
    Ok(())
}

pub fn set_merged_into(tx: &mut Tx<'_>, id: i64, into: i64) -> Result<()> {
    tx.execute(
        "UPDATE tickets SET merged_into = $2 WHERE id = $1",
        args![id, into],
    )?;
    Ok(())
}

#[derive(Debug, Clone, PartialEq, Eq)]
pub struct CsatRow {
    pub ticket_id: i64,
    pub token: String,
    pub rating: Option<i64>,
    pub rated_at: Option<jiff::Timestamp>,
    pub rated_by: Option<String>,
    /// When the survey link was created.
    pub created_at: jiff::Timestamp,
}

fn csat(r: &Row) -> Result<CsatRow> {
    Ok(CsatRow {
        ticket_id: r.int(0)?,
        token: r.text(1)?.to_owned(),
        rating: r.opt_int(2)?,
        rated_at: r.opt_int(3)?.map(instant).transpose()?,
        rated_by: r.opt_text(4)?.map(str::to_owned),
        created_at: instant(r.int(5)?)?,
    })
}

const CSAT_COLUMNS: &str = "ticket_id, token, rating, rated_at, rated_by, created_at";

pub fn csat_of(tx: &mut Tx<'_>, ticket_id: i64) -> Result<Option<CsatRow>> {
    tx.query_opt(
        &format!("SELECT {CSAT_COLUMNS} FROM ticket_csat WHERE ticket_id = $1"),
        args![ticket_id],
    )?
    .map(|r| csat(&r))
    .transpose()
}

/// When ticket `ticket_id` last became solved or closed (micros), from its log.
pub fn last_done_at(tx: &mut Tx<'_>, ticket_id: i64) -> Result<Option<i64>> {
    tx.query_one(
        "SELECT MAX(at) FROM ticket_events
          WHERE ticket_id = $1 AND kind = 'status' AND value IN ('solved', 'closed')",
        args![ticket_id],
    )?
    .opt_int(0)
}

pub fn csat_by_token(tx: &mut Tx<'_>, token: &str) -> Result<Option<CsatRow>> {
    tx.query_opt(
        &format!("SELECT {CSAT_COLUMNS} FROM ticket_csat WHERE token = $1"),
        args![token],
    )?
    .map(|r| csat(&r))
    .transpose()
}

/// Creates the ticket's CSAT row with its token, unless it has one; returns the row.
pub fn ensure_csat(
    tx: &mut Tx<'_>,
    ticket_id: i64,
    token: &str,
    now_micros: i64,
) -> Result<CsatRow> {
    tx.execute(
        "INSERT INTO ticket_csat (ticket_id, token, created_at) VALUES ($1, $2, $3)
         ON CONFLICT (ticket_id) DO NOTHING",
        args![ticket_id, token, now_micros],
    )?;
    csat_of(tx, ticket_id)?.ok_or_else(|| anyhow::anyhow!("csat row of ticket {ticket_id}"))
}

pub fn set_rating(
    tx: &mut Tx<'_>,
    ticket_id: i64,
    rating: i64,
    by: &str,
    now_micros: i64,
) -> Result<()> {
    tx.execute(
        "UPDATE ticket_csat SET rating = $2, rated_by = $3, rated_at = $4 WHERE ticket_id = $1",
        args![ticket_id, rating, by, now_micros],
    )?;
    Ok(())
}

pub fn insert_template_use(
    tx: &mut Tx<'_>,
    ticket_id: i64,
    template_key: &str,
    now_micros: i64,
) -> Result<()> {
    tx.execute(
        "INSERT INTO template_uses (ticket_id, template_key, used_at) VALUES ($1, $2, $3)",
        args![ticket_id, template_key, now_micros],
    )?;
    Ok(())
}

#[derive(Debug, Clone, PartialEq, Eq)]
pub struct AbTestRow {
    pub id: i64,
    pub name: String,
    pub template_key: String,
    /// The variants as a JSON document.
    pub variants: String,
    pub started_at: jiff::Timestamp,
    pub stopped_at: Option<jiff::Timestamp>,
}

fn ab_test(r: &Row) -> Result<AbTestRow> {
    Ok(AbTestRow {
        id: r.int(0)?,
        name: r.text(1)?.to_owned(),
        template_key: r.text(2)?.to_owned(),
        variants: r.text(3)?.to_owned(),
        started_at: instant(r.int(4)?)?,
        stopped_at: r.opt_int(5)?.map(instant).transpose()?,
    })
}

const AB_COLUMNS: &str = "id, name, template_key, variants, started_at, stopped_at";

/// Starts a test; `None` when another test of the same template is running.
pub fn insert_ab_test(
    tx: &mut Tx<'_>,
    name: &str,
    template_key: &str,
    variants: &str,
    now_micros: i64,
) -> Result<Option<i64>> {
    tx.query_opt(
        "INSERT INTO ab_tests (name, template_key, variants, started_at) VALUES ($1, $2, $3, $4)
         ON CONFLICT DO NOTHING RETURNING id",
        args![name, template_key, variants, now_micros],
    )?
    .map(|r| r.int(0))
    .transpose()
}

pub fn get_ab_test(tx: &mut Tx<'_>, id: i64) -> Result<Option<AbTestRow>> {
    tx.query_opt(
        &format!("SELECT {AB_COLUMNS} FROM ab_tests WHERE id = $1"),
        args![id],
    )?
    .map(|r| ab_test(&r))
    .transpose()
}

pub fn running_ab_test(tx: &mut Tx<'_>, template_key: &str) -> Result<Option<AbTestRow>> {
    tx.query_opt(
        &format!(
            "SELECT {AB_COLUMNS} FROM ab_tests WHERE template_key = $1 AND stopped_at IS NULL"
        ),
        args![template_key],
    )?
    .map(|r| ab_test(&r))
    .transpose()
}

pub fn list_ab_tests(tx: &mut Tx<'_>) -> Result<Vec<AbTestRow>> {
    tx.query(
        &format!("SELECT {AB_COLUMNS} FROM ab_tests ORDER BY id"),
        &[],
    )?
    .iter()
    .map(ab_test)
    .collect()
}

/// Stops a running test; false when it was stopped already.
pub fn stop_ab_test(tx: &mut Tx<'_>, id: i64, now_micros: i64) -> Result<bool> {
    Ok(tx.execute(
        "UPDATE ab_tests SET stopped_at = $2 WHERE id = $1 AND stopped_at IS NULL",
        args![id, now_micros],
    )? == 1)
}

/// The recorded `(variant, template)` of a ticket in a test.
pub fn assignment(
    tx: &mut Tx<'_>,
    test_id: i64,
    ticket_id: i64,
) -> Result<Option<(String, String)>> {
    tx.query_opt(
        "SELECT variant, template FROM ab_assignments WHERE test_id = $1 AND ticket_id = $2",
        args![test_id, ticket_id],
    )?
    .map(|r| Ok((r.text(0)?.to_owned(), r.text(1)?.to_owned())))
    .transpose()
}

pub fn insert_assignment(
    tx: &mut Tx<'_>,
    test_id: i64,
    ticket_id: i64,
    variant: &str,
    template: &str,
    now_micros: i64,
) -> Result<()> {
    tx.execute(
        "INSERT INTO ab_assignments (test_id, ticket_id, variant, template, assigned_at)
         VALUES ($1, $2, $3, $4, $5) ON CONFLICT DO NOTHING",
        args![test_id, ticket_id, variant, template, now_micros],
    )?;
    Ok(())
}

/// Per variant of a test: tickets, ratings (count, sum), tickets solved at least once,
/// tickets reopened at least once.
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct AbResultRow {
    pub variant: String,
    pub tickets: i64,
    pub ratings: i64,
    pub rating_sum: i64,
    pub solved: i64,
    pub reopened: i64,
}

pub fn ab_results(tx: &mut Tx<'_>, test_id: i64) -> Result<Vec<AbResultRow>> {
    tx.query(
        "SELECT a.variant, COUNT(*), COUNT(c.rating), CAST(COALESCE(SUM(c.rating), 0) AS BIGINT),
             CAST(SUM(CASE WHEN EXISTS (SELECT 1 FROM ticket_events e WHERE e.ticket_id = a.ticket_id
                     AND e.kind = 'status' AND e.value IN ('solved', 'closed')) THEN 1 ELSE 0 END) AS BIGINT),
             CAST(SUM(CASE WHEN EXISTS (SELECT 1 FROM ticket_events e WHERE e.ticket_id = a.ticket_id
                     AND e.kind = 'status' AND e.previous IN ('solved', 'closed')
                     AND e.value NOT IN ('solved', 'closed')) THEN 1 ELSE 0 END) AS BIGINT)
         FROM ab_assignments a LEFT JOIN ticket_csat c ON c.ticket_id = a.ticket_id
         WHERE a.test_id = $1 GROUP BY a.variant ORDER BY a.variant",
        args![test_id],
    )?
    .iter()
    .map(|r| {
        Ok(AbResultRow {
            variant: r.text(0)?.to_owned(),
            tickets: r.int(1)?,
            ratings: r.int(2)?,
            rating_sum: r.int(3)?,
            solved: r.int(4)?,
            reopened: r.int(5)?,
        })
    })
    .collect()
}

/// Which tickets a report covers: created in `[from, to)`, optionally on one channel. Tickets
/// merged into another are left out (their conversation continues on the survivor).
#[derive(Debug, Clone, Copy)]
pub struct Window<'a> {
    pub from_micros: i64,
    pub to_micros: i64,
    pub channel: Option<&'a str>,
}

impl Window<'_> {
    fn clause(&self, alias: &str) -> (String, Vec<Arg<'_>>) {
        let mut args = vec![Arg::Int(self.from_micros), Arg::Int(self.to_micros)];
        let mut sql = format!(
            "{alias}.created_at >= $1 AND {alias}.created_at < $2 AND {alias}.merged_into IS NULL"
        );
        if let Some(c) = self.channel {
            args.push(Arg::Text(c));
            sql.push_str(&format!(" AND {alias}.channel = $3"));
        }
        (sql, args)
    }
}

/// A ticket as reports see it.
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct ReportTicket {
    pub id: i64,
    pub channel: String,
    pub status: String,
    pub category: Option<String>,
    pub assignee: Option<String>,
    pub created_at_micros: i64,
    /// `customer` or `agent`.
    pub opened_by: String,
    /// The body of the linked order event (for its SKUs), if any.
    pub order_body: Option<String>,
}

pub fn report_tickets(tx: &mut Tx<'_>, w: &Window<'_>) -> Result<Vec<ReportTicket>> {
    let (clause, params) = w.clause("t");
    tx.query(
        &format!(
            "SELECT t.id, t.channel, t.status, t.category, t.assignee, t.created_at, t.opened_by, o.body
             FROM tickets t LEFT JOIN events o ON o.id = t.order_event_id
             WHERE {clause} ORDER BY t.id"
        ),
        &params,
    )?
    .iter()
    .map(|r| {
        Ok(ReportTicket {
            id: r.int(0)?,
            channel: r.text(1)?.to_owned(),
            status: r.text(2)?.to_owned(),
            category: r.opt_text(3)?.map(str::to_owned),
            assignee: r.opt_text(4)?.map(str::to_owned),
            created_at_micros: r.int(5)?,
            opened_by: r.text(6)?.to_owned(),
            order_body: r.opt_text(7)?.map(str::to_owned),
        })
    })
    .collect()
}

/// A log entry that matters to reports (messages, notes and status changes; no bodies).
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct ReportEvent {
    pub ticket_id: i64,
    pub at_micros: i64,
    pub kind: String,
    pub sender: Option<String>,
    pub ack_only: bool,
    pub value: Option<String>,
    pub previous: Option<String>,
}

/// The log entries of the window's tickets, per ticket in log order.
pub fn report_events(tx: &mut Tx<'_>, w: &Window<'_>) -> Result<Vec<ReportEvent>> {
    let (clause, params) = w.clause("t");
    tx.query(
        &format!(
            "SELECT e.ticket_id, e.at, e.kind, e.sender, e.ack_only, e.value, e.previous
             FROM ticket_events e JOIN tickets t ON t.id = e.ticket_id
             WHERE {clause} AND e.kind IN ('message', 'note', 'status')
             ORDER BY e.ticket_id, e.id"
        ),
        &params,
    )?
    .iter()
    .map(|r| {
        Ok(ReportEvent {
            ticket_id: r.int(0)?,
            at_micros: r.int(1)?,
            kind: r.text(2)?.to_owned(),
            sender: r.opt_text(3)?.map(str::to_owned),
            ack_only: r.int(4)? != 0,
            value: r.opt_text(5)?.map(str::to_owned),
            previous: r.opt_text(6)?.map(str::to_owned),
        })
    })
    .collect()
}

/// `(ticket_id, clock, instance, action)` of the fulfil and breach events of the window's tickets.
pub fn report_sla_outcomes(
    tx: &mut Tx<'_>,
    w: &Window<'_>,
) -> Result<Vec<(i64, String, i64, String)>> {
    let (clause, params) = w.clause("t");
    tx.query(
        &format!(
            "SELECT s.ticket_id, s.clock, s.instance, s.action
             FROM sla_events s JOIN tickets t ON t.id = s.ticket_id
             WHERE {clause} AND s.action IN ('fulfill', 'breach')
             ORDER BY s.ticket_id, s.clock, s.instance"
        ),
        &params,
    )?
    .iter()
    .map(|r| {
        Ok((
            r.int(0)?,
            r.text(1)?.to_owned(),
            r.int(2)?,
            r.text(3)?.to_owned(),
        ))
    })
    .collect()
}

/// `(ticket_id, rating)` of the window's rated tickets.
pub fn report_ratings(tx: &mut Tx<'_>, w: &Window<'_>) -> Result<Vec<(i64, i64)>> {
    let (clause, params) = w.clause("t");
    tx.query(
        &format!(
            "SELECT c.ticket_id, c.rating FROM ticket_csat c JOIN tickets t ON t.id = c.ticket_id
             WHERE {clause} AND c.rating IS NOT NULL ORDER BY c.ticket_id"
        ),
        &params,
    )?
    .iter()
    .map(|r| Ok((r.int(0)?, r.int(1)?)))
    .collect()
}

/// Distinct `(ticket_id, template_key)` uses on the window's tickets.
pub fn report_template_uses(tx: &mut Tx<'_>, w: &Window<'_>) -> Result<Vec<(i64, String)>> {
    let (clause, params) = w.clause("t");
    tx.query(
        &format!(
            "SELECT DISTINCT u.ticket_id, u.template_key
             FROM template_uses u JOIN tickets t ON t.id = u.ticket_id
             WHERE {clause} ORDER BY u.ticket_id, u.template_key"
        ),
        &params,
    )?
    .iter()
    .map(|r| Ok((r.int(0)?, r.text(1)?.to_owned())))
    .collect()
}

/// `(status, created_at)` of every ticket not solved or closed (not merged), optionally on
/// one channel: the backlog as of now.
pub fn backlog(tx: &mut Tx<'_>, channel: Option<&str>) -> Result<Vec<(String, i64)>> {
    let (sql, params): (&str, Vec<Arg<'_>>) = match channel {
        None => (
            "SELECT status, created_at FROM tickets
             WHERE status NOT IN ('solved', 'closed') AND merged_into IS NULL",
            Vec::new(),
        ),
        Some(c) => (
            "SELECT status, created_at FROM tickets
             WHERE status NOT IN ('solved', 'closed') AND merged_into IS NULL AND channel = $1",
            vec![Arg::Text(c)],
        ),
    };
    tx.query(sql, &params)?
        .iter()
        .map(|r| Ok((r.text(0)?.to_owned(), r.int(1)?)))
        .collect()
}

/// A ticket to re-evaluate in bulk, with the ticket it was merged into.
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct BulkTicket {
    pub row: crate::desk::TicketRow,
    pub merged_into: Option<i64>,
    pub sla_digest: Option<i64>,
    /// How far its last evaluation looked at which calendar (migration 17).
    pub sla_horizon: Option<i64>,
    pub sla_calendar_id: Option<i64>,
    /// The timer its last evaluation scheduled (migration 18).
    pub sla_timer: Option<i64>,
}

/// A calendar edit: tickets whose last evaluation looked at another calendar, or at this one
/// only before `changed_from_micros` (its first difference), cannot be changed by it.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub struct CalendarEdit {
    pub calendar_id: i64,
    pub changed_from_micros: i64,
}

/// Which tickets a bulk read takes: not closed, and (after a calendar edit) not known to be
/// unaffected by it. `t` is the alias of `tickets`; parameters `$3` and `$4`.
fn affected(edit: Option<&CalendarEdit>) -> (&'static str, [i64; 2]) {
    match edit {
        None => ("t.status <> 'closed'", [0, 0]),
        Some(e) => (
            "t.status <> 'closed' AND (t.sla_horizon IS NULL OR t.sla_calendar_id IS NULL
                 OR (t.sla_calendar_id = $3 AND t.sla_horizon >= $4))",
            [e.calendar_id, e.changed_from_micros],
        ),
    }
}

/// Up to `limit` tickets not closed after `after_id` (after a calendar edit: only those it
/// may affect), in id order, locked for the transaction on PostgreSQL (SQLite has one
/// writer), so a chunk is read, evaluated and written as one.
pub fn bulk_unclosed_tickets(
    tx: &mut Tx<'_>,
    after_id: i64,
    limit: i64,
    edit: Option<&CalendarEdit>,
) -> Result<Vec<BulkTicket>> {
    let lock = if tx.is_postgres() { " FOR UPDATE" } else { "" };
    let (filter, [calendar, changed]) = affected(edit);
    let mut out = Vec::new();
    tx.query_each(
        &format!(
            "SELECT {}, merged_into, sla_digest, sla_horizon, sla_calendar_id, sla_timer FROM tickets t WHERE {filter} AND t.id > $1
             ORDER BY t.id LIMIT $2{lock}",
            crate::desk::TICKET_COLUMNS
        ),
        &args![after_id, limit, calendar, changed][..if edit.is_some() { 4 } else { 2 }],
        |r| {
            out.push(BulkTicket {
                row: crate::desk::ticket(r)?,
                merged_into: r.opt_int(17)?,
                sla_digest: r.opt_int(18)?,
                sla_horizon: r.opt_int(19)?,
                sla_calendar_id: r.opt_int(20)?,
                sla_timer: r.opt_int(21)?,
            });
            Ok(())
        },
    )?;
    Ok(out)
}

/// A log entry that matters to the clocks, without its body.
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct ClockEntryRow {
    pub ticket_id: i64,
    pub id: i64,
    pub at_micros: i64,
    pub kind: String,
    pub sender: Option<String>,
    pub ack_only: bool,
    pub value: Option<String>,
    pub previous: Option<String>,
}

/// The clock-relevant log entries (messages, notes, follow-ups, status changes) of tickets
/// with ids in `[first_id, last_id]`, per ticket in log order.
pub fn bulk_clock_entries(
    tx: &mut Tx<'_>,
    first_id: i64,
    last_id: i64,
) -> Result<Vec<ClockEntryRow>> {
    let mut out = Vec::new();
    each_clock_entry(tx, first_id, last_id, None, |e| {
        out.push(e);
        Ok(())
    })?;
    Ok(out)
}

/// The same entries as [`bulk_clock_entries`], handed to `each` as they are read (the bulk
/// recompute evaluates a ticket as soon as its last entry is read). After a calendar edit,
/// only the entries of the tickets [`bulk_unclosed_tickets`] takes with the same `edit`.
pub fn each_clock_entry(
    tx: &mut Tx<'_>,
    first_id: i64,
    last_id: i64,
    edit: Option<&CalendarEdit>,
    mut each: impl FnMut(ClockEntryRow) -> Result<()>,
) -> Result<()> {
    let sql = match edit {
        None => {
            "SELECT ticket_id, id, at, kind, sender, ack_only, value, previous FROM ticket_events
         WHERE ticket_id >= $1 AND ticket_id <= $2
           AND kind IN ('message', 'note', 'follow_up', 'status')
         ORDER BY ticket_id, id"
                .to_owned()
        }
        // The tickets drive (SQLite: CROSS JOIN keeps them the outer loop, and the order is
        // the index's), so the logs of skipped tickets are not read.
        Some(_) => format!(
            "SELECT e.ticket_id, e.id, e.at, e.kind, e.sender, e.ack_only, e.value, e.previous
             FROM tickets t CROSS JOIN ticket_events e
             WHERE e.ticket_id = t.id AND t.id >= $1 AND t.id <= $2 AND {}
               AND e.kind IN ('message', 'note', 'follow_up', 'status')
             ORDER BY t.id, e.id",
            affected(edit).0
        ),
    };
    let [calendar, changed] = affected(edit).1;
    tx.query_each(
        &sql,
        &args![first_id, last_id, calendar, changed][..if edit.is_some() { 4 } else { 2 }],
        |r| {
            each(ClockEntryRow {
                ticket_id: r.int(0)?,
                id: r.int(1)?,
                at_micros: r.int(2)?,
                kind: r.text(3)?.to_owned(),
                sender: r.opt_text(4)?.map(str::to_owned),
                ack_only: r.int(5)? != 0,
                value: r.opt_text(6)?.map(str::to_owned),
                previous: r.opt_text(7)?.map(str::to_owned),
            })
        },
    )
}

/// The persisted SLA events of tickets with ids in `[first_id, last_id]`, per ticket in order.
pub fn bulk_sla_events(
    tx: &mut Tx<'_>,
    first_id: i64,
    last_id: i64,
) -> Result<Vec<crate::desk::SlaEventRow>> {
    tx.query(
        "SELECT ticket_id, clock, instance, action, at, policy, recorded_at FROM sla_events
         WHERE ticket_id >= $1 AND ticket_id <= $2 ORDER BY ticket_id, id",
        args![first_id, last_id],
    )?
    .iter()
    .map(|r| {
        Ok(crate::desk::SlaEventRow {
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

/// Ticket ids per `IN (…)` list (a power of two, see [`crate::events::statement_chunks`]).
const IDS_PER_STATEMENT: usize = 512;

/// The persisted SLA events of `ids`, per ticket in order (the bulk recompute reads those of
/// the tickets whose evaluation changed with one statement per 512 tickets).
pub fn sla_events_of_many(tx: &mut Tx<'_>, ids: &[i64]) -> Result<Vec<crate::desk::SlaEventRow>> {
    let mut out = Vec::new();
    for chunk in crate::events::statement_chunks(ids, IDS_PER_STATEMENT) {
        let list = (1..=chunk.len())
            .map(|i| format!("${i}"))
            .collect::<Vec<_>>()
            .join(", ");
        let params: Vec<Arg<'_>> = chunk.iter().map(|id| Arg::Int(*id)).collect();
        tx.query_each(
            &format!(
                "SELECT ticket_id, clock, instance, action, at, policy, recorded_at FROM sla_events
                 WHERE ticket_id IN ({list}) ORDER BY ticket_id, id"
            ),
            &params,
            |r| {
                out.push(crate::desk::SlaEventRow {
                    ticket_id: r.int(0)?,
                    clock: r.text(1)?.to_owned(),
                    instance: r.int(2)?,
                    action: r.text(3)?.to_owned(),
                    at_micros: r.int(4)?,
                    policy: r.text(5)?.to_owned(),
                    recorded_at_micros: r.int(6)?,
                });
                Ok(())
            },
        )?;
    }
    Ok(out)
}

/// Stores SLA events with multi-row statements; for each, whether it was stored (false: the
/// same once-only action of the clock instance, or the same pause at the same instant, was
/// stored already — see [`crate::desk::insert_sla_event`]). Rows are stored in order.
pub fn insert_sla_events(tx: &mut Tx<'_>, rows: &[crate::desk::SlaEventRow]) -> Result<Vec<bool>> {
    type Key = (i64, String, i64, String, i64);
    let mut stored: std::collections::HashSet<Key> = std::collections::HashSet::new();
    for chunk in crate::events::statement_chunks(rows, crate::events::BATCH_STATEMENT_ROWS) {
        let sql = format!(
            "INSERT INTO sla_events (ticket_id, clock, instance, action, at, policy, recorded_at)
             VALUES {} ON CONFLICT DO NOTHING RETURNING ticket_id, clock, instance, action, at",
            crate::events::placeholders(chunk.len(), 7, 1)
        );
        let mut params: Vec<Arg<'_>> = Vec::with_capacity(chunk.len() * 7);
        for e in chunk {
            params.extend_from_slice(args![
                e.ticket_id,
                e.clock.as_str(),
                e.instance,
                e.action.as_str(),
                e.at_micros,
                e.policy.as_str(),
                e.recorded_at_micros
            ]);
        }
        tx.query_each(&sql, &params, |r| {
            stored.insert((
                r.int(0)?,
                r.text(1)?.to_owned(),
                r.int(2)?,
                r.text(3)?.to_owned(),
                r.int(4)?,
            ));
            Ok(())
        })?;
    }
    Ok(rows
        .iter()
        .map(|e| {
            stored.contains(&(
                e.ticket_id,
                e.clock.clone(),
                e.instance,
                e.action.clone(),
                e.at_micros,
            ))
        })
        .collect())
}

/// Appends entries to ticket logs with multi-row statements, in order (the bulk recompute's
/// warnings and breaches; the same columns as [`crate::desk::append_event`]).
pub fn append_events_many(tx: &mut Tx<'_>, rows: &[crate::desk::TicketEventRow]) -> Result<()> {
    for chunk in crate::events::statement_chunks(rows, crate::events::BATCH_STATEMENT_ROWS) {
        use crate::desk::{EVENT_INSERT_COLUMNS, EVENT_INSERT_WIDTH, event_args};
        let sql = format!(
            "INSERT INTO ticket_events ({EVENT_INSERT_COLUMNS}) VALUES {}",
            crate::events::placeholders(chunk.len(), EVENT_INSERT_WIDTH, 1)
        );
        let mut params: Vec<Arg<'_>> = Vec::with_capacity(chunk.len() * EVENT_INSERT_WIDTH);
        for e in chunk {
            params.extend_from_slice(&event_args(e));
        }
        tx.execute(&sql, &params)?;
    }
    Ok(())
}

/// [`update_sla`] for many tickets: on PostgreSQL with multi-row statements (a round trip
/// per 256 tickets); on SQLite one cached statement per ticket, which measured faster there
/// (an `UPDATE … FROM (VALUES …)` cost about 80 µs a row in `patron bench sla`, 2026-12-07).
pub fn update_sla_many(tx: &mut Tx<'_>, updates: &[SlaUpdate<'_>]) -> Result<()> {
    if !tx.is_postgres() {
        for u in updates {
            update_sla(tx, u)?;
        }
        return Ok(());
    }
    for chunk in crate::events::statement_chunks(updates, crate::events::BATCH_STATEMENT_ROWS) {
        // Typed placeholders: PostgreSQL infers nothing from a bare VALUES list.
        let mut values = String::with_capacity(chunk.len() * 140);
        for i in 0..chunk.len() {
            let p = i * 8;
            if i > 0 {
                values.push_str(", ");
            }
            values.push_str(&format!(
                "(CAST(${} AS BIGINT), CAST(${} AS TEXT), CAST(${} AS BIGINT), CAST(${} AS BIGINT), \
                 CAST(${} AS BIGINT), CAST(${} AS BIGINT), CAST(${} AS BIGINT), CAST(${} AS BIGINT))",
                p + 1,
                p + 2,
                p + 3,
                p + 4,
                p + 5,
                p + 6,
                p + 7,
                p + 8
            ));
        }
        let sql = format!(
            "WITH v (id, policy, next_due, breached, digest, horizon, calendar_id, timer)
                 AS (VALUES {values})
             UPDATE tickets SET sla_policy = v.policy, sla_next_due_at = v.next_due,
                 sla_breached = v.breached, sla_error = NULL, sla_digest = v.digest,
                 sla_horizon = v.horizon, sla_calendar_id = v.calendar_id, sla_timer = v.timer
             FROM v WHERE tickets.id = v.id"
        );
        let mut params: Vec<Arg<'_>> = Vec::with_capacity(chunk.len() * 8);
        for u in chunk {
            params.extend_from_slice(args![
                u.id,
                u.policy,
                u.next_due_micros,
                i64::from(u.breached),
                u.digest,
                u.horizon_micros,
                u.calendar_id,
                u.timer_micros
            ]);
        }
        tx.execute(&sql, &params)?;
    }
    Ok(())
}
