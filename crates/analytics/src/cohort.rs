//! Cohort retention by first-purchase month: for each cohort (customers whose
//! first purchase fell in a calendar month), how many bought again in each later
//! month, as counts and as shares of the cohort.

use std::collections::BTreeMap;

use crate::calendar::month_index;
use crate::summary::Transaction;

/// One cohort's row of the retention matrix.
#[derive(Debug, Clone, PartialEq)]
pub struct CohortRow {
    /// Month ordinal `year × 12 + month − 1` of the first purchases.
    pub first_month: i32,
    /// Customers in the cohort.
    pub customers: u32,
    /// `active[k]`: cohort customers with a purchase in month `first_month + k`
    /// (`active[0] == customers`), up to the last month of the data.
    pub active: Vec<u32>,
    /// `active[k] / customers`.
    pub rates: Vec<f64>,
}

/// Cohort retention matrix, cohorts in ascending month order.
pub fn retention_matrix(transactions: &[Transaction]) -> Vec<CohortRow> {
    let Some(last_month) = transactions.iter().map(|t| month_index(t.day)).max() else {
        return Vec::new();
    };
    let mut months: Vec<(u64, i32)> = transactions
        .iter()
        .map(|t| (t.customer, month_index(t.day)))
        .collect();
    months.sort_unstable();
    months.dedup();
    let mut cohorts: BTreeMap<i32, (u32, Vec<u32>)> = BTreeMap::new();
    let mut i = 0;
    while i < months.len() {
        let customer = months[i].0;
        let first = months[i].1;
        let entry = cohorts
            .entry(first)
            .or_insert_with(|| (0, vec![0; (last_month - first + 1) as usize]));
        entry.0 += 1;
        while i < months.len() && months[i].0 == customer {
            entry.1[(months[i].1 - first) as usize] += 1;
            i += 1;
        }
    }
    cohorts
        .into_iter()
        .map(|(first_month, (customers, active))| CohortRow {
            first_month,
            customers,
            rates: active
                .iter()
                .map(|&a| f64::from(a) / f64::from(customers))
                .collect(),
            active,
        })
        .collect()
}

#[cfg(test)]
mod tests;
