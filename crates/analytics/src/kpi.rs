//! Retention KPIs over a period, computed directly from transactions.
//!
//! Definitions, for a period (start, end] of L = end − start days and the
//! preceding period (start − L, start]:
//! * customers at start (CS): customers with a purchase in the preceding period;
//! * customers at end (CE): customers with a purchase in the period;
//! * new customers (CN): customers whose first purchase ever is in the period;
//! * retention rate = (CE − CN) / CS (Kumar's formula; "returning" customers
//!   include reactivated ones, so `retained_customers` = |CS ∩ CE| is reported too);
//! * churn rate = 1 − retention rate;
//! * orders = transactions in the period (rows, not merged);
//! * purchase frequency = orders / CE; average order value = revenue / orders;
//! * repeat purchase rate = share of CE with purchases on at least two distinct days.

use std::collections::HashMap;

use crate::summary::Transaction;

/// KPIs of one period; rates are `None` when their denominator is 0.
#[derive(Debug, Clone, PartialEq)]
pub struct PeriodKpis {
    pub customers_at_start: u32,
    pub customers_at_end: u32,
    pub new_customers: u32,
    pub retained_customers: u32,
    pub reactivated_customers: u32,
    pub orders: u32,
    pub revenue: f64,
    pub retention_rate: Option<f64>,
    pub churn_rate: Option<f64>,
    pub repeat_purchase_rate: Option<f64>,
    pub purchase_frequency: Option<f64>,
    pub average_order_value: Option<f64>,
    pub revenue_per_customer: Option<f64>,
}

/// The period (start_day, end_day], day numbers as in [`crate::calendar`].
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub struct Period {
    pub start_day: i32,
    pub end_day: i32,
}

#[derive(Debug, Default, Clone, Copy)]
struct CustomerActivity {
    first_day: Option<i32>,
    before: bool,
    orders: u32,
    first_day_in_period: Option<i32>,
    second_day_in_period: bool,
}

fn ratio(numerator: f64, denominator: f64) -> Option<f64> {
    (denominator > 0.0).then(|| numerator / denominator)
}

/// KPIs of `period`; transactions outside the two periods only set first-purchase dates.
pub fn period_kpis(transactions: &[Transaction], period: Period) -> PeriodKpis {
    let length = period.end_day - period.start_day;
    let mut customers: HashMap<u64, CustomerActivity> = HashMap::new();
    let mut revenue = 0.0;
    let mut orders = 0;
    for t in transactions {
        let c = customers.entry(t.customer).or_default();
        c.first_day = Some(c.first_day.map_or(t.day, |d| d.min(t.day)));
        if t.day > period.start_day - length && t.day <= period.start_day {
            c.before = true;
        }
        if t.day > period.start_day && t.day <= period.end_day {
            orders += 1;
            c.orders += 1;
            revenue += t.amount;
            match c.first_day_in_period {
                None => c.first_day_in_period = Some(t.day),
                Some(d) if d != t.day => c.second_day_in_period = true,
                Some(_) => {}
            }
        }
    }
    let mut k = PeriodKpis {
        customers_at_start: 0,
        customers_at_end: 0,
        new_customers: 0,
        retained_customers: 0,
        reactivated_customers: 0,
        orders,
        revenue,
        retention_rate: None,
        churn_rate: None,
        repeat_purchase_rate: None,
        purchase_frequency: None,
        average_order_value: None,
        revenue_per_customer: None,
    };
    let mut repeaters = 0;
    for c in customers.values() {
        let active = c.orders > 0;
        let new = c.first_day.is_some_and(|d| d > period.start_day) && active;
        k.customers_at_start += u32::from(c.before);
        k.customers_at_end += u32::from(active);
        k.new_customers += u32::from(new);
        k.retained_customers += u32::from(c.before && active);
        k.reactivated_customers += u32::from(!c.before && active && !new);
        repeaters += u32::from(c.second_day_in_period);
    }
    let (cs, ce, cn) = (
        f64::from(k.customers_at_start),
        f64::from(k.customers_at_end),
        f64::from(k.new_customers),
    );
    k.retention_rate = ratio(ce - cn, cs);
    k.churn_rate = k.retention_rate.map(|r| 1.0 - r);
    k.repeat_purchase_rate = ratio(f64::from(repeaters), ce);
    k.purchase_frequency = ratio(f64::from(orders), ce);
    k.average_order_value = ratio(revenue, f64::from(orders));
    k.revenue_per_customer = ratio(revenue, ce);
    k
}

#[cfg(test)]
mod tests;
