//! A loyalty programme and its wallets: the settings every other loyalty rule reads.
//!
//! A programme has one IANA time zone (Asia/Taipei unless told otherwise) in which every local
//! date is read — expiry days, promotion windows, birthdays, tier periods — one currency, and the
//! money value of one point used by the accounting (IFRS 15 stand-alone selling price).
//!
//! A wallet holds one kind of points: *redeemable* points a member spends, or *qualifying* points
//! that only count toward tiers. Its type is either **free reward points** (issued free with a
//! purchase or an event; may expire) or **paid stored value** (bought by the member). Taiwan's
//! MOEA rules for gift vouchers (禮券) forbid a usage period on paid vouchers, while exempting
//! those issued free of charge (loyalty.md §F), so [`Wallet::new`] refuses any expiry policy
//! other than `Never` on a paid wallet.

use crate::loyalty::expiry::{ExpiryDays, ExpiryPolicy};
use crate::money::Currency;
use jiff::tz::TimeZone;

/// The zone a programme reads local dates in when none is given.
pub const PROGRAMME_TIME_ZONE_DEFAULT: &str = "Asia/Taipei";
/// Largest money value of one point, in minor units (NT$10,000 per point).
pub const POINT_VALUE_MINOR_MAX: i64 = 1_000_000;
/// Default pending (return) window of purchase points, in days: Taiwan's 7-day appraisal period.
pub const PENDING_DAYS_DEFAULT: i32 = 7;
/// Longest pending window, in days.
pub const PENDING_DAYS_MAX: i32 = 90;

/// Why a programme or a wallet could not be built.
#[derive(Debug, Clone, PartialEq, Eq, thiserror::Error)]
pub enum ProgrammeError {
    #[error("time_zone: unknown IANA time zone {zone:?}")]
    UnknownTimeZone { zone: String },
    #[error("point_value_minor: must be 0 to {POINT_VALUE_MINOR_MAX}, got {value}")]
    PointValueOutOfRange { value: i64 },
    #[error("expiry: a paid stored-value wallet may not expire (Taiwan gift-voucher rule)")]
    ExpiryOnPaidWallet,
    #[error("pending_days: must be 0 to {PENDING_DAYS_MAX}, got {days}")]
    PendingDaysOutOfRange { days: i32 },
}

/// A validated programme.
#[derive(Debug, Clone)]
pub struct Programme {
    time_zone: String,
    zone: TimeZone,
    currency: Currency,
    point_value_minor: i64,
}

impl Programme {
    /// `time_zone` defaults to [`PROGRAMME_TIME_ZONE_DEFAULT`]; `point_value_minor` is what one
    /// point is worth when redeemed (100 for "1 point = NT$1").
    pub fn new(
        time_zone: Option<&str>,
        currency: Currency,
        point_value_minor: i64,
    ) -> Result<Programme, ProgrammeError> {
        let name = time_zone.unwrap_or(PROGRAMME_TIME_ZONE_DEFAULT);
        let zone = TimeZone::get(name).map_err(|_| ProgrammeError::UnknownTimeZone {
            zone: name.to_owned(),
        })?;
        if !(0..=POINT_VALUE_MINOR_MAX).contains(&point_value_minor) {
            return Err(ProgrammeError::PointValueOutOfRange {
                value: point_value_minor,
            });
        }
        Ok(Programme {
            time_zone: name.to_owned(),
            zone,
            currency,
            point_value_minor,
        })
    }

    pub fn time_zone(&self) -> &str {
        &self.time_zone
    }

    pub fn zone(&self) -> &TimeZone {
        &self.zone
    }

    pub fn currency(&self) -> Currency {
        self.currency
    }

    pub fn point_value_minor(&self) -> i64 {
        self.point_value_minor
    }
}

/// What a wallet's points are for.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub enum WalletPurpose {
    /// Points a member spends on rewards or at checkout.
    Redeemable,
    /// Points that only count toward tier qualification.
    Qualifying,
}

/// Whether a wallet's value was given free or bought.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub enum WalletKind {
    /// Issued free of charge (with a purchase or an event): may expire.
    FreeRewardPoints,
    /// Bought by the member: a gift voucher in Taiwan's sense, never expires.
    PaidStoredValue,
}

/// What happens when a return claws back points that were already spent.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub enum ShortfallPolicy {
    /// The balance never goes below zero; the shortfall is recorded as a debt, shown apart
    /// from the balance and settled from the next points that become active.
    Debt,
    /// The balance goes negative by the shortfall; new points bring it back up.
    NegativeBalance,
}

/// What happens to points given back by a cancelled redemption when the lot they came from has
/// expired in the meantime.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub enum ExpiredRestorePolicy {
    /// The points go back to their lot and stay expired.
    StayExpired,
    /// The points come back as a new active lot valid through the local day `grace` days later.
    RestoreWithGrace(ExpiryDays),
}

/// The settings a wallet is built from.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub struct WalletSpec {
    pub purpose: WalletPurpose,
    pub kind: WalletKind,
    pub expiry: ExpiryPolicy,
    /// Days purchase points stay pending before they can be spent.
    pub pending_days: i32,
    pub shortfall: ShortfallPolicy,
    pub expired_restore: ExpiredRestorePolicy,
}

impl WalletSpec {
    /// The default redeemable wallet of a Taiwanese shop: free points, 7 days pending, expiring
    /// at the end of the following year, clawback shortfalls kept as a debt.
    pub fn taiwan_default() -> WalletSpec {
        WalletSpec {
            purpose: WalletPurpose::Redeemable,
            kind: WalletKind::FreeRewardPoints,
            expiry: ExpiryPolicy::EndOfYear(crate::loyalty::expiry::PeriodAnchor::Following),
            pending_days: PENDING_DAYS_DEFAULT,
            shortfall: ShortfallPolicy::Debt,
            expired_restore: ExpiredRestorePolicy::StayExpired,
        }
    }
}

/// A validated wallet: a paid wallet never expires.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub struct Wallet {
    spec: WalletSpec,
}

impl Wallet {
    pub fn new(spec: WalletSpec) -> Result<Wallet, ProgrammeError> {
        if spec.kind == WalletKind::PaidStoredValue && !spec.expiry.is_never() {
            return Err(ProgrammeError::ExpiryOnPaidWallet);
        }
        if spec.kind == WalletKind::PaidStoredValue
            && matches!(
                spec.expired_restore,
                ExpiredRestorePolicy::RestoreWithGrace(_)
            )
        {
            // A grace lot has an expiry of its own, which a paid wallet may not carry.
            return Err(ProgrammeError::ExpiryOnPaidWallet);
        }
        if !(0..=PENDING_DAYS_MAX).contains(&spec.pending_days) {
            return Err(ProgrammeError::PendingDaysOutOfRange {
                days: spec.pending_days,
            });
        }
        Ok(Wallet { spec })
    }

    pub fn spec(&self) -> &WalletSpec {
        &self.spec
    }

    pub fn purpose(&self) -> WalletPurpose {
        self.spec.purpose
    }

    pub fn kind(&self) -> WalletKind {
        self.spec.kind
    }

    pub fn expiry(&self) -> ExpiryPolicy {
        self.spec.expiry
    }

    pub fn pending_days(&self) -> i32 {
        self.spec.pending_days
    }

    pub fn shortfall(&self) -> ShortfallPolicy {
        self.spec.shortfall
    }

    pub fn expired_restore(&self) -> ExpiredRestorePolicy {
        self.spec.expired_restore
    }
}

#[cfg(test)]
mod tests;
