use super::*;

#[test]
fn currencies_parse_with_their_exponent() {
    assert_eq!(Currency::parse("TWD").unwrap().minor_per_major(), 100);
    assert_eq!(Currency::parse("JPY").unwrap().minor_per_major(), 1);
    assert_eq!(Currency::parse("twd").unwrap_err().field, "currency");
    assert!(Currency::parse("XXX").is_err());
}

#[test]
fn money_is_never_negative() {
    assert!(Money::new(-1, Currency::TWD).is_err());
    assert_eq!(Money::new(0, Currency::TWD).unwrap().minor, 0);
}
