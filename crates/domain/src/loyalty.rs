//! The loyalty engine's business rules, as pure functions over plain values: programmes and
//! wallets, earning rules and promotions, lots and what consumes them, expiry, holds, tiers,
//! IFRS 15 accounting of the points liability, and referrals.
//!
//! Persistence, jobs and the API sit on top (in `app`, `store` and `api`); everything here takes
//! the instant it should reason about as an argument and returns what to change, never changing
//! anything itself. Points and money are `i64` (money in minor units); products go through
//! `i128` so no input can overflow, and no function panics on any input.

pub mod accounting;
pub mod expiry;
pub mod holds;
pub mod lots;
pub mod programme;
pub mod referrals;
pub mod rewards;
pub mod rules;
pub mod tiers;

mod arith;

pub use arith::allocate_largest_remainder;

#[cfg(test)]
mod tests;
