//! helpdesk.md §B.3 cases T1–T29 as a table, plus clock-semantics checks. Zammad's clocks map
//! to ours as: first response → `FirstResponse`, update (since customer contact) →
//! `NextResponse`, solution → `Resolution`; Zammad pauses *all* clocks in pending/closed
//! states, so those cases use [`zammad`] pause flags instead of our defaults.

use super::*;
use crate::calendar::{
    CalendarSpec, Exception, Frame, hong_kong_weekly, taiwan_weekly, weekly_frames,
};
use jiff::civil::{Weekday, date};

mod horizon;
mod model;

fn ts(text: &str) -> Timestamp {
    text.parse().expect("test timestamp")
}

fn mins(n: i64) -> SignedDuration {
    SignedDuration::from_mins(n)
}

fn frame(start: &str, end: &str) -> Frame {
    Frame::parse(start, end).expect("test frame")
}

fn cal(zone: &str, weekly: [Vec<Frame>; 7], exceptions: Vec<Exception>) -> Calendar {
    Calendar::new(&CalendarSpec {
        zone: zone.into(),
        weekly,
        exceptions,
    })
    .expect("test calendar")
}

fn weekdays(start: &str, end: &str) -> [Vec<Frame>; 7] {
    use Weekday::*;
    weekly_frames(
        &[Monday, Tuesday, Wednesday, Thursday, Friday],
        &[frame(start, end)],
    )
}

fn daily(start: &str, end: &str) -> [Vec<Frame>; 7] {
    [0; 7].map(|_| vec![frame(start, end)])
}

fn berlin(weekly: [Vec<Frame>; 7]) -> Calendar {
    cal("Europe/Berlin", weekly, Vec::new())
}

/// Asia/Taipei Mon–Fri 09:00–12:00 + 13:00–18:00, National Day 2025-10-10 closed (T22–T29).
fn taipei() -> Calendar {
    cal(
        "Asia/Taipei",
        taiwan_weekly(),
        vec![Exception::holiday(date(2025, 10, 10), "國慶日")],
    )
}

fn biz(minutes: i64) -> Target {
    Target::business_minutes(minutes).expect("test target")
}

fn wall(minutes: i64) -> Target {
    Target::calendar_minutes(minutes).expect("test target")
}

fn policy(targets: &[(ClockKind, Target)]) -> Policy {
    targets
        .iter()
        .fold(Policy::new("test"), |p, &(kind, target)| {
            p.with_target(kind, target)
        })
}

/// Zammad's `ignore_escalation` states (pending reminder, pending close, closed) pause all clocks.
fn zammad(targets: &[(ClockKind, Target)]) -> Policy {
    let paused = [
        Status::WaitingOnCustomer,
        Status::WaitingOnThirdParty,
        Status::Solved,
        Status::Closed,
    ];
    ClockKind::ALL
        .into_iter()
        .fold(policy(targets), |p, kind| p.with_pauses(kind, &paused))
}

use Activity::{CustomerMessage, Status as St};
use ClockKind::{FirstResponse as Fr, NextResponse as Nr, Resolution as Res};

fn reply() -> Activity {
    Activity::Reply {
        author: Author::Human,
        ack_only: false,
    }
}

/// What one case expects of clock `(kind, instance)`.
#[derive(Debug)]
enum Expect {
    Due(ClockKind, u32, &'static str),
    Warn(ClockKind, u32, Option<&'static str>),
    Elapsed(ClockKind, u32, SignedDuration),
    Margin(ClockKind, u32, SignedDuration),
    Breached(ClockKind, u32, bool),
    /// Number of instances and how many are still running.
    Instances(ClockKind, usize, usize),
    /// The instance with the smallest margin has this elapsed time.
    WorstElapsed(ClockKind, SignedDuration),
}

struct Case {
    name: &'static str,
    calendar: Calendar,
    policy: Policy,
    created: &'static str,
    opened_by: Party,
    entries: Vec<(&'static str, Activity)>,
    now: &'static str,
    expect: Vec<Expect>,
}

impl Case {
    fn new(name: &'static str, calendar: Calendar, policy: Policy, created: &'static str) -> Case {
        Case {
            name,
            calendar,
            policy,
            created,
            opened_by: Party::Customer,
            entries: Vec::new(),
            now: created,
            expect: Vec::new(),
        }
    }

    fn entries(mut self, entries: Vec<(&'static str, Activity)>) -> Case {
        self.entries = entries;
        self
    }

    fn now(mut self, now: &'static str) -> Case {
        self.now = now;
        self
    }

    fn expect(mut self, expect: Vec<Expect>) -> Case {
        self.expect = expect;
        self
    }
}

fn check(case: Case) {
    let name = case.name;
    let entries = case
        .entries
        .iter()
        .map(|&(at, activity)| Entry {
            at: ts(at),
            activity,
        })
        .collect();
    let timeline = Timeline::new(ts(case.created), case.opened_by, entries).expect(name);
    let state = evaluate(&timeline, &case.policy, &case.calendar, ts(case.now))
        .unwrap_or_else(|e| panic!("{name}: {e}"));
    let clock = |kind: ClockKind, instance: u32| {
        state
            .instances(kind)
            .find(|c| c.instance == instance)
            .unwrap_or_else(|| panic!("{name}: no {kind} #{instance} in {:#?}", state.clocks))
    };
    for expect in &case.expect {
        match *expect {
            Expect::Due(kind, i, at) => {
                assert_eq!(clock(kind, i).due_at, Some(ts(at)), "{name}: {expect:?}")
            }
            Expect::Warn(kind, i, at) => {
                assert_eq!(clock(kind, i).warn_at, at.map(ts), "{name}: {expect:?}")
            }
            Expect::Elapsed(kind, i, d) => {
                assert_eq!(clock(kind, i).elapsed, d, "{name}: {expect:?}")
            }
            Expect::Margin(kind, i, d) => {
                assert_eq!(clock(kind, i).margin, Some(d), "{name}: {expect:?}")
            }
            Expect::Breached(kind, i, breached) => assert_eq!(
                clock(kind, i).breached_at.is_some(),
                breached,
                "{name}: {expect:?}"
            ),
            Expect::Instances(kind, total, running) => {
                let all: Vec<_> = state.instances(kind).collect();
                assert_eq!(all.len(), total, "{name}: {expect:?}");
                let open = all.iter().filter(|c| !c.is_stopped()).count();
                assert_eq!(open, running, "{name}: {expect:?}");
            }
            Expect::WorstElapsed(kind, d) => assert_eq!(
                state.worst(kind).map(|c| c.elapsed),
                Some(d),
                "{name}: {expect:?}"
            ),
        }
    }
}

#[test]
fn t01_to_t08_zammad_business_hours() {
    use Expect::*;
    let t1 = || zammad(&[(Fr, biz(60)), (Nr, biz(180)), (Res, biz(240))]);
    let t3 = || zammad(&[(Fr, biz(60)), (Res, biz(180))]);
    let cases = [
        // T1: Thu 10:30 CET; Mon–Fri 09:00–17:00 local.
        Case::new(
            "T1",
            berlin(weekdays("09:00", "17:00")),
            t1(),
            "2013-03-21T09:30:00Z",
        )
        .expect(vec![
            Due(Fr, 0, "2013-03-21T10:30:00Z"),
            Due(Nr, 0, "2013-03-21T12:30:00Z"),
            Due(Res, 0, "2013-03-21T13:30:00Z"),
        ]),
        // T2: the same ticket under a changed policy is recomputed from its creation.
        Case::new(
            "T2",
            berlin(weekdays("09:00", "17:00")),
            zammad(&[(Fr, biz(120)), (Nr, biz(180)), (Res, biz(240))]),
            "2013-03-21T09:30:00Z",
        )
        .now("2013-03-21T10:00:00Z")
        .expect(vec![Due(Fr, 0, "2013-03-21T11:30:00Z")]),
        Case::new(
            "T3",
            berlin(weekdays("08:00", "18:00")),
            t3(),
            "2013-03-21T09:30:00Z",
        )
        .entries(vec![("2013-03-21T10:00:00Z", reply())])
        .now("2013-03-21T10:00:00Z")
        .expect(vec![
            Elapsed(Fr, 0, mins(30)),
            Margin(Fr, 0, mins(30)),
            Breached(Fr, 0, false),
        ]),
        Case::new(
            "T4",
            berlin(weekdays("08:00", "18:00")),
            t3(),
            "2013-03-21T09:30:00Z",
        )
        .entries(vec![("2013-03-21T14:00:00Z", reply())])
        .now("2013-03-21T14:00:00Z")
        .expect(vec![
            Elapsed(Fr, 0, mins(270)),
            Margin(Fr, 0, mins(-210)),
            Breached(Fr, 0, true),
            Due(Fr, 0, "2013-03-21T10:30:00Z"),
        ]),
        Case::new(
            "T5a",
            berlin(weekdays("08:00", "18:00")),
            t3(),
            "2013-03-21T09:30:00Z",
        )
        .entries(vec![("2013-03-21T11:30:00Z", St(Status::Closed))])
        .now("2013-03-21T11:30:00Z")
        .expect(vec![
            Elapsed(Res, 0, mins(120)),
            Margin(Res, 0, mins(60)),
            Due(Res, 0, "2013-03-21T12:30:00Z"),
            Breached(Res, 0, false),
        ]),
        Case::new(
            "T5b",
            berlin(weekdays("08:00", "18:00")),
            t3(),
            "2013-03-21T09:30:00Z",
        )
        .entries(vec![("2013-03-21T13:00:00Z", St(Status::Closed))])
        .now("2013-03-21T13:00:00Z")
        .expect(vec![
            Elapsed(Res, 0, mins(210)),
            Margin(Res, 0, mins(-30)),
            Due(Res, 0, "2013-03-21T12:30:00Z"),
            Breached(Res, 0, true),
        ]),
        // T6: Zammad reports 0 minutes and diff +60 because it rounds to minutes; we count
        // seconds exactly: 3 s used, 59 min 57 s to spare.
        Case::new(
            "T6",
            berlin(weekdays("08:00", "18:00")),
            zammad(&[(Fr, biz(60))]),
            "2013-03-28T23:49:00Z",
        )
        .entries(vec![("2013-03-29T07:00:03Z", reply())])
        .now("2013-03-29T08:00:00Z")
        .expect(vec![
            Elapsed(Fr, 0, SignedDuration::from_secs(3)),
            Margin(Fr, 0, SignedDuration::from_secs(59 * 60 + 57)),
            Breached(Fr, 0, false),
        ]),
        // T7: created before opening (07:30 CEST): counting starts at 08:00.
        Case::new(
            "T7",
            berlin(daily("08:00", "17:00")),
            zammad(&[(Fr, biz(120)), (Nr, biz(180)), (Res, biz(240))]),
            "2013-10-21T05:30:00Z",
        )
        .expect(vec![
            Due(Fr, 0, "2013-10-21T08:00:00Z"),
            Due(Nr, 0, "2013-10-21T09:00:00Z"),
            Due(Res, 0, "2013-10-21T10:00:00Z"),
        ]),
        // T8: the active holiday is skipped, the inactive one is not.
        Case::new(
            "T8",
            cal(
                "Europe/Berlin",
                daily("08:00", "17:00"),
                vec![
                    Exception::holiday(date(2015, 9, 22), "active"),
                    Exception {
                        active: false,
                        ..Exception::holiday(date(2015, 9, 23), "inactive")
                    },
                ],
            ),
            zammad(&[(Fr, biz(120)), (Nr, biz(180)), (Res, biz(240))]),
            "2015-09-21T14:30:00Z",
        )
        .expect(vec![
            Due(Fr, 0, "2015-09-23T07:30:00Z"),
            Due(Nr, 0, "2015-09-23T08:30:00Z"),
            Due(Res, 0, "2015-09-23T09:30:00Z"),
        ]),
    ];
    for case in cases {
        check(case);
    }
}

#[test]
fn t09_to_t11_pauses() {
    use Expect::*;
    let cal9 = || berlin(daily("09:00", "18:00"));
    let cases = [
        Case::new(
            "T9",
            cal9(),
            zammad(&[(Fr, biz(120)), (Res, biz(250))]),
            "2013-06-04T09:00:00Z",
        )
        .entries(vec![
            ("2013-06-04T10:00:00Z", St(Status::WaitingOnCustomer)),
            ("2013-06-04T10:30:00Z", St(Status::Open)),
            ("2013-06-04T10:45:00Z", reply()),
            ("2013-06-04T12:00:00Z", St(Status::Closed)),
        ])
        .now("2013-06-04T12:00:00Z")
        .expect(vec![
            Due(Fr, 0, "2013-06-04T11:30:00Z"),
            Elapsed(Fr, 0, mins(75)),
            Margin(Fr, 0, mins(45)),
            Due(Res, 0, "2013-06-04T13:40:00Z"),
            Elapsed(Res, 0, mins(150)),
            Margin(Res, 0, mins(100)),
        ]),
        // T10: both the pending and the closed interval pause the clock.
        Case::new(
            "T10",
            cal9(),
            zammad(&[(Fr, biz(120))]),
            "2013-06-04T09:00:00Z",
        )
        .entries(vec![
            ("2013-06-04T09:00:00Z", St(Status::Open)),
            ("2013-06-04T09:30:00Z", St(Status::WaitingOnCustomer)),
            ("2013-06-04T09:45:00Z", St(Status::Open)),
            ("2013-06-04T10:00:00Z", St(Status::Closed)),
            ("2013-06-04T10:30:00Z", St(Status::Open)),
        ])
        .now("2013-06-04T10:30:00Z")
        .expect(vec![Due(Fr, 0, "2013-06-04T11:45:00Z")]),
        // T11: the deadline lands exactly on closing time (18:00 local) and stays there.
        Case::new(
            "T11",
            cal9(),
            zammad(&[(Fr, biz(120))]),
            "2013-06-04T09:00:00Z",
        )
        .entries(vec![
            ("2013-06-04T10:00:00Z", St(Status::WaitingOnCustomer)),
            ("2013-06-04T15:00:00Z", St(Status::Open)),
        ])
        .now("2013-06-04T15:00:00Z")
        .expect(vec![Due(Fr, 0, "2013-06-04T16:00:00Z")]),
    ];
    for case in cases {
        check(case);
    }
    let closing = ts("2013-06-04T16:00:00Z");
    assert!(!cal9().is_open(closing).unwrap());
    assert!(
        cal9()
            .is_open(closing.checked_sub(SignedDuration::from_secs(1)).unwrap())
            .unwrap()
    );
}

#[test]
fn t12_to_t16_around_the_clock() {
    use Expect::*;
    let always = || berlin(daily("00:00", "24:00"));
    let t12 = || zammad(&[(Fr, wall(60)), (Nr, wall(60)), (Res, wall(75))]);
    let nr = || policy(&[(Nr, biz(60))]);
    let cases = [
        Case::new("T12", always(), t12(), "2026-01-05T10:00:00Z")
            .entries(vec![
                ("2026-01-05T11:00:00Z", St(Status::Open)),
                ("2026-01-05T11:30:00Z", St(Status::WaitingOnCustomer)),
                ("2026-01-05T12:00:00Z", St(Status::Closed)),
            ])
            .now("2026-01-05T12:00:00Z")
            .expect(vec![
                Due(Fr, 0, "2026-01-05T11:00:00Z"),
                Due(Res, 0, "2026-01-05T11:15:00Z"),
                Breached(Fr, 0, true),
            ]),
        Case::new("T12-fr", always(), t12(), "2026-01-05T10:00:00Z")
            .entries(vec![
                ("2026-01-05T11:00:00Z", St(Status::Open)),
                ("2026-01-05T11:15:00Z", reply()),
                ("2026-01-05T11:30:00Z", St(Status::WaitingOnCustomer)),
                ("2026-01-05T12:00:00Z", St(Status::Closed)),
            ])
            .now("2026-01-05T12:00:00Z")
            .expect(vec![
                Due(Fr, 0, "2026-01-05T11:00:00Z"),
                Elapsed(Fr, 0, mins(75)),
                Margin(Fr, 0, mins(-15)),
                Due(Res, 0, "2026-01-05T11:15:00Z"),
            ]),
        Case::new("T13", always(), nr(), "2026-01-05T10:00:00Z")
            .entries(vec![("2026-01-05T10:01:00Z", reply())])
            .now("2026-01-05T11:01:00Z")
            .expect(vec![Elapsed(Nr, 0, mins(1)), Margin(Nr, 0, mins(59))]),
        Case::new("T14", always(), nr(), "2026-01-05T10:00:00Z")
            .entries(vec![
                ("2026-01-05T10:10:00Z", reply()),
                ("2026-01-05T10:20:00Z", CustomerMessage),
                ("2026-01-05T10:25:00Z", reply()),
            ])
            .now("2026-01-05T10:30:00Z")
            .expect(vec![
                Instances(Nr, 2, 0),
                WorstElapsed(Nr, mins(10)),
                Margin(Nr, 0, mins(50)),
                Elapsed(Nr, 1, mins(5)),
            ]),
        // T15: an agent follow-up without a new customer message starts nothing.
        Case::new("T15", always(), nr(), "2026-01-05T10:00:00Z")
            .entries(vec![
                ("2026-01-05T10:10:00Z", reply()),
                ("2026-01-05T10:40:00Z", reply()),
            ])
            .now("2026-01-05T12:00:00Z")
            .expect(vec![Instances(Nr, 1, 0)]),
        Case {
            opened_by: Party::Agent,
            ..Case::new("T15-agent-opened", always(), nr(), "2026-01-05T10:00:00Z")
                .entries(vec![("2026-01-05T10:05:00Z", reply())])
                .now("2026-01-05T12:00:00Z")
                .expect(vec![Instances(Nr, 0, 0)])
        },
        // T16: a second customer message does not move the deadline; a reply clears it.
        Case::new("T16", always(), nr(), "2026-01-05T10:00:00Z")
            .entries(vec![("2026-01-05T10:10:00Z", CustomerMessage)])
            .now("2026-01-05T10:15:00Z")
            .expect(vec![
                Instances(Nr, 1, 1),
                Due(Nr, 0, "2026-01-05T11:00:00Z"),
            ]),
        Case::new("T16-answered", always(), nr(), "2026-01-05T10:00:00Z")
            .entries(vec![
                ("2026-01-05T10:10:00Z", CustomerMessage),
                ("2026-01-05T10:30:00Z", reply()),
            ])
            .now("2026-01-05T12:00:00Z")
            .expect(vec![Instances(Nr, 1, 0), Breached(Nr, 0, false)]),
    ];
    for case in cases {
        check(case);
    }
}

/// T17: pauses as per-local-day breaks (Zammad's representation), and their effect.
#[test]
fn t17_pause_breaks_cross_midnight() {
    let calendar = berlin(daily("00:00", "24:00"));
    // 23:45–00:45 Berlin (CET, UTC+1).
    let pieces = calendar
        .local_day_pieces(ts("2026-01-05T22:45:00Z"), ts("2026-01-05T23:45:00Z"))
        .unwrap();
    assert_eq!(
        pieces,
        vec![
            (date(2026, 1, 5), frame("23:45", "24:00")),
            (date(2026, 1, 6), frame("00:00", "00:45")),
        ]
    );
    // Day 1 12:00 to day 6 12:00: six entries.
    let pieces = calendar
        .local_day_pieces(ts("2026-01-05T11:00:00Z"), ts("2026-01-10T11:00:00Z"))
        .unwrap();
    let frames: Vec<String> = pieces.iter().map(|(_, f)| f.to_string()).collect();
    assert_eq!(
        frames,
        [
            "12:00-24:00",
            "00:00-24:00",
            "00:00-24:00",
            "00:00-24:00",
            "00:00-24:00",
            "00:00-12:00"
        ]
    );
    // The crossing pause delays a 24/7 deadline by exactly its length.
    let got = preview(
        &calendar,
        ts("2026-01-05T22:00:00Z"),
        biz(120),
        &[Interval::new(
            ts("2026-01-05T22:45:00Z"),
            ts("2026-01-05T23:45:00Z"),
        )],
        None,
    )
    .unwrap();
    assert_eq!(got.deadline, ts("2026-01-06T01:00:00Z"));
}

#[test]
fn t18_to_t21_other_systems() {
    use Expect::*;
    let utc = |start, end| cal("UTC", weekdays(start, end), Vec::new());
    let cases = [
        // T18 (Chatwoot #13392): Fri 16:30 + 60 business minutes → Mon 09:30.
        Case::new(
            "T18",
            utc("09:00", "17:00"),
            policy(&[(Fr, biz(60))]),
            "2026-01-09T16:30:00Z",
        )
        .expect(vec![Due(Fr, 0, "2026-01-12T09:30:00Z")]),
        Case::new(
            "T19",
            utc("09:00", "17:00"),
            policy(&[(Fr, biz(120))]),
            "2026-01-07T07:00:00Z",
        )
        .expect(vec![Due(Fr, 0, "2026-01-07T11:00:00Z")]),
        // T20 (osTicket #4807): grace period 4 h, the resolution clock.
        Case::new(
            "T20",
            utc("08:00", "18:00"),
            policy(&[(Res, biz(240))]),
            "2026-01-09T17:00:00Z",
        )
        .expect(vec![Due(Res, 0, "2026-01-12T11:00:00Z")]),
    ];
    for case in cases {
        check(case);
    }
    // T21 (GLPI #22678): the warning is one *business* hour before the deadline.
    let calendar = utc("08:00", "18:00");
    let warn = WarningRule::new(SignedDuration::from_hours(1), false).unwrap();
    check(
        Case::new(
            "T21-evaluate",
            utc("08:00", "18:00"),
            policy(&[(Fr, biz(240))]).with_warning(warn),
            "2026-01-05T17:00:00Z",
        )
        .expect(vec![
            Due(Fr, 0, "2026-01-06T11:00:00Z"),
            Warn(Fr, 0, Some("2026-01-06T10:00:00Z")),
        ]),
    );
    let t21 = |start, due, warning_at| {
        let got = preview(&calendar, ts(start), biz(240), &[], Some(warn)).unwrap();
        assert_eq!(
            got,
            Preview {
                deadline: ts(due),
                warning_at: Some(ts(warning_at))
            },
            "T21 {start}"
        );
    };
    t21(
        "2026-01-05T10:00:00Z",
        "2026-01-05T14:00:00Z",
        "2026-01-05T13:00:00Z",
    );
    t21(
        "2026-01-05T17:00:00Z",
        "2026-01-06T11:00:00Z",
        "2026-01-06T10:00:00Z",
    );
}

#[test]
fn t22_to_t29_taiwan_and_hong_kong() {
    use ClockKind::{Ack, FollowUp, SameDay};
    use Expect::*;
    let in_store = || default_policy(Channel::InStore, Priority::Normal);
    let make_up = cal(
        "Asia/Taipei",
        taiwan_weekly(),
        vec![Exception::make_up_workday(
            date(2025, 10, 18),
            vec![frame("09:00", "18:00")],
            "補班",
        )],
    );
    let hk = |exceptions| cal("Asia/Hong_Kong", weekdays("09:00", "18:00"), exceptions);
    let typhoon = Exception::closure(date(2026, 7, 15), frame("14:00", "24:00"), "八號風球");
    let cases = [
        // Thu 17:30 local; Fri holiday; 0.5 + 3 + 0.5 h → Mon 13:30 local.
        Case::new(
            "T22",
            taipei(),
            policy(&[(Ack, biz(240))]),
            "2025-10-09T09:30:00Z",
        )
        .expect(vec![Due(Ack, 0, "2025-10-13T05:30:00Z")]),
        Case::new(
            "T23",
            taipei(),
            policy(&[(Fr, biz(24 * 60))]),
            "2025-10-09T09:30:00Z",
        )
        .expect(vec![Due(Fr, 0, "2025-10-15T09:30:00Z")]),
        // Calendar hours run through the holiday.
        Case::new(
            "T24",
            taipei(),
            policy(&[(Fr, wall(24 * 60))]),
            "2025-10-09T09:30:00Z",
        )
        .expect(vec![Due(Fr, 0, "2025-10-10T09:30:00Z")]),
        // 12:30 local, in the lunch break: counting starts at 13:00.
        Case::new(
            "T25",
            taipei(),
            policy(&[(Fr, biz(60))]),
            "2025-10-14T04:30:00Z",
        )
        .expect(vec![Due(Fr, 0, "2025-10-14T06:00:00Z")]),
        Case::new(
            "T26",
            taipei(),
            policy(&[(Fr, biz(120))]),
            "2025-10-17T09:00:00Z",
        )
        .expect(vec![Due(Fr, 0, "2025-10-20T02:00:00Z")]),
        Case::new(
            "T26-補班",
            make_up,
            policy(&[(Fr, biz(120))]),
            "2025-10-17T09:00:00Z",
        )
        .expect(vec![Due(Fr, 0, "2025-10-18T02:00:00Z")]),
        // T27: the same ticket before and after the typhoon closure is declared.
        Case::new(
            "T27-before",
            hk(Vec::new()),
            policy(&[(Fr, biz(120))]),
            "2026-07-15T05:00:00Z",
        )
        .expect(vec![Due(Fr, 0, "2026-07-15T07:00:00Z")]),
        Case::new(
            "T27",
            hk(vec![typhoon]),
            policy(&[(Fr, biz(120))]),
            "2026-07-15T05:00:00Z",
        )
        .now("2026-07-15T06:30:00Z")
        .expect(vec![
            Due(Fr, 0, "2026-07-16T02:00:00Z"),
            Breached(Fr, 0, false),
        ]),
        // T28: Tue 15:00 local in store: same day 18:00, follow-up Wed 18:00.
        Case::new("T28", taipei(), in_store(), "2025-10-14T07:00:00Z").expect(vec![
            Due(SameDay, 0, "2025-10-14T10:00:00Z"),
            Due(FollowUp, 0, "2025-10-15T10:00:00Z"),
        ]),
        // T29: Tue 18:30, after close: the business day is Wednesday. Decision: the
        // follow-up is then due at the close of the business day after that (Thursday).
        Case::new("T29", taipei(), in_store(), "2025-10-14T10:30:00Z").expect(vec![
            Due(SameDay, 0, "2025-10-15T10:00:00Z"),
            Due(FollowUp, 0, "2025-10-16T10:00:00Z"),
        ]),
    ];
    for case in cases {
        check(case);
    }
    // The HK preset weekly hours include Saturday mornings.
    assert_eq!(hong_kong_weekly()[5], vec![frame("09:00", "13:00")]);
}

#[test]
fn responses_exclude_auto_replies_and_ack_templates() {
    use ClockKind::Ack;
    use Expect::*;
    let p = policy(&[(Ack, biz(240)), (Fr, biz(60)), (Nr, biz(60))]);
    let auto_ack = Activity::Reply {
        author: Author::System,
        ack_only: true,
    };
    let template = Activity::Reply {
        author: Author::Human,
        ack_only: true,
    };
    let ai = Activity::Reply {
        author: Author::Ai,
        ack_only: false,
    };
    let entries = vec![
        ("2025-10-14T01:00:01Z", auto_ack),
        ("2025-10-14T01:10:00Z", template),
        ("2025-10-14T01:20:00Z", ai),
        ("2025-10-14T01:30:00Z", reply()),
    ];
    check(
        Case::new(
            "ack-vs-response",
            taipei(),
            p.clone(),
            "2025-10-14T01:00:00Z",
        )
        .entries(entries.clone())
        .now("2025-10-14T02:00:00Z")
        .expect(vec![
            Elapsed(Ack, 0, SignedDuration::from_secs(1)),
            Elapsed(Fr, 0, mins(30)),
            Elapsed(Nr, 0, mins(30)),
        ]),
    );
    let ai_policy = Policy {
        ai_replies_count: true,
        ..p
    };
    check(
        Case::new("ai-allowed", taipei(), ai_policy, "2025-10-14T01:00:00Z")
            .entries(entries)
            .now("2025-10-14T02:00:00Z")
            .expect(vec![Elapsed(Fr, 0, mins(20))]),
    );
}

#[test]
fn periodic_update_and_resolution_modes() {
    use ClockKind::PeriodicUpdate as Upd;
    use Expect::*;
    let always = || berlin(daily("00:00", "24:00"));
    let p = policy(&[(Upd, wall(60)), (Res, wall(600))]);
    let entries = vec![
        ("2026-01-05T10:30:00Z", reply()),
        // Waiting on the customer pauses updates (default flags); the customer's message
        // ends the wait (anti-gaming) even though no agent set the status back.
        ("2026-01-05T11:00:00Z", St(Status::WaitingOnCustomer)),
        ("2026-01-05T13:00:00Z", CustomerMessage),
        ("2026-01-05T14:00:00Z", St(Status::Solved)),
        ("2026-01-05T15:00:00Z", St(Status::Open)),
    ];
    check(
        Case::new("periodic", always(), p.clone(), "2026-01-05T10:00:00Z")
            .entries(entries.clone())
            .now("2026-01-05T15:10:00Z")
            .expect(vec![
                Instances(Upd, 3, 1),
                Elapsed(Upd, 0, mins(30)),
                // 30 min before the pause, 60 after the customer wrote: breached at 13:30.
                Due(Upd, 1, "2026-01-05T13:30:00Z"),
                Breached(Upd, 1, true),
                Due(Upd, 2, "2026-01-05T16:00:00Z"),
                // First-solve resolution: 4 h minus the 2 h wait.
                Elapsed(Res, 0, mins(120)),
            ]),
    );
    let total = Policy {
        resolution_mode: ResolutionMode::Total,
        ..p
    };
    check(
        Case::new("resolution-total", always(), total, "2026-01-05T10:00:00Z")
            .entries(entries)
            .now("2026-01-05T15:10:00Z")
            .expect(vec![Instances(Res, 1, 1), Elapsed(Res, 0, mins(130))]),
    );
}

#[test]
fn warnings_wait_for_open_hours_unless_configured() {
    // Fri 17:00 Taipei, 2 business hours, warn 1 h before: one hour is used up at Fri 18:00
    // (closing), so the warning moves to Mon 09:00; the deadline is Mon 10:00.
    let calendar = taipei();
    let quiet = WarningRule::new(SignedDuration::from_hours(1), false).unwrap();
    let loud = WarningRule::new(SignedDuration::from_hours(1), true).unwrap();
    let start = ts("2025-10-17T09:00:00Z");
    let got = preview(&calendar, start, biz(120), &[], Some(quiet)).unwrap();
    assert_eq!(got.deadline, ts("2025-10-20T02:00:00Z"));
    assert_eq!(got.warning_at, Some(ts("2025-10-20T01:00:00Z")));
    let got = preview(&calendar, start, biz(120), &[], Some(loud)).unwrap();
    assert_eq!(got.warning_at, Some(ts("2025-10-17T10:00:00Z")));
    // A lead as long as the target gives no warning.
    let long = WarningRule::new(SignedDuration::from_hours(2), false).unwrap();
    let got = preview(&calendar, start, biz(120), &[], Some(long)).unwrap();
    assert_eq!(got.warning_at, None);
    // Preview input is checked.
    let bad = Interval::new(ts("2025-10-17T10:00:00Z"), ts("2025-10-17T09:00:00Z"));
    assert_eq!(
        preview(&calendar, start, biz(120), &[bad], None),
        Err(SlaError::PauseEndsBeforeStart { index: 0 })
    );
}

#[test]
fn timers_events_and_recompute() {
    let calendar = taipei();
    let mut p = policy(&[(Fr, biz(60))]);
    p.warning = Some(WarningRule::new(mins(15), false).unwrap());
    let created = ts("2025-10-14T01:00:00Z"); // Tue 09:00
    let timeline = Timeline::new(created, Party::Customer, Vec::new()).unwrap();

    let at_start = evaluate(&timeline, &p, &calendar, created).unwrap();
    assert_eq!(next_timer(&at_start), Some(ts("2025-10-14T01:45:00Z")));
    let warned = evaluate(&timeline, &p, &calendar, ts("2025-10-14T01:45:00Z")).unwrap();
    assert_eq!(next_timer(&warned), Some(ts("2025-10-14T02:00:00Z")));
    let late = evaluate(&timeline, &p, &calendar, ts("2025-10-14T02:00:00Z")).unwrap();
    assert_eq!(next_timer(&late), None);
    let actions: Vec<ClockAction> = late.events.iter().map(|e| e.action).collect();
    assert_eq!(
        actions,
        [
            ClockAction::Activate,
            ClockAction::Warn,
            ClockAction::Breach
        ]
    );

    // The caller persisted the breach; a more lenient policy must not retract it, and a policy
    // without the clock cancels it.
    let persisted = late.events.clone();
    let lenient = policy(&[(Fr, biz(120))]);
    let relaxed = evaluate(&timeline, &lenient, &calendar, ts("2025-10-14T02:00:00Z")).unwrap();
    assert_eq!(relaxed.clock(Fr).unwrap().breached_at, None);
    assert_eq!(new_events(&persisted, &relaxed), Vec::new());
    let none = evaluate(&timeline, &Policy::new("none"), &calendar, late.now).unwrap();
    assert_eq!(
        new_events(&persisted, &none),
        vec![ClockEvent {
            kind: Fr,
            instance: 0,
            action: ClockAction::Cancel,
            at: late.now
        }]
    );

    // A clock paused at `now` has no deadline and no timer until it resumes.
    let paused_policy = policy(&[(Fr, biz(60))]).with_pauses(Fr, &[Status::WaitingOnThirdParty]);
    let waiting = Timeline::new(
        created,
        Party::Customer,
        vec![Entry {
            at: ts("2025-10-14T01:30:00Z"),
            activity: St(Status::WaitingOnThirdParty),
        }],
    )
    .unwrap();
    let state = evaluate(
        &waiting,
        &paused_policy,
        &calendar,
        ts("2025-10-14T03:00:00Z"),
    )
    .unwrap();
    let fr = state.clock(Fr).unwrap();
    assert_eq!(fr.due_at, None);
    assert_eq!(fr.paused_since, Some(ts("2025-10-14T01:30:00Z")));
    assert_eq!(fr.elapsed, mins(30));
    assert_eq!(next_timer(&state), None);
}

#[test]
fn policy_selection_first_match_then_defaults() {
    let vip = Policy {
        when: Condition {
            tiers: vec!["vip".into()],
            ..Condition::default()
        },
        ..policy(&[(Fr, biz(15))])
    };
    let urgent_email = Policy {
        when: Condition {
            channels: vec![Channel::Email],
            priorities: vec![Priority::Urgent],
            ..Condition::default()
        },
        ..policy(&[(Fr, biz(30))])
    };
    let set = PolicySet::new(vec![
        Policy {
            name: "vip".into(),
            ..vip
        },
        Policy {
            name: "urgent_email".into(),
            ..urgent_email
        },
    ])
    .unwrap();
    let facts = |channel, priority, tier: Option<&str>| TicketFacts {
        channel,
        priority,
        tier: tier.map(str::to_string),
        category: None,
    };
    assert_eq!(
        set.select(&facts(Channel::Email, Priority::Urgent, Some("vip")))
            .name,
        "vip"
    );
    assert_eq!(
        set.select(&facts(Channel::Email, Priority::Urgent, None))
            .name,
        "urgent_email"
    );
    let fallback = set.select(&facts(Channel::Im, Priority::Low, None));
    assert_eq!(fallback.name, "default_im");
    assert_eq!(fallback.target(Fr), Some(biz(60)));
    assert_eq!(fallback.target(Res), Some(wall(72 * 60)));

    // The defaults table of helpdesk.md §B.2.
    let email = default_policy(Channel::Email, Priority::Normal);
    assert_eq!(email.target(ClockKind::Ack), Some(biz(240)));
    assert_eq!(email.target(Fr), Some(wall(24 * 60)));
    assert_eq!(email.target(Res), Some(wall(48 * 60)));
    let phone = default_policy(Channel::Phone, Priority::Urgent);
    assert_eq!(phone.target(Fr), Some(biz(120)));
    assert_eq!(phone.target(Nr), None);
    assert_eq!(phone.target(ClockKind::PeriodicUpdate), Some(wall(24 * 60)));
    let store = default_policy(Channel::InStore, Priority::High);
    assert_eq!(store.target(Fr), None);
    assert_eq!(
        store.target(ClockKind::SameDay),
        Some(Target::end_of_business_day(0).unwrap())
    );

    assert!(Target::business_minutes(0).is_err());
    assert!(Target::business(SignedDuration::from_secs(14)).is_err());
    assert!(Target::end_of_business_day(SLA_BUSINESS_DAYS_MAX + 1).is_err());
    assert!(WarningRule::new(SignedDuration::ZERO, true).is_err());
    assert!(
        Timeline::new(
            ts("2026-01-05T10:00:00Z"),
            Party::Customer,
            vec![Entry {
                at: ts("2026-01-05T09:00:00Z"),
                activity: CustomerMessage
            }]
        )
        .is_err()
    );
    assert_eq!(ClockKind::parse("same_day"), Some(ClockKind::SameDay));
    assert_eq!(
        Status::parse("waiting_on_customer"),
        Some(Status::WaitingOnCustomer)
    );
}

#[test]
fn weekly_frames_helper_uses_monday_first() {
    let w = weekly_frames(&[Weekday::Sunday], &[frame("10:00", "12:00")]);
    assert!(w[0].is_empty());
    assert_eq!(w[6], vec![frame("10:00", "12:00")]);
    let _ = taiwan_weekly();
}
