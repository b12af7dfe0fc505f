//! RFM scoring and named segments.
//!
//! Each of recency, frequency and monetary value gets a quintile score 1–5
//! (5 = best: most recent, most frequent, highest spend). Ties: a customer's
//! score is `1 + ⌊5·k / n⌋`, where k is the number of customers with a strictly
//! worse value, so equal values always share a score (the lowest position of
//! the tie); with heavy ties (e.g. many one-time buyers) some scores go unused.
//!
//! Segments use R and F only (M is reported but does not move a customer between
//! segments), checked in this order:
//!
//! | segment | rule |
//! |---|---|
//! | Champions | R ≥ 4 and F ≥ 4 |
//! | Loyal | R ≥ 3 and F ≥ 3 |
//! | Can't lose them | R ≤ 2 and F ≥ 4 |
//! | At risk | R ≤ 2 and F ≥ 2 |
//! | New | R ≥ 4 and F = 1 |
//! | Potential loyalist | R ≥ 3 (and F ≤ 2) |
//! | Hibernating | R = 2 and F = 1 |
//! | Lost | R = 1 and F = 1 |

use crate::summary::CustomerSummary;

/// RFM inputs of one customer.
#[derive(Debug, Clone, Copy, PartialEq)]
pub struct RfmInput {
    pub customer: u64,
    /// Time since the last purchase (smaller is better).
    pub time_since_last_purchase: f64,
    /// Number of purchases (or purchase periods).
    pub purchases: f64,
    /// Spend measure (e.g. mean or total order value).
    pub monetary: f64,
}

impl From<&CustomerSummary> for RfmInput {
    /// Time since last purchase = T − t_x; purchases = x + 1 (the first purchase
    /// counts); monetary = mean repeat spend.
    fn from(s: &CustomerSummary) -> Self {
        Self {
            customer: s.customer,
            time_since_last_purchase: s.age - s.recency,
            purchases: f64::from(s.frequency) + 1.0,
            monetary: s.monetary_value,
        }
    }
}

/// Named RFM segment (rules in the module docs).
#[derive(Debug, Clone, Copy, PartialEq, Eq, Hash, PartialOrd, Ord)]
pub enum Segment {
    Champions,
    Loyal,
    PotentialLoyalist,
    New,
    AtRisk,
    CantLoseThem,
    Hibernating,
    Lost,
}

impl Segment {
    /// Display name.
    pub fn name(self) -> &'static str {
        match self {
            Self::Champions => "Champions",
            Self::Loyal => "Loyal",
            Self::PotentialLoyalist => "Potential loyalist",
            Self::New => "New",
            Self::AtRisk => "At risk",
            Self::CantLoseThem => "Can't lose them",
            Self::Hibernating => "Hibernating",
            Self::Lost => "Lost",
        }
    }

    /// Segment of an (R, F) score pair, each 1–5.
    pub fn from_scores(recency: u8, frequency: u8) -> Self {
        match (recency, frequency) {
            (r, f) if r >= 4 && f >= 4 => Self::Champions,
            (r, f) if r >= 3 && f >= 3 => Self::Loyal,
            (r, f) if r <= 2 && f >= 4 => Self::CantLoseThem,
            (r, f) if r <= 2 && f >= 2 => Self::AtRisk,
            (r, 1) if r >= 4 => Self::New,
            (r, _) if r >= 3 => Self::PotentialLoyalist,
            (2, _) => Self::Hibernating,
            _ => Self::Lost,
        }
    }
}

/// Scores and segment of one customer.
#[derive(Debug, Clone, Copy, PartialEq)]
pub struct RfmScore {
    pub customer: u64,
    pub recency: u8,
    pub frequency: u8,
    pub monetary: u8,
    pub segment: Segment,
}

/// Number of score levels.
pub const SCORE_LEVELS: usize = 5;

/// Scores for `values` where larger is better: 1 + ⌊5·(count strictly smaller)/n⌋.
fn quintile_scores(values: &[f64]) -> Vec<u8> {
    let n = values.len();
    // Positions as u32 (half the memory of usize) whenever they fit.
    let Ok(count) = u32::try_from(n) else {
        let mut order: Vec<usize> = (0..n).collect();
        order.sort_by(|&a, &b| values[a].total_cmp(&values[b]));
        return scores_in_order(values, order.into_iter());
    };
    let mut order: Vec<u32> = (0..count).collect();
    order.sort_by(|&a, &b| values[a as usize].total_cmp(&values[b as usize]));
    scores_in_order(values, order.into_iter().map(|i| i as usize))
}

/// Quintile scores from the positions of `values` in ascending order.
fn scores_in_order(values: &[f64], order: impl Iterator<Item = usize>) -> Vec<u8> {
    let n = values.len();
    let mut scores = vec![0u8; n];
    let mut strictly_smaller = 0;
    let mut previous: Option<f64> = None;
    for (position, i) in order.enumerate() {
        if previous.is_some_and(|p| p != values[i]) {
            strictly_smaller = position;
        }
        previous = Some(values[i]);
        scores[i] = (1 + SCORE_LEVELS * strictly_smaller / n) as u8;
    }
    scores
}

/// R/F/M quintile scores and segments, in input order.
pub fn score(inputs: &[RfmInput]) -> Vec<RfmScore> {
    let recency: Vec<f64> = inputs.iter().map(|c| -c.time_since_last_purchase).collect();
    let frequency: Vec<f64> = inputs.iter().map(|c| c.purchases).collect();
    let monetary: Vec<f64> = inputs.iter().map(|c| c.monetary).collect();
    let (r, f, m) = (
        quintile_scores(&recency),
        quintile_scores(&frequency),
        quintile_scores(&monetary),
    );
    inputs
        .iter()
        .enumerate()
        .map(|(i, c)| RfmScore {
            customer: c.customer,
            recency: r[i],
            frequency: f[i],
            monetary: m[i],
            segment: Segment::from_scores(r[i], f[i]),
        })
        .collect()
}

/// [`score`] of `summaries` read as [`RfmInput`]s, one value column at a time, without
/// holding the inputs (the store's refit scores millions of customers).
pub fn score_summaries(summaries: &[CustomerSummary]) -> Vec<RfmScore> {
    let column = |value: fn(&RfmInput) -> f64| {
        let values: Vec<f64> = summaries
            .iter()
            .map(|s| value(&RfmInput::from(s)))
            .collect();
        quintile_scores(&values)
    };
    let r = column(|c| -c.time_since_last_purchase);
    let f = column(|c| c.purchases);
    let m = column(|c| c.monetary);
    summaries
        .iter()
        .enumerate()
        .map(|(i, s)| RfmScore {
            customer: s.customer,
            recency: r[i],
            frequency: f[i],
            monetary: m[i],
            segment: Segment::from_scores(r[i], f[i]),
        })
        .collect()
}

#[cfg(test)]
mod tests;
