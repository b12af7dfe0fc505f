use super::*;

fn order() -> Order {
    Order::new(
        Currency::TWD,
        vec![
            OrderLine::new("TEA-01", Some("tea"), 2, 45_000).unwrap(),
            OrderLine::new("CUP-02", None, 1, 30_000).unwrap(),
        ],
    )
    .unwrap()
}

#[test]
fn lines_validate() {
    assert_eq!(
        OrderLine::new("A", None, 0, 1).unwrap_err().field,
        "quantity"
    );
    assert_eq!(
        OrderLine::new("A", None, 1, -1).unwrap_err().field,
        "unit_price_minor"
    );
    assert_eq!(OrderLine::new(" ", None, 1, 1).unwrap_err().field, "sku");
    assert!(Order::new(Currency::TWD, vec![]).is_err());
    assert_eq!(order().total_minor(), 120_000);
}

#[test]
fn refunds_take_back_at_most_what_remains() {
    let o = order();
    let plan = plan_refund(&o, &[0, 0], &RefundRequest::Lines(vec![(0, 1)])).unwrap();
    assert_eq!(
        plan,
        RefundPlan {
            quantities: vec![1, 0],
            amount_minor: 45_000
        }
    );
    let full = plan_refund(&o, &[1, 0], &RefundRequest::Full).unwrap();
    assert_eq!(
        full,
        RefundPlan {
            quantities: vec![1, 1],
            amount_minor: 75_000
        }
    );
    assert_eq!(
        plan_refund(&o, &[1, 0], &RefundRequest::Lines(vec![(0, 1), (0, 1)])),
        Err(RefundError::ExceedsLine {
            line: 0,
            requested: 2,
            refundable: 1
        })
    );
    assert_eq!(
        plan_refund(&o, &[0, 0], &RefundRequest::Lines(vec![(5, 1)])),
        Err(RefundError::UnknownLine { line: 5 })
    );
    assert_eq!(
        plan_refund(&o, &[2, 1], &RefundRequest::Full),
        Err(RefundError::NothingLeft)
    );
}
