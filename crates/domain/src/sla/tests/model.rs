//! Seeded model-based test of the calendar and deadline engine: random calendars (frames,
//! holidays, 補班, partial closures and openings, inactive entries), random starts, targets,
//! warning leads and pauses, checked against a brute-force reference that walks UTC minutes one
//! by one and paints each local day as a 1440-minute bitmap. The reference shares no code with
//! the engine: it uses fixed UTC offsets (the zones below have had no DST since long before
//! 2026) and applies the §B.2 rule "weekly ∪ open − close" by painting.
//! A failure names its seed; rerun one with `check_seed(seed)`.

use crate::calendar::{
    Basis, Calendar, CalendarSpec, Change, Exception, Frame, Interval, SLA_SEARCH_DAYS_MAX,
    TimeError,
};
use crate::sla::{Target, WarningRule, preview};
use jiff::civil::Date;
use jiff::{SignedDuration, Timestamp, ToSpan};

/// Seeds run by the test; each is one random calendar with several questions.
const MODEL_CASES: u64 = 300;

/// SplitMix64: a tiny, well-mixed PRNG so the test needs no `rand`.
pub(super) struct SplitMix64(pub(super) u64);

impl SplitMix64 {
    fn next(&mut self) -> u64 {
        self.0 = self.0.wrapping_add(0x9E37_79B9_7F4A_7C15);
        let mut z = self.0;
        z = (z ^ (z >> 30)).wrapping_mul(0xBF58_476D_1CE4_E5B9);
        z = (z ^ (z >> 27)).wrapping_mul(0x94D0_49BB_1331_11EB);
        z ^ (z >> 31)
    }

    /// Uniform-ish in `0..n` (`n > 0`).
    pub(super) fn below(&mut self, n: u64) -> u64 {
        self.next() % n
    }

    pub(super) fn range(&mut self, low: i64, high: i64) -> i64 {
        low + i64::try_from(self.below(u64::try_from(high - low).unwrap())).unwrap()
    }

    pub(super) fn percent(&mut self, p: u64) -> bool {
        self.below(100) < p
    }
}

/// Zones without DST in the tested years, with their fixed offsets in minutes.
const ZONES: [(&str, i64); 5] = [
    ("UTC", 0),
    ("Asia/Taipei", 480),
    ("Asia/Hong_Kong", 480),
    ("Asia/Kolkata", 330),
    ("Asia/Kathmandu", 345),
];

const MINUTE: i64 = 60;

pub(super) fn random_frames(rng: &mut SplitMix64, max: u64) -> Vec<Frame> {
    let count = 1 + rng.below(max);
    let mut points: Vec<u16> = Vec::new();
    while points.len() < usize::try_from(count * 2).unwrap() {
        let point = if rng.percent(10) {
            1_440
        } else {
            u16::try_from(rng.below(1_441)).unwrap()
        };
        if !points.contains(&point) {
            points.push(point);
        }
    }
    points.sort_unstable();
    points
        .chunks(2)
        .map(|pair| Frame::from_minutes(pair[0], pair[1]).unwrap())
        .collect()
}

pub(super) struct Model {
    zone: &'static str,
    offset_min: i64,
    pub(super) spec: CalendarSpec,
}

impl Model {
    pub(super) fn random(rng: &mut SplitMix64, first_day: Date) -> Model {
        let (zone, offset_min) = ZONES[usize::try_from(rng.below(5)).unwrap()];
        let mut weekly: [Vec<Frame>; 7] = Default::default();
        for day in &mut weekly {
            if rng.percent(65) {
                *day = random_frames(rng, 3);
            }
        }
        // Keep at least three open hours a week so deadlines land within weeks.
        let weekly_minutes: u32 = weekly
            .iter()
            .flatten()
            .map(|f| u32::from(f.end_minute() - f.start_minute()))
            .sum();
        if weekly_minutes < 180 {
            weekly[2] = vec![Frame::parse("09:00", "17:00").unwrap()];
        }
        let mut exceptions = Vec::new();
        for _ in 0..rng.below(10) {
            let date = first_day.checked_add(rng.range(-2, 45).days()).unwrap();
            let mut exception = match rng.below(4) {
                0 => Exception::holiday(date, "holiday"),
                1 => Exception::make_up_workday(date, random_frames(rng, 2), "補班"),
                2 => Exception::closure(date, random_frames(rng, 1)[0], "typhoon"),
                _ => Exception::opening(date, random_frames(rng, 1)[0], "sale"),
            };
            exception.active = rng.percent(85);
            exceptions.push(exception);
        }
        Model {
            zone,
            offset_min,
            spec: CalendarSpec {
                zone: zone.to_string(),
                weekly,
                exceptions,
            },
        }
    }

    /// Open minutes of a local date, painted: weekly, then opens, then closures (they win).
    fn day(&self, date: Date) -> Vec<bool> {
        let mut open = vec![false; 1_440];
        let mut paint = |frames: &[Frame], value: bool| {
            for frame in frames {
                for m in frame.start_minute()..frame.end_minute() {
                    open[usize::from(m)] = value;
                }
            }
        };
        let weekday = usize::try_from(date.weekday().to_monday_zero_offset()).unwrap();
        paint(&self.spec.weekly[weekday], true);
        for change in [Change::Open, Change::Close] {
            for e in &self.spec.exceptions {
                if e.active && e.date == date && e.change == change {
                    paint(&e.frames, change == Change::Open);
                }
            }
        }
        open
    }
}

/// The reference: minute-by-minute over UTC minutes since the epoch.
struct Reference<'a> {
    model: &'a Model,
    cache: std::collections::HashMap<i64, Vec<bool>>,
    pauses: Vec<(i64, i64)>,
}

impl Reference<'_> {
    fn local(&self, utc_minute: i64) -> (i64, usize) {
        let local = utc_minute + self.model.offset_min;
        (
            local.div_euclid(1_440),
            usize::try_from(local.rem_euclid(1_440)).unwrap(),
        )
    }

    fn open(&mut self, utc_minute: i64) -> bool {
        let (day, minute) = self.local(utc_minute);
        let model = self.model;
        self.cache.entry(day).or_insert_with(|| {
            model.day(
                Date::new(1970, 1, 1)
                    .unwrap()
                    .checked_add(day.days())
                    .unwrap(),
            )
        })[minute]
    }

    fn counted(&mut self, utc_minute: i64) -> bool {
        self.open(utc_minute)
            && !self
                .pauses
                .iter()
                .any(|&(s, e)| s <= utc_minute && utc_minute < e)
    }

    /// First minute boundary at which `amount` counted minutes have passed since `from`.
    fn add(&mut self, from: i64, amount: i64) -> Option<i64> {
        if amount == 0 {
            return Some(from);
        }
        let mut count = 0;
        for m in from..from + SLA_SEARCH_DAYS_MAX * 1_440 {
            if self.counted(m) {
                count += 1;
                if count == amount {
                    return Some(m + 1);
                }
            }
        }
        None
    }

    fn next_open(&mut self, from: i64) -> i64 {
        (from..).find(|&m| self.open(m)).unwrap()
    }

    /// Close of the business day `days_after` days after the first with open time at/after `from`.
    fn end_of_business_day(&mut self, from: i64, days_after: u32) -> i64 {
        let (start_day, minute) = self.local(from);
        let mut remaining = days_after;
        let mut found = false;
        for day in start_day.. {
            let date = Date::new(1970, 1, 1)
                .unwrap()
                .checked_add(day.days())
                .unwrap();
            let Some(last) = self.model.day(date).iter().rposition(|&open| open) else {
                continue;
            };
            if found {
                remaining -= 1;
            } else {
                found = day > start_day || last >= minute;
            }
            if found && remaining == 0 {
                return day * 1_440 + i64::try_from(last).unwrap() + 1 - self.model.offset_min;
            }
        }
        unreachable!()
    }
}

fn at(minute: i64) -> Timestamp {
    Timestamp::from_second(minute * MINUTE).unwrap()
}

fn minute_of(t: Timestamp) -> i64 {
    t.as_second().div_euclid(MINUTE)
}

fn check_seed(seed: u64) {
    let mut rng = SplitMix64(seed);
    let base = minute_of("2026-01-01T00:00:00Z".parse::<Timestamp>().unwrap());
    let first_day = Date::new(2026, 1, 1).unwrap();
    let model = Model::random(&mut rng, first_day);
    let calendar = Calendar::new(&model.spec)
        .unwrap_or_else(|e| panic!("seed {seed}: random spec rejected: {e}"));
    assert_eq!(calendar.zone_name(), model.zone);
    // The same questions again with the dates of days 10–30 indexed: questions start before,
    // inside and after the index and cross its edges.
    let indexed = calendar
        .clone()
        .indexed(at(base + 10 * 1_440), at(base + 30 * 1_440));
    for calendar in [calendar, indexed] {
        check_questions(seed, SplitMix64(rng.0), &model, &calendar, base);
    }
}

fn check_questions(seed: u64, mut rng: SplitMix64, model: &Model, calendar: &Calendar, base: i64) {
    let mut reference = Reference {
        model,
        cache: Default::default(),
        pauses: Vec::new(),
    };

    // is_open agrees minute by minute (sampled, and 30 s into the minute).
    for _ in 0..40 {
        let m = base + rng.range(-1_440, 50 * 1_440);
        let expected = reference.open(m);
        for t in [
            at(m),
            at(m).checked_add(SignedDuration::from_secs(30)).unwrap(),
        ] {
            assert_eq!(
                calendar.is_open(t).unwrap(),
                expected,
                "seed {seed}: is_open({t})"
            );
        }
    }

    // Business time between two instants.
    for _ in 0..5 {
        let a = base + rng.range(0, 40 * 1_440);
        let b = a + rng.range(0, 10 * 1_440);
        let expected = (a..b).filter(|&m| reference.open(m)).count();
        let got = calendar.business_time(at(a), at(b)).unwrap();
        assert_eq!(
            got,
            SignedDuration::from_mins(i64::try_from(expected).unwrap()),
            "seed {seed}: business_time({}, {})",
            at(a),
            at(b)
        );
    }

    // Deadlines and warnings with pauses.
    for _ in 0..3 {
        let start = base + rng.range(0, 40 * 1_440);
        let target = rng.range(1, 1_200);
        reference.pauses = (0..rng.below(4))
            .map(|_| {
                let s = start + rng.range(-600, 20_000);
                (s, s + rng.range(1, 3_000))
            })
            .collect();
        let pauses: Vec<Interval> = reference
            .pauses
            .iter()
            .map(|&(s, e)| Interval::new(at(s), at(e)))
            .collect();
        let lead = rng.range(1, 300);
        let quiet = rng.percent(50);
        let warning = WarningRule::new(SignedDuration::from_mins(lead), !quiet).unwrap();
        let got = preview(
            calendar,
            at(start),
            Target::business_minutes(target).unwrap(),
            &pauses,
            Some(warning),
        );
        let Some(expected) = reference.add(start, target) else {
            assert!(
                got.is_err(),
                "seed {seed}: expected no deadline, got {got:?}"
            );
            continue;
        };
        let got = got.unwrap_or_else(|e| panic!("seed {seed}: {e}"));
        let context = format!(
            "seed {seed}: start {} target {target} min pauses {pauses:?}",
            at(start)
        );
        assert_eq!(got.deadline, at(expected), "{context}");
        assert!(got.deadline >= at(start), "{context}");
        let measured = Basis::Business(calendar)
            .measure(at(start), got.deadline, &normalized(&pauses))
            .unwrap();
        assert_eq!(measured, SignedDuration::from_mins(target), "{context}");

        let expected_warn = (lead < target).then(|| {
            let raw = reference.add(start, target - lead).unwrap();
            if quiet {
                reference.next_open(raw).min(expected)
            } else {
                raw
            }
        });
        assert_eq!(
            got.warning_at,
            expected_warn.map(at),
            "{context} lead {lead}"
        );
    }

    // Same day and next business day.
    for days_after in [0, 1] {
        let start = base + rng.range(0, 40 * 1_440);
        let expected = reference.end_of_business_day(start, days_after);
        let got = calendar
            .end_of_business_day(at(start), u16::try_from(days_after).unwrap())
            .unwrap();
        assert_eq!(
            got,
            at(expected),
            "seed {seed}: end_of_business_day({}, {days_after})",
            at(start)
        );
    }
}

fn normalized(pauses: &[Interval]) -> Vec<Interval> {
    let mut sorted = pauses.to_vec();
    sorted.sort_unstable();
    let mut out: Vec<Interval> = Vec::new();
    for p in sorted {
        match out.last_mut() {
            Some(last) if p.start <= last.end => last.end = last.end.max(p.end),
            _ => out.push(p),
        }
    }
    out
}

#[test]
fn deadlines_match_the_minute_by_minute_reference() {
    for seed in 0..MODEL_CASES {
        check_seed(seed);
    }
}

#[test]
fn no_open_time_is_reported_not_looped() {
    let calendar = Calendar::new(&CalendarSpec {
        zone: "Asia/Taipei".into(),
        weekly: Default::default(),
        exceptions: vec![Exception::make_up_workday(
            Date::new(2026, 1, 3).unwrap(),
            vec![Frame::parse("09:00", "10:00").unwrap()],
            "補班",
        )],
    })
    .unwrap();
    let start: Timestamp = "2026-01-01T00:00:00Z".parse().unwrap();
    // One open hour in 400 days: a 2-hour target has no deadline.
    assert_eq!(
        preview(
            &calendar,
            start,
            Target::business_minutes(120).unwrap(),
            &[],
            None
        ),
        Err(crate::sla::SlaError::Time(TimeError::NoOpenTime {
            from: start
        }))
    );
    assert_eq!(
        preview(
            &calendar,
            start,
            Target::business_minutes(60).unwrap(),
            &[],
            None
        )
        .unwrap()
        .deadline,
        "2026-01-03T02:00:00Z".parse::<Timestamp>().unwrap()
    );
}
