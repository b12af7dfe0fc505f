use super::*;

fn ts(s: &str) -> Timestamp {
    s.parse().unwrap()
}

const NOW: &str = "2026-03-10T04:00:00Z";

#[test]
fn reserve_is_refused_beyond_available() {
    let now = ts(NOW);
    let a = reserve(HoldId(1), 60, 100, &[], now, 900).unwrap();
    assert_eq!(a.expires_at, ts("2026-03-10T04:15:00Z"));
    assert_eq!(
        reserve(HoldId(2), 41, 100, &[a], now, 900),
        Err(HoldError::InsufficientAvailable {
            available: 40,
            requested: 41
        })
    );
    let b = reserve(HoldId(2), 40, 100, &[a], now, 900).unwrap();
    assert_eq!(held_points(&[a, b], None, now), 100);
    assert_eq!(held_points(&[a, b], Some(HoldId(1)), now), 40);
    // An expired hold no longer holds anything.
    let later = ts("2026-03-10T04:15:00Z");
    assert_eq!(held_points(&[a, b], None, later), 0);
    assert!(reserve(HoldId(3), 100, 100, &[a, b], later, 900).is_ok());
}

/// 1,000 reserve attempts of 100 points against 1,000 points, serialised as the store
/// serialises them per account: exactly 10 succeed and nothing is ever over-held.
#[test]
fn a_thousand_reserves_against_a_thousand_points() {
    let now = ts(NOW);
    let mut holds: Vec<Hold> = Vec::new();
    let mut refused = 0;
    for i in 0..1_000 {
        // Committed holds leave the balance; keep the balance and the holds consistent.
        let spent: i64 = holds
            .iter()
            .filter(|h| h.state == HoldState::Committed)
            .map(|h| h.points)
            .sum();
        let live: Vec<Hold> = holds
            .iter()
            .copied()
            .filter(|h| h.state != HoldState::Committed)
            .collect();
        match reserve(HoldId(i), 100, 1_000 - spent, &live, now, 900) {
            Ok(h) => holds.push(commit(&h, now).unwrap()),
            Err(HoldError::InsufficientAvailable { .. }) => refused += 1,
            Err(e) => panic!("{e}"),
        }
    }
    assert_eq!(holds.len(), 10);
    assert_eq!(refused, 990);
}

#[test]
fn transitions() {
    let now = ts(NOW);
    let h = reserve(HoldId(1), 10, 100, &[], now, 60).unwrap();
    let at_expiry = ts("2026-03-10T04:01:00Z");
    let cases = [
        (commit(&h, now).map(|h| h.state), Ok(HoldState::Committed)),
        (release(&h, now).map(|h| h.state), Ok(HoldState::Released)),
        (
            commit(&h, at_expiry).map(|h| h.state),
            Err(HoldError::HoldExpired {
                id: HoldId(1),
                expired_at: at_expiry,
            }),
        ),
        (
            commit(&commit(&h, now).unwrap(), now).map(|h| h.state),
            Err(HoldError::NotHeld {
                id: HoldId(1),
                state: HoldState::Committed,
            }),
        ),
        (
            release(&release(&h, now).unwrap(), now).map(|h| h.state),
            Err(HoldError::NotHeld {
                id: HoldId(1),
                state: HoldState::Released,
            }),
        ),
    ];
    for (got, want) in cases {
        assert_eq!(got, want);
    }
    assert_eq!(plan_hold_expiry(&[h], now), vec![]);
    assert_eq!(plan_hold_expiry(&[h], at_expiry), vec![HoldId(1)]);
    let expired = Hold {
        state: HoldState::Expired,
        ..h
    };
    assert_eq!(plan_hold_expiry(&[expired], at_expiry), vec![]);
    let bad = [
        (
            reserve(HoldId(1), 0, 100, &[], now, 60),
            HoldError::PointsOutOfRange { points: 0 },
        ),
        (
            reserve(HoldId(1), 1, 100, &[], now, 0),
            HoldError::TtlOutOfRange,
        ),
        (
            reserve(HoldId(1), 1, 100, &[], now, HOLD_TTL_SECS_MAX + 1),
            HoldError::TtlOutOfRange,
        ),
    ];
    for (got, want) in bad {
        assert_eq!(got, Err(want));
    }
    let many: Vec<Hold> = (0..HOLDS_PER_MEMBER_MAX as u64)
        .map(|i| Hold { id: HoldId(i), ..h })
        .collect();
    assert_eq!(
        reserve(HoldId(99), 1, 1_000, &many, now, 60),
        Err(HoldError::TooManyHolds)
    );
}
