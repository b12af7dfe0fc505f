//! IFRS 15 / ASC 606 accounting of points earned with a purchase (loyalty.md §B).
//!
//! Points that give a material right are a separate performance obligation: the transaction
//! price is split between the goods and the points by relative stand-alone selling price (SSP),
//! the points' share is a contract liability, and it becomes revenue as points are redeemed —
//! with breakage recognised in proportion to redemptions, through a versioned estimate of how
//! many of a cohort's points will ever be redeemed. Free points (sign-up, birthday, referral …)
//! carry no revenue: nothing was paid for them.
//!
//! Rounding, all integer minor units, half away from zero (`arith::div_round_half_up`):
//! - [`AllocationRounding::ExactRatio`] (the default): the points' share is
//!   `round(price × points_ssp / (goods_ssp + points_ssp))` and the goods take the rest, so the
//!   two always sum to the price. IE52: 8,676 to points, 91,324 to goods.
//! - [`AllocationRounding::WholePercent`] (KPMG handbook Examples 10A/10B): the points' ratio is
//!   first rounded to a whole percent (8.84 % → 9 %), then applied.
//! - Recognition is cumulative: `recognised_to_date = round(allocated × min(1, redeemed /
//!   expected))`, period revenue is the difference from what was recognised before (so an
//!   estimate change is a cumulative catch-up and rounding never drifts), and a closed cohort
//!   has recognised exactly what was allocated.
//! - Returns reverse the points' allocation of the returned share, also cumulatively
//!   (`round(points_allocated × returned_to_date / price)` minus what earlier returns reversed),
//!   so a sequence of returns that empties an order reverses exactly its allocation.

use crate::loyalty::allocate_largest_remainder;
use crate::loyalty::arith::div_round_half_up;
use jiff::Timestamp;

/// Longest text of who set an estimate or why, in characters.
pub const ESTIMATE_TEXT_CHARS_MAX: usize = 500;
/// Expiry buckets in one liability report.
pub const EXPIRY_BUCKETS_MAX: usize = 32;

/// Why an accounting figure could not be computed.
#[derive(Debug, Clone, PartialEq, Eq, thiserror::Error)]
pub enum AccountingError {
    #[error("{field}: must not be negative")]
    Negative { field: &'static str },
    #[error("{field}: must be positive")]
    NotPositive { field: &'static str },
    #[error("the stand-alone selling prices sum to zero")]
    ZeroSsp,
    #[error("returned amount {returned_minor} exceeds the price {price_minor}")]
    ReturnExceedsPrice {
        returned_minor: i64,
        price_minor: i64,
    },
    #[error("estimate version must be {expected}, got {got}")]
    EstimateVersion { expected: u32, got: u32 },
    #[error("estimate set at {got} is earlier than the previous version's {previous}")]
    EstimateOutOfOrder { previous: Timestamp, got: Timestamp },
    #[error("{field}: must be 1 to {ESTIMATE_TEXT_CHARS_MAX} characters")]
    EstimateText { field: &'static str },
    #[error("too many expiry buckets (at most {EXPIRY_BUCKETS_MAX}), or edges not increasing")]
    BadBuckets,
    #[error("amounts too large to compute")]
    Overflow,
    #[error("expected redemption rate: must be 1 to {PPM} parts per million")]
    Rate,
    #[error("cohort: must be a month YYYY-MM")]
    Cohort,
}

/// Parts per million in a whole: a redemption rate of `PPM` is 100 %.
pub const PPM: i64 = 1_000_000;

/// Checks an expected redemption rate (1 ppm to 100 %).
pub fn check_rate_ppm(rate_ppm: i64) -> Result<i64, AccountingError> {
    if (1..=PPM).contains(&rate_ppm) {
        Ok(rate_ppm)
    } else {
        Err(AccountingError::Rate)
    }
}

/// Checks who set an estimate or why: 1 to [`ESTIMATE_TEXT_CHARS_MAX`] characters, not blank.
pub fn check_estimate_text(field: &'static str, text: &str) -> Result<(), AccountingError> {
    let chars = text.trim().chars().count();
    if chars == 0 || text.chars().count() > ESTIMATE_TEXT_CHARS_MAX {
        return Err(AccountingError::EstimateText { field });
    }
    Ok(())
}

/// A cohort is the month its points were earned in, `YYYY-MM` (years 1970 to 9999); returns
/// (year, month).
pub fn parse_cohort(text: &str) -> Result<(i16, i8), AccountingError> {
    let b = text.as_bytes();
    if b.len() != 7
        || b[4] != b'-'
        || !b
            .iter()
            .enumerate()
            .all(|(i, c)| i == 4 || c.is_ascii_digit())
    {
        return Err(AccountingError::Cohort);
    }
    let year: i16 = text[..4].parse().map_err(|_| AccountingError::Cohort)?;
    let month: i8 = text[5..].parse().map_err(|_| AccountingError::Cohort)?;
    if year < 1970 || !(1..=12).contains(&month) {
        return Err(AccountingError::Cohort);
    }
    Ok((year, month))
}

/// One stored estimate: `rate_ppm` of the cohort's points are expected to be redeemed.
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct RateEstimate {
    pub cohort: String,
    pub version: u32,
    pub rate_ppm: i64,
    pub set_at: Timestamp,
}

/// The expected redemption rate of `cohort` in force at `at`: its latest version set at or
/// before `at`; a cohort without one takes the latest earlier cohort's (an estimate carries
/// forward until revised); with none at all, every point is expected to be redeemed (100 %,
/// no breakage — the prudent default).
pub fn rate_in_force(estimates: &[RateEstimate], cohort: &str, at: Timestamp) -> i64 {
    estimates
        .iter()
        .filter(|e| e.set_at <= at && e.cohort.as_str() <= cohort)
        .max_by(|a, b| {
            a.cohort
                .cmp(&b.cohort)
                .then(a.version.cmp(&b.version))
                .then(a.set_at.cmp(&b.set_at))
        })
        .map_or(PPM, |e| e.rate_ppm)
}

/// Points of `issued` expected to be redeemed at `rate_ppm`, rounded half up.
pub fn expected_redeemed(issued: i64, rate_ppm: i64) -> Result<i64, AccountingError> {
    non_negative(issued, "issued")?;
    check_rate_ppm(rate_ppm)?;
    div_round_half_up(i128::from(issued) * i128::from(rate_ppm), i128::from(PPM))
        .ok_or(AccountingError::Overflow)
}

fn non_negative(value: i64, field: &'static str) -> Result<i64, AccountingError> {
    if value < 0 {
        return Err(AccountingError::Negative { field });
    }
    Ok(value)
}

/// Whether an earn carries revenue.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub enum RevenueClass {
    /// Earned with a purchase: part of the purchase price is allocated to the points.
    Purchase,
    /// Given free (sign-up, birthday, referral, review …): no revenue, no liability.
    Free,
}

/// How the allocation ratio is rounded.
#[derive(Debug, Clone, Copy, PartialEq, Eq, Default)]
pub enum AllocationRounding {
    /// The exact ratio; only the resulting amount is rounded (to the minor unit).
    #[default]
    ExactRatio,
    /// The points' ratio rounded to a whole percent first, as in KPMG's Examples 10A/10B.
    WholePercent,
}

/// A transaction price split between goods and points. `goods_minor + points_minor` is the price.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub struct Allocation {
    pub goods_minor: i64,
    pub points_minor: i64,
}

/// The stand-alone selling price of `points`: what they are worth when redeemed
/// (`point_value_minor` each) times the likelihood of redemption
/// (`expected_redeemed / issued`, the cohort's breakage estimate at issuance), rounded.
/// IE52: 10,000 points × CU1 × 9,500 / 10,000 = CU9,500.
pub fn points_ssp_minor(
    points: i64,
    point_value_minor: i64,
    expected_redeemed: i64,
    issued: i64,
) -> Result<i64, AccountingError> {
    non_negative(points, "points")?;
    non_negative(point_value_minor, "point_value_minor")?;
    non_negative(expected_redeemed, "expected_redeemed")?;
    if issued <= 0 {
        return Err(AccountingError::NotPositive { field: "issued" });
    }
    let value = i128::from(points) * i128::from(point_value_minor);
    let numerator = value
        .checked_mul(i128::from(expected_redeemed))
        .ok_or(AccountingError::Overflow)?;
    div_round_half_up(numerator, i128::from(issued)).ok_or(AccountingError::Overflow)
}

/// Splits `price_minor` between goods and points by relative stand-alone selling price.
pub fn allocate(
    price_minor: i64,
    goods_ssp_minor: i64,
    points_ssp_minor: i64,
    rounding: AllocationRounding,
) -> Result<Allocation, AccountingError> {
    non_negative(price_minor, "price_minor")?;
    non_negative(goods_ssp_minor, "goods_ssp_minor")?;
    non_negative(points_ssp_minor, "points_ssp_minor")?;
    let total_ssp = i128::from(goods_ssp_minor) + i128::from(points_ssp_minor);
    if total_ssp == 0 {
        return Err(AccountingError::ZeroSsp);
    }
    let price = i128::from(price_minor);
    let points_minor = match rounding {
        AllocationRounding::ExactRatio => {
            div_round_half_up(price * i128::from(points_ssp_minor), total_ssp)
        }
        AllocationRounding::WholePercent => {
            let percent = div_round_half_up(i128::from(points_ssp_minor) * 100, total_ssp)
                .ok_or(AccountingError::Overflow)?;
            div_round_half_up(price * i128::from(percent), 100)
        }
    }
    .ok_or(AccountingError::Overflow)?;
    Ok(Allocation {
        goods_minor: price_minor - points_minor,
        points_minor,
    })
}

/// The allocation of one lot's order: free points take nothing from the price.
pub fn allocate_lot(
    class: RevenueClass,
    price_minor: i64,
    goods_ssp_minor: i64,
    points_ssp_minor: i64,
    rounding: AllocationRounding,
) -> Result<Allocation, AccountingError> {
    match class {
        RevenueClass::Free => Ok(Allocation {
            goods_minor: non_negative(price_minor, "price_minor")?,
            points_minor: 0,
        }),
        RevenueClass::Purchase => {
            allocate(price_minor, goods_ssp_minor, points_ssp_minor, rounding)
        }
    }
}

/// What a return reverses: the goods revenue and the points liability of the returned share.
/// `returned_before_minor` is what earlier returns of the same order took back; the result is
/// computed cumulatively, so returns that empty the order reverse exactly its allocation.
pub fn reverse_for_return(
    allocation: Allocation,
    returned_before_minor: i64,
    returned_now_minor: i64,
) -> Result<Allocation, AccountingError> {
    non_negative(returned_before_minor, "returned_before_minor")?;
    non_negative(returned_now_minor, "returned_now_minor")?;
    let price_minor = allocation
        .goods_minor
        .checked_add(allocation.points_minor)
        .ok_or(AccountingError::Overflow)?;
    let returned_minor = returned_before_minor
        .checked_add(returned_now_minor)
        .ok_or(AccountingError::Overflow)?;
    if returned_minor > price_minor {
        return Err(AccountingError::ReturnExceedsPrice {
            returned_minor,
            price_minor,
        });
    }
    if price_minor == 0 {
        return Ok(Allocation {
            goods_minor: 0,
            points_minor: 0,
        });
    }
    let points = i128::from(allocation.points_minor);
    let to_date = div_round_half_up(points * i128::from(returned_minor), i128::from(price_minor))
        .ok_or(AccountingError::Overflow)?;
    let before = div_round_half_up(
        points * i128::from(returned_before_minor),
        i128::from(price_minor),
    )
    .ok_or(AccountingError::Overflow)?;
    let points_minor = to_date - before;
    Ok(Allocation {
        goods_minor: returned_now_minor - points_minor,
        points_minor,
    })
}

/// One version of a cohort's breakage estimate: how many of its points are expected to be
/// redeemed in total. Versions are kept forever; who and when are plain fields.
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct BreakageEstimate {
    pub version: u32,
    pub expected_redeemed_points: i64,
    pub set_by: String,
    pub set_at: Timestamp,
    pub reason: String,
}

/// A cohort's estimates in version order (1, 2, 3 …), never empty.
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct EstimateHistory {
    versions: Vec<BreakageEstimate>,
}

fn check_estimate(estimate: &BreakageEstimate) -> Result<(), AccountingError> {
    if estimate.expected_redeemed_points <= 0 {
        return Err(AccountingError::NotPositive {
            field: "expected_redeemed_points",
        });
    }
    for (field, text) in [("set_by", &estimate.set_by), ("reason", &estimate.reason)] {
        let chars = text.trim().chars().count();
        if chars == 0 || chars > ESTIMATE_TEXT_CHARS_MAX {
            return Err(AccountingError::EstimateText { field });
        }
    }
    Ok(())
}

impl EstimateHistory {
    /// Starts a history with version 1.
    pub fn new(first: BreakageEstimate) -> Result<EstimateHistory, AccountingError> {
        if first.version != 1 {
            return Err(AccountingError::EstimateVersion {
                expected: 1,
                got: first.version,
            });
        }
        check_estimate(&first)?;
        Ok(EstimateHistory {
            versions: vec![first],
        })
    }

    /// The history with `next` appended: its version must follow the last one and it may not be
    /// dated before it.
    pub fn revise(&self, next: BreakageEstimate) -> Result<EstimateHistory, AccountingError> {
        let last = self.current();
        let expected = last.version.saturating_add(1);
        if next.version != expected {
            return Err(AccountingError::EstimateVersion {
                expected,
                got: next.version,
            });
        }
        if next.set_at < last.set_at {
            return Err(AccountingError::EstimateOutOfOrder {
                previous: last.set_at,
                got: next.set_at,
            });
        }
        check_estimate(&next)?;
        let mut versions = self.versions.clone();
        versions.push(next);
        Ok(EstimateHistory { versions })
    }

    /// The latest version.
    pub fn current(&self) -> &BreakageEstimate {
        // Never empty by construction; the fallback keeps this free of panics.
        self.versions.last().unwrap_or(&self.versions[0])
    }

    /// The version in force at `at` (the latest set at or before it), if any.
    pub fn as_of(&self, at: Timestamp) -> Option<&BreakageEstimate> {
        self.versions.iter().rev().find(|e| e.set_at <= at)
    }

    pub fn versions(&self) -> &[BreakageEstimate] {
        &self.versions
    }
}

/// What a cohort's points revenue is at the end of a period.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub struct CohortPosition {
    /// Transaction price allocated to the cohort's points, net of returns.
    pub allocated_minor: i64,
    /// Points of the cohort redeemed to date.
    pub redeemed_points: i64,
    /// The estimate in force: points expected to be redeemed in total.
    pub expected_redeemed_points: i64,
    /// No points of the cohort remain outstanding (all redeemed, expired or reversed).
    pub closed: bool,
}

/// A period's recognition for one cohort.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub struct Recognition {
    /// Revenue recognised from the cohort since issuance, to the end of this period.
    pub cumulative_minor: i64,
    /// Revenue of this period: cumulative minus what was recognised before (negative when an
    /// estimate rises or a return reverses revenue already recognised).
    pub period_minor: i64,
    /// Contract liability left: allocated minus cumulative.
    pub liability_minor: i64,
}

/// `round(allocated × min(1, redeemed / expected))`, or `allocated` once the cohort is closed.
pub fn recognised_to_date(position: CohortPosition) -> Result<i64, AccountingError> {
    non_negative(position.allocated_minor, "allocated_minor")?;
    non_negative(position.redeemed_points, "redeemed_points")?;
    if position.closed {
        return Ok(position.allocated_minor);
    }
    if position.expected_redeemed_points <= 0 {
        return Err(AccountingError::NotPositive {
            field: "expected_redeemed_points",
        });
    }
    let redeemed = position
        .redeemed_points
        .min(position.expected_redeemed_points);
    div_round_half_up(
        i128::from(position.allocated_minor) * i128::from(redeemed),
        i128::from(position.expected_redeemed_points),
    )
    .ok_or(AccountingError::Overflow)
}

/// The period's recognition given what was recognised before it (cumulative catch-up).
pub fn recognise(
    position: CohortPosition,
    recognised_before_minor: i64,
) -> Result<Recognition, AccountingError> {
    let cumulative_minor = recognised_to_date(position)?;
    Ok(Recognition {
        cumulative_minor,
        period_minor: cumulative_minor
            .checked_sub(recognised_before_minor)
            .ok_or(AccountingError::Overflow)?,
        liability_minor: position.allocated_minor - cumulative_minor,
    })
}

/// A period's movement of the loyalty contract liability: opening + allocated − reversed −
/// recognised = closing.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub struct RollForward {
    pub opening_minor: i64,
    pub allocated_minor: i64,
    pub reversed_minor: i64,
    pub recognised_minor: i64,
    pub closing_minor: i64,
}

/// The roll-forward of one period from its movements.
pub fn roll_forward(
    opening_minor: i64,
    allocated_minor: i64,
    reversed_minor: i64,
    recognised_minor: i64,
) -> Result<RollForward, AccountingError> {
    let closing_minor = opening_minor
        .checked_add(allocated_minor)
        .and_then(|v| v.checked_sub(reversed_minor))
        .and_then(|v| v.checked_sub(recognised_minor))
        .ok_or(AccountingError::Overflow)?;
    Ok(RollForward {
        opening_minor,
        allocated_minor,
        reversed_minor,
        recognised_minor,
        closing_minor,
    })
}

/// Outstanding points of a cohort that expire at one instant (or never).
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub struct OutstandingLot {
    pub expires_at: Option<Timestamp>,
    pub points: i64,
}

/// One bucket of the liability-by-expiry report.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub struct ExpiryBucket {
    /// Points expiring within this many days of `now` (and after the previous bucket's edge);
    /// `None` for the last two buckets (see `never`).
    pub within_days: Option<i64>,
    /// The bucket of points that never expire.
    pub never: bool,
    pub points: i64,
    pub liability_minor: i64,
}

/// Splits a liability over expiry buckets in proportion to outstanding points, so the buckets
/// sum to the liability exactly (largest remainder). Buckets: one per edge in `edges_days`
/// (strictly increasing; lots past due count in the first), then "later", then "never".
pub fn liability_by_expiry_bucket(
    liability_minor: i64,
    outstanding: &[OutstandingLot],
    now: Timestamp,
    edges_days: &[i64],
) -> Result<Vec<ExpiryBucket>, AccountingError> {
    if edges_days.len() > EXPIRY_BUCKETS_MAX
        || edges_days.windows(2).any(|w| w[0] >= w[1])
        || edges_days.iter().any(|&d| d < 0)
    {
        return Err(AccountingError::BadBuckets);
    }
    let mut buckets: Vec<ExpiryBucket> = edges_days
        .iter()
        .map(|&d| ExpiryBucket {
            within_days: Some(d),
            never: false,
            points: 0,
            liability_minor: 0,
        })
        .collect();
    for never in [false, true] {
        buckets.push(ExpiryBucket {
            within_days: None,
            never,
            points: 0,
            liability_minor: 0,
        });
    }
    let later = edges_days.len();
    for lot in outstanding {
        non_negative(lot.points, "points")?;
        let index = match lot.expires_at {
            None => later + 1,
            Some(at) => {
                let days = at.duration_since(now).as_secs().div_euclid(86_400);
                edges_days
                    .iter()
                    .position(|&edge| days < edge)
                    .unwrap_or(later)
            }
        };
        buckets[index].points = buckets[index]
            .points
            .checked_add(lot.points)
            .ok_or(AccountingError::Overflow)?;
    }
    let weights: Vec<i128> = buckets.iter().map(|b| i128::from(b.points)).collect();
    if weights.iter().any(|&w| w > 0) {
        for (bucket, part) in buckets
            .iter_mut()
            .zip(allocate_largest_remainder(liability_minor, &weights))
        {
            bucket.liability_minor = part;
        }
    }
    Ok(buckets)
}

/// The accounts a loyalty journal posts to.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub enum JournalAccount {
    /// Cash or trade receivable.
    Receivable,
    /// Revenue from the goods sold.
    RevenueGoods,
    /// Contract liability for loyalty points (deferred revenue).
    ContractLiabilityPoints,
    /// Revenue recognised from loyalty points (redemption and breakage).
    RevenuePoints,
}

impl JournalAccount {
    pub fn as_str(self) -> &'static str {
        match self {
            JournalAccount::Receivable => "receivable",
            JournalAccount::RevenueGoods => "revenue_goods",
            JournalAccount::ContractLiabilityPoints => "contract_liability_points",
            JournalAccount::RevenuePoints => "revenue_points",
        }
    }
}

/// One Dr/Cr line; exactly one of the two amounts is non-zero.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub struct JournalLine {
    pub account: JournalAccount,
    pub debit_minor: i64,
    pub credit_minor: i64,
}

fn line(account: JournalAccount, signed_debit: i64) -> Option<JournalLine> {
    match signed_debit {
        0 => None,
        d if d > 0 => Some(JournalLine {
            account,
            debit_minor: d,
            credit_minor: 0,
        }),
        d => Some(JournalLine {
            account,
            debit_minor: 0,
            credit_minor: d.checked_neg()?,
        }),
    }
}

/// The sale: Dr receivable (price) / Cr goods revenue / Cr points liability.
pub fn sale_journal(allocation: Allocation) -> Vec<JournalLine> {
    let price = allocation
        .goods_minor
        .saturating_add(allocation.points_minor);
    [
        line(JournalAccount::Receivable, price),
        line(JournalAccount::RevenueGoods, -allocation.goods_minor),
        line(
            JournalAccount::ContractLiabilityPoints,
            -allocation.points_minor,
        ),
    ]
    .into_iter()
    .flatten()
    .collect()
}

/// A period's points revenue: Dr liability / Cr points revenue (reversed when negative).
pub fn recognition_journal(period_minor: i64) -> Vec<JournalLine> {
    [
        line(JournalAccount::ContractLiabilityPoints, period_minor),
        line(JournalAccount::RevenuePoints, period_minor.saturating_neg()),
    ]
    .into_iter()
    .flatten()
    .collect()
}

/// A return: Dr goods revenue / Dr points liability / Cr receivable (the refund).
pub fn return_journal(reversal: Allocation) -> Vec<JournalLine> {
    let refund = reversal.goods_minor.saturating_add(reversal.points_minor);
    [
        line(JournalAccount::RevenueGoods, reversal.goods_minor),
        line(
            JournalAccount::ContractLiabilityPoints,
            reversal.points_minor,
        ),
        line(JournalAccount::Receivable, refund.saturating_neg()),
    ]
    .into_iter()
    .flatten()
    .collect()
}

/// Whether debits equal credits (every journal this module produces balances).
pub fn journal_balances(lines: &[JournalLine]) -> bool {
    let debit: i128 = lines.iter().map(|l| i128::from(l.debit_minor)).sum();
    let credit: i128 = lines.iter().map(|l| i128::from(l.credit_minor)).sum();
    debit == credit
}

#[cfg(test)]
mod tests;
