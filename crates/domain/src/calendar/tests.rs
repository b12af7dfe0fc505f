//! Calendar construction, open-time precedence, business-time arithmetic (DST zones too),
//! the 2026 presets and iCal import. Deadline search is also checked against a brute-force
//! model in `sla/tests/model.rs`.

use super::*;
use jiff::civil::date;

fn ts(text: &str) -> Timestamp {
    text.parse().expect("test timestamp")
}

fn frame(start: &str, end: &str) -> Frame {
    Frame::parse(start, end).expect("test frame")
}

fn weekdays(frames: &[Frame]) -> [Vec<Frame>; 7] {
    use Weekday::*;
    weekly_frames(&[Monday, Tuesday, Wednesday, Thursday, Friday], frames)
}

fn every_day(frames: &[Frame]) -> [Vec<Frame>; 7] {
    [0; 7].map(|_| frames.to_vec())
}

fn calendar(zone: &str, weekly: [Vec<Frame>; 7], exceptions: Vec<Exception>) -> Calendar {
    Calendar::new(&CalendarSpec {
        zone: zone.to_string(),
        weekly,
        exceptions,
    })
    .expect("test calendar")
}

/// Asia/Taipei, Mon–Fri 09:00–12:00 + 13:00–18:00 (helpdesk.md T22–T29).
fn taipei() -> Calendar {
    calendar("Asia/Taipei", taiwan_weekly(), Vec::new())
}

#[test]
fn frames_parse_and_reject() {
    assert_eq!(frame("09:00", "24:00").end_minute(), 1_440);
    assert_eq!(frame("9:30", "12:00").start_minute(), 570);
    assert_eq!(frame("13:00", "18:00").to_string(), "13:00-18:00");
    for (start, end) in [("24:01", "24:00"), ("12:60", "13:00"), ("x", "12:00")] {
        assert!(matches!(
            Frame::parse(start, end),
            Err(FrameError::BadTimeOfDay { .. })
        ));
    }
    assert_eq!(
        Frame::parse("18:00", "09:00"),
        Err(FrameError::EndNotAfterStart {
            start: "18:00".into(),
            end: "09:00".into()
        })
    );
    assert!(Frame::parse("09:00", "09:00").is_err());
    assert!(Frame::from_minutes(0, 1_441).is_err());
}

#[test]
fn construction_names_the_wrong_entry() {
    let mut spec = CalendarSpec {
        zone: "Asia/Taipei".into(),
        weekly: taiwan_weekly(),
        exceptions: Vec::new(),
    };
    spec.weekly[2] = vec![frame("09:00", "12:00"), frame("11:00", "13:00")];
    let err = Calendar::new(&spec).unwrap_err();
    assert_eq!(
        err,
        CalendarError::Overlap {
            field: "weekly.wed".into(),
            first: frame("09:00", "12:00"),
            second: frame("11:00", "13:00"),
        }
    );
    assert_eq!(err.to_field_error().field, "weekly.wed");

    spec.weekly = taiwan_weekly();
    spec.exceptions = vec![
        Exception::holiday(date(2026, 1, 1), "New Year"),
        Exception {
            date: date(2026, 1, 3),
            change: Change::Open,
            frames: Vec::new(),
            label: "補班".into(),
            active: true,
        },
    ];
    assert_eq!(
        Calendar::new(&spec).unwrap_err(),
        CalendarError::NoFrames {
            field: "exceptions[1].frames".into()
        }
    );

    spec.exceptions = vec![Exception {
        date: date(2026, 1, 3),
        change: Change::Close,
        frames: vec![frame("10:00", "12:00"), frame("11:59", "13:00")],
        label: "typhoon".into(),
        active: true,
    }];
    assert!(matches!(
        Calendar::new(&spec),
        Err(CalendarError::Overlap { field, .. }) if field == "exceptions[0].frames"
    ));

    spec.exceptions = Vec::new();
    spec.weekly[0] = (0..13)
        .map(|h| Frame::from_minutes(h * 60, h * 60 + 30).unwrap())
        .collect();
    assert!(matches!(
        Calendar::new(&spec),
        Err(CalendarError::TooManyFrames { count: 13, .. })
    ));

    spec.weekly = taiwan_weekly();
    spec.zone = "Asia/Taipeh".into();
    assert_eq!(
        Calendar::new(&spec).unwrap_err(),
        CalendarError::UnknownZone {
            zone: "Asia/Taipeh".into()
        }
    );
    // Touching frames are not overlapping: they merge into one open span.
    spec.zone = "Asia/Taipei".into();
    spec.weekly[0] = vec![frame("09:00", "12:00"), frame("12:00", "13:00")];
    let merged = Calendar::new(&spec).unwrap();
    assert_eq!(
        merged.frames_on(date(2026, 3, 2)),
        vec![frame("09:00", "13:00")]
    );
}

#[test]
fn open_time_precedence_closures_win() {
    let day = date(2026, 3, 7); // a Saturday
    let cal = calendar(
        "Asia/Taipei",
        taiwan_weekly(),
        vec![
            Exception::make_up_workday(day, vec![frame("09:00", "18:00")], "補班"),
            Exception::closure(day, frame("14:00", "24:00"), "颱風停班"),
            Exception::opening(date(2026, 3, 9), frame("12:00", "13:00"), "lunch sale"),
            Exception {
                active: false,
                ..Exception::holiday(date(2026, 3, 10), "inactive")
            },
            Exception::holiday(date(2026, 3, 11), "holiday"),
            Exception::make_up_workday(date(2026, 3, 11), vec![frame("09:00", "18:00")], "x"),
        ],
    );
    assert_eq!(cal.frames_on(day), vec![frame("09:00", "14:00")]);
    assert_eq!(
        cal.frames_on(date(2026, 3, 9)),
        vec![frame("09:00", "18:00")]
    );
    assert_eq!(cal.frames_on(date(2026, 3, 10)), taiwan_weekly()[1]);
    assert_eq!(cal.frames_on(date(2026, 3, 11)), Vec::<Frame>::new());
    assert_eq!(cal.frames_on(date(2026, 3, 8)), Vec::<Frame>::new());
}

#[test]
fn is_open_next_open_and_business_time() {
    let cal = taipei();
    // Tue 2025-10-14, local = UTC+8.
    assert!(cal.is_open(ts("2025-10-14T01:00:00Z")).unwrap()); // 09:00
    assert!(!cal.is_open(ts("2025-10-14T04:00:00Z")).unwrap()); // 12:00 lunch
    assert!(!cal.is_open(ts("2025-10-14T10:00:00Z")).unwrap()); // 18:00 closed
    assert_eq!(
        cal.next_open(ts("2025-10-14T04:30:00Z")).unwrap(),
        ts("2025-10-14T05:00:00Z")
    );
    assert_eq!(
        cal.next_open(ts("2025-10-17T10:30:00Z")).unwrap(), // Fri 18:30
        ts("2025-10-20T01:00:00Z")                          // Mon 09:00
    );
    assert_eq!(
        cal.business_time(ts("2025-10-13T16:00:00Z"), ts("2025-10-20T16:00:00Z"))
            .unwrap(),
        SignedDuration::from_hours(40)
    );
    assert_eq!(
        cal.business_time(ts("2025-10-14T03:30:00Z"), ts("2025-10-14T05:30:00Z"))
            .unwrap(),
        SignedDuration::from_hours(1)
    );
    assert_eq!(
        cal.business_time(ts("2025-10-14T05:30:00Z"), ts("2025-10-14T03:30:00Z")),
        Err(TimeError::EndBeforeStart)
    );
    assert_eq!(
        cal.end_of_business_day(ts("2025-10-14T07:00:00Z"), 0)
            .unwrap(),
        ts("2025-10-14T10:00:00Z")
    );
    assert_eq!(
        cal.end_of_business_day(ts("2025-10-17T07:00:00Z"), 1)
            .unwrap(),
        ts("2025-10-20T10:00:00Z")
    );
}

#[test]
fn a_calendar_without_open_time_is_an_error_not_a_loop() {
    let cal = calendar("Asia/Taipei", Default::default(), Vec::new());
    let from = ts("2026-01-05T00:00:00Z");
    assert_eq!(cal.next_open(from), Err(TimeError::NoOpenTime { from }));
    assert_eq!(
        cal.add_business(from, SignedDuration::from_mins(1)),
        Err(TimeError::NoOpenTime { from })
    );
    assert_eq!(
        cal.end_of_business_day(from, 0),
        Err(TimeError::NoOpenTime { from })
    );
    assert_eq!(
        cal.business_time(from, ts("2026-12-31T00:00:00Z")),
        Ok(SignedDuration::ZERO)
    );
    assert_eq!(
        cal.add_business(from, SignedDuration::from_mins(-1)),
        Err(TimeError::NegativeDuration)
    );
}

/// DST: a 24/7 calendar counts real elapsed time, and office hours stay at local 09:00.
#[test]
fn dst_zones_count_real_time() {
    let ny = calendar(
        "America/New_York",
        every_day(&[Frame::whole_day()]),
        Vec::new(),
    );
    // 2026-03-08 02:00 EST → 03:00 EDT: that local day has 23 hours.
    let sat = ts("2026-03-07T05:00:00Z"); // Sat 00:00 EST
    let mon = ts("2026-03-09T04:00:00Z"); // Mon 00:00 EDT
    assert_eq!(
        ny.business_time(sat, mon).unwrap(),
        SignedDuration::from_hours(47)
    );
    // Sat 12:00 EST + 24 h = Sun 13:00 EDT.
    assert_eq!(
        ny.add_business(ts("2026-03-07T17:00:00Z"), SignedDuration::from_hours(24))
            .unwrap(),
        ts("2026-03-08T17:00:00Z")
    );

    let office = calendar(
        "America/New_York",
        weekdays(&[frame("09:00", "17:00")]),
        Vec::new(),
    );
    // Fri 16:00 EST + 2 h → Mon 10:00 EDT (14:00 UTC, an hour earlier in UTC than before).
    assert_eq!(
        office
            .add_business(ts("2026-03-06T21:00:00Z"), SignedDuration::from_hours(2))
            .unwrap(),
        ts("2026-03-09T14:00:00Z")
    );

    // Europe/London falls back on 2026-10-25: that Sunday has 25 hours.
    let london = calendar(
        "Europe/London",
        every_day(&[Frame::whole_day()]),
        Vec::new(),
    );
    assert_eq!(
        london
            .business_time(ts("2026-10-24T23:00:00Z"), ts("2026-10-26T00:00:00Z"))
            .unwrap(),
        SignedDuration::from_hours(25)
    );
    assert_eq!(
        london
            .local_day_pieces(ts("2026-10-24T23:00:00Z"), ts("2026-10-26T00:00:00Z"))
            .unwrap(),
        vec![(date(2026, 10, 25), Frame::whole_day())]
    );
}

#[test]
fn presets_cover_2026() {
    let tw = calendar("Asia/Taipei", taiwan_weekly(), taiwan_2026());
    assert_eq!(taiwan_2026().len(), 16);
    // 2026-02-16..20 Lunar New Year: Fri 13th 17:00 + 2 h → Mon 23rd 10:00.
    assert_eq!(
        tw.add_business(ts("2026-02-13T09:00:00Z"), SignedDuration::from_hours(2))
            .unwrap(),
        ts("2026-02-23T02:00:00Z")
    );
    assert!(tw.frames_on(date(2026, 10, 9)).is_empty());
    assert!(!tw.frames_on(date(2026, 10, 8)).is_empty());

    let hk = calendar("Asia/Hong_Kong", hong_kong_weekly(), hong_kong_2026());
    assert_eq!(hong_kong_2026().len(), 17);
    assert!(hk.frames_on(date(2026, 4, 4)).is_empty()); // Saturday after Good Friday
    assert_eq!(
        hk.frames_on(date(2026, 4, 11)),
        vec![frame("09:00", "13:00")]
    );
    assert!(hk.frames_on(date(2026, 4, 7)).is_empty());
}

#[test]
fn ical_import() {
    let feed = "BEGIN:VCALENDAR\r\nVERSION:2.0\r\nBEGIN:VEVENT\r\nDTSTART;VALUE=DATE:20261010\r\n\
DTEND;VALUE=DATE:20261011\r\nSUMMARY:National Day\\, Taiwan\r\nEND:VEVENT\r\n\
BEGIN:VEVENT\r\nDTSTART;VALUE=DATE:20260216\r\nDTEND;VALUE=DATE:20260221\r\nSUMMARY:Lunar\r\n  New Year\r\n\
END:VEVENT\r\nBEGIN:VEVENT\r\nDTSTART:20260501\r\nSUMMARY:Labour Day\r\nEND:VEVENT\r\n\
BEGIN:VEVENT\r\nDTSTART;VALUE=DATE:20260502\r\nSTATUS:CANCELLED\r\nEND:VEVENT\r\nEND:VCALENDAR\r\n";
    let holidays = parse_ical_holidays(feed).unwrap();
    let dates: Vec<Date> = holidays.iter().map(|h| h.date).collect();
    assert_eq!(
        dates,
        vec![
            date(2026, 10, 10),
            date(2026, 2, 16),
            date(2026, 2, 17),
            date(2026, 2, 18),
            date(2026, 2, 19),
            date(2026, 2, 20),
            date(2026, 5, 1),
        ]
    );
    assert_eq!(holidays[0].label, "National Day, Taiwan");
    assert_eq!(holidays[1].label, "Lunar New Year");
    assert!(holidays.iter().all(|h| h.change == Change::Close));

    let cases = [
        ("BEGIN:VEVENT\nDTSTART:20260101T090000Z\nEND:VEVENT\n", 2),
        ("BEGIN:VEVENT\nDTSTART;VALUE=DATE:2026011\nEND:VEVENT\n", 2),
        ("BEGIN:VEVENT\nDTSTART;VALUE=DATE:20260230\nEND:VEVENT\n", 2),
        ("BEGIN:VEVENT\nSUMMARY:x\nEND:VEVENT\n", 1),
        (
            "BEGIN:VEVENT\nDTSTART;VALUE=DATE:20260101\nRRULE:FREQ=YEARLY\nEND:VEVENT\n",
            3,
        ),
        (
            "BEGIN:VEVENT\nDTSTART;VALUE=DATE:20260105\nDTEND;VALUE=DATE:20260105\nEND:VEVENT\n",
            1,
        ),
        ("BEGIN:VEVENT\nDTSTART;VALUE=DATE:20260101\n", 1),
        ("garbage\n", 1),
    ];
    for (text, line) in cases {
        match parse_ical_holidays(text) {
            Err(IcalError::Line { line: got, .. }) => assert_eq!(got, line, "{text}"),
            other => panic!("{text}: {other:?}"),
        }
    }
    assert_eq!(
        parse_ical_holidays(&"X".repeat(ICAL_BYTES_MAX + 1)),
        Err(IcalError::TooLarge)
    );
}

#[test]
fn day_numbers_count_days_from_1970() {
    assert_eq!(day_number(date(1970, 1, 1)), 0);
    assert_eq!(day_number(date(1969, 12, 31)), -1);
    assert_eq!(day_number(date(2000, 3, 1)), 11_017);
    let mut d = date(1899, 12, 1);
    let mut n = day_number(d);
    while d < date(2101, 3, 1) {
        d = d.tomorrow().unwrap();
        n += 1;
        assert_eq!(day_number(d), n, "{d}");
    }
}

/// An indexed calendar answers every question exactly as the plain one, for questions
/// before, inside, across and after the indexed dates, in zones with and without DST
/// (including the days of the changes) and with exceptions.
#[test]
fn an_index_changes_no_answer() {
    let calendars = [
        calendar(
            "Asia/Taipei",
            taiwan_weekly(),
            vec![
                Exception::closure(date(2026, 3, 4), frame("14:00", "24:00"), "颱風停班"),
                Exception::holiday(date(2026, 3, 5), "颱風停班"),
                Exception::make_up_workday(date(2026, 3, 7), vec![frame("09:00", "18:00")], "補班"),
            ],
        ),
        calendar(
            "America/New_York",
            weekdays(&[
                frame("00:00", "02:30"),
                frame("09:00", "17:00"),
                frame("22:00", "24:00"),
            ]),
            vec![Exception::opening(
                date(2026, 3, 8),
                frame("01:00", "04:00"),
                "night",
            )],
        ),
        calendar(
            "Europe/London",
            every_day(&[Frame::whole_day()]),
            Vec::new(),
        ),
    ];
    let windows = [
        ("2026-03-01T00:00:00Z", "2026-03-10T00:00:00Z"),
        ("2026-10-20T00:00:00Z", "2026-10-30T00:00:00Z"),
    ];
    for plain in calendars {
        for (from, until) in windows {
            let indexed = plain.clone().indexed(ts(from), ts(until));
            assert!(indexed.index.is_some(), "{} {from}", plain.zone_name());
            let start = ts(from) - SignedDuration::from_hours(72);
            for step in 0..180 {
                let at = start + SignedDuration::from_mins(step * 97);
                let zone = plain.zone_name();
                assert_eq!(plain.is_open(at), indexed.is_open(at), "{zone} {at}");
                assert_eq!(plain.next_open(at), indexed.next_open(at), "{zone} {at}");
                for hours in [1, 9, 30, 200] {
                    let amount = SignedDuration::from_hours(hours);
                    assert_eq!(
                        plain.add_business(at, amount),
                        indexed.add_business(at, amount),
                        "{zone} {at} + {hours} h"
                    );
                    let until = at + amount;
                    assert_eq!(
                        plain.business_time(at, until),
                        indexed.business_time(at, until),
                        "{zone} {at}..{until}"
                    );
                }
                for days in [0, 1, 3] {
                    assert_eq!(
                        plain.end_of_business_day(at, days),
                        indexed.end_of_business_day(at, days),
                        "{zone} {at} +{days} business days"
                    );
                }
                assert_eq!(
                    plain.next_midnight(at),
                    indexed.next_midnight(at),
                    "{zone} {at}"
                );
            }
        }
    }
    // A window longer than the limit indexes its last dates only; answers stay the same.
    let long = taipei().indexed(ts("2020-01-01T00:00:00Z"), ts("2030-01-01T00:00:00Z"));
    assert_eq!(
        long.index.as_ref().map(|i| i.midnights.len()),
        Some(usize::try_from(CALENDAR_INDEX_DAYS_MAX).unwrap())
    );
    let at = ts("2029-06-01T01:00:00Z");
    assert_eq!(
        long.add_business(at, SignedDuration::from_hours(20)),
        taipei().add_business(at, SignedDuration::from_hours(20))
    );
}
