//! Every limit Patron enforces on input, as named constants with units in the name.
//! Validation, the API documentation and the tests all read them from here.

/// Longest accepted `source` of an event (`shopify`, `pos-taipei-1`, …), in bytes.
pub const SOURCE_BYTES_MAX: usize = 64;
/// Longest accepted external id of an event, order or refund, in bytes.
pub const EXTERNAL_ID_BYTES_MAX: usize = 128;
/// Lines in one order.
pub const ORDER_LINES_MAX: usize = 500;
/// Longest SKU or category, in bytes.
pub const SKU_BYTES_MAX: usize = 128;
/// Units of one order line.
pub const LINE_QUANTITY_MAX: i64 = 1_000_000;
/// Largest unit price, in minor units (10^13 minor units is NT$100 billion).
pub const UNIT_PRICE_MINOR_MAX: i64 = 10_000_000_000_000;
/// Longest customer name, in characters.
pub const NAME_CHARS_MAX: usize = 200;
/// Longest email address, in bytes (RFC 5321 path limit).
pub const EMAIL_BYTES_MAX: usize = 254;
/// Longest identity value of any kind, in bytes.
pub const IDENTITY_BYTES_MAX: usize = 254;
/// Identities attached to one customer in one request.
pub const IDENTITIES_PER_REQUEST_MAX: usize = 16;
/// Largest points amount of one posting.
pub const POSTING_POINTS_MAX: i64 = 1_000_000_000_000;
/// Longest reason text on a correction, in characters.
pub const REASON_CHARS_MAX: usize = 500;
