//! Reference numbers, input limits, the status rules of messages and the SLA timeline.

use super::*;
use crate::sla::{Author, Status};

fn at(s: &str) -> Timestamp {
    s.parse().unwrap()
}

#[test]
fn references_round_trip_and_are_found_in_subjects() {
    let r = Reference {
        year: 2026,
        ticket_id: 123,
    };
    assert_eq!(r.to_string(), "T-2026-000123");
    assert_eq!(Reference::parse("T-2026-000123"), Some(r));
    assert_eq!(
        Reference::parse("T-2026-1234567").map(|r| r.ticket_id),
        Some(1_234_567)
    );
    for bad in [
        "T-2026-123",
        "T-26-000123",
        "X-2026-000123",
        "T-2026-000000",
        "T-2026-00012a",
        "T2026000123",
        "",
        "T-2026-",
        "T-2026-99999999999999999999",
    ] {
        assert_eq!(Reference::parse(bad), None, "{bad}");
    }
    assert_eq!(
        Reference::find_in("Re: 訂單問題 [T-2026-000123] 謝謝"),
        Some(r)
    );
    assert_eq!(Reference::find_in("Re: AT-2026-000123"), None);
    assert_eq!(Reference::find_in("沒有編號"), None);
}

#[test]
fn bodies_subjects_and_assignees_are_bounded() {
    assert!(Body::parse("  \n").is_err());
    assert!(Body::parse("a\0b").is_err());
    assert!(Body::parse(&"字".repeat(TICKET_BODY_BYTES_MAX / 3)).is_ok());
    assert!(Body::parse(&"字".repeat(TICKET_BODY_BYTES_MAX / 3 + 1)).is_err());
    assert_eq!(parse_subject("  退貨問題 ").unwrap(), "退貨問題");
    assert!(parse_subject("a\nb").is_err());
    assert!(parse_subject(&"字".repeat(TICKET_SUBJECT_CHARS_MAX + 1)).is_err());
    assert!(parse_assignee("amy.chen@desk").is_ok());
    for bad in ["", "王小明", "a b", &"a".repeat(ASSIGNEE_BYTES_MAX + 1)] {
        assert!(parse_assignee(bad).is_err(), "{bad}");
    }
}

#[test]
fn names_round_trip() {
    for c in TicketChannel::ALL {
        assert_eq!(TicketChannel::parse(c.as_str()), Ok(c));
    }
    for c in Category::ALL {
        assert_eq!(Category::parse(c.as_str()), Ok(c));
    }
    for p in [
        Priority::Low,
        Priority::Normal,
        Priority::High,
        Priority::Urgent,
    ] {
        assert_eq!(parse_priority(priority_as_str(p)), Ok(p));
    }
    for s in Sender::ALL {
        assert_eq!(Sender::parse(s.as_str()), Ok(s));
    }
    assert!(TicketChannel::parse("fax").is_err());
    assert!(parse_status("pending").is_err());
}

#[test]
fn messages_reopen_open_or_are_refused() {
    use Sender::*;
    use Status::*;
    let cases = [
        (Customer, New, Ok(None)),
        (Customer, Open, Ok(None)),
        (Customer, WaitingOnCustomer, Ok(Some(Open))),
        (Customer, WaitingOnThirdParty, Ok(None)),
        (Customer, Solved, Ok(Some(Open))),
        (Customer, Closed, Ok(Some(Open))),
        (Agent, New, Ok(Some(Open))),
        (Ai, New, Ok(Some(Open))),
        (System, New, Ok(None)),
        (Agent, Solved, Ok(None)),
        (Agent, Closed, Err(TicketRefusal::Closed)),
        (System, Closed, Err(TicketRefusal::Closed)),
    ];
    for (from, status, expect) in cases {
        assert_eq!(
            status_after_message(status, from),
            expect,
            "{from:?} on {status:?}"
        );
    }
    assert_eq!(status_change(Open, Open), Ok(None));
    assert_eq!(status_change(Open, New), Err(TicketRefusal::BackToNew));
    assert_eq!(status_change(Closed, Open), Ok(Some(Open)));
    assert_eq!(check_writable(Closed), Err(TicketRefusal::Closed));
}

#[test]
fn timeline_starts_at_the_opening_message_and_keeps_clock_events() {
    let created = at("2026-03-02T01:00:00Z");
    let body = Body::parse("包裹還沒到").unwrap();
    let events = [
        TicketEvent::Opened {
            channel: TicketChannel::Line,
            by: Party::Customer,
        },
        TicketEvent::Message {
            from: Sender::Customer,
            ack_only: false,
            body: body.clone(),
        },
        TicketEvent::Message {
            from: Sender::System,
            ack_only: true,
            body: body.clone(),
        },
        TicketEvent::Assigned {
            assignee: Some("amy".into()),
        },
        TicketEvent::Message {
            from: Sender::Agent,
            ack_only: false,
            body: body.clone(),
        },
        TicketEvent::Status {
            from: Status::Open,
            to: Status::Solved,
        },
    ];
    let times = [
        created,
        created,
        created,
        at("2026-03-02T01:05:00Z"),
        at("2026-03-02T01:10:00Z"),
        at("2026-03-02T01:20:00Z"),
    ];
    let log: Vec<_> = times.iter().copied().zip(events.iter()).collect();
    let t = timeline(created, Party::Customer, &log).unwrap();
    let activities: Vec<_> = t.entries().iter().map(|e| e.activity).collect();
    assert_eq!(
        activities,
        vec![
            Activity::Reply {
                author: Author::System,
                ack_only: true
            },
            Activity::Reply {
                author: Author::Human,
                ack_only: false
            },
            Activity::Status(Status::Solved),
        ]
    );
    assert_eq!(current_status(events.iter()), Status::Solved);
}
