use super::*;

#[test]
fn earning_rounds_down() {
    let rule = EarnRule::default();
    assert_eq!(rule.earn(9_999), 0);
    assert_eq!(rule.earn(10_000), 1);
    assert_eq!(rule.earn(129_900), 12);
    assert_eq!(rule.earn(-5), 0);
    assert_eq!(EarnRule::new(3, 100).unwrap().earn(250), 7);
    assert!(EarnRule::new(1, 0).is_err());
}

#[test]
fn reversals_sum_to_the_original_earn() {
    let rule = EarnRule::default();
    // An order of NT$1,299 refunded in three parts: 450, 450, 399.
    let total = 129_900;
    let parts = [45_000, 45_000, 39_900];
    let mut paid = total;
    let mut reversed = 0;
    for part in parts {
        reversed += rule.reversal(paid, part);
        paid -= part;
    }
    assert_eq!(reversed, rule.earn(total));
}

#[test]
fn debits_respect_the_negative_policy() {
    assert_eq!(debit_balance(10, 4, false), Ok(6));
    assert_eq!(
        debit_balance(3, 4, false),
        Err(InsufficientPoints {
            balance: 3,
            requested: 4
        })
    );
    assert_eq!(debit_balance(3, 4, true), Ok(-1));
    assert!(Points::posting(0).is_err());
}
