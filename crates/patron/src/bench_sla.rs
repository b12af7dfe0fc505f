//! `patron bench sla`: re-evaluate the deadlines of N open tickets after a calendar change
//! (a typhoon closure from 14:00 today through tomorrow), through the real background path — `PUT` of the
//! calendar, then the recompute job run by the job runner — against the time to merely read
//! those tickets (the same rows the recompute reads: the tickets and their clock-relevant log
//! entries). The store is a temporary SQLite file; the clock is fixed at
//! Wednesday 2026-03-04 10:00 in Taipei, so runs are comparable.

use crate::config::Config;
use anyhow::{Context, Result};
use app::desk::documents::{CalendarDoc, ExceptionDoc, FrameDoc};
use app::sys::{ManualClock, Stopwatch};
use app::workload::Rng;
use app::{App, Principal};
use std::sync::Arc;
use store::desk::{self as rows, NewTicket, TicketEventRow};
use store::desk_ops;

/// Tickets inserted per transaction while generating.
const GENERATE_BATCH_TICKETS: u64 = 10_000;
/// Tickets read per chunk by the reference (the recompute's chunk size).
const READ_CHUNK_TICKETS: i64 = app::desk::SLA_RECOMPUTE_PAGE_TICKETS;

const CHANNELS: [&str; 5] = ["email", "line", "web", "phone", "in_store"];

fn event(ticket_id: i64, at: i64, kind: &str) -> TicketEventRow {
    TicketEventRow {
        ticket_id,
        at_micros: at,
        kind: kind.to_owned(),
        actor: "bench".to_owned(),
        ..TicketEventRow::default()
    }
}

/// Inserts `n` open tickets created over the day before `now`, with their logs:
/// the customer's message, an acknowledgement on unattended channels, and for some an
/// agent's answer (then open) and a wait on the customer.
fn generate(app: &App, n: u64, now_micros: i64) -> Result<()> {
    let mut rng = Rng::seeded(7);
    let hour = 3_600_000_000i64;
    let mut done = 0;
    while done < n {
        let batch = GENERATE_BATCH_TICKETS.min(n - done);
        app.store.write(|tx| {
            for _ in 0..batch {
                let channel = CHANNELS[rng.below(CHANNELS.len() as u64) as usize];
                let created = now_micros - rng.below(24 * hour as u64) as i64 - 60_000_000;
                let answered = rng.below(10) < 4;
                let waiting = answered && rng.below(10) < 2;
                let status = match (answered, waiting) {
                    (_, true) => "waiting_on_customer",
                    (true, false) => "open",
                    _ => "new",
                };
                let id = rows::insert_ticket(
                    tx,
                    &NewTicket {
                        channel,
                        status,
                        priority: if rng.below(10) == 0 { "high" } else { "normal" },
                        category: None,
                        subject: None,
                        customer_id: None,
                        order_event_id: None,
                        assignee: None,
                        opened_by: "customer",
                        now_micros: created,
                    },
                )?;
                rows::set_reference(tx, id, &format!("T-2026-{id:06}"))?;
                let mut opened = event(id, created, "opened");
                opened.value = Some(channel.to_owned());
                opened.previous = Some("customer".to_owned());
                rows::append_event(tx, &opened)?;
                let mut first = event(id, created, "message");
                first.sender = Some("customer".to_owned());
                first.body = Some("請問我的訂單什麼時候會到？".to_owned());
                rows::append_event(tx, &first)?;
                if matches!(channel, "email" | "line" | "web") {
                    let mut ack = event(id, created, "message");
                    ack.sender = Some("system".to_owned());
                    ack.ack_only = true;
                    ack.body = Some("我們已收到您的訊息。".to_owned());
                    rows::append_event(tx, &ack)?;
                }
                if answered {
                    let at = (created + rng.below(4 * hour as u64) as i64).min(now_micros);
                    let mut reply = event(id, at, "message");
                    reply.sender = Some("agent".to_owned());
                    reply.body = Some("已為您查詢物流進度。".to_owned());
                    rows::append_event(tx, &reply)?;
                    let mut open = event(id, at, "status");
                    open.previous = Some("new".to_owned());
                    open.value = Some("open".to_owned());
                    rows::append_event(tx, &open)?;
                    if waiting {
                        let mut wait = event(id, at, "status");
                        wait.previous = Some("open".to_owned());
                        wait.value = Some("waiting_on_customer".to_owned());
                        rows::append_event(tx, &wait)?;
                    }
                }
            }
            anyhow::Ok(())
        })?;
        done += batch;
    }
    Ok(())
}

/// Reads what the recompute reads, chunk by chunk; returns the tickets read and the
/// `(id, next deadline)` of each.
fn read_all(app: &App) -> Result<Vec<(i64, Option<i64>)>> {
    let mut after = 0;
    let mut out = Vec::new();
    loop {
        let (tickets, _) = app.store.read(|tx| {
            let tickets = desk_ops::bulk_unclosed_tickets(tx, after, READ_CHUNK_TICKETS, None)?;
            let (first, last) = match (tickets.first(), tickets.last()) {
                (Some(f), Some(l)) => (f.row.id, l.row.id),
                _ => return anyhow::Ok((tickets, 0)),
            };
            let entries = desk_ops::bulk_clock_entries(tx, first, last)?.len();
            anyhow::Ok((tickets, entries))
        })?;
        let Some(last) = tickets.last().map(|t| t.row.id) else {
            return Ok(out);
        };
        out.extend(
            tickets
                .iter()
                .map(|t| (t.row.id, t.row.sla_next_due_at.map(|d| d.as_microsecond()))),
        );
        if (tickets.len() as i64) < READ_CHUNK_TICKETS {
            return Ok(out);
        }
        after = last;
    }
}

pub fn run(config: &Config, tickets: u64) -> Result<()> {
    let dir = std::env::temp_dir().join(format!("patron-bench-sla-{}", std::process::id()));
    std::fs::create_dir_all(&dir)?;
    let result = (|| -> Result<()> {
        let url = store::DatabaseUrl::Sqlite {
            path: dir.join("bench.db").display().to_string(),
        };
        let store = store::Store::open(&url, &store::StoreOptions::default())?;
        let now: jiff::Timestamp = "2026-03-04T02:00:00Z".parse()?;
        let app = App::new(
            store,
            Arc::new(ManualClock::new(now)),
            Arc::new(app::sys::OsEntropy),
            Arc::new(app::webhooks::HttpSender::default()),
            config.settings(),
        );
        eprintln!("Generating {tickets} open tickets …");
        let watch = Stopwatch::start();
        generate(&app, tickets, now.as_microsecond())?;
        let first = app.recompute_open_tickets()?;
        eprintln!(
            "  generated and first evaluated in {:.1} s",
            watch.elapsed().as_secs_f64()
        );
        // The reference: read the rows the recompute reads (twice, the first warms the cache).
        read_all(&app)?;
        let watch = Stopwatch::start();
        let before = read_all(&app)?;
        let read_s = watch.elapsed().as_secs_f64();
        // The calendar change: a typhoon closes the office from 14:00 today and all of tomorrow.
        let mut doc = CalendarDoc::taiwan_default();
        doc.exceptions.push(ExceptionDoc {
            date: "2026-03-04".to_owned(),
            change: "close".to_owned(),
            frames: vec![FrameDoc {
                start: "14:00".to_owned(),
                end: "24:00".to_owned(),
            }],
            label: "颱風停班".to_owned(),
            active: true,
        });
        doc.exceptions.push(ExceptionDoc {
            date: "2026-03-05".to_owned(),
            change: "close".to_owned(),
            frames: Vec::new(),
            label: "颱風停班".to_owned(),
            active: true,
        });
        let watch = Stopwatch::start();
        app.put_calendar(&Principal::cli(), app::desk::DEFAULT_CALENDAR_ID, &doc)?;
        let jobs = app.run_pending_jobs()?;
        let recompute_s = watch.elapsed().as_secs_f64();
        let after = read_all(&app)?;
        let moved = before
            .iter()
            .zip(&after)
            .filter(|(b, a)| b.0 == a.0 && b.1 != a.1)
            .count();
        println!(
            "bench sla: {first} open tickets on SQLite, calendar change: typhoon closure from 2026-03-04 14:00 to the end of 2026-03-05"
        );
        println!("  read the tickets (reference)     {read_s:>8.3} s");
        println!(
            "  recompute after the change       {recompute_s:>8.3} s   ({} recompute jobs, {moved} next deadlines moved)",
            jobs.done
        );
        println!(
            "  ratio recompute / read           {:>8.2}   (target: recompute < 1 s)",
            recompute_s / read_s.max(1e-9)
        );
        Ok(())
    })();
    let _ = std::fs::remove_dir_all(&dir);
    result.context("bench sla")
}
