//! The rewards catalogue and voucher codes: what a reward costs and when it may be redeemed
//! (points price, stock, per-member limit, validity window), and voucher codes — imported ones
//! checked for shape, generated ones drawn from random bits the caller supplies, in an
//! alphabet without look-alike symbols.
//!
//! Stock is enforced where it is stored (a conditional update), not here: this module decides
//! whether a reward is offered at an instant and to a member who already redeemed it n times.

use crate::FieldError;
use jiff::Timestamp;

/// Longest reward name, in characters.
pub const REWARD_NAME_CHARS_MAX: usize = 200;
/// Highest points price of one reward.
pub const REWARD_POINTS_PRICE_MAX: i64 = 100_000_000;
/// Largest stock of one reward.
pub const REWARD_STOCK_MAX: i64 = 100_000_000;
/// Voucher codes one import or generation request may add.
pub const VOUCHER_CODES_PER_REQUEST_MAX: usize = 10_000;
/// Shortest and longest imported voucher code, in characters.
pub const VOUCHER_CODE_CHARS_MIN: usize = 4;
pub const VOUCHER_CODE_CHARS_MAX: usize = 64;
/// Symbols of a generated code: 32 symbols (5 bits each) without 0/O, 1/I.
pub const VOUCHER_ALPHABET: &[u8; 32] = b"23456789ABCDEFGHJKLMNPQRSTUVWXYZ";
/// Symbols of a generated code: 16 × 5 = 80 random bits, shown in groups of four.
pub const VOUCHER_CODE_SYMBOLS: usize = 16;

/// A reward as the catalogue offers it.
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct RewardSpec {
    pub name: String,
    pub points_price: i64,
    /// `None`: unlimited.
    pub stock: Option<i64>,
    /// Redemptions one member may hold at once (cancelled ones do not count); `None`: no limit.
    pub per_member_limit: Option<i64>,
    pub valid_from: Option<Timestamp>,
    /// Last instant the reward may be redeemed (inclusive).
    pub valid_until: Option<Timestamp>,
    /// Each redemption issues one code from the reward's pool.
    pub issues_voucher: bool,
}

impl RewardSpec {
    /// Checks every field; the first bad one is the error.
    pub fn validate(self) -> Result<RewardSpec, FieldError> {
        let name = self.name.trim().to_owned();
        if name.is_empty() || name.chars().count() > REWARD_NAME_CHARS_MAX {
            return Err(FieldError::new(
                "name",
                format!("must be 1 to {REWARD_NAME_CHARS_MAX} characters"),
            ));
        }
        if !(1..=REWARD_POINTS_PRICE_MAX).contains(&self.points_price) {
            return Err(FieldError::new(
                "points_price",
                format!("must be 1 to {REWARD_POINTS_PRICE_MAX}"),
            ));
        }
        if self
            .stock
            .is_some_and(|s| !(0..=REWARD_STOCK_MAX).contains(&s))
        {
            return Err(FieldError::new(
                "stock",
                format!("must be 0 to {REWARD_STOCK_MAX}"),
            ));
        }
        if self
            .per_member_limit
            .is_some_and(|l| !(1..=REWARD_STOCK_MAX).contains(&l))
        {
            return Err(FieldError::new(
                "per_member_limit",
                format!("must be 1 to {REWARD_STOCK_MAX}"),
            ));
        }
        if let (Some(from), Some(until)) = (self.valid_from, self.valid_until)
            && until < from
        {
            return Err(FieldError::new(
                "valid_until",
                "must not be before valid_from",
            ));
        }
        Ok(RewardSpec { name, ..self })
    }
}

/// Why a reward cannot be redeemed now by this member. Nothing changes when refused.
#[derive(Debug, Clone, Copy, PartialEq, Eq, thiserror::Error)]
pub enum RewardRefusal {
    #[error("the reward is not offered at this time")]
    OutsideValidity,
    #[error("the member already redeemed this reward {limit} times")]
    MemberLimitReached { limit: i64 },
    #[error("the reward is out of stock")]
    OutOfStock,
    #[error("the reward's voucher code pool is empty")]
    NoVoucherCodes,
}

/// Whether `reward` may be redeemed at `now` by a member with `member_redeemed` live
/// redemptions of it. (Stock is checked by the store's conditional update.)
pub fn check_redeemable(
    reward: &RewardSpec,
    now: Timestamp,
    member_redeemed: i64,
) -> Result<(), RewardRefusal> {
    if reward.valid_from.is_some_and(|f| now < f) || reward.valid_until.is_some_and(|u| now > u) {
        return Err(RewardRefusal::OutsideValidity);
    }
    if let Some(limit) = reward.per_member_limit
        && member_redeemed >= limit
    {
        return Err(RewardRefusal::MemberLimitReached { limit });
    }
    Ok(())
}

/// A voucher code: trimmed, upper case, `A–Z`, `0–9` and `-` only.
#[derive(Debug, Clone, PartialEq, Eq, PartialOrd, Ord, Hash)]
pub struct VoucherCode(String);

impl VoucherCode {
    /// An imported code (case-insensitive: stored upper case).
    pub fn parse(s: &str) -> Result<VoucherCode, FieldError> {
        let code = s.trim().to_ascii_uppercase();
        let n = code.chars().count();
        if !(VOUCHER_CODE_CHARS_MIN..=VOUCHER_CODE_CHARS_MAX).contains(&n)
            || !code.chars().all(|c| c.is_ascii_alphanumeric() || c == '-')
        {
            return Err(FieldError::new(
                "codes",
                format!(
                    "a code must be {VOUCHER_CODE_CHARS_MIN} to {VOUCHER_CODE_CHARS_MAX} letters, digits or '-'"
                ),
            ));
        }
        Ok(VoucherCode(code))
    }

    /// A generated code from 80 random bits (the low 80 of `entropy`), drawn by the caller
    /// from the app's entropy: `XXXX-XXXX-XXXX-XXXX` in [`VOUCHER_ALPHABET`].
    pub fn from_entropy(entropy: u128) -> VoucherCode {
        let mut s = String::with_capacity(VOUCHER_CODE_SYMBOLS + 3);
        for i in 0..VOUCHER_CODE_SYMBOLS {
            if i > 0 && i % 4 == 0 {
                s.push('-');
            }
            let v = ((entropy >> (5 * i)) & 31) as usize;
            s.push(char::from(VOUCHER_ALPHABET[v]));
        }
        VoucherCode(s)
    }

    pub fn as_str(&self) -> &str {
        &self.0
    }
}

/// Parses a batch of imported codes; refuses an empty or oversized batch and a code twice.
pub fn parse_codes(codes: &[String]) -> Result<Vec<VoucherCode>, FieldError> {
    if codes.is_empty() || codes.len() > VOUCHER_CODES_PER_REQUEST_MAX {
        return Err(FieldError::new(
            "codes",
            format!("must hold 1 to {VOUCHER_CODES_PER_REQUEST_MAX} codes"),
        ));
    }
    let parsed = codes
        .iter()
        .map(|c| VoucherCode::parse(c))
        .collect::<Result<Vec<_>, _>>()?;
    let mut sorted = parsed.clone();
    sorted.sort();
    if let Some(w) = sorted.windows(2).find(|w| w[0] == w[1]) {
        return Err(FieldError::new(
            "codes",
            format!("{} appears twice", w[0].as_str()),
        ));
    }
    Ok(parsed)
}

#[cfg(test)]
mod tests;
