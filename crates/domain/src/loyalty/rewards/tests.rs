use super::*;

fn spec() -> RewardSpec {
    RewardSpec {
        name: " Tea cup ".to_owned(),
        points_price: 100,
        stock: Some(10),
        per_member_limit: Some(2),
        valid_from: Some("2026-03-01T00:00:00Z".parse().unwrap()),
        valid_until: Some("2026-03-31T15:59:59Z".parse().unwrap()),
        issues_voucher: false,
    }
}

#[test]
fn a_reward_is_checked_field_by_field() {
    assert_eq!(spec().validate().unwrap().name, "Tea cup");
    let bad = |f: fn(&mut RewardSpec), field: &str| {
        let mut s = spec();
        f(&mut s);
        assert_eq!(s.validate().unwrap_err().field, field);
    };
    bad(|s| s.name = "  ".into(), "name");
    bad(|s| s.points_price = 0, "points_price");
    bad(|s| s.stock = Some(-1), "stock");
    bad(|s| s.per_member_limit = Some(0), "per_member_limit");
    bad(
        |s| s.valid_until = Some("2026-02-01T00:00:00Z".parse().unwrap()),
        "valid_until",
    );
}

#[test]
fn redeemable_inside_the_window_and_under_the_member_limit() {
    let s = spec().validate().unwrap();
    let inside: Timestamp = "2026-03-10T00:00:00Z".parse().unwrap();
    assert_eq!(check_redeemable(&s, inside, 0), Ok(()));
    assert_eq!(check_redeemable(&s, inside, 1), Ok(()));
    assert_eq!(
        check_redeemable(&s, inside, 2),
        Err(RewardRefusal::MemberLimitReached { limit: 2 })
    );
    let before: Timestamp = "2026-02-28T23:59:59Z".parse().unwrap();
    assert_eq!(
        check_redeemable(&s, before, 0),
        Err(RewardRefusal::OutsideValidity)
    );
    let last = s.valid_until.unwrap();
    assert_eq!(
        check_redeemable(&s, last, 0),
        Ok(()),
        "valid_until is inclusive"
    );
    assert_eq!(
        check_redeemable(&s, last + jiff::SignedDuration::from_secs(1), 0),
        Err(RewardRefusal::OutsideValidity)
    );
}

#[test]
fn generated_codes_use_eighty_bits_of_an_unambiguous_alphabet() {
    let a = VoucherCode::from_entropy(0);
    assert_eq!(a.as_str(), "2222-2222-2222-2222");
    let b = VoucherCode::from_entropy(u128::MAX);
    assert_eq!(b.as_str(), "ZZZZ-ZZZZ-ZZZZ-ZZZZ");
    // Every bit of the low 80 changes the code; bit 80 does not.
    let codes: std::collections::BTreeSet<String> = (0..80)
        .map(|i| VoucherCode::from_entropy(1u128 << i).as_str().to_owned())
        .collect();
    assert_eq!(codes.len(), 80);
    assert_eq!(VoucherCode::from_entropy(1u128 << 80), a);
    for c in ['0', 'O', '1', 'I'] {
        assert!(!VOUCHER_ALPHABET.contains(&(c as u8)));
    }
    // A generated code parses back to itself.
    assert_eq!(VoucherCode::parse(b.as_str()).unwrap(), b);
}

#[test]
fn imported_codes_are_normalised_and_unique() {
    let codes = parse_codes(&["abc-123".to_owned(), " XYZ9 ".to_owned()]).unwrap();
    assert_eq!(codes[0].as_str(), "ABC-123");
    assert_eq!(codes[1].as_str(), "XYZ9");
    let twice = parse_codes(&["abcd".to_owned(), "ABCD".to_owned()]).unwrap_err();
    assert!(twice.reason.contains("twice"), "{twice:?}");
    assert_eq!(parse_codes(&[]).unwrap_err().field, "codes");
    assert!(VoucherCode::parse("ab").is_err());
    assert!(VoucherCode::parse("ab cd").is_err());
    assert!(VoucherCode::parse("券券券券").is_err());
}
