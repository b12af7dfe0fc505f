//! Money as integer minor units with an ISO 4217 currency. No floats, ever.

use crate::FieldError;
use std::fmt;

/// An ISO 4217 currency Patron accepts, with its minor-unit exponent.
#[derive(Debug, Clone, Copy, PartialEq, Eq, Hash)]
pub struct Currency {
    code: &'static str,
    exponent: u8,
}

/// Currencies accepted at intake: those a shop in Taiwan or Hong Kong meets, and the usual majors.
/// Exponents are ISO 4217's (TWD has two decimal places by the standard even though prices are whole dollars).
const CURRENCIES: &[(&str, u8)] = &[
    ("TWD", 2),
    ("HKD", 2),
    ("MOP", 2),
    ("CNY", 2),
    ("USD", 2),
    ("EUR", 2),
    ("GBP", 2),
    ("JPY", 0),
    ("KRW", 0),
    ("SGD", 2),
    ("MYR", 2),
    ("THB", 2),
    ("VND", 0),
    ("PHP", 2),
    ("IDR", 2),
    ("AUD", 2),
    ("CAD", 2),
    ("NZD", 2),
    ("CHF", 2),
];

impl Currency {
    pub const TWD: Currency = Currency {
        code: "TWD",
        exponent: 2,
    };

    /// Parses an upper-case ISO 4217 alphabetic code.
    pub fn parse(code: &str) -> Result<Currency, FieldError> {
        CURRENCIES
            .iter()
            .find(|(c, _)| *c == code)
            .map(|&(code, exponent)| Currency { code, exponent })
            .ok_or_else(|| {
                FieldError::new(
                    "currency",
                    format!("unknown ISO 4217 currency code {code:?}"),
                )
            })
    }

    pub fn code(self) -> &'static str {
        self.code
    }

    /// Minor units per major unit: 100 for TWD, 1 for JPY.
    pub fn minor_per_major(self) -> i64 {
        10_i64.pow(u32::from(self.exponent))
    }
}

impl fmt::Display for Currency {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        f.write_str(self.code)
    }
}

/// A non-negative amount of money in minor units.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub struct Money {
    pub minor: i64,
    pub currency: Currency,
}

impl Money {
    pub fn new(minor: i64, currency: Currency) -> Result<Money, FieldError> {
        if minor < 0 {
            return Err(FieldError::new("amount_minor", "must not be negative"));
        }
        Ok(Money { minor, currency })
    }
}

#[cfg(test)]
mod tests;
