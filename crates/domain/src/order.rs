//! Orders and refunds: lines, totals and what a refund may take back.

use crate::FieldError;
use crate::limits::{LINE_QUANTITY_MAX, ORDER_LINES_MAX, SKU_BYTES_MAX, UNIT_PRICE_MINOR_MAX};
use crate::money::Currency;

#[derive(Debug, Clone, PartialEq, Eq)]
pub struct OrderLine {
    pub sku: String,
    pub category: Option<String>,
    pub quantity: i64,
    pub unit_price_minor: i64,
}

impl OrderLine {
    pub fn new(
        sku: &str,
        category: Option<&str>,
        quantity: i64,
        unit_price_minor: i64,
    ) -> Result<OrderLine, FieldError> {
        let text = |field: &str, v: &str| -> Result<String, FieldError> {
            let v = v.trim();
            if v.is_empty() || v.len() > SKU_BYTES_MAX {
                return Err(FieldError::new(
                    field,
                    format!("must be 1 to {SKU_BYTES_MAX} bytes"),
                ));
            }
            if v.chars().any(char::is_control) {
                return Err(FieldError::new(field, "contains control characters"));
            }
            Ok(v.to_owned())
        };
        if !(1..=LINE_QUANTITY_MAX).contains(&quantity) {
            return Err(FieldError::new(
                "quantity",
                format!("must be 1 to {LINE_QUANTITY_MAX}"),
            ));
        }
        if !(0..=UNIT_PRICE_MINOR_MAX).contains(&unit_price_minor) {
            return Err(FieldError::new(
                "unit_price_minor",
                format!("must be 0 to {UNIT_PRICE_MINOR_MAX} minor units"),
            ));
        }
        Ok(OrderLine {
            sku: text("sku", sku)?,
            category: category.map(|c| text("category", c)).transpose()?,
            quantity,
            unit_price_minor,
        })
    }

    /// Quantity × unit price; cannot overflow given the limits on both.
    pub fn total_minor(&self) -> i64 {
        self.quantity * self.unit_price_minor
    }
}

/// A validated order: at least one line, one currency, a total that fits in i64.
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct Order {
    pub currency: Currency,
    pub lines: Vec<OrderLine>,
    total_minor: i64,
}

impl Order {
    pub fn new(currency: Currency, lines: Vec<OrderLine>) -> Result<Order, FieldError> {
        if lines.is_empty() || lines.len() > ORDER_LINES_MAX {
            return Err(FieldError::new(
                "lines",
                format!("must have 1 to {ORDER_LINES_MAX} lines"),
            ));
        }
        let total_minor = lines
            .iter()
            .try_fold(0_i64, |sum, l| sum.checked_add(l.total_minor()))
            .ok_or_else(|| FieldError::new("lines", "order total is too large"))?;
        Ok(Order {
            currency,
            lines,
            total_minor,
        })
    }

    pub fn total_minor(&self) -> i64 {
        self.total_minor
    }
}

/// What a refund asks to take back.
#[derive(Debug, Clone, PartialEq, Eq)]
pub enum RefundRequest {
    /// Everything not yet refunded.
    Full,
    /// Some units of some lines, by line index (0-based) and quantity.
    Lines(Vec<(usize, i64)>),
}

/// Why a refund cannot be accepted.
#[derive(Debug, Clone, PartialEq, Eq, thiserror::Error)]
pub enum RefundError {
    #[error("line {line} does not exist on the order")]
    UnknownLine { line: usize },
    #[error("line {line}: refund of {requested} units exceeds the {refundable} still refundable")]
    ExceedsLine {
        line: usize,
        requested: i64,
        refundable: i64,
    },
    #[error("the order has nothing left to refund")]
    NothingLeft,
    #[error("{0}")]
    Invalid(FieldError),
}

/// What a refund takes back: units per line and the money that makes.
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct RefundPlan {
    /// Units refunded by this refund, indexed like the order's lines.
    pub quantities: Vec<i64>,
    pub amount_minor: i64,
}

/// Plans a refund of `order`, given the units of each line already refunded.
/// The caller owns persistence; this only computes and refuses.
pub fn plan_refund(
    order: &Order,
    refunded_before: &[i64],
    request: &RefundRequest,
) -> Result<RefundPlan, RefundError> {
    debug_assert_eq!(refunded_before.len(), order.lines.len());
    let refundable =
        |i: usize| order.lines[i].quantity - refunded_before.get(i).copied().unwrap_or(0);
    let mut quantities = vec![0_i64; order.lines.len()];
    match request {
        RefundRequest::Full => {
            for (i, q) in quantities.iter_mut().enumerate() {
                *q = refundable(i);
            }
        }
        RefundRequest::Lines(lines) => {
            if lines.is_empty() {
                return Err(RefundError::Invalid(FieldError::new(
                    "lines",
                    "must not be empty",
                )));
            }
            for &(line, qty) in lines {
                if line >= order.lines.len() {
                    return Err(RefundError::UnknownLine { line });
                }
                if qty <= 0 {
                    return Err(RefundError::Invalid(FieldError::new(
                        format!("lines[{line}].quantity"),
                        "must be positive",
                    )));
                }
                let requested = quantities[line].saturating_add(qty);
                if requested > refundable(line) {
                    return Err(RefundError::ExceedsLine {
                        line,
                        requested,
                        refundable: refundable(line),
                    });
                }
                quantities[line] = requested;
            }
        }
    }
    let amount_minor: i64 = quantities
        .iter()
        .zip(&order.lines)
        .map(|(q, l)| q * l.unit_price_minor)
        .sum();
    if quantities.iter().all(|&q| q == 0) {
        return Err(RefundError::NothingLeft);
    }
    Ok(RefundPlan {
        quantities,
        amount_minor,
    })
}

#[cfg(test)]
mod tests;
