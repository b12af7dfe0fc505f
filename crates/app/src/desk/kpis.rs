//! Desk KPIs and complaint trends over a window of tickets (created in `[from, to)`,
//! optionally on one channel; tickets merged into another are left out).
//!
//! Definitions (all over the window's tickets):
//! - **first response**: creation → the first public message written by a person on the desk
//!   (auto-replies, acknowledgements and AI answers do not count), for customer-opened tickets;
//!   median and p90 by nearest rank, in business minutes of the desk's default calendar (id 1)
//!   and in calendar minutes.
//! - **resolution**: creation → first solved (or closed); rate = solved ÷ tickets.
//! - **SLA attainment** per clock: instances fulfilled without a breach ÷ instances fulfilled or
//!   breached (running clocks are not counted yet).
//! - **auto-resolution rate**: solved tickets on which no person wrote (only automatic
//!   replies) ÷ solved tickets; **human-intervention rate**: tickets on which a person wrote a
//!   message or note ÷ tickets; **reopen rate**: tickets reopened ÷ tickets solved.
//! - **CSAT**: mean rating, and per agent (the current assignee), per category and per
//!   template (every template rendered on the ticket).
//! - **backlog**: tickets not solved or closed *now* (not limited to the window), by status
//!   and by age.
//!
//! Trends count complaints (every ticket except `praise`) per day or ISO week (Monday) in the
//! desk's time zone, by category (`uncategorized` when none) or by product (each SKU on the
//! ticket's linked order counts once; tickets without an order are not counted by product),
//! and flag spikes by [`SpikeRule::DEFAULT`]: at least 5 complaints and more than the mean + 3σ
//! of the (up to) 8 periods before, given at least 4 of them.

use super::{DEFAULT_CALENDAR_ID, load_calendar_doc};
use crate::{App, AppResult};
use domain::FieldError;
use domain::desk::ops::{
    AGE_BUCKETS, DurationSummary, LogEntry, SpikeRule, age_bucket, mean, outcome, rate, spikes,
    summarize,
};
use domain::desk::{Sender, TicketChannel, parse_status};
use domain::sla::Status;
use jiff::civil::Date;
use jiff::tz::TimeZone;
use jiff::{SignedDuration, Timestamp};
use std::collections::{BTreeMap, BTreeSet, HashMap};
use store::desk_ops::{self, ReportEvent, Window};

/// Longest report window, in days.
pub const KPI_WINDOW_DAYS_MAX: i64 = 366;
/// Default window when `from` is absent: this many days before `to`.
pub const KPI_WINDOW_DAYS_DEFAULT: i64 = 30;

/// `from` and `to`: `YYYY-MM-DD` (local dates in the desk's zone; `to` includes its day) or
/// RFC 3339 instants (`to` exclusive). Defaults: the 30 days up to now.
#[derive(Debug, Clone, Default, PartialEq, Eq)]
pub struct ReportQuery {
    pub from: Option<String>,
    pub to: Option<String>,
    pub channel: Option<String>,
}

#[derive(Debug, Clone, Copy, PartialEq, Default)]
pub struct DurationStats {
    pub count: usize,
    pub median_business_minutes: Option<f64>,
    pub p90_business_minutes: Option<f64>,
    pub median_calendar_minutes: Option<f64>,
    pub p90_calendar_minutes: Option<f64>,
}

#[derive(Debug, Clone, PartialEq)]
pub struct ClockAttainment {
    pub clock: String,
    pub met: usize,
    pub breached: usize,
    pub attainment: Option<f64>,
}

/// A group's CSAT.
#[derive(Debug, Clone, PartialEq)]
pub struct CsatGroup {
    pub key: String,
    pub count: usize,
    pub mean: Option<f64>,
}

#[derive(Debug, Clone, PartialEq)]
pub struct KpiView {
    pub from: Timestamp,
    pub to: Timestamp,
    pub channel: Option<String>,
    pub tickets: usize,
    pub first_response: DurationStats,
    pub solved: usize,
    pub resolution_rate: Option<f64>,
    pub resolution: DurationStats,
    pub sla: Vec<ClockAttainment>,
    pub auto_resolved: usize,
    pub auto_resolution_rate: Option<f64>,
    pub human_intervened: usize,
    pub human_intervention_rate: Option<f64>,
    pub reopened: usize,
    pub reopen_rate: Option<f64>,
    pub csat_count: usize,
    pub csat_mean: Option<f64>,
    pub csat_by_agent: Vec<CsatGroup>,
    pub csat_by_category: Vec<CsatGroup>,
    pub csat_by_template: Vec<CsatGroup>,
    pub backlog_total: usize,
    pub backlog_by_status: Vec<(String, usize)>,
    pub backlog_by_age: Vec<(String, usize)>,
}

/// One series of a trend.
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct TrendSeries {
    pub key: String,
    pub counts: Vec<i64>,
    pub spikes: Vec<bool>,
}

#[derive(Debug, Clone, PartialEq, Eq)]
pub struct TrendView {
    pub by: String,
    pub period: String,
    /// The first local date of each period.
    pub periods: Vec<Date>,
    pub series: Vec<TrendSeries>,
}

fn minutes(d: Option<i64>) -> Option<f64> {
    d.map(|s| s as f64 / 60.0)
}

fn stats(business: Vec<i64>, calendar: Vec<i64>) -> DurationStats {
    let b: DurationSummary = summarize(business);
    let c: DurationSummary = summarize(calendar);
    DurationStats {
        count: c.count,
        median_business_minutes: minutes(b.median_seconds),
        p90_business_minutes: minutes(b.p90_seconds),
        median_calendar_minutes: minutes(c.median_seconds),
        p90_calendar_minutes: minutes(c.p90_seconds),
    }
}

fn bound(field: &str, text: &str, zone: &TimeZone, end: bool) -> Result<Timestamp, FieldError> {
    if let Ok(date) = text.parse::<Date>() {
        let day = if end {
            date.tomorrow()
                .map_err(|_| FieldError::new(field, "out of range"))?
        } else {
            date
        };
        return day
            .to_zoned(zone.clone())
            .map(|z| z.timestamp())
            .map_err(|_| FieldError::new(field, "out of range"));
    }
    text.parse::<Timestamp>().map_err(|_| {
        FieldError::new(
            field,
            "a date YYYY-MM-DD or an RFC 3339 instant such as 2026-03-02T09:00:00+08:00",
        )
    })
}

fn entry(e: &ReportEvent) -> Option<(Timestamp, LogEntry)> {
    let at = Timestamp::from_microsecond(e.at_micros).ok()?;
    let sender = || Sender::parse(e.sender.as_deref().unwrap_or_default()).ok();
    let entry = match e.kind.as_str() {
        "message" => LogEntry::Message {
            from: sender()?,
            ack_only: e.ack_only,
        },
        "note" => LogEntry::Note { from: sender()? },
        "status" => LogEntry::Status {
            from: parse_status(e.previous.as_deref().unwrap_or_default()).ok()?,
            to: parse_status(e.value.as_deref().unwrap_or_default()).ok()?,
        },
        _ => return None,
    };
    Some((at, entry))
}

fn groups(map: BTreeMap<String, Vec<i64>>) -> Vec<CsatGroup> {
    map.into_iter()
        .map(|(key, ratings)| CsatGroup {
            key,
            count: ratings.len(),
            mean: mean(&ratings),
        })
        .collect()
}

/// SKUs of an order event's body (`lines[].sku`), distinct.
fn skus(order_body: &str) -> BTreeSet<String> {
    serde_json::from_str::<serde_json::Value>(order_body)
        .ok()
        .and_then(|v| v.get("lines").and_then(|l| l.as_array()).cloned())
        .unwrap_or_default()
        .iter()
        .filter_map(|l| l.get("sku").and_then(|s| s.as_str()).map(str::to_owned))
        .collect()
}

impl App {
    /// The window, channel and desk zone of a report query.
    fn report_window(
        &self,
        q: &ReportQuery,
    ) -> AppResult<(
        Timestamp,
        Timestamp,
        Option<String>,
        TimeZone,
        domain::calendar::Calendar,
    )> {
        let doc = self
            .store
            .read(|tx| load_calendar_doc(tx, DEFAULT_CALENDAR_ID))?
            .ok_or_else(|| anyhow::anyhow!("the default calendar is missing"))?
            .doc;
        let calendar = doc
            .calendar()
            .map_err(|e| anyhow::anyhow!("default calendar: {e}"))?;
        let zone = calendar.zone().clone();
        let to = match q.to.as_deref() {
            Some(t) => bound("to", t, &zone, true)?,
            None => self.now(),
        };
        let from = match q.from.as_deref() {
            Some(f) => bound("from", f, &zone, false)?,
            None => to - SignedDuration::from_hours(24 * KPI_WINDOW_DAYS_DEFAULT),
        };
        if from >= to {
            return Err(FieldError::new("to", "must be after from").into());
        }
        if to.duration_since(from) > SignedDuration::from_hours(24 * KPI_WINDOW_DAYS_MAX) {
            return Err(FieldError::new(
                "from",
                format!("the window is at most {KPI_WINDOW_DAYS_MAX} days"),
            )
            .into());
        }
        let channel = q
            .channel
            .as_deref()
            .map(|c| TicketChannel::parse(c).map(|c| c.as_str().to_owned()))
            .transpose()?;
        Ok((from, to, channel, zone, calendar))
    }

    /// The desk's KPIs over a window (see the module documentation for each definition).
    pub fn desk_kpis(&self, q: &ReportQuery) -> AppResult<KpiView> {
        let (from, to, channel, _zone, calendar) = self.report_window(q)?;
        let now = self.now();
        let w = Window {
            from_micros: from.as_microsecond(),
            to_micros: to.as_microsecond(),
            channel: channel.as_deref(),
        };
        let (tickets, events, sla, ratings, uses, backlog) = self.store.read(|tx| {
            anyhow::Ok((
                desk_ops::report_tickets(tx, &w)?,
                desk_ops::report_events(tx, &w)?,
                desk_ops::report_sla_outcomes(tx, &w)?,
                desk_ops::report_ratings(tx, &w)?,
                desk_ops::report_template_uses(tx, &w)?,
                desk_ops::backlog(tx, channel.as_deref())?,
            ))
        })?;
        let mut by_ticket: HashMap<i64, Vec<(Timestamp, LogEntry)>> = HashMap::new();
        for e in &events {
            if let Some(x) = entry(e) {
                by_ticket.entry(e.ticket_id).or_default().push(x);
            }
        }
        let (mut fr_b, mut fr_c, mut res_b, mut res_c) = (vec![], vec![], vec![], vec![]);
        let (mut solved, mut auto, mut human, mut reopened) = (0, 0, 0, 0);
        let business =
            |a: Timestamp, b: Timestamp| calendar.business_time(a, b).ok().map(|d| d.as_secs());
        for t in &tickets {
            let created = Timestamp::from_microsecond(t.created_at_micros)
                .map_err(|e| anyhow::anyhow!("ticket {}: {e}", t.id))?;
            let log = by_ticket.remove(&t.id).unwrap_or_default();
            let o = outcome(log);
            if let Some(at) = o.first_human_reply_at.filter(|_| t.opened_by == "customer") {
                fr_c.push(at.duration_since(created).as_secs());
                fr_b.extend(business(created, at));
            }
            if let Some(at) = o.first_solved_at {
                solved += 1;
                res_c.push(at.duration_since(created).as_secs());
                res_b.extend(business(created, at));
                auto += usize::from(o.auto_resolved());
                reopened += usize::from(o.reopened);
            }
            human += usize::from(o.human_intervened);
        }
        // SLA attainment: per (ticket, clock, instance), breached beats fulfilled.
        let mut instances: BTreeMap<(String, i64, i64), bool> = BTreeMap::new();
        for (ticket, clock, instance, action) in sla {
            let breached = instances.entry((clock, ticket, instance)).or_insert(false);
            *breached |= action == "breach";
        }
        let mut per_clock: BTreeMap<String, (usize, usize)> = BTreeMap::new();
        for ((clock, _, _), breached) in instances {
            let e = per_clock.entry(clock).or_default();
            if breached {
                e.1 += 1;
            } else {
                e.0 += 1;
            }
        }
        let sla = per_clock
            .into_iter()
            .map(|(clock, (met, breached))| ClockAttainment {
                clock,
                met,
                breached,
                attainment: rate(met, met + breached),
            })
            .collect();
        let rating_of: HashMap<i64, i64> = ratings.iter().copied().collect();
        let all: Vec<i64> = ratings.iter().map(|r| r.1).collect();
        let (mut agent, mut category, mut template) =
            (BTreeMap::new(), BTreeMap::new(), BTreeMap::new());
        for t in &tickets {
            if let Some(r) = rating_of.get(&t.id) {
                let a = t
                    .assignee
                    .clone()
                    .unwrap_or_else(|| "unassigned".to_owned());
                agent.entry(a).or_insert_with(Vec::new).push(*r);
                let c = t
                    .category
                    .clone()
                    .unwrap_or_else(|| "uncategorized".to_owned());
                category.entry(c).or_insert_with(Vec::new).push(*r);
            }
        }
        for (ticket, key) in uses {
            if let Some(r) = rating_of.get(&ticket) {
                template.entry(key).or_insert_with(Vec::new).push(*r);
            }
        }
        let mut by_status: BTreeMap<String, usize> = BTreeMap::new();
        let mut by_age: BTreeMap<&'static str, usize> = BTreeMap::new();
        for (status, created) in &backlog {
            *by_status.entry(status.clone()).or_default() += 1;
            let created = Timestamp::from_microsecond(*created).unwrap_or(now);
            *by_age
                .entry(age_bucket(now.duration_since(created)))
                .or_default() += 1;
        }
        let backlog_by_status = Status::ALL
            .into_iter()
            .filter(|s| !s.is_done())
            .map(|s| {
                let n = by_status.get(s.as_str()).copied().unwrap_or(0);
                (s.as_str().to_owned(), n)
            })
            .collect();
        let backlog_by_age = AGE_BUCKETS
            .into_iter()
            .map(|b| (b.to_owned(), by_age.get(b).copied().unwrap_or(0)))
            .collect();
        let n = tickets.len();
        Ok(KpiView {
            from,
            to,
            channel,
            tickets: n,
            first_response: stats(fr_b, fr_c),
            solved,
            resolution_rate: rate(solved, n),
            resolution: stats(res_b, res_c),
            sla,
            auto_resolved: auto,
            auto_resolution_rate: rate(auto, solved),
            human_intervened: human,
            human_intervention_rate: rate(human, n),
            reopened,
            reopen_rate: rate(reopened, solved),
            csat_count: all.len(),
            csat_mean: mean(&all),
            csat_by_agent: groups(agent),
            csat_by_category: groups(category),
            csat_by_template: groups(template),
            backlog_total: backlog.len(),
            backlog_by_status,
            backlog_by_age,
        })
    }

    /// Complaint counts per period by category or product, with spikes flagged.
    pub fn desk_trends(&self, q: &ReportQuery, by: &str, period: &str) -> AppResult<TrendView> {
        if !matches!(by, "category" | "product") {
            return Err(FieldError::new("by", "must be category or product").into());
        }
        let step: i64 = match period {
            "day" => 1,
            "week" => 7,
            _ => return Err(FieldError::new("period", "must be day or week").into()),
        };
        let (from, to, channel, zone, _) = self.report_window(q)?;
        let w = Window {
            from_micros: from.as_microsecond(),
            to_micros: to.as_microsecond(),
            channel: channel.as_deref(),
        };
        let tickets = self.store.read(|tx| desk_ops::report_tickets(tx, &w))?;
        let local = |t: Timestamp| t.to_zoned(zone.clone()).date();
        let period_start = |d: Date| {
            if step == 7 {
                let back = i64::from(d.weekday().to_monday_zero_offset());
                d.checked_sub(jiff::Span::new().days(back)).unwrap_or(d)
            } else {
                d
            }
        };
        let first = period_start(local(from));
        let last_instant = to - SignedDuration::from_micros(1);
        let last = period_start(local(last_instant));
        let index = |d: Date| -> Option<usize> {
            let days = first.until(period_start(d)).ok()?.get_days();
            usize::try_from(i64::from(days) / step).ok()
        };
        let n_periods = index(last).map_or(1, |i| i + 1);
        let periods: Vec<Date> = (0..n_periods)
            .filter_map(|i| {
                first
                    .checked_add(jiff::Span::new().days(i as i64 * step))
                    .ok()
            })
            .collect();
        let mut counts: BTreeMap<String, Vec<i64>> = BTreeMap::new();
        for t in &tickets {
            if t.category.as_deref() == Some("praise") {
                continue;
            }
            let Ok(created) = Timestamp::from_microsecond(t.created_at_micros) else {
                continue;
            };
            let Some(i) = index(local(created)).filter(|i| *i < n_periods) else {
                continue;
            };
            let keys: Vec<String> = if by == "category" {
                vec![
                    t.category
                        .clone()
                        .unwrap_or_else(|| "uncategorized".to_owned()),
                ]
            } else {
                t.order_body
                    .as_deref()
                    .map(skus)
                    .unwrap_or_default()
                    .into_iter()
                    .collect()
            };
            for k in keys {
                counts.entry(k).or_insert_with(|| vec![0; n_periods])[i] += 1;
            }
        }
        let series = counts
            .into_iter()
            .map(|(key, counts)| TrendSeries {
                spikes: spikes(&counts, &SpikeRule::DEFAULT),
                key,
                counts,
            })
            .collect();
        Ok(TrendView {
            by: by.to_owned(),
            period: period.to_owned(),
            periods,
            series,
        })
    }
}
