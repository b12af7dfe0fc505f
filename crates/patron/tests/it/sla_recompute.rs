//! The recompute after a calendar edit skips tickets whose last evaluation looked at the
//! calendar only before the edit's first difference (`tickets.sla_horizon`, migration 17).
//! Checked against evaluating from scratch: the same tickets, opened and answered at the same
//! instants on a second database whose calendar was the edited one all along, each evaluated
//! alone at the instant of the edit, must have exactly the same SLA state — queue fields, clock
//! events, pending timers, horizons — whether the recompute skipped them or not.

use app::desk::documents::{CalendarDoc, ExceptionDoc, FrameDoc};
use app::desk::{DEFAULT_CALENDAR_ID, MessageInput, SLA_TIMER_JOB, TicketInput};
use domain::access::Role;
use jiff::{SignedDuration, Timestamp};
use std::collections::{BTreeMap, BTreeSet};
use store::args;
use test_support::{Backend, TestApp};

const CHANNELS: [&str; 5] = ["line", "email", "phone", "in_store", "web"];
const TICKETS: usize = 40;

/// A typhoon: closed from 15:00 on Tuesday 2026-03-03 (the tickets' last day) and all of
/// Wednesday.
fn typhoon() -> CalendarDoc {
    let mut doc = CalendarDoc::taiwan_default();
    doc.exceptions.push(ExceptionDoc {
        date: "2026-03-03".to_owned(),
        change: "close".to_owned(),
        frames: vec![FrameDoc {
            start: "15:00".to_owned(),
            end: "24:00".to_owned(),
        }],
        label: "颱風停班".to_owned(),
        active: true,
    });
    doc.exceptions.push(ExceptionDoc {
        date: "2026-03-04".to_owned(),
        change: "close".to_owned(),
        frames: Vec::new(),
        label: "颱風停班".to_owned(),
        active: true,
    });
    doc
}

/// Opens tickets every 37 minutes from Monday 09:00 to Tuesday (channels in turn); some are
/// answered, some then wait on the customer. Returns their ids; timers are not run.
fn work_a_day_and_a_half(t: &TestApp) -> Vec<i64> {
    let who = TestApp::principal(Role::Integration);
    let agent = TestApp::principal(Role::Agent);
    let mut ids = Vec::new();
    for n in 0..TICKETS {
        let id = t
            .app
            .open_ticket(
                &who,
                &TicketInput {
                    channel: CHANNELS[n % CHANNELS.len()].to_owned(),
                    body: "請問我的訂單什麼時候會到？".to_owned(),
                    ..TicketInput::default()
                },
            )
            .unwrap()
            .ticket
            .id;
        ids.push(id);
        t.advance(SignedDuration::from_mins(37));
        // Every third earlier ticket gets an answer now; every sixth then waits.
        if n % 3 == 1 {
            let earlier = ids[n - 1];
            t.app
                .add_message(
                    &agent,
                    earlier,
                    &MessageInput {
                        from: "agent".to_owned(),
                        body: "已為您查詢物流進度。".to_owned(),
                        ack_only: false,
                    },
                )
                .unwrap();
            if n % 6 == 1 {
                t.app
                    .change_status(&agent, earlier, "waiting_on_customer")
                    .unwrap();
            }
        }
    }
    ids
}

type Snapshot = BTreeMap<i64, (String, String, Vec<(String, i64, String, i64, String)>)>;

/// Every ticket's SLA state: the queue fields, the clock events (without the instant they were
/// recorded) and the instants of its pending timers.
fn snapshot(t: &TestApp) -> (Snapshot, BTreeSet<(i64, i64)>) {
    t.app
        .store
        .read(|tx| {
            let mut out = Snapshot::new();
            for r in tx.query(
                "SELECT id, status, sla_policy, sla_next_due_at, sla_breached, sla_error
                 FROM tickets ORDER BY id",
                &[],
            )? {
                let fields = format!(
                    "policy {:?} next due {:?} breached {} error {:?}",
                    r.opt_text(2)?,
                    r.opt_int(3)?,
                    r.int(4)?,
                    r.opt_text(5)?
                );
                out.insert(r.int(0)?, (r.text(1)?.to_owned(), fields, Vec::new()));
            }
            for r in tx.query(
                "SELECT ticket_id, clock, instance, action, at, policy FROM sla_events
                 ORDER BY ticket_id, clock, instance, action, at",
                &[],
            )? {
                if let Some(entry) = out.get_mut(&r.int(0)?) {
                    entry.2.push((
                        r.text(1)?.to_owned(),
                        r.int(2)?,
                        r.text(3)?.to_owned(),
                        r.int(4)?,
                        r.text(5)?.to_owned(),
                    ));
                }
            }
            let mut timers = BTreeSet::new();
            for r in tx.query(
                "SELECT payload, due_at FROM jobs WHERE kind = $1 AND state = 'pending'",
                args![SLA_TIMER_JOB],
            )? {
                let payload: serde_json::Value = serde_json::from_str(r.text(0)?)?;
                if let Some(id) = payload.get("ticket_id").and_then(|v| v.as_i64()) {
                    timers.insert((id, r.int(1)?));
                }
            }
            anyhow::Ok((out, timers))
        })
        .unwrap()
}

/// The earliest future warning or deadline of a clock still counting, evaluated live.
fn next_timer(t: &TestApp, id: i64, now: Timestamp) -> Option<Timestamp> {
    let view = t.app.ticket(id).unwrap();
    view.sla?
        .clocks
        .iter()
        .filter(|c| matches!(c.state, "running" | "breached"))
        .flat_map(|c| [c.warn_at, c.due_at])
        .flatten()
        .filter(|&at| at > now)
        .min()
}

fn horizons(t: &TestApp) -> Vec<(i64, Option<i64>, Option<i64>)> {
    t.app
        .store
        .read(|tx| {
            tx.query(
                "SELECT id, sla_horizon, sla_calendar_id FROM tickets ORDER BY id",
                &[],
            )?
            .iter()
            .map(|r| Ok((r.int(0)?, r.opt_int(1)?, r.opt_int(2)?)))
            .collect::<anyhow::Result<Vec<_>>>()
        })
        .unwrap()
}

fn recompute_matches_evaluating_from_scratch(backend: Backend) {
    let (Some(edited), Some(scratch)) = (TestApp::new(backend), TestApp::new(backend)) else {
        return;
    };
    let manager = TestApp::principal(Role::Manager);
    // From scratch: the typhoon calendar is in force before the first ticket.
    scratch
        .app
        .put_calendar(&manager, DEFAULT_CALENDAR_ID, &typhoon())
        .unwrap();
    scratch.app.run_pending_jobs().unwrap();
    let ids = work_a_day_and_a_half(&scratch);
    assert_eq!(work_a_day_and_a_half(&edited), ids);
    let now = edited.app.now();
    assert_eq!(scratch.app.now(), now);
    assert!(now < "2026-03-03T07:00:00Z".parse::<Timestamp>().unwrap());
    // Both databases evaluate every ticket alone now (the timer job's path: the whole log,
    // no digest), so what is persisted as of now is complete on both (a pause that began at
    // the last evaluation's instant, for one, is recorded by the next evaluation), then run
    // the timers already due.
    for t in [&scratch, &edited] {
        for id in &ids {
            t.app
                .run_sla_timer_job(&serde_json::json!({ "ticket_id": id }).to_string())
                .unwrap();
        }
        t.app.run_pending_jobs().unwrap();
    }

    // Which tickets the edit may change: those that looked at the calendar from its first
    // difference (Tuesday 15:00) on. Every ticket has a horizon on the default calendar.
    let changed_from = CalendarDoc::taiwan_default()
        .calendar()
        .unwrap()
        .first_difference(&typhoon().calendar().unwrap())
        .unwrap()
        .unwrap();
    assert_eq!(changed_from, "2026-03-03T07:00:00Z".parse().unwrap());
    let (mut skipped, mut recomputed) = (BTreeSet::new(), BTreeSet::new());
    for (id, horizon, calendar) in horizons(&edited) {
        assert_eq!(calendar, Some(DEFAULT_CALENDAR_ID), "ticket {id}");
        let horizon = horizon.unwrap_or_else(|| panic!("ticket {id} has no horizon"));
        if horizon < changed_from.as_microsecond() {
            skipped.insert(id);
        } else {
            recomputed.insert(id);
        }
    }
    assert!(skipped.len() >= 5, "skipped {skipped:?}");
    assert!(recomputed.len() >= 5, "recomputed {recomputed:?}");

    edited
        .app
        .put_calendar(&manager, DEFAULT_CALENDAR_ID, &typhoon())
        .unwrap();
    edited.app.run_pending_jobs().unwrap();

    let (after_edit, edited_timers) = snapshot(&edited);
    let (from_scratch, scratch_timers) = snapshot(&scratch);
    assert_eq!(after_edit.len(), TICKETS);
    for id in &ids {
        let kind = if skipped.contains(id) {
            "skipped"
        } else {
            "recomputed"
        };
        assert_eq!(
            after_edit[id], from_scratch[id],
            "ticket {id} ({kind}) differs from its evaluation from scratch"
        );
        // The next instant something happens to the ticket has a pending timer on both
        // (superseded timers stay pending and re-evaluate harmlessly when they fire).
        let next = next_timer(&scratch, *id, now);
        assert_eq!(next, next_timer(&edited, *id, now), "ticket {id} ({kind})");
        if let Some(at) = next {
            let timer = (*id, at.as_microsecond());
            assert!(scratch_timers.contains(&timer), "ticket {id}: {timer:?}");
            assert!(
                edited_timers.contains(&timer),
                "ticket {id} ({kind}): timer {timer:?} missing after the edit"
            );
        }
    }
    // The skipped tickets' horizons are still before the first difference, and the
    // recomputed ones now carry horizons of the new calendar.
    for (id, horizon, _) in horizons(&edited) {
        if skipped.contains(&id) {
            assert!(horizon.unwrap() < changed_from.as_microsecond());
        }
    }
    assert_eq!(horizons(&edited), horizons(&scratch));
}

#[test]
fn recompute_after_a_calendar_edit_matches_evaluating_from_scratch_sqlite() {
    recompute_matches_evaluating_from_scratch(Backend::Sqlite);
}

#[test]
fn recompute_after_a_calendar_edit_matches_evaluating_from_scratch_postgres() {
    recompute_matches_evaluating_from_scratch(Backend::Postgres);
}
