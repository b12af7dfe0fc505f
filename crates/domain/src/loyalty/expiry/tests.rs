use super::*;
use jiff::civil::date;

fn ts(s: &str) -> Timestamp {
    s.parse().unwrap()
}

fn taipei() -> TimeZone {
    TimeZone::get("Asia/Taipei").unwrap()
}

fn days(n: i32) -> ExpiryDays {
    ExpiryDays::new(n).unwrap()
}

/// (policy, activated at, expected expires_at as UTC). Taipei is UTC+8, so 23:59:59 local is
/// 15:59:59Z the same day.
#[test]
fn lot_expiry_instants_in_taipei() {
    let cases = [
        // Activated 2026-01-10 01:00 local (17:00Z the day before): local date is the 10th.
        (
            ExpiryPolicy::DaysAfterActivation(days(30)),
            "2026-01-09T17:00:00Z",
            Some("2026-02-09T15:59:59Z"),
        ),
        // 23:30 local on the 10th is still the 10th.
        (
            ExpiryPolicy::DaysAfterActivation(days(1)),
            "2026-01-10T15:30:00Z",
            Some("2026-01-11T15:59:59Z"),
        ),
        (
            ExpiryPolicy::EndOfMonth(PeriodAnchor::Activation),
            "2026-02-10T03:00:00Z",
            Some("2026-02-28T15:59:59Z"),
        ),
        (
            ExpiryPolicy::EndOfMonth(PeriodAnchor::Following),
            "2028-01-31T03:00:00Z",
            Some("2028-02-29T15:59:59Z"),
        ),
        (
            ExpiryPolicy::EndOfYear(PeriodAnchor::Activation),
            "2026-06-01T00:00:00Z",
            Some("2026-12-31T15:59:59Z"),
        ),
        // 31 Dec 20:00Z is already 1 January 2027 in Taipei: end of the *following* year is 2028.
        (
            ExpiryPolicy::EndOfYear(PeriodAnchor::Following),
            "2026-12-31T20:00:00Z",
            Some("2028-12-31T15:59:59Z"),
        ),
        (ExpiryPolicy::Never, "2026-01-01T00:00:00Z", None),
        (
            ExpiryPolicy::AfterInactivity(days(180)),
            "2026-01-01T00:00:00Z",
            None,
        ),
    ];
    for (policy, activated, want) in cases {
        let got = lot_expires_at(policy, ts(activated), &taipei()).unwrap();
        assert_eq!(got, want.map(ts), "{policy:?} {activated}");
    }
}

#[test]
fn expiry_at_235959_taipei_is_the_right_utc_instant() {
    let at = end_of_local_day(date(2026, 12, 31), &taipei()).unwrap();
    assert_eq!(at, ts("2026-12-31T15:59:59Z"));
    assert_eq!(
        at.to_zoned(taipei()).to_string(),
        "2026-12-31T23:59:59+08:00[Asia/Taipei]"
    );
    let hk = TimeZone::get("Asia/Hong_Kong").unwrap();
    assert_eq!(
        end_of_local_day(date(2026, 12, 31), &hk).unwrap(),
        ts("2026-12-31T15:59:59Z")
    );
    // Valid through 23:59:59 local, expired from local midnight.
    assert!(!is_expired(at, ts("2026-12-31T15:59:59.999Z")));
    assert!(is_expired(at, ts("2026-12-31T16:00:00Z")));
}

#[test]
fn dst_zone_days_are_local() {
    // New York springs forward on 2026-03-08: the day is 23 hours long, still ends 23:59:59 local.
    let ny = TimeZone::get("America/New_York").unwrap();
    assert_eq!(
        end_of_local_day(date(2026, 3, 8), &ny).unwrap(),
        ts("2026-03-09T03:59:59Z")
    );
    assert_eq!(
        start_of_local_day(date(2026, 3, 8), &ny).unwrap(),
        ts("2026-03-08T05:00:00Z")
    );
}

#[test]
fn inactivity_and_reminders() {
    let policy = ExpiryPolicy::AfterInactivity(days(180));
    assert_eq!(
        inactivity_expires_at(policy, ts("2026-01-01T02:00:00Z"), &taipei()).unwrap(),
        Some(ts("2026-06-30T15:59:59Z"))
    );
    assert_eq!(
        inactivity_expires_at(ExpiryPolicy::Never, ts("2026-01-01T02:00:00Z"), &taipei()).unwrap(),
        None
    );
    let expires = ts("2026-12-31T15:59:59Z");
    let cases = [(0, "2026-12-31T02:00:00Z"), (30, "2026-12-01T02:00:00Z")];
    for (before, want) in cases {
        let got = reminder_at(
            expires,
            ReminderDays::new(before).unwrap(),
            REMINDER_LOCAL_TIME_DEFAULT,
            &taipei(),
        );
        assert_eq!(got, Some(ts(want)), "{before}");
    }
    assert!(ReminderDays::new(-1).is_err());
    assert!(ReminderDays::new(366).is_err());
}

#[test]
fn days_are_bounded() {
    assert!(ExpiryDays::new(0).is_err());
    assert!(ExpiryDays::new(EXPIRY_DAYS_MAX + 1).is_err());
    assert_eq!(
        ExpiryDays::new(EXPIRY_DAYS_MAX).unwrap().get(),
        EXPIRY_DAYS_MAX
    );
    // Out of jiff's range is an error, not a panic.
    assert!(
        lot_expires_at(
            ExpiryPolicy::EndOfYear(PeriodAnchor::Following),
            Timestamp::MAX,
            &taipei()
        )
        .is_err()
    );
}
