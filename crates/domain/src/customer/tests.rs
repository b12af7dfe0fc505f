use super::*;

fn check(kind: IdentityKind, input: &str, expect: Result<&str, &str>) {
    let got = Identity::parse(kind, input)
        .map(|i| i.value)
        .map_err(|e| e.field);
    assert_eq!(
        got.as_deref().map_err(|e| e.as_str()),
        expect,
        "{kind:?} {input:?}"
    );
}

#[test]
fn identities_normalise() {
    check(
        IdentityKind::Email,
        " Amy@Example.COM ",
        Ok("amy@example.com"),
    );
    check(IdentityKind::Email, "amy", Err("email"));
    check(IdentityKind::Email, "amy@localhost", Err("email"));
    check(IdentityKind::Email, "a b@x.tw", Err("email"));
    check(IdentityKind::Phone, "0912-345-678", Ok("+886912345678"));
    check(IdentityKind::Phone, "+852 9123 4567", Ok("+85291234567"));
    check(IdentityKind::Phone, "912345678", Err("phone"));
    check(IdentityKind::Phone, "+886 abc", Err("phone"));
    check(IdentityKind::ShopCustomerId, "  C-001 ", Ok("C-001"));
    check(IdentityKind::ShopCustomerId, "  ", Err("shop_customer_id"));
    check(IdentityKind::LineUserId, "U4af4980629", Ok("U4af4980629"));
}

#[test]
fn profile_fields_validate() {
    assert!(CustomerProfile::parse_birthday("1990-02-29").is_err());
    assert_eq!(
        CustomerProfile::parse_birthday("1992-02-29").unwrap().day(),
        29
    );
    assert!(CustomerProfile::parse_time_zone("Asia/Taipei").is_ok());
    assert!(CustomerProfile::parse_time_zone("Mars/Base").is_err());
    assert_eq!(CustomerProfile::parse_name(" 王小明 ").unwrap(), "王小明");
    assert!(CustomerProfile::parse_name("a\u{7}").is_err());
    assert_eq!(Locale::parse("zh-TW").unwrap(), Locale::ZhTw);
    assert!(Locale::parse("fr").is_err());
}
