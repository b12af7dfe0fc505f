//! `Idempotency-Key` claims in the database: one request at a time per key across every
//! process sharing the store, released or answered when the request ends, and taken over
//! when the process holding one died.

use jiff::SignedDuration;
use store::idempotency::{Begin, StoredResponse};
use test_support::{TestApp, both_backends};

both_backends!(a_key_is_claimed_once_and_then_answered, |t: &TestApp| {
    let (api_key, key, hash) = (7, "order-77", b"hash-a".as_slice());
    let Begin::Claimed { claimed_at_micros } = t.app.idempotency_begin(api_key, key, hash).unwrap()
    else {
        panic!("a new key is claimed");
    };
    // Another process, same request: in flight; another request: its hash tells them apart.
    assert_eq!(
        t.app.idempotency_begin(api_key, key, hash).unwrap(),
        Begin::InFlight {
            request_hash: hash.to_vec()
        }
    );
    assert_eq!(
        t.app.idempotency_begin(api_key, key, b"hash-b").unwrap(),
        Begin::InFlight {
            request_hash: hash.to_vec()
        }
    );
    // Keys belong to one API key.
    assert!(matches!(
        t.app.idempotency_begin(8, key, hash).unwrap(),
        Begin::Claimed { .. }
    ));
    let response = StoredResponse {
        request_hash: hash.to_vec(),
        status: 201,
        response: r#"{"id":1}"#.to_owned(),
    };
    assert!(
        t.app
            .idempotency_finish(api_key, key, claimed_at_micros, Some(&response))
            .unwrap()
    );
    assert_eq!(
        t.app.idempotency_begin(api_key, key, hash).unwrap(),
        Begin::Stored(response.clone())
    );
    // Finishing again changes nothing: the claim is over.
    assert!(
        !t.app
            .idempotency_finish(api_key, key, claimed_at_micros, None)
            .unwrap()
    );
    assert_eq!(
        t.app.idempotency_begin(api_key, key, hash).unwrap(),
        Begin::Stored(response)
    );
});

both_backends!(
    a_released_key_runs_again_and_an_abandoned_claim_is_taken_over,
    |t: &TestApp| {
        let (api_key, key, hash) = (3, "k-1", b"h".as_slice());
        let Begin::Claimed { claimed_at_micros } =
            t.app.idempotency_begin(api_key, key, hash).unwrap()
        else {
            panic!("claimed");
        };
        assert!(
            t.app
                .idempotency_finish(api_key, key, claimed_at_micros, None)
                .unwrap()
        );
        t.advance(SignedDuration::from_secs(1));
        let Begin::Claimed { claimed_at_micros } =
            t.app.idempotency_begin(api_key, key, hash).unwrap()
        else {
            panic!("a released key is claimed again");
        };
        // The holder dies: within the limit the key stays in flight, after it a retry of the
        // same request takes the claim over, but another request never does.
        t.advance(SignedDuration::from_secs(
            app::IDEMPOTENCY_CLAIM_ABANDONED_AFTER_SECONDS - 1,
        ));
        assert!(matches!(
            t.app.idempotency_begin(api_key, key, hash).unwrap(),
            Begin::InFlight { .. }
        ));
        t.advance(SignedDuration::from_secs(2));
        assert!(matches!(
            t.app.idempotency_begin(api_key, key, b"other").unwrap(),
            Begin::InFlight { .. }
        ));
        let Begin::Claimed {
            claimed_at_micros: taken_at,
        } = t.app.idempotency_begin(api_key, key, hash).unwrap()
        else {
            panic!("an abandoned claim is taken over");
        };
        assert!(taken_at > claimed_at_micros);
        // The old holder's late answer no longer lands; the new holder's does.
        let late = StoredResponse {
            request_hash: hash.to_vec(),
            status: 201,
            response: "{}".to_owned(),
        };
        assert!(
            !t.app
                .idempotency_finish(api_key, key, claimed_at_micros, Some(&late))
                .unwrap()
        );
        assert!(
            t.app
                .idempotency_finish(api_key, key, taken_at, Some(&late))
                .unwrap()
        );
    }
);
