use super::*;
use crate::loyalty::expiry::PeriodAnchor;

#[test]
fn programme_defaults_to_taipei() {
    let p = Programme::new(None, Currency::TWD, 100).unwrap();
    assert_eq!(p.time_zone(), "Asia/Taipei");
    assert_eq!(p.currency(), Currency::TWD);
    assert_eq!(p.point_value_minor(), 100);
    let hk = Programme::new(Some("Asia/Hong_Kong"), Currency::parse("HKD").unwrap(), 10).unwrap();
    assert_eq!(hk.time_zone(), "Asia/Hong_Kong");
}

#[test]
fn programme_refuses_bad_settings() {
    let cases = [
        (
            Programme::new(Some("Asia/Taipe"), Currency::TWD, 100).unwrap_err(),
            ProgrammeError::UnknownTimeZone {
                zone: "Asia/Taipe".into(),
            },
        ),
        (
            Programme::new(None, Currency::TWD, -1).unwrap_err(),
            ProgrammeError::PointValueOutOfRange { value: -1 },
        ),
    ];
    for (got, want) in cases {
        assert_eq!(got, want);
    }
}

#[test]
fn a_paid_wallet_refuses_any_expiry() {
    let paid = |expiry, expired_restore| WalletSpec {
        kind: WalletKind::PaidStoredValue,
        expiry,
        expired_restore,
        ..WalletSpec::taiwan_default()
    };
    let grace = ExpiredRestorePolicy::RestoreWithGrace(ExpiryDays::new(30).unwrap());
    let cases = [
        (
            paid(ExpiryPolicy::Never, ExpiredRestorePolicy::StayExpired),
            Ok(()),
        ),
        (
            paid(
                ExpiryPolicy::EndOfYear(PeriodAnchor::Following),
                ExpiredRestorePolicy::StayExpired,
            ),
            Err(ProgrammeError::ExpiryOnPaidWallet),
        ),
        (
            paid(
                ExpiryPolicy::AfterInactivity(ExpiryDays::new(365).unwrap()),
                ExpiredRestorePolicy::StayExpired,
            ),
            Err(ProgrammeError::ExpiryOnPaidWallet),
        ),
        (
            paid(ExpiryPolicy::Never, grace),
            Err(ProgrammeError::ExpiryOnPaidWallet),
        ),
        (WalletSpec::taiwan_default(), Ok(())),
        (
            WalletSpec {
                pending_days: PENDING_DAYS_MAX + 1,
                ..WalletSpec::taiwan_default()
            },
            Err(ProgrammeError::PendingDaysOutOfRange {
                days: PENDING_DAYS_MAX + 1,
            }),
        ),
    ];
    for (spec, want) in cases {
        assert_eq!(Wallet::new(spec).map(|_| ()), want, "{spec:?}");
    }
    let w = Wallet::new(WalletSpec::taiwan_default()).unwrap();
    assert_eq!(w.pending_days(), 7);
    assert_eq!(w.kind(), WalletKind::FreeRewardPoints);
    assert_eq!(w.purpose(), WalletPurpose::Redeemable);
}
