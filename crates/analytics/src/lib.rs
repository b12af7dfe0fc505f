//! Retention and customer-lifetime-value numerics for Patron: pure functions on
//! plain slices and structs, no IO, no clock, no async; depends on nothing in
//! the workspace (rayon parallelises per-customer work at scale).
//!
//! Public API:
//! * [`calendar`]: `days_from_civil`, `civil_from_days`, `month_index`, `week_index`.
//! * [`parse`]: `cdnow_sample(&str)`, `cdnow_master(&str)`,
//!   `transactions_csv(impl BufRead) -> TransactionLog`, `transactions_csv_with(.., &CsvOptions)`
//!   (column names, `DateFormat`, RFC 4180 quoting), `parse_date`; errors carry line and column.
//! * [`csv_summary`]: `summarize_csv(&[u8], &CsvOptions, &TimeScale, observation_end_day)`:
//!   the CSV read and the summary fused into one byte-level pass, O(customers) memory,
//!   same answers and errors as `transactions_csv_with` + `summarize`.
//! * [`summary`]: `Transaction`, `TimeScale { unit: PeriodUnit, multiplier }`,
//!   `summarize(&[Transaction], &TimeScale, observation_end_day) -> Vec<CustomerSummary>`,
//!   `calibration_and_holdout(..) -> Vec<CalibrationHoldoutSummary>` (lifetimes vocabulary:
//!   frequency, recency, `age` = T, monetary_value; same-period purchases merged).
//! * [`models`]: `CustomerRow`, `WeightedRow`, `compress`, `FitOptions`, `FitReport<P>`,
//!   `FitError`, `FitWarning`, trait `PurchaseModel` (P(alive), conditional and
//!   unconditional expected purchases), and the models
//!   [`models::bgnbd`], [`models::mbgnbd`], [`models::paretonbd`] (each `fit`,
//!   `fit_weighted`, `log_likelihood`), [`models::gamma_gamma`] (`fit`,
//!   `conditional_expected_spend`) and [`models::bgbb`] (`fit`, predictions on
//!   pattern rows). Log-likelihoods are totals in the data's time unit.
//! * [`clv`]: `customer_lifetime_value(s)` with `ClvOptions` (and a lifetimes-compatible preset).
//! * [`rfm`]: quintile scores and named segments; [`cohort`]: retention matrix by
//!   first-purchase month; [`kpi`]: period KPIs (retention, churn, repeat rate, AOV…).
//! * [`pipeline`]: the store-facing refit, KPIs and cohorts with integer inputs and
//!   outputs (ppm, milli, minor units), so callers outside this crate handle no floats.
//! * [`optimize`] and [`special`]: the BFGS / Nelder–Mead optimiser and special
//!   functions (ln Γ, ln B, ₂F₁, Gauss–Legendre) the models are built on.

pub mod calendar;
pub mod clv;
pub mod cohort;
pub mod csv_summary;
pub mod kpi;
pub mod models;
pub mod optimize;
pub mod parse;
pub mod pipeline;
pub mod rfm;
pub mod special;
pub mod summary;

#[cfg(test)]
mod test_data;
