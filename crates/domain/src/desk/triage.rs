//! Triage of a new ticket: its priority from what the classifier found and who the customer
//! is, and which agent it goes to.
//!
//! **Priority rule.** Points are added up:
//! - severity: `product_defect` and `billing_payment` +1 (harm or money), `praise` −1, other
//!   categories 0; a legal threat, consumer agency or media flag +3 each (at most +3 in all);
//! - sentiment: very negative (≤ −0.6) +2, negative (< −0.15) +1;
//! - customer value: a VIP (the programme's top tier, or a 12-month CLV of at least
//!   [`VIP_CLV_MINOR_MIN`]) +2, a valued customer (a tier above the first, or a CLV of at
//!   least [`VALUED_CLV_MINOR_MIN`]) +1.
//!
//! Then ≤ −1 is `low`, 0–2 `normal`, 3–4 `high`, 5 or more `urgent`; a safety flag (injury,
//! allergy, fire) is `urgent` whatever the points.
//!
//! **Routing.** Agents on the roster who are active, below their maximum load and skilled in
//! the category (no skills listed: every category) are candidates. A ticket that needs a
//! senior — a VIP, a very negative message, an urgency flag or an urgent priority — goes to a
//! senior candidate when there is one. Among candidates the least loaded wins, then the one
//! whose last assignment is oldest (round robin), then the handle.

use super::Category;
use super::classify::sentiment::{NEGATIVE_MAX, Urgency, VERY_NEGATIVE_MAX};
use crate::sla::Priority;

/// 12-month CLV (minor units) from which a customer counts as a VIP: NT$30,000.
pub const VIP_CLV_MINOR_MIN: i64 = 3_000_000;
/// 12-month CLV (minor units) from which a customer counts as valued: NT$10,000.
pub const VALUED_CLV_MINOR_MIN: i64 = 1_000_000;

/// How much the customer is worth to the shop, as far as the desk knows.
#[derive(Debug, Clone, Copy, PartialEq, Eq, PartialOrd, Ord, Default)]
pub enum CustomerValue {
    /// Unknown or ordinary.
    #[default]
    Standard,
    Valued,
    Vip,
}

impl CustomerValue {
    /// From the tier's rank (0 the first tier) among `tiers` tiers and the 12-month CLV.
    pub fn of(tier_rank: Option<(usize, usize)>, clv_12m_minor: Option<i64>) -> CustomerValue {
        let clv = clv_12m_minor.unwrap_or(0);
        let top = tier_rank.is_some_and(|(rank, tiers)| tiers > 1 && rank + 1 == tiers);
        let above_first = tier_rank.is_some_and(|(rank, _)| rank > 0);
        if top || clv >= VIP_CLV_MINOR_MIN {
            CustomerValue::Vip
        } else if above_first || clv >= VALUED_CLV_MINOR_MIN {
            CustomerValue::Valued
        } else {
            CustomerValue::Standard
        }
    }
}

/// What the priority rule reads.
#[derive(Debug, Clone, PartialEq)]
pub struct TriageFacts<'a> {
    pub category: Category,
    pub sentiment: f32,
    pub urgency: &'a [Urgency],
    pub value: CustomerValue,
}

/// The priority points of the rule (see the module documentation).
pub fn priority_points(f: &TriageFacts<'_>) -> i32 {
    let severity = match f.category {
        Category::ProductDefect | Category::BillingPayment => 1,
        Category::Praise => -1,
        _ => 0,
    };
    let escalation = f
        .urgency
        .iter()
        .filter(|u| **u != Urgency::Safety)
        .count()
        .min(1) as i32
        * 3;
    let mood = if f.sentiment <= VERY_NEGATIVE_MAX {
        2
    } else if f.sentiment < NEGATIVE_MAX {
        1
    } else {
        0
    };
    let value = match f.value {
        CustomerValue::Standard => 0,
        CustomerValue::Valued => 1,
        CustomerValue::Vip => 2,
    };
    severity + escalation + mood + value
}

/// The priority of a new ticket (see the module documentation).
pub fn priority(f: &TriageFacts<'_>) -> Priority {
    if f.urgency.contains(&Urgency::Safety) {
        return Priority::Urgent;
    }
    match priority_points(f) {
        i32::MIN..=-1 => Priority::Low,
        0..=2 => Priority::Normal,
        3..=4 => Priority::High,
        _ => Priority::Urgent,
    }
}

/// Whether the ticket should go to a senior agent.
pub fn needs_senior(f: &TriageFacts<'_>, priority: Priority) -> bool {
    f.value == CustomerValue::Vip
        || f.sentiment <= VERY_NEGATIVE_MAX
        || !f.urgency.is_empty()
        || priority == Priority::Urgent
}

/// An agent on the roster as routing sees it.
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct Agent {
    pub handle: String,
    /// Empty: every category.
    pub skills: Vec<Category>,
    pub senior: bool,
    pub max_load: i64,
    pub active: bool,
    /// Open tickets assigned now.
    pub load: i64,
    /// Order of the last assignment (lower: longer ago).
    pub last_assigned_seq: i64,
}

/// Largest roster.
pub const AGENTS_MAX: usize = 1_000;
/// Largest `max_load` of an agent.
pub const AGENT_LOAD_MAX: i64 = 10_000;

/// The agent a ticket of `category` goes to, if any can take it (see the module documentation).
pub fn choose_agent(agents: &[Agent], category: Category, senior: bool) -> Option<&Agent> {
    let candidates: Vec<&Agent> = agents
        .iter()
        .filter(|a| a.active && a.load < a.max_load)
        .filter(|a| a.skills.is_empty() || a.skills.contains(&category))
        .collect();
    let seniors: Vec<&Agent> = candidates.iter().copied().filter(|a| a.senior).collect();
    let pool = if senior && !seniors.is_empty() {
        seniors
    } else {
        candidates
    };
    pool.into_iter().min_by(|a, b| {
        (a.load, a.last_assigned_seq, &a.handle).cmp(&(b.load, b.last_assigned_seq, &b.handle))
    })
}

#[cfg(test)]
mod tests;
