//! The desk's operations arithmetic: what a ticket's log says about how it was handled
//! ([`outcome`]: first human reply, first solve, reopened, automatic only), duration
//! summaries (median and p90 by nearest rank), rates, backlog age buckets, the deterministic
//! A/B variant of a ticket ([`ab_variant`]) and the complaint-spike rule ([`spikes`]).
//! Pure: the caller reads the rows and the clock.

use super::Sender;
use crate::sla::Status;
use jiff::{SignedDuration, Timestamp};

/// Variants of one A/B test, at least two.
pub const AB_VARIANTS_MIN: usize = 2;
/// Variants of one A/B test, at most.
pub const AB_VARIANTS_MAX: usize = 8;
/// Largest weight of one variant (weights are relative).
pub const AB_WEIGHT_MAX: u32 = 1_000;

/// What a ticket's log says about how it was handled.
#[derive(Debug, Clone, Copy, PartialEq, Eq, Default)]
pub struct Outcome {
    /// The first public message written by a person on the desk (not an auto-reply, not an
    /// acknowledgement, not an AI agent).
    pub first_human_reply_at: Option<Timestamp>,
    /// The first change to solved (or closed, when the ticket was closed without solving).
    pub first_solved_at: Option<Timestamp>,
    /// A solved or closed ticket went back to an open status at least once.
    pub reopened: bool,
    /// A person on the desk wrote on it: a public message or an internal note.
    pub human_intervened: bool,
    /// Public messages sent by the system or an AI agent.
    pub automatic_replies: u32,
}

impl Outcome {
    /// Solved without any message or note from a person: only automatic replies.
    pub fn auto_resolved(&self) -> bool {
        self.first_solved_at.is_some() && !self.human_intervened && self.automatic_replies > 0
    }
}

/// The log entries reports read (no bodies: reports never read message text).
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub enum LogEntry {
    Message { from: Sender, ack_only: bool },
    Note { from: Sender },
    Status { from: Status, to: Status },
}

/// Reads a ticket's log (in order).
pub fn outcome(events: impl IntoIterator<Item = (Timestamp, LogEntry)>) -> Outcome {
    let mut o = Outcome::default();
    for (at, event) in events {
        match event {
            LogEntry::Message {
                from: Sender::Agent,
                ack_only,
            } => {
                o.human_intervened = true;
                if !ack_only && o.first_human_reply_at.is_none() {
                    o.first_human_reply_at = Some(at);
                }
            }
            LogEntry::Message {
                from: Sender::System | Sender::Ai,
                ..
            } => o.automatic_replies += 1,
            LogEntry::Note {
                from: Sender::Agent,
            } => o.human_intervened = true,
            LogEntry::Status { from, to } => {
                if to.is_done() && o.first_solved_at.is_none() {
                    o.first_solved_at = Some(at);
                }
                if from.is_done() && !to.is_done() {
                    o.reopened = true;
                }
            }
            _ => {}
        }
    }
    o
}

/// Count, median and 90th percentile of durations in seconds.
#[derive(Debug, Clone, Copy, PartialEq, Eq, Default)]
pub struct DurationSummary {
    pub count: usize,
    pub median_seconds: Option<i64>,
    pub p90_seconds: Option<i64>,
}

/// The `percent`-th percentile of sorted values by nearest rank: the value at rank
/// ⌈percent/100 · n⌉ (1-based). The median of an even count is the lower middle value.
pub fn nearest_rank(sorted: &[i64], percent: u32) -> Option<i64> {
    if sorted.is_empty() {
        return None;
    }
    let n = sorted.len();
    let rank = (percent as usize * n).div_ceil(100).clamp(1, n);
    Some(sorted[rank - 1])
}

/// Summarises durations (any order).
pub fn summarize(mut seconds: Vec<i64>) -> DurationSummary {
    seconds.sort_unstable();
    DurationSummary {
        count: seconds.len(),
        median_seconds: nearest_rank(&seconds, 50),
        p90_seconds: nearest_rank(&seconds, 90),
    }
}

/// `part / whole`, or `None` when nothing was counted.
pub fn rate(part: usize, whole: usize) -> Option<f64> {
    (whole > 0).then(|| part as f64 / whole as f64)
}

/// Mean of ratings, or `None`.
pub fn mean(values: &[i64]) -> Option<f64> {
    (!values.is_empty()).then(|| values.iter().sum::<i64>() as f64 / values.len() as f64)
}

/// Backlog age buckets, youngest first.
pub const AGE_BUCKETS: [&str; 4] = ["under_1d", "1d_to_3d", "3d_to_7d", "over_7d"];

/// The bucket of an open ticket's age.
pub fn age_bucket(age: SignedDuration) -> &'static str {
    let hours = age.as_hours();
    if hours < 24 {
        AGE_BUCKETS[0]
    } else if hours < 72 {
        AGE_BUCKETS[1]
    } else if hours < 168 {
        AGE_BUCKETS[2]
    } else {
        AGE_BUCKETS[3]
    }
}

/// Whether a status counts as backlog (not solved, not closed).
pub fn is_backlog(status: Status) -> bool {
    !status.is_done()
}

/// SplitMix64 finaliser: a well-mixed 64-bit hash of one word.
fn mix(mut z: u64) -> u64 {
    z = z.wrapping_add(0x9E37_79B9_7F4A_7C15);
    z = (z ^ (z >> 30)).wrapping_mul(0xBF58_476D_1CE4_E5B9);
    z = (z ^ (z >> 27)).wrapping_mul(0x94D0_49BB_1331_11EB);
    z ^ (z >> 31)
}

/// The variant (index into `weights`) a ticket gets in a test: a hash of test and ticket
/// mapped onto the cumulative weights, so the same ticket always gets the same variant and
/// the shares follow the weights. `weights` must be non-empty with a positive sum.
pub fn ab_variant(test_id: i64, ticket_id: i64, weights: &[u32]) -> usize {
    let total: u64 = weights.iter().map(|w| u64::from(*w)).sum();
    assert!(total > 0, "A/B weights must have a positive sum");
    let h = mix(mix(test_id as u64) ^ ticket_id as u64);
    let mut point = h % total;
    for (i, w) in weights.iter().enumerate() {
        let w = u64::from(*w);
        if point < w {
            return i;
        }
        point -= w;
    }
    weights.len() - 1
}

/// When a period's complaint count is a spike: at least `min_count` complaints, at least
/// `min_history` earlier periods, and the count above the mean of the (up to) `trailing`
/// earlier periods plus `sigmas` population standard deviations of them.
#[derive(Debug, Clone, Copy, PartialEq)]
pub struct SpikeRule {
    pub trailing: usize,
    pub min_history: usize,
    pub sigmas: f64,
    pub min_count: i64,
}

impl SpikeRule {
    /// Eight trailing periods (at least four), mean + 3σ, at least five complaints.
    pub const DEFAULT: SpikeRule = SpikeRule {
        trailing: 8,
        min_history: 4,
        sigmas: 3.0,
        min_count: 5,
    };
}

/// The threshold a period's count must exceed, from the counts before it; `None` when
/// there is too little history.
pub fn spike_threshold(history: &[i64], rule: &SpikeRule) -> Option<f64> {
    let window = &history[history.len().saturating_sub(rule.trailing)..];
    if window.len() < rule.min_history || window.is_empty() {
        return None;
    }
    let n = window.len() as f64;
    let mean = window.iter().sum::<i64>() as f64 / n;
    let var = window
        .iter()
        .map(|c| (*c as f64 - mean).powi(2))
        .sum::<f64>()
        / n;
    Some(mean + rule.sigmas * var.sqrt())
}

/// Flags each period of a series (oldest first) by [`SpikeRule`].
pub fn spikes(counts: &[i64], rule: &SpikeRule) -> Vec<bool> {
    (0..counts.len())
        .map(|i| {
            counts[i] >= rule.min_count
                && spike_threshold(&counts[..i], rule).is_some_and(|t| counts[i] as f64 > t)
        })
        .collect()
}

#[cfg(test)]
mod tests {
    use super::*;

    fn at(minute: i64) -> Timestamp {
        Timestamp::from_second(1_772_413_200 + minute * 60).unwrap()
    }

    fn msg(from: Sender, ack_only: bool) -> LogEntry {
        LogEntry::Message { from, ack_only }
    }

    #[test]
    fn nearest_rank_worked_numbers() {
        let v = [10, 20, 30, 40, 50, 60, 70, 80, 90, 100];
        assert_eq!(nearest_rank(&v, 50), Some(50), "rank ⌈5⌉ = 5");
        assert_eq!(nearest_rank(&v, 90), Some(90), "rank ⌈9⌉ = 9");
        assert_eq!(nearest_rank(&[3, 5, 7], 0), Some(3), "rank clamped to 1");
        let s = summarize(vec![300, 60, 1800]);
        assert_eq!(s.count, 3);
        assert_eq!(s.median_seconds, Some(300), "rank ⌈1.5⌉ = 2");
        assert_eq!(s.p90_seconds, Some(1800), "rank ⌈2.7⌉ = 3");
        assert_eq!(summarize(Vec::new()).median_seconds, None);
        assert_eq!(
            summarize(vec![5, 1]).median_seconds,
            Some(1),
            "lower middle"
        );
    }

    #[test]
    fn outcome_reads_the_log() {
        let ack = msg(Sender::System, true);
        let customer = msg(Sender::Customer, false);
        let agent = msg(Sender::Agent, false);
        let solve = LogEntry::Status {
            from: Status::Open,
            to: Status::Solved,
        };
        let reopen = LogEntry::Status {
            from: Status::Solved,
            to: Status::Open,
        };
        let o = outcome([
            (at(0), customer),
            (at(0), ack),
            (at(30), agent),
            (at(90), solve),
            (at(200), reopen),
            (at(210), solve),
        ]);
        assert_eq!(o.first_human_reply_at, Some(at(30)));
        assert_eq!(o.first_solved_at, Some(at(90)));
        assert!(o.reopened && o.human_intervened && !o.auto_resolved());
        let faq = msg(Sender::System, false);
        let auto = outcome([(at(0), customer), (at(0), faq), (at(5), solve)]);
        assert!(auto.auto_resolved());
        assert_eq!(auto.first_human_reply_at, None);
    }

    #[test]
    fn ab_variants_are_deterministic_and_follow_weights() {
        let weights = [1, 3];
        let picks: Vec<usize> = (1..=4000).map(|t| ab_variant(7, t, &weights)).collect();
        let again: Vec<usize> = (1..=4000).map(|t| ab_variant(7, t, &weights)).collect();
        assert_eq!(picks, again);
        let b = picks.iter().filter(|v| **v == 1).count();
        assert!((2850..=3150).contains(&b), "about 3/4 of 4000: {b}");
        assert!((1..=100).all(|t| ab_variant(1, t, &[5]) == 0));
    }

    #[test]
    fn spike_rule_worked_numbers() {
        // History 4, 6, 5, 5: mean 5, σ = √0.5 ≈ 0.7071, threshold ≈ 7.12.
        let t = spike_threshold(&[4, 6, 5, 5], &SpikeRule::DEFAULT).unwrap();
        assert!((t - 7.1213).abs() < 1e-3, "{t}");
        let flags = spikes(&[4, 6, 5, 5, 8, 7, 20, 2], &SpikeRule::DEFAULT);
        // 8 > 7.12: spike. Then history 4,6,5,5,8: mean 5.6, σ ≈ 1.356, threshold ≈ 9.67: 7 is
        // not; 20 is; the first four have too little history; 2 is below the minimum count.
        assert_eq!(
            flags,
            [false, false, false, false, true, false, true, false]
        );
        // A flat history: σ 0, so anything above the mean and at least 5 is a spike.
        assert_eq!(
            spikes(&[1, 1, 1, 1, 5], &SpikeRule::DEFAULT),
            [false, false, false, false, true]
        );
        assert_eq!(
            spikes(&[1, 1, 1, 1, 4], &SpikeRule::DEFAULT),
            [false; 5],
            "below the minimum count"
        );
    }

    #[test]
    fn backlog_buckets() {
        assert_eq!(age_bucket(SignedDuration::from_hours(23)), "under_1d");
        assert_eq!(age_bucket(SignedDuration::from_hours(24)), "1d_to_3d");
        assert_eq!(age_bucket(SignedDuration::from_hours(100)), "3d_to_7d");
        assert_eq!(age_bucket(SignedDuration::from_hours(500)), "over_7d");
    }
}
