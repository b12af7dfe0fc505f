//! Loyalty accounting under IFRS 15 / ASC 606 (loyalty.md §B) over the stored ledger:
//! the allocation each purchase lot records at intake, the versioned breakage estimates per
//! cohort, and the reports — the liability roll-forward per period, the liability by expiry
//! bucket and the Dr/Cr journal as CSV. The arithmetic is `domain::loyalty::accounting`.
//!
//! - **Allocation at sale.** A purchase lot's order price is split by relative stand-alone
//!   selling price: goods at the price paid, points at `points × point value × expected
//!   redemption rate` (the cohort's estimate in force when the lot is recorded; 100 % without
//!   one). Exact ratio, rounded to the minor unit. Free points (corrections, restores) have no
//!   row and carry no revenue.
//! - **Cohort** = the programme-local month a lot was recorded in. Accounting dates are
//!   recording instants (lots, redemptions, expiries, refunds), so a closed period's figures
//!   never change except through a later estimate, which is a catch-up in the period it is set.
//! - **Recognition** is derived, never posted: a cohort's revenue to date at an instant is
//!   `round(allocated_net × min(1, redeemed / expected))` with `expected = round((issued −
//!   returned points) × rate)`, the rate in force at that instant; once no point of the cohort
//!   is outstanding it is exactly `allocated_net`. A period's revenue is the difference of two
//!   such instants, so an estimate change is a cumulative catch-up.
//! - **Returns** reverse the points' allocation of the refunded share, cumulatively per order.

use crate::{App, AppError, AppResult, Principal};
use anyhow::Context;
use domain::FieldError;
use domain::loyalty::accounting::{
    self as acc, AccountingError, Allocation, AllocationRounding, CohortPosition, JournalLine,
    OutstandingLot, RateEstimate,
};
use jiff::civil::Date;
use jiff::tz::TimeZone;
use jiff::{Timestamp, ToSpan};
use std::collections::BTreeMap;
use store::accounting::{self as rows, EstimateRow, LotRevenue};
use store::sql::Tx;

/// Periods one report covers at most.
pub const PERIODS_MAX: usize = 120;
/// The liability-by-expiry report's bucket edges in days when none are asked for.
pub const EXPIRY_BUCKET_DAYS_DEFAULT: [i64; 4] = [30, 90, 180, 365];

fn invalid(field: &str, message: impl Into<String>) -> AppError {
    AppError::Invalid(FieldError::new(field, message.into()))
}

fn internal(e: AccountingError) -> AppError {
    AppError::Internal(anyhow::anyhow!("accounting: {e}"))
}

/// The cohort (`YYYY-MM`) of an instant in the programme's zone.
pub fn cohort_of(at: Timestamp, zone: &TimeZone) -> String {
    let d = at.to_zoned(zone.clone()).date();
    format!("{:04}-{:02}", d.year(), d.month())
}

fn rate_estimates(rows: &[EstimateRow]) -> AppResult<Vec<RateEstimate>> {
    rows.iter()
        .map(|r| {
            Ok(RateEstimate {
                cohort: r.cohort.clone(),
                version: u32::try_from(r.version).context("estimate version")?,
                rate_ppm: r.rate_ppm,
                set_at: store::instant(r.set_at_micros)?,
            })
        })
        .collect()
}

/// Allocates purchase lots' prices at intake: the cohort and the rate in force depend only
/// on the recording instant, so they are worked out once per batch.
pub(crate) struct Allocator {
    cohort: String,
    rate_ppm: i64,
    point_value_minor: i64,
}

impl Allocator {
    pub(crate) fn load(
        tx: &mut Tx<'_>,
        loyalty: &crate::loyalty::Loyalty,
        now: Timestamp,
    ) -> AppResult<Allocator> {
        let estimates = rate_estimates(&rows::estimates(tx)?)?;
        let cohort = cohort_of(now, loyalty.programme.zone());
        Ok(Allocator {
            rate_ppm: acc::rate_in_force(&estimates, &cohort, now),
            cohort,
            point_value_minor: loyalty.programme.point_value_minor(),
        })
    }

    /// The revenue of a purchase lot of `points` earned with an order of `price_minor`.
    pub(crate) fn lot(&self, points: i64, price_minor: i64) -> AppResult<LotRevenue> {
        let rate_ppm = self.rate_ppm;
        let points_ssp_minor =
            acc::points_ssp_minor(points, self.point_value_minor, rate_ppm, acc::PPM)
                .map_err(internal)?;
        let allocated_minor = if price_minor == 0 || points_ssp_minor == 0 {
            0
        } else {
            acc::allocate(
                price_minor,
                price_minor,
                points_ssp_minor,
                AllocationRounding::ExactRatio,
            )
            .map_err(internal)?
            .points_minor
        };
        Ok(LotRevenue {
            cohort: self.cohort.clone(),
            price_minor,
            points_ssp_minor,
            allocated_minor,
            rate_ppm,
        })
    }
}

/// One version of a cohort's breakage estimate.
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct EstimateView {
    pub cohort: String,
    pub version: i64,
    /// Share of the cohort's points expected to be redeemed, parts per million.
    pub expected_redemption_ppm: i64,
    pub set_by: String,
    pub set_at: Timestamp,
    pub reason: String,
}

fn estimate_view(r: EstimateRow) -> AppResult<EstimateView> {
    Ok(EstimateView {
        set_at: store::instant(r.set_at_micros)?,
        cohort: r.cohort,
        version: r.version,
        expected_redemption_ppm: r.rate_ppm,
        set_by: r.set_by,
        reason: r.reason,
    })
}

/// How a report's range is cut.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub enum PeriodKind {
    Month,
    Quarter,
    Year,
}

impl PeriodKind {
    pub fn parse(s: &str) -> AppResult<PeriodKind> {
        match s {
            "month" => Ok(PeriodKind::Month),
            "quarter" => Ok(PeriodKind::Quarter),
            "year" => Ok(PeriodKind::Year),
            _ => Err(invalid("period", "expected month, quarter or year")),
        }
    }

    fn months(self) -> i8 {
        match self {
            PeriodKind::Month => 1,
            PeriodKind::Quarter => 3,
            PeriodKind::Year => 12,
        }
    }
}

/// One period of the liability roll-forward: opening + allocated − reversed − recognised =
/// closing, in minor units.
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct RollForwardPeriod {
    /// First local day of the period.
    pub from: Date,
    /// Last local day of the period.
    pub to: Date,
    pub opening_minor: i64,
    /// Allocated to points earned with purchases in the period.
    pub allocated_minor: i64,
    /// Allocation reversed by returns in the period.
    pub reversed_minor: i64,
    /// Points revenue recognised in the period (redemptions, breakage, catch-ups).
    pub recognised_minor: i64,
    pub closing_minor: i64,
}

/// The roll-forward report.
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct RollForwardReport {
    pub currency: String,
    pub time_zone: String,
    pub periods: Vec<RollForwardPeriod>,
}

/// One bucket of the liability-by-expiry report.
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct ExpiryBucketView {
    /// Points expiring within this many days (after the previous bucket); `None` for "later"
    /// and "never".
    pub within_days: Option<i64>,
    pub never: bool,
    pub points: i64,
    pub liability_minor: i64,
}

/// The liability now, split by when its points expire.
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct ExpiryReport {
    pub currency: String,
    pub as_of: Timestamp,
    pub liability_minor: i64,
    pub buckets: Vec<ExpiryBucketView>,
}

/// A cohort's figures at one instant.
#[derive(Debug, Clone, Default, PartialEq, Eq)]
struct CohortAt {
    /// Order prices of the cohort's purchase lots (gross).
    price_minor: i64,
    /// Allocated at sale (gross).
    allocated_minor: i64,
    /// Refunded of those orders (capped at each price).
    refunded_minor: i64,
    /// Allocation reversed by those refunds.
    reversed_minor: i64,
    /// Revenue recognised to date.
    recognised_minor: i64,
}

impl CohortAt {
    fn liability(&self) -> i64 {
        self.allocated_minor - self.reversed_minor - self.recognised_minor
    }
}

/// Every cohort's figures as recorded at or before `at`.
fn cohorts_at(
    tx: &mut Tx<'_>,
    estimates: &[RateEstimate],
    at: Timestamp,
) -> AppResult<BTreeMap<String, CohortAt>> {
    let micros = at.as_microsecond();
    let mut out: BTreeMap<String, CohortAt> = BTreeMap::new();
    let mut returned: BTreeMap<String, (i64, i64)> = BTreeMap::new();
    for o in rows::refunded_orders(tx, micros)? {
        let refunded = o.refunded_minor.clamp(0, o.price_minor);
        let reversal = acc::reverse_for_return(
            Allocation {
                goods_minor: o.price_minor - o.allocated_minor,
                points_minor: o.allocated_minor,
            },
            0,
            refunded,
        )
        .map_err(internal)?;
        let r = returned.entry(o.cohort).or_default();
        r.0 += refunded;
        r.1 += reversal.points_minor;
    }
    for c in rows::cohort_totals(tx, micros)? {
        let (refunded_minor, reversed_minor) = returned.get(&c.cohort).copied().unwrap_or((0, 0));
        let allocated_net = (c.allocated_minor - reversed_minor).max(0);
        let outstanding = c.issued + c.restored - c.consumed;
        let rate = acc::rate_in_force(estimates, &c.cohort, at);
        let expected = acc::expected_redeemed((c.issued - c.reversed).max(0), rate)
            .map_err(internal)?
            .max(1);
        let recognised_minor = acc::recognised_to_date(CohortPosition {
            allocated_minor: allocated_net,
            redeemed_points: (c.redeemed - c.restored).max(0),
            expected_redeemed_points: expected,
            closed: c.issued > 0 && outstanding <= 0,
        })
        .map_err(internal)?;
        out.insert(
            c.cohort,
            CohortAt {
                price_minor: c.price_minor,
                allocated_minor: c.allocated_minor,
                refunded_minor,
                reversed_minor,
                recognised_minor,
            },
        );
    }
    Ok(out)
}

fn parse_day(field: &str, text: &str) -> AppResult<Date> {
    text.parse::<Date>()
        .map_err(|_| invalid(field, "expected a date as YYYY-MM-DD"))
}

/// The periods covering `from ..= to`, each clipped to the range: (first day, last day).
fn periods(from: Date, to: Date, kind: PeriodKind) -> AppResult<Vec<(Date, Date)>> {
    if from > to {
        return Err(invalid("from", "must be on or before to"));
    }
    let months = kind.months();
    let mut out = Vec::new();
    let first_month = (from.month() - 1) / months * months + 1;
    let mut start =
        Date::new(from.year(), first_month, 1).map_err(|e| invalid("from", e.to_string()))?;
    while start <= to {
        let next = start
            .checked_add(i32::from(months).months())
            .map_err(|e| invalid("to", e.to_string()))?;
        let last = next.yesterday().map_err(|e| invalid("to", e.to_string()))?;
        out.push((start.max(from), last.min(to)));
        if out.len() > PERIODS_MAX {
            return Err(invalid(
                "from",
                format!("a report covers at most {PERIODS_MAX} periods"),
            ));
        }
        start = next;
    }
    Ok(out)
}

/// The last microsecond before local midnight starting `day`.
fn before_day(day: Date, zone: &TimeZone) -> AppResult<Timestamp> {
    let start = day
        .to_zoned(zone.clone())
        .map_err(|e| invalid("from", e.to_string()))?
        .timestamp();
    Ok(start - jiff::SignedDuration::from_micros(1))
}

/// One period's movements, for the roll-forward and the journal.
struct PeriodFigures {
    from: Date,
    to: Date,
    start: BTreeMap<String, CohortAt>,
    end: BTreeMap<String, CohortAt>,
}

impl PeriodFigures {
    fn sum(map: &BTreeMap<String, CohortAt>, f: impl Fn(&CohortAt) -> i64) -> i64 {
        map.values().map(f).sum()
    }

    fn delta(&self, f: impl Fn(&CohortAt) -> i64 + Copy) -> i64 {
        Self::sum(&self.end, f) - Self::sum(&self.start, f)
    }

    fn cohort_delta(&self, cohort: &str, f: impl Fn(&CohortAt) -> i64) -> i64 {
        self.end.get(cohort).map_or(0, &f) - self.start.get(cohort).map_or(0, &f)
    }
}

fn journal_csv_field(s: &str) -> String {
    if s.contains([',', '"', '\n', '\r']) {
        format!("\"{}\"", s.replace('"', "\"\""))
    } else {
        s.to_owned()
    }
}

impl App {
    /// Stores a new version of `cohort`'s breakage estimate: `rate_ppm` of its points are
    /// expected to be redeemed. Who and when are recorded; earlier versions stay. Revenue of
    /// the period it is set in catches up cumulatively. Returns the cohort's versions.
    pub fn set_breakage_estimate(
        &self,
        who: &Principal,
        cohort: &str,
        rate_ppm: i64,
        reason: &str,
    ) -> AppResult<Vec<EstimateView>> {
        acc::parse_cohort(cohort).map_err(|e| invalid("cohort", e.to_string()))?;
        acc::check_rate_ppm(rate_ppm)
            .map_err(|e| invalid("expected_redemption_ppm", e.to_string()))?;
        acc::check_estimate_text("reason", reason).map_err(|e| invalid("reason", e.to_string()))?;
        let now = self.now_micros();
        self.store.write(|tx| {
            let version = rows::insert_estimate(
                tx,
                &EstimateRow {
                    cohort: cohort.to_owned(),
                    version: 0,
                    rate_ppm,
                    set_by: who.actor.clone(),
                    set_at_micros: now,
                    reason: reason.trim().to_owned(),
                },
            )?;
            store::audit::insert(
                tx,
                now,
                &who.actor,
                "loyalty.breakage.set",
                Some(&format!("cohort:{cohort}:{version}")),
                Some(&format!("expected_redemption_ppm={rate_ppm}")),
            )?;
            rows::estimates(tx)?
                .into_iter()
                .filter(|e| e.cohort == cohort)
                .map(estimate_view)
                .collect()
        })
    }

    /// Every cohort's estimate versions, by cohort then version.
    pub fn breakage_estimates(&self) -> AppResult<Vec<EstimateView>> {
        self.store.read(|tx| {
            rows::estimates(tx)?
                .into_iter()
                .map(estimate_view)
                .collect()
        })
    }

    fn period_figures(
        &self,
        tx: &mut Tx<'_>,
        zone: &TimeZone,
        from: Option<&str>,
        to: Option<&str>,
        period: Option<&str>,
    ) -> AppResult<Vec<PeriodFigures>> {
        let kind = PeriodKind::parse(period.unwrap_or("month"))?;
        let to = match to {
            Some(t) => parse_day("to", t)?,
            None => self.now().to_zoned(zone.clone()).date(),
        };
        let from = match from {
            Some(f) => parse_day("from", f)?,
            None => to.first_of_year(),
        };
        let estimates = rate_estimates(&rows::estimates(tx)?)?;
        let mut out: Vec<PeriodFigures> = Vec::new();
        for (first, last) in periods(from, to, kind)? {
            let start = match out.last() {
                Some(p) if p.to.tomorrow().ok() == Some(first) => p.end.clone(),
                _ => cohorts_at(tx, &estimates, before_day(first, zone)?)?,
            };
            let end_day = last.tomorrow().map_err(|e| invalid("to", e.to_string()))?;
            let end = cohorts_at(tx, &estimates, before_day(end_day, zone)?)?;
            out.push(PeriodFigures {
                from: first,
                to: last,
                start,
                end,
            });
        }
        Ok(out)
    }

    /// The contract liability's roll-forward per period (`month` when absent, `quarter`,
    /// `year`) of `from ..= to`, programme-local dates (default: this year to today).
    pub fn liability_rollforward(
        &self,
        from: Option<&str>,
        to: Option<&str>,
        period: Option<&str>,
    ) -> AppResult<RollForwardReport> {
        self.store.read(|tx| {
            let loyalty = crate::loyalty::load(tx, &self.settings)?;
            let zone = loyalty.programme.zone().clone();
            let figures = self.period_figures(tx, &zone, from, to, period)?;
            let mut periods = Vec::with_capacity(figures.len());
            for p in &figures {
                let opening = PeriodFigures::sum(&p.start, CohortAt::liability);
                let r = acc::roll_forward(
                    opening,
                    p.delta(|c| c.allocated_minor),
                    p.delta(|c| c.reversed_minor),
                    p.delta(|c| c.recognised_minor),
                )
                .map_err(internal)?;
                let closing = PeriodFigures::sum(&p.end, CohortAt::liability);
                if r.closing_minor != closing {
                    return Err(AppError::Internal(anyhow::anyhow!(
                        "roll-forward does not close: {} ≠ {closing}",
                        r.closing_minor
                    )));
                }
                periods.push(RollForwardPeriod {
                    from: p.from,
                    to: p.to,
                    opening_minor: r.opening_minor,
                    allocated_minor: r.allocated_minor,
                    reversed_minor: r.reversed_minor,
                    recognised_minor: r.recognised_minor,
                    closing_minor: r.closing_minor,
                });
            }
            Ok(RollForwardReport {
                currency: loyalty.programme.currency().code().to_owned(),
                time_zone: loyalty.programme.time_zone().to_owned(),
                periods,
            })
        })
    }

    /// The contract liability now, split over buckets by when its points expire (`edges`:
    /// comma-separated strictly increasing days; 30,90,180,365 when absent), in proportion to
    /// each cohort's outstanding points.
    pub fn liability_by_expiry(&self, edges: Option<&str>) -> AppResult<ExpiryReport> {
        let edges: Vec<i64> = match edges {
            None => EXPIRY_BUCKET_DAYS_DEFAULT.to_vec(),
            Some(s) => s
                .split(',')
                .map(|d| d.trim().parse::<i64>())
                .collect::<Result<_, _>>()
                .map_err(|_| invalid("buckets", "expected days as 30,90,180"))?,
        };
        let now = self.now();
        self.store.read(|tx| {
            let loyalty = crate::loyalty::load(tx, &self.settings)?;
            let estimates = rate_estimates(&rows::estimates(tx)?)?;
            let cohorts = cohorts_at(tx, &estimates, now)?;
            let outstanding = rows::outstanding_by_expiry(tx, now.as_microsecond())?;
            let mut total: Vec<ExpiryBucketView> = Vec::new();
            let mut liability = 0;
            for (cohort, figures) in &cohorts {
                let lots: Vec<OutstandingLot> = outstanding
                    .iter()
                    .filter(|o| &o.cohort == cohort)
                    .map(|o| {
                        Ok(OutstandingLot {
                            expires_at: o.expires_at_micros.map(store::instant).transpose()?,
                            points: o.points,
                        })
                    })
                    .collect::<AppResult<_>>()?;
                let buckets =
                    acc::liability_by_expiry_bucket(figures.liability(), &lots, now, &edges)
                        .map_err(|e| invalid("buckets", e.to_string()))?;
                liability += figures.liability();
                if total.is_empty() {
                    total = buckets
                        .iter()
                        .map(|b| ExpiryBucketView {
                            within_days: b.within_days,
                            never: b.never,
                            points: 0,
                            liability_minor: 0,
                        })
                        .collect();
                }
                for (t, b) in total.iter_mut().zip(&buckets) {
                    t.points += b.points;
                    // A closed cohort with rounding left over has no points to carry it.
                    t.liability_minor += b.liability_minor;
                }
            }
            if total.is_empty() {
                total = acc::liability_by_expiry_bucket(0, &[], now, &edges)
                    .map_err(|e| invalid("buckets", e.to_string()))?
                    .into_iter()
                    .map(|b| ExpiryBucketView {
                        within_days: b.within_days,
                        never: b.never,
                        points: 0,
                        liability_minor: 0,
                    })
                    .collect();
            }
            Ok(ExpiryReport {
                currency: loyalty.programme.currency().code().to_owned(),
                as_of: now,
                liability_minor: liability,
                buckets: total,
            })
        })
    }

    /// The loyalty journal of `from ..= to` as CSV: per period, the sales (Dr receivable / Cr
    /// goods revenue / Cr points liability), the returns (the reverse) and, per cohort, the
    /// points revenue recognised (Dr liability / Cr points revenue; reversed when negative).
    /// Amounts in minor units; every entry balances.
    pub fn loyalty_journal_csv(
        &self,
        from: Option<&str>,
        to: Option<&str>,
        period: Option<&str>,
    ) -> AppResult<String> {
        self.store.read(|tx| {
            let loyalty = crate::loyalty::load(tx, &self.settings)?;
            let zone = loyalty.programme.zone().clone();
            let currency = loyalty.programme.currency().code().to_owned();
            let figures = self.period_figures(tx, &zone, from, to, period)?;
            let mut csv = String::from(
                "period_from,period_to,entry,cohort,account,debit_minor,credit_minor,currency\n",
            );
            let mut push = |p: &PeriodFigures, entry: &str, cohort: &str, lines: &[JournalLine]| {
                for l in lines {
                    csv.push_str(&format!(
                        "{},{},{entry},{},{},{},{},{currency}\n",
                        p.from,
                        p.to,
                        journal_csv_field(cohort),
                        l.account.as_str(),
                        l.debit_minor,
                        l.credit_minor,
                    ));
                }
            };
            for p in &figures {
                let cohorts: Vec<&String> = p.end.keys().collect();
                for cohort in &cohorts {
                    let price = p.cohort_delta(cohort, |c| c.price_minor);
                    let allocated = p.cohort_delta(cohort, |c| c.allocated_minor);
                    if price != 0 || allocated != 0 {
                        let sale = acc::sale_journal(Allocation {
                            goods_minor: price - allocated,
                            points_minor: allocated,
                        });
                        push(p, "sale", cohort, &sale);
                    }
                    let refunded = p.cohort_delta(cohort, |c| c.refunded_minor);
                    let reversed = p.cohort_delta(cohort, |c| c.reversed_minor);
                    if refunded != 0 || reversed != 0 {
                        let lines = acc::return_journal(Allocation {
                            goods_minor: refunded - reversed,
                            points_minor: reversed,
                        });
                        push(p, "return", cohort, &lines);
                    }
                    let recognised = p.cohort_delta(cohort, |c| c.recognised_minor);
                    push(
                        p,
                        "recognition",
                        cohort,
                        &acc::recognition_journal(recognised),
                    );
                }
            }
            Ok(csv)
        })
    }
}
