//! Seeded property test of [`SlaState::calendar_horizon`] and [`Calendar::first_difference`]:
//! random calendars edited at random (holidays, closures, openings, deactivated entries, now
//! and then other weekly frames), random policies (business, calendar and end-of-business-day
//! targets, warnings, pauses) and random timelines. Whenever an evaluation's horizon is before
//! the edit's first difference, evaluating the same timeline on the edited calendar must give
//! the same clocks, events and timer (what lets the recompute skip the ticket); and the first
//! difference must be exact: both calendars agree on every instant before it and differ at it.
//! A failure names its seed.

use super::model::{Model, SplitMix64, random_frames};
use crate::calendar::{Calendar, Exception, Frame};
use crate::sla::{
    Activity, Author, ClockState, Party, Policy, ResolutionMode, SlaState, Status, StatusSet,
    Target, Timeline, WarningRule, evaluate, next_timer,
};
use crate::sla::{ClockKind, Entry};
use jiff::civil::Date;
use jiff::{SignedDuration, Timestamp, ToSpan};

const HORIZON_CASES: u64 = 4000;
const TICKETS_PER_CASE: u64 = 8;

fn minutes(n: i64) -> SignedDuration {
    SignedDuration::from_secs(n * 60)
}

/// The edited copy of a calendar spec: one to three new exceptions, sometimes an existing one
/// switched off, rarely another weekly frame.
fn edit(rng: &mut SplitMix64, model: &Model, first_day: Date) -> crate::calendar::CalendarSpec {
    let mut spec = model.spec.clone();
    for _ in 0..1 + rng.below(3) {
        let date = first_day.checked_add(rng.range(-2, 30).days()).unwrap();
        spec.exceptions.push(match rng.below(4) {
            0 => Exception::holiday(date, "typhoon"),
            1 => Exception::closure(date, random_frames(rng, 1)[0], "typhoon"),
            2 => Exception::opening(date, random_frames(rng, 1)[0], "sale"),
            _ => Exception::make_up_workday(date, random_frames(rng, 2), "補班"),
        });
    }
    if !spec.exceptions.is_empty() && rng.percent(20) {
        let i = usize::try_from(rng.below(spec.exceptions.len() as u64)).unwrap();
        spec.exceptions[i].active = !spec.exceptions[i].active;
    }
    if rng.percent(5) {
        let day = usize::try_from(rng.below(7)).unwrap();
        spec.weekly[day] = random_frames(rng, 2);
    }
    spec
}

fn random_target(rng: &mut SplitMix64) -> Target {
    match rng.below(3) {
        0 => Target::business_minutes(rng.range(1, 600)).unwrap(),
        1 => Target::calendar_minutes(rng.range(1, 3_000)).unwrap(),
        _ => Target::end_of_business_day(u16::try_from(rng.below(3)).unwrap()).unwrap(),
    }
}

fn random_policy(rng: &mut SplitMix64) -> Policy {
    let mut policy = Policy::new("random");
    for kind in ClockKind::ALL {
        if rng.percent(55) {
            policy = policy.with_target(kind, random_target(rng));
        }
        if rng.percent(30) {
            let paused: Vec<Status> = Status::ALL
                .into_iter()
                .filter(|_| rng.percent(35))
                .collect();
            policy.pauses[kind as usize] = StatusSet::of(&paused);
        }
    }
    if rng.percent(70) {
        let lead = SignedDuration::from_secs(rng.range(1, 180) * 60);
        policy.warning = Some(WarningRule::new(lead, rng.percent(30)).unwrap());
    }
    if rng.percent(30) {
        // One clock alone: its horizon is the ticket's.
        let keep = ClockKind::ALL[usize::try_from(rng.below(7)).unwrap()];
        let target = policy.target(keep);
        policy.targets = [None; 7];
        policy.targets[keep as usize] = Some(target.unwrap_or_else(|| random_target(rng)));
    }
    policy.ai_replies_count = rng.percent(50);
    policy.notes_count_as_update = rng.percent(50);
    policy.resolution_mode = if rng.percent(50) {
        ResolutionMode::FirstSolve
    } else {
        ResolutionMode::Total
    };
    policy
}

fn random_activity(rng: &mut SplitMix64) -> Activity {
    let author = |rng: &mut SplitMix64| match rng.below(3) {
        0 => Author::Human,
        1 => Author::Ai,
        _ => Author::System,
    };
    match rng.below(6) {
        0 | 1 => Activity::CustomerMessage,
        2 => Activity::Reply {
            author: author(rng),
            ack_only: rng.percent(30),
        },
        3 => Activity::Note {
            author: author(rng),
        },
        4 => Activity::Status(Status::ALL[usize::try_from(rng.below(6)).unwrap()]),
        _ => Activity::FollowUp,
    }
}

/// A timeline starting in the calendar's first weeks, and the instant it is evaluated at.
fn random_timeline(rng: &mut SplitMix64, first_day: Date) -> (Timeline, Timestamp) {
    let base = first_day
        .to_zoned(jiff::tz::TimeZone::UTC)
        .unwrap()
        .timestamp();
    let created = base + minutes(rng.range(-2 * 1_440, 20 * 1_440));
    let mut at = created;
    let mut entries = Vec::new();
    for _ in 0..rng.below(8) {
        at += minutes(rng.range(0, 2 * 1_440));
        entries.push(Entry {
            at,
            activity: random_activity(rng),
        });
    }
    let opened_by = if rng.percent(80) {
        Party::Customer
    } else {
        Party::Agent
    };
    let now = at + minutes(rng.range(0, 4 * 1_440));
    (Timeline::new(created, opened_by, entries).unwrap(), now)
}

/// What an evaluation decides, without the times measured up to `now` (shown, never stored).
fn decisions(state: &SlaState) -> (SlaState, Option<Timestamp>) {
    let mut state = state.clone();
    for clock in &mut state.clocks {
        *clock = ClockState {
            elapsed: SignedDuration::ZERO,
            margin: None,
            paused_total: SignedDuration::ZERO,
            ..*clock
        };
    }
    let timer = next_timer(&state);
    (state, timer)
}

/// Counts of tickets the horizon let skip and tickets it did not.
fn check_seed(seed: u64) -> (u64, u64) {
    let mut rng = SplitMix64(seed);
    let first_day: Date = "2026-03-02".parse().unwrap();
    let mut model = Model::random(&mut rng, first_day);
    // Now and then a zone with daylight saving time (Berlin changes on 2026-03-29).
    if rng.percent(15) {
        model.spec.zone = "Europe/Berlin".to_string();
    }
    let before = Calendar::new(&model.spec).unwrap();
    let after = Calendar::new(&edit(&mut rng, &model, first_day)).unwrap();
    let changed = before.first_difference(&after).unwrap();

    // Exactness of the first difference, sampled: same answers before it, not at it.
    let base = first_day
        .to_zoned(jiff::tz::TimeZone::UTC)
        .unwrap()
        .timestamp();
    for _ in 0..200 {
        let t = base + minutes(rng.range(-4 * 1_440, 40 * 1_440)) + SignedDuration::from_secs(7);
        if changed.is_none_or(|c| t < c) {
            assert_eq!(
                before.is_open(t).unwrap(),
                after.is_open(t).unwrap(),
                "seed {seed}: the calendars differ at {t}, before their first difference {changed:?}"
            );
        }
    }
    if let Some(c) = changed.filter(|&c| c != Timestamp::MIN) {
        assert_ne!(
            before.is_open(c).unwrap(),
            after.is_open(c).unwrap(),
            "seed {seed}: the first difference {c} is not a difference"
        );
    }

    let (mut skipped, mut recomputed) = (0, 0);
    for ticket in 0..TICKETS_PER_CASE {
        let policy = random_policy(&mut rng);
        let (timeline, now) = random_timeline(&mut rng, first_day);
        let Ok(old) = evaluate(&timeline, &policy, &before, now) else {
            // No stored horizon: the recompute evaluates it again.
            recomputed += 1;
            continue;
        };
        let skip = match (old.calendar_horizon, changed) {
            (_, None) | (None, _) => true,
            (Some(h), Some(c)) => h < c,
        };
        if !skip {
            recomputed += 1;
            continue;
        }
        skipped += 1;
        let new = evaluate(&timeline, &policy, &after, now).unwrap_or_else(|e| {
            panic!("seed {seed} ticket {ticket}: skipped, but the edited calendar fails: {e}")
        });
        assert_eq!(
            decisions(&old),
            decisions(&new),
            "seed {seed} ticket {ticket}: skipped (horizon {:?}, first difference {changed:?}) \
             but the edited calendar decides otherwise",
            old.calendar_horizon
        );
    }
    (skipped, recomputed)
}

#[test]
fn a_ticket_whose_horizon_precedes_a_calendar_edit_keeps_its_clocks() {
    let (mut skipped, mut recomputed) = (0, 0);
    for seed in 0..HORIZON_CASES {
        let (s, r) = check_seed(seed);
        skipped += s;
        recomputed += r;
    }
    // Both sides are exercised in earnest.
    assert!(skipped > 500, "skipped {skipped}, recomputed {recomputed}");
    assert!(
        recomputed > 500,
        "skipped {skipped}, recomputed {recomputed}"
    );
}

#[test]
fn first_difference_of_a_typhoon_closure_is_its_start() {
    let spec = crate::calendar::CalendarSpec {
        zone: "Asia/Taipei".to_string(),
        weekly: crate::calendar::taiwan_weekly(),
        exceptions: Vec::new(),
    };
    let before = Calendar::new(&spec).unwrap();
    assert_eq!(before.first_difference(&before).unwrap(), None);
    let mut edited = spec.clone();
    let day: Date = "2026-03-04".parse().unwrap();
    edited.exceptions.push(Exception::closure(
        day,
        Frame::parse("14:00", "24:00").unwrap(),
        "颱風停班",
    ));
    edited.exceptions.push(Exception::holiday(
        day.checked_add(1.day()).unwrap(),
        "颱風停班",
    ));
    let after = Calendar::new(&edited).unwrap();
    let expected: Timestamp = "2026-03-04T06:00:00Z".parse().unwrap();
    assert_eq!(before.first_difference(&after).unwrap(), Some(expected));
    assert_eq!(after.first_difference(&before).unwrap(), Some(expected));
    // Another zone or other weekly frames may change anything.
    let mut moved = spec.clone();
    moved.zone = "Asia/Hong_Kong".to_string();
    assert_eq!(
        before
            .first_difference(&Calendar::new(&moved).unwrap())
            .unwrap(),
        Some(Timestamp::MIN)
    );
    // A date next to a daylight-saving change is not trusted to the minute.
    let mut berlin = spec.clone();
    berlin.zone = "Europe/Berlin".to_string();
    let mut berlin_edit = berlin.clone();
    berlin_edit
        .exceptions
        .push(Exception::holiday("2026-03-30".parse().unwrap(), "closed"));
    assert_eq!(
        Calendar::new(&berlin)
            .unwrap()
            .first_difference(&Calendar::new(&berlin_edit).unwrap())
            .unwrap(),
        Some(Timestamp::MIN)
    );
}
