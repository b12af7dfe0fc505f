//! Referrals: code format, and who is rewarded when a referred member's first qualifying order
//! arrives, with the fraud limits that refuse a reward.
//!
//! A referral code is 7 Crockford base-32 symbols and one check symbol (8 characters, e.g.
//! `7K2M-9QXH` as printed; dashes and spaces are ignored, `O` reads as `0` and `I`/`L` as `1`,
//! case-insensitive). The check symbol is `Σ (2i+1) × symbolᵢ mod 32`: every weight is odd, so
//! any single mistyped symbol is caught. Generation draws 35 random bits from the caller
//! (`app::sys::Entropy`): the domain has no randomness.
//!
//! Rewards go to both referrer and referee on the referee's **first qualifying order** (at or
//! above a minimum spend), refused for a self-referral (the two members share any identity:
//! email, phone, shop customer id or LINE user id) and once the referrer's rewards in the current
//! period reach the cap (the caller counts them, as for promotion caps).

use crate::customer::Identity;
use crate::limits::POSTING_POINTS_MAX;

/// Symbols before the check symbol.
pub const REFERRAL_CODE_BODY_CHARS: usize = 7;
/// Largest referrer reward cap per period.
pub const REFERRALS_PER_PERIOD_MAX: u32 = 10_000;
/// Identities compared per member for self-referral.
pub const REFERRAL_IDENTITIES_MAX: usize = 32;

const ALPHABET: &[u8; 32] = b"0123456789ABCDEFGHJKMNPQRSTVWXYZ";

#[derive(Debug, Clone, PartialEq, Eq, thiserror::Error)]
pub enum ReferralError {
    #[error("referral code must be {} symbols", REFERRAL_CODE_BODY_CHARS + 1)]
    Length,
    #[error("referral code contains {0:?}, which is not a code symbol")]
    Symbol(char),
    #[error("referral code check symbol does not match: mistyped?")]
    Check,
    #[error("{field}: must be 0 to {POSTING_POINTS_MAX}")]
    Points { field: &'static str },
    #[error("referrer_cap_per_period: must be 1 to {REFERRALS_PER_PERIOD_MAX}")]
    Cap,
    #[error("at most {REFERRAL_IDENTITIES_MAX} identities per member")]
    TooManyIdentities,
}

/// A well-formed referral code, normalised (upper case, no separators).
#[derive(Debug, Clone, PartialEq, Eq, Hash)]
pub struct ReferralCode(String);

fn symbol_value(c: char) -> Result<u8, ReferralError> {
    let c = match c.to_ascii_uppercase() {
        'O' => '0',
        'I' | 'L' => '1',
        other => other,
    };
    ALPHABET
        .iter()
        .position(|&a| char::from(a) == c)
        .and_then(|p| u8::try_from(p).ok())
        .ok_or(ReferralError::Symbol(c))
}

fn check_symbol(values: &[u8]) -> u8 {
    let sum: u32 = values
        .iter()
        .enumerate()
        .map(|(i, &v)| (2 * i as u32 + 1) * u32::from(v))
        .sum();
    (sum % 32) as u8
}

impl ReferralCode {
    pub fn parse(s: &str) -> Result<ReferralCode, ReferralError> {
        let symbols: Vec<char> = s
            .chars()
            .filter(|c| *c != '-' && !c.is_whitespace())
            .collect();
        if symbols.len() != REFERRAL_CODE_BODY_CHARS + 1 {
            return Err(ReferralError::Length);
        }
        let values = symbols
            .iter()
            .map(|&c| symbol_value(c))
            .collect::<Result<Vec<u8>, _>>()?;
        let (body, check) = values.split_at(REFERRAL_CODE_BODY_CHARS);
        if check_symbol(body) != check[0] {
            return Err(ReferralError::Check);
        }
        Ok(ReferralCode(
            values
                .iter()
                .map(|&v| char::from(ALPHABET[usize::from(v)]))
                .collect(),
        ))
    }

    /// A code from 35 random bits (the low 35 of `entropy`), drawn by the caller.
    pub fn from_entropy(entropy: u64) -> ReferralCode {
        let body: Vec<u8> = (0..REFERRAL_CODE_BODY_CHARS)
            .map(|i| ((entropy >> (5 * i)) & 31) as u8)
            .collect();
        let check = check_symbol(&body);
        ReferralCode(
            body.iter()
                .chain(std::iter::once(&check))
                .map(|&v| char::from(ALPHABET[usize::from(v)]))
                .collect(),
        )
    }

    pub fn as_str(&self) -> &str {
        &self.0
    }
}

/// Rewards and limits of a referral programme.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub struct ReferralConfig {
    referrer_points: i64,
    referee_points: i64,
    minimum_order_minor: i64,
    referrer_cap_per_period: u32,
}

impl ReferralConfig {
    pub fn new(
        referrer_points: i64,
        referee_points: i64,
        minimum_order_minor: i64,
        referrer_cap_per_period: u32,
    ) -> Result<ReferralConfig, ReferralError> {
        for (field, v) in [
            ("referrer_points", referrer_points),
            ("referee_points", referee_points),
            ("minimum_order_minor", minimum_order_minor),
        ] {
            if !(0..=POSTING_POINTS_MAX).contains(&v) {
                return Err(ReferralError::Points { field });
            }
        }
        if !(1..=REFERRALS_PER_PERIOD_MAX).contains(&referrer_cap_per_period) {
            return Err(ReferralError::Cap);
        }
        Ok(ReferralConfig {
            referrer_points,
            referee_points,
            minimum_order_minor,
            referrer_cap_per_period,
        })
    }

    pub fn referrer_points(&self) -> i64 {
        self.referrer_points
    }

    pub fn referee_points(&self) -> i64 {
        self.referee_points
    }

    pub fn minimum_order_minor(&self) -> i64 {
        self.minimum_order_minor
    }

    pub fn referrer_cap_per_period(&self) -> u32 {
        self.referrer_cap_per_period
    }
}

/// What the caller knows when a referred member's order arrives.
#[derive(Debug, Clone, Copy)]
pub struct ReferralFacts<'a> {
    pub referrer_identities: &'a [Identity],
    pub referee_identities: &'a [Identity],
    /// Qualifying orders the referee placed before this one.
    pub referee_prior_qualifying_orders: u32,
    pub order_total_minor: i64,
    /// Referral rewards the referrer already received in the current period.
    pub referrer_rewarded_in_period: u32,
}

/// Both rewards, as free points.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub struct ReferralAward {
    pub referrer_points: i64,
    pub referee_points: i64,
}

/// Why no referral reward is given.
#[derive(Debug, Clone, Copy, PartialEq, Eq, thiserror::Error)]
pub enum ReferralRefusal {
    #[error("referrer and referee share an identity")]
    SelfReferral,
    #[error("not the referee's first qualifying order")]
    NotFirstOrder,
    #[error("order below the referral minimum spend")]
    BelowMinimumSpend,
    #[error("the referrer reached the referral cap for this period")]
    ReferrerCapReached,
    #[error("at most {REFERRAL_IDENTITIES_MAX} identities per member")]
    TooManyIdentities,
}

/// The rewards for a referred member's order, or why there are none. Checks run in a fixed
/// order (fraud first), so a refusal always names the same reason for the same facts.
pub fn referral_rewards(
    config: &ReferralConfig,
    facts: &ReferralFacts<'_>,
) -> Result<ReferralAward, ReferralRefusal> {
    if facts.referrer_identities.len() > REFERRAL_IDENTITIES_MAX
        || facts.referee_identities.len() > REFERRAL_IDENTITIES_MAX
    {
        return Err(ReferralRefusal::TooManyIdentities);
    }
    if facts
        .referrer_identities
        .iter()
        .any(|a| facts.referee_identities.contains(a))
    {
        return Err(ReferralRefusal::SelfReferral);
    }
    if facts.referee_prior_qualifying_orders > 0 {
        return Err(ReferralRefusal::NotFirstOrder);
    }
    if facts.order_total_minor < config.minimum_order_minor {
        return Err(ReferralRefusal::BelowMinimumSpend);
    }
    if facts.referrer_rewarded_in_period >= config.referrer_cap_per_period {
        return Err(ReferralRefusal::ReferrerCapReached);
    }
    Ok(ReferralAward {
        referrer_points: config.referrer_points,
        referee_points: config.referee_points,
    })
}

#[cfg(test)]
mod tests;
