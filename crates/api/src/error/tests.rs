//! Locks the error table: every code's status and title, and the problem body each
//! `AppError` variant becomes.

use super::*;
use domain::FieldError;
use serde_json::{Value, json};

#[test]
fn every_code_has_a_distinct_snake_case_code_and_an_error_status() {
    let mut seen = std::collections::HashSet::new();
    for c in ErrorCode::ALL {
        let (status, code, _) = c.describe();
        assert!(
            status.is_client_error() || status.is_server_error(),
            "{code}"
        );
        assert!(
            code.bytes().all(|b| b.is_ascii_lowercase() || b == b'_'),
            "{code}"
        );
        assert!(seen.insert(code), "{code} twice");
    }
}

#[test]
fn code_table() {
    let table: Vec<Value> = ErrorCode::ALL
        .iter()
        .map(|c| {
            let (status, code, title) = c.describe();
            json!({ "code": code, "status": status.as_u16(), "title": title })
        })
        .collect();
    insta::assert_json_snapshot!(table);
}

/// One sample of every `AppError` variant, named by the variant.
fn samples() -> Vec<(&'static str, AppError)> {
    vec![
        (
            "Invalid",
            AppError::Invalid(FieldError::new("lines[0].quantity", "must be 1 to 1000000")),
        ),
        ("UnknownCustomer", AppError::UnknownCustomer),
        ("UnknownOrder", AppError::UnknownOrder),
        ("NotFound", AppError::NotFound),
        (
            "IdentityConflict",
            AppError::IdentityConflict {
                customer_ids: vec![1, 2],
            },
        ),
        (
            "ConflictingDuplicate",
            AppError::ConflictingDuplicate {
                differences: vec!["lines[0].quantity".to_owned()],
            },
        ),
        (
            "CustomerConflict",
            AppError::CustomerConflict {
                customer_id: 7,
                differences: vec!["name".to_owned()],
            },
        ),
        (
            "RefundExceedsOrder",
            AppError::RefundExceedsOrder(domain::order::RefundError::NothingLeft),
        ),
        (
            "InsufficientPoints",
            AppError::InsufficientPoints(domain::ledger::InsufficientPoints {
                balance: 3,
                requested: 5,
            }),
        ),
        (
            "HoldRefused(HoldExpired)",
            AppError::HoldRefused(domain::loyalty::holds::HoldError::HoldExpired {
                id: domain::loyalty::holds::HoldId(4),
                expired_at: "2026-03-02T01:15:00Z".parse().unwrap(),
            }),
        ),
        (
            "HoldRefused(NotHeld)",
            AppError::HoldRefused(domain::loyalty::holds::HoldError::NotHeld {
                id: domain::loyalty::holds::HoldId(4),
                state: domain::loyalty::holds::HoldState::Committed,
            }),
        ),
        (
            "RewardRefused(OutsideValidity)",
            AppError::RewardRefused(domain::loyalty::rewards::RewardRefusal::OutsideValidity),
        ),
        (
            "RewardRefused(MemberLimitReached)",
            AppError::RewardRefused(
                domain::loyalty::rewards::RewardRefusal::MemberLimitReached { limit: 2 },
            ),
        ),
        (
            "RewardRefused(OutOfStock)",
            AppError::RewardRefused(domain::loyalty::rewards::RewardRefusal::OutOfStock),
        ),
        (
            "RewardRefused(NoVoucherCodes)",
            AppError::RewardRefused(domain::loyalty::rewards::RewardRefusal::NoVoucherCodes),
        ),
        (
            "VoucherCodeTaken",
            AppError::VoucherCodeTaken {
                code: "ABCD-1234".to_owned(),
            },
        ),
        (
            "TicketRefused(Closed)",
            AppError::TicketRefused(domain::desk::TicketRefusal::Closed),
        ),
        (
            "TicketRefused(BackToNew)",
            AppError::TicketRefused(domain::desk::TicketRefusal::BackToNew),
        ),
        (
            "PromotionRefused(Overlapping)",
            AppError::PromotionRefused(app::promotions::PromotionRefusal::Overlapping {
                first: 100_001,
                second: 100_002,
            }),
        ),
        (
            "PromotionRefused(Ended)",
            AppError::PromotionRefused(app::promotions::PromotionRefusal::Ended { id: 100_001 }),
        ),
        (
            "TicketRefused(MergeIntoItself)",
            AppError::TicketRefused(domain::desk::TicketRefusal::MergeIntoItself),
        ),
        (
            "TicketRefused(MergeAcrossCustomers)",
            AppError::TicketRefused(domain::desk::TicketRefusal::MergeAcrossCustomers),
        ),
        (
            "TicketRefused(AlreadyMerged)",
            AppError::TicketRefused(domain::desk::TicketRefusal::AlreadyMerged {
                ticket: 12,
                into: 7,
            }),
        ),
        (
            "TicketRefused(MessageNotInTicket)",
            AppError::TicketRefused(domain::desk::TicketRefusal::MessageNotInTicket {
                message_id: 99,
            }),
        ),
        (
            "TicketRefused(AgentNotInTeam)",
            AppError::TicketRefused(domain::desk::TicketRefusal::AgentNotInTeam),
        ),
        (
            "CsatRefused(NotSolved)",
            AppError::CsatRefused(domain::desk::CsatRefusal::NotSolved),
        ),
        (
            "CsatRefused(AlreadyAnswered)",
            AppError::CsatRefused(domain::desk::CsatRefusal::AlreadyAnswered),
        ),
        (
            "CsatRefused(LinkExpired)",
            AppError::CsatRefused(domain::desk::CsatRefusal::LinkExpired { days: 28 }),
        ),
        (
            "CsatRefused(RatingOutOfRange)",
            AppError::CsatRefused(domain::desk::CsatRefusal::RatingOutOfRange { min: 1, max: 5 }),
        ),
        ("SelfReferral", AppError::SelfReferral),
        ("IdempotencyKeyReused", AppError::IdempotencyKeyReused),
        ("Unauthenticated", AppError::Unauthenticated),
        ("InvalidSignature", AppError::InvalidSignature),
        ("Forbidden", AppError::Forbidden),
        (
            "Internal",
            AppError::Internal(anyhow::anyhow!("disk on fire at /var/lib/patron")),
        ),
    ]
}

/// Fails to compile when a variant is added, so that `samples` gets a row for it.
fn variant_is_sampled(e: &AppError) -> bool {
    match e {
        AppError::Invalid(_)
        | AppError::UnknownCustomer
        | AppError::UnknownOrder
        | AppError::NotFound
        | AppError::IdentityConflict { .. }
        | AppError::ConflictingDuplicate { .. }
        | AppError::CustomerConflict { .. }
        | AppError::RefundExceedsOrder(_)
        | AppError::InsufficientPoints(_)
        | AppError::HoldRefused(_)
        | AppError::RewardRefused(_)
        | AppError::VoucherCodeTaken { .. }
        | AppError::TicketRefused(_)
        | AppError::PromotionRefused(_)
        | AppError::CsatRefused(_)
        | AppError::SelfReferral
        | AppError::IdempotencyKeyReused
        | AppError::Unauthenticated
        | AppError::InvalidSignature
        | AppError::Forbidden
        | AppError::Internal(_) => true,
    }
}

#[test]
fn app_error_table() {
    let table: Vec<Value> = samples()
        .into_iter()
        .map(|(name, e)| {
            assert!(variant_is_sampled(&e));
            let api = ApiError::from(e);
            json!({ "variant": name, "problem": api.problem() })
        })
        .collect();
    assert_eq!(table.len(), 35);
    insta::assert_json_snapshot!(table);
}

#[test]
fn internal_errors_are_opaque() {
    let problem = ApiError::from(AppError::Internal(anyhow::anyhow!("secret path"))).problem();
    let text = serde_json::to_string(&problem).unwrap();
    assert!(!text.contains("secret"), "{text}");
    assert_eq!(problem.status, 500);
}
