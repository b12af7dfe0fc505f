use super::*;
use crate::customer::IdentityKind;

fn id(kind: IdentityKind, v: &str) -> Identity {
    Identity::parse(kind, v).unwrap()
}

#[test]
fn codes_round_trip_and_catch_typos() {
    let code = ReferralCode::from_entropy(0x5_DEAD_BEEF);
    assert_eq!(code.as_str().len(), 8);
    assert_eq!(ReferralCode::parse(code.as_str()).unwrap(), code);
    // Printed with a dash, lower case, O for 0 and l for 1: the same code.
    let printed = format!("{}-{}", &code.as_str()[..4], &code.as_str()[4..]).to_lowercase();
    assert_eq!(ReferralCode::parse(&printed).unwrap(), code);
    assert_eq!(
        ReferralCode::parse("0000 0000").unwrap().as_str(),
        "00000000"
    );
    assert_eq!(
        ReferralCode::parse("oooo-oooo").unwrap().as_str(),
        "00000000"
    );
    // Every single-symbol substitution of every position is caught.
    let original: Vec<char> = code.as_str().chars().collect();
    for pos in 0..original.len() {
        for &c in ALPHABET.iter() {
            let c = char::from(c);
            if c == original[pos] {
                continue;
            }
            let mut typo = original.clone();
            typo[pos] = c;
            let typo: String = typo.into_iter().collect();
            assert_eq!(
                ReferralCode::parse(&typo),
                Err(ReferralError::Check),
                "{typo}"
            );
        }
    }
    let cases = [
        ("", ReferralError::Length),
        ("1234567", ReferralError::Length),
        ("123456789", ReferralError::Length),
        ("1234567U", ReferralError::Symbol('U')),
        ("12345!78", ReferralError::Symbol('!')),
    ];
    for (input, want) in cases {
        assert_eq!(ReferralCode::parse(input), Err(want), "{input:?}");
    }
}

#[test]
fn rewards_on_the_first_qualifying_order_with_fraud_limits() {
    let config = ReferralConfig::new(200, 100, 50_000, 3).unwrap();
    let referrer = [
        id(IdentityKind::Email, "amy@example.tw"),
        id(IdentityKind::Phone, "0912345678"),
    ];
    let stranger = [id(IdentityKind::Email, "ben@example.tw")];
    let sock_puppet = [
        id(IdentityKind::Email, "amy+2@example.tw"),
        id(IdentityKind::Phone, "0912-345-678"),
    ];
    let facts = |referee: &'static [Identity], prior, total, rewarded| ReferralFacts {
        referrer_identities: Box::leak(Box::new(referrer.clone())),
        referee_identities: referee,
        referee_prior_qualifying_orders: prior,
        order_total_minor: total,
        referrer_rewarded_in_period: rewarded,
    };
    let stranger: &'static [Identity] = Box::leak(Box::new(stranger));
    let puppet: &'static [Identity] = Box::leak(Box::new(sock_puppet));
    let award = Ok(ReferralAward {
        referrer_points: 200,
        referee_points: 100,
    });
    let cases = [
        (facts(stranger, 0, 50_000, 0), award),
        (facts(stranger, 0, 50_000, 2), award),
        (
            facts(puppet, 0, 50_000, 0),
            Err(ReferralRefusal::SelfReferral),
        ),
        (
            facts(stranger, 1, 50_000, 0),
            Err(ReferralRefusal::NotFirstOrder),
        ),
        (
            facts(stranger, 0, 49_999, 0),
            Err(ReferralRefusal::BelowMinimumSpend),
        ),
        (
            facts(stranger, 0, 50_000, 3),
            Err(ReferralRefusal::ReferrerCapReached),
        ),
    ];
    for (f, want) in cases {
        assert_eq!(referral_rewards(&config, &f), want);
    }
    assert_eq!(
        ReferralConfig::new(-1, 0, 0, 1),
        Err(ReferralError::Points {
            field: "referrer_points"
        })
    );
    assert_eq!(ReferralConfig::new(1, 1, 0, 0), Err(ReferralError::Cap));
    let c = ReferralConfig::new(200, 100, 50_000, 3).unwrap();
    assert_eq!(
        (
            c.referrer_points(),
            c.referee_points(),
            c.minimum_order_minor(),
            c.referrer_cap_per_period()
        ),
        (200, 100, 50_000, 3)
    );
}
