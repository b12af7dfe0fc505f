//! Customers and their identities: the keys by which one person is recognised across channels.
//!
//! Identity values are normalised before they are compared or stored, so that
//! `Amy@Example.com` and `amy@example.com`, or `0912-345-678` and `+886912345678`, are one person.

use crate::FieldError;
use crate::limits::{EMAIL_BYTES_MAX, IDENTITY_BYTES_MAX, NAME_CHARS_MAX};
use jiff::civil::Date;
use std::fmt;

/// The kinds of identity a customer can be known by.
#[derive(Debug, Clone, Copy, PartialEq, Eq, Hash, PartialOrd, Ord)]
pub enum IdentityKind {
    /// The shop's own customer id (from its e-commerce platform or POS).
    ShopCustomerId,
    Email,
    Phone,
    LineUserId,
}

impl IdentityKind {
    pub const ALL: [IdentityKind; 4] = [
        IdentityKind::ShopCustomerId,
        IdentityKind::Email,
        IdentityKind::Phone,
        IdentityKind::LineUserId,
    ];

    pub fn as_str(self) -> &'static str {
        match self {
            IdentityKind::ShopCustomerId => "shop_customer_id",
            IdentityKind::Email => "email",
            IdentityKind::Phone => "phone",
            IdentityKind::LineUserId => "line_user_id",
        }
    }

    pub fn parse(s: &str) -> Option<IdentityKind> {
        IdentityKind::ALL.into_iter().find(|k| k.as_str() == s)
    }

    /// Whether values of this kind are personal data that must never reach a log.
    pub fn is_personal(self) -> bool {
        matches!(
            self,
            IdentityKind::Email | IdentityKind::Phone | IdentityKind::LineUserId
        )
    }
}

/// One normalised identity.
#[derive(Debug, Clone, PartialEq, Eq, Hash, PartialOrd, Ord)]
pub struct Identity {
    pub kind: IdentityKind,
    pub value: String,
}

impl Identity {
    /// Normalises and validates `value` as an identity of `kind`.
    pub fn parse(kind: IdentityKind, value: &str) -> Result<Identity, FieldError> {
        let value = match kind {
            IdentityKind::Email => Email::parse(value)?.0,
            IdentityKind::Phone => PhoneNumber::parse(value)?.0,
            IdentityKind::ShopCustomerId | IdentityKind::LineUserId => {
                let v = value.trim();
                if v.is_empty() {
                    return Err(FieldError::new(kind.as_str(), "must not be empty"));
                }
                if v.len() > IDENTITY_BYTES_MAX {
                    return Err(FieldError::new(
                        kind.as_str(),
                        format!("longer than {IDENTITY_BYTES_MAX} bytes"),
                    ));
                }
                if v.chars().any(char::is_control) {
                    return Err(FieldError::new(
                        kind.as_str(),
                        "contains control characters",
                    ));
                }
                v.to_owned()
            }
        };
        Ok(Identity { kind, value })
    }
}

/// A syntactically plausible email address, trimmed and lower-cased.
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct Email(String);

impl Email {
    pub fn parse(s: &str) -> Result<Email, FieldError> {
        let s = s.trim().to_lowercase();
        let bad = |reason: &str| FieldError::new("email", reason);
        if s.len() > EMAIL_BYTES_MAX {
            return Err(bad("longer than 254 bytes"));
        }
        let Some((local, domain)) = s.split_once('@') else {
            return Err(bad("must contain @"));
        };
        if local.is_empty() || domain.is_empty() || domain.contains('@') {
            return Err(bad("must be local@domain"));
        }
        if !domain.contains('.') || domain.starts_with('.') || domain.ends_with('.') {
            return Err(bad("domain must contain a dot"));
        }
        if s.chars().any(|c| c.is_whitespace() || c.is_control()) {
            return Err(bad("must not contain spaces or control characters"));
        }
        Ok(Email(s))
    }

    pub fn as_str(&self) -> &str {
        &self.0
    }
}

/// A phone number in E.164 form (`+886912345678`).
///
/// Local Taiwanese numbers (`0912-345-678`) are read as +886, and Hong Kong's eight-digit
/// numbers are accepted when written with `+852`. Separators (spaces, dashes, dots, brackets) are ignored.
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct PhoneNumber(String);

impl PhoneNumber {
    pub fn parse(s: &str) -> Result<PhoneNumber, FieldError> {
        let bad = |reason: &str| FieldError::new("phone", reason);
        let trimmed = s.trim();
        let plus = trimmed.starts_with('+');
        let mut digits = String::new();
        for (i, c) in trimmed.chars().enumerate() {
            match c {
                '0'..='9' => digits.push(c),
                '+' if i == 0 => {}
                ' ' | '-' | '.' | '(' | ')' => {}
                _ => {
                    return Err(bad(
                        "may contain only digits, +, spaces, dashes, dots and brackets",
                    ));
                }
            }
        }
        let e164 = if plus {
            digits
        } else if let Some(rest) = digits.strip_prefix('0') {
            // A local Taiwanese number: drop the trunk prefix 0, add the country code.
            format!("886{rest}")
        } else {
            return Err(bad(
                "must start with + and a country code, or 0 for a Taiwanese number",
            ));
        };
        if !(8..=15).contains(&e164.len()) || e164.starts_with('0') {
            return Err(bad("must have 8 to 15 digits including the country code"));
        }
        Ok(PhoneNumber(format!("+{e164}")))
    }

    pub fn as_str(&self) -> &str {
        &self.0
    }
}

/// Languages Patron speaks to customers in.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub enum Locale {
    ZhTw,
    ZhHk,
    En,
}

impl Locale {
    pub fn parse(s: &str) -> Result<Locale, FieldError> {
        match s {
            "zh-TW" => Ok(Locale::ZhTw),
            "zh-HK" => Ok(Locale::ZhHk),
            "en" => Ok(Locale::En),
            _ => Err(FieldError::new("locale", "must be one of zh-TW, zh-HK, en")),
        }
    }

    pub fn as_str(self) -> &'static str {
        match self {
            Locale::ZhTw => "zh-TW",
            Locale::ZhHk => "zh-HK",
            Locale::En => "en",
        }
    }
}

impl fmt::Display for Locale {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        f.write_str(self.as_str())
    }
}

/// What a shop knows of a customer besides the identities. Every field is optional;
/// locale and time zone default to zh-TW and Asia/Taipei.
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct CustomerProfile {
    pub name: Option<String>,
    pub birthday: Option<Date>,
    pub locale: Locale,
    /// An IANA time zone name, checked against the time-zone database.
    pub time_zone: String,
}

impl Default for CustomerProfile {
    fn default() -> Self {
        CustomerProfile {
            name: None,
            birthday: None,
            locale: Locale::ZhTw,
            time_zone: "Asia/Taipei".to_owned(),
        }
    }
}

impl CustomerProfile {
    pub fn parse_name(s: &str) -> Result<String, FieldError> {
        let s = s.trim();
        if s.is_empty() {
            return Err(FieldError::new("name", "must not be empty when given"));
        }
        if s.chars().count() > NAME_CHARS_MAX {
            return Err(FieldError::new(
                "name",
                format!("longer than {NAME_CHARS_MAX} characters"),
            ));
        }
        if s.chars().any(char::is_control) {
            return Err(FieldError::new("name", "contains control characters"));
        }
        Ok(s.to_owned())
    }

    /// Parses `YYYY-MM-DD`; the date must be a real calendar date in 1900..=2100.
    pub fn parse_birthday(s: &str) -> Result<Date, FieldError> {
        let date: Date = s
            .parse()
            .map_err(|_| FieldError::new("birthday", "must be a date YYYY-MM-DD"))?;
        if !(1900..=2100).contains(&date.year()) {
            return Err(FieldError::new(
                "birthday",
                "year must be between 1900 and 2100",
            ));
        }
        Ok(date)
    }

    pub fn parse_time_zone(s: &str) -> Result<String, FieldError> {
        jiff::tz::TimeZone::get(s)
            .map(|_| s.to_owned())
            .map_err(|_| FieldError::new("time_zone", format!("unknown IANA time zone {s:?}")))
    }
}

#[cfg(test)]
mod tests;
