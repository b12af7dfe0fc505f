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

#[test]
fn clawbacks_book_the_shortfall_by_policy() {
    use crate::loyalty::programme::ShortfallPolicy::{Debt, NegativeBalance};
    // 30 points to claw back, 12 left on lots.
    let debt = clawback(12, 30, Debt);
    assert_eq!((debt.posted, debt.uncovered), (12, 18));
    let negative = clawback(12, 30, NegativeBalance);
    assert_eq!((negative.posted, negative.uncovered), (30, 18));
    // Fully covered: nothing owed under either policy.
    assert_eq!(clawback(40, 30, Debt).uncovered, 0);
    assert_eq!(clawback(40, 30, NegativeBalance).posted, 30);
    // Nothing covered at all: the debt policy posts nothing now.
    assert_eq!(clawback(0, 30, Debt).posted, 0);
}

#[test]
fn settlement_pays_the_oldest_debt_first() {
    assert_eq!(settle(&[5, 10, 3], 12), vec![5, 7, 0]);
    assert_eq!(settle(&[5], 100), vec![5]);
    assert_eq!(settle(&[5, 4], 0), vec![0, 0]);
    assert_eq!(settle(&[], 9), Vec::<i64>::new());
}
