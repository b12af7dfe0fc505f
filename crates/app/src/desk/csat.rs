//! Customer satisfaction (CSAT): one rating from 1 to 5 per solved ticket.
//!
//! A shop's systems rate through the API with their key ([`App::rate_ticket`]); a customer
//! rates through a survey link carrying an unguessable per-ticket token
//! (`/api/v1/desk/csat/{token}`, no key: [`App::csat_survey`], [`App::rate_by_token`]). The
//! token is [`CSAT_TOKEN_BYTES`] random bytes from the app's entropy, created once per ticket
//! by [`App::csat_link`] and shown again on later requests.
//!
//! Only a ticket that is solved or closed can be rated. One rating is kept per ticket: a
//! second one by key **replaces** the first (a shop relaying a customer's change of mind after
//! a follow-up), and the audit log records both values. The survey link itself takes one
//! answer (`survey_answered` after that: a link passed around, or opened by staff, cannot
//! overwrite the customer's answer — Chatwoot's design note warns of agents rating
//! themselves) and only within [`CSAT_LINK_DAYS`] days of its creation or of the ticket's last
//! solve, whichever is later (`survey_expired`; Zendesk's response window is 28 days): a ticket
//! reopened and solved again asks again on the link the customer already has. A ticket merged into another is rated on the
//! survivor. Each refusal is a [`CsatRefusal`] with its own API code.

use super::merge::survivor;
use crate::{App, AppError, AppResult, Principal};
use domain::desk::CsatRefusal;
use domain::sla::Status;
use jiff::Timestamp;
use store::desk as rows;
use store::desk_ops::{self, CsatRow};
use store::sql::Tx;

/// Random bytes of a survey token (32 hex characters, 128 bits).
pub const CSAT_TOKEN_BYTES: usize = 16;
/// The scale.
pub const CSAT_RATING_MIN: i64 = 1;
pub const CSAT_RATING_MAX: i64 = 5;
/// Days a survey link takes an answer, from its creation.
pub const CSAT_LINK_DAYS: i64 = 28;
/// Who a rating through the survey link is recorded as.
const LINK_RATER: &str = "csat_link";

/// A ticket's survey as its link shows it: no personal data, only the reference.
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct CsatView {
    pub ticket_id: i64,
    pub reference: String,
    pub status: String,
    pub rating: Option<i64>,
    pub rated_at: Option<Timestamp>,
}

fn check_rating(rating: i64) -> Result<i64, CsatRefusal> {
    if (CSAT_RATING_MIN..=CSAT_RATING_MAX).contains(&rating) {
        Ok(rating)
    } else {
        Err(CsatRefusal::RatingOutOfRange {
            min: CSAT_RATING_MIN,
            max: CSAT_RATING_MAX,
        })
    }
}

/// Whether the link still takes its answer at `now`; `done_at` is when the ticket last became
/// solved or closed (a link made before a reopening counts from the later solve).
fn check_link(c: &CsatRow, done_at: Option<Timestamp>, now: Timestamp) -> Result<(), CsatRefusal> {
    if c.rating.is_some() && c.rated_by.as_deref() == Some(LINK_RATER) {
        return Err(CsatRefusal::AlreadyAnswered);
    }
    let window = jiff::SignedDuration::from_hours(24 * CSAT_LINK_DAYS);
    let from = done_at.map_or(c.created_at, |d| d.max(c.created_at));
    if now.duration_since(from) > window {
        return Err(CsatRefusal::LinkExpired {
            days: CSAT_LINK_DAYS,
        });
    }
    Ok(())
}

/// A token as a link carries it: exactly 32 lower-case hex characters. Anything else is
/// "not found", like a token that does not exist.
fn well_formed(token: &str) -> bool {
    token.len() == CSAT_TOKEN_BYTES * 2
        && token
            .bytes()
            .all(|b| b.is_ascii_digit() || (b'a'..=b'f').contains(&b))
}

fn view(tx: &mut Tx<'_>, c: &CsatRow) -> AppResult<CsatView> {
    let t = rows::get_ticket(tx, c.ticket_id)?.ok_or(AppError::NotFound)?;
    Ok(CsatView {
        ticket_id: t.id,
        reference: t.reference,
        status: t.status,
        rating: c.rating,
        rated_at: c.rated_at,
    })
}

/// Stores a rating on a ticket (its CSAT row exists) with an audit entry naming the previous one.
fn rate(
    tx: &mut Tx<'_>,
    ticket_id: i64,
    rating: i64,
    actor: &str,
    now: Timestamp,
) -> AppResult<CsatView> {
    let t = rows::lock_ticket(tx, ticket_id)?.ok_or(AppError::NotFound)?;
    if !Status::parse(&t.status).is_some_and(Status::is_done) {
        return Err(AppError::CsatRefused(CsatRefusal::NotSolved));
    }
    let before = desk_ops::csat_of(tx, ticket_id)?.ok_or(AppError::NotFound)?;
    desk_ops::set_rating(tx, ticket_id, rating, actor, now.as_microsecond())?;
    let detail = match before.rating {
        Some(p) => format!("rating={rating} previous={p}"),
        None => format!("rating={rating}"),
    };
    store::audit::insert(
        tx,
        now.as_microsecond(),
        actor,
        "ticket.csat",
        Some(&format!("ticket:{ticket_id}")),
        Some(&detail),
    )?;
    let after = desk_ops::csat_of(tx, ticket_id)?.ok_or(AppError::NotFound)?;
    view(tx, &after)
}

impl App {
    /// The ticket's survey token, created on first request.
    pub fn csat_link(&self, who: &Principal, ticket_id: i64) -> AppResult<String> {
        let candidate = self.random_hex(CSAT_TOKEN_BYTES);
        let now = self.now_micros();
        let row = self.store.write(|tx| {
            let id = survivor(tx, ticket_id)?;
            rows::get_ticket(tx, id)?.ok_or(AppError::NotFound)?;
            let fresh = desk_ops::csat_of(tx, id)?.is_none();
            let row = desk_ops::ensure_csat(tx, id, &candidate, now)?;
            if fresh {
                store::audit::insert(
                    tx,
                    now,
                    &who.actor,
                    "ticket.csat_link",
                    Some(&format!("ticket:{id}")),
                    None,
                )?;
            }
            Ok::<_, AppError>(row)
        })?;
        Ok(row.token)
    }

    /// Rates a solved or closed ticket with a key (an integration relaying a survey).
    pub fn rate_ticket(&self, who: &Principal, ticket_id: i64, rating: i64) -> AppResult<CsatView> {
        let rating = check_rating(rating).map_err(AppError::CsatRefused)?;
        let candidate = self.random_hex(CSAT_TOKEN_BYTES);
        let now = self.now();
        let v = self.store.write(|tx| {
            let id = survivor(tx, ticket_id)?;
            rows::get_ticket(tx, id)?.ok_or(AppError::NotFound)?;
            desk_ops::ensure_csat(tx, id, &candidate, now.as_microsecond())?;
            rate(tx, id, rating, &who.actor, now)
        })?;
        tracing::info!(ticket_id = v.ticket_id, rating, "ticket rated");
        Ok(v)
    }

    /// The survey behind a token.
    pub fn csat_survey(&self, token: &str) -> AppResult<CsatView> {
        if !well_formed(token) {
            return Err(AppError::NotFound);
        }
        self.store.read(|tx| {
            let row = desk_ops::csat_by_token(tx, token)?.ok_or(AppError::NotFound)?;
            view(tx, &row)
        })
    }

    /// Rates the ticket behind a token (the customer's survey link; no key).
    pub fn rate_by_token(&self, token: &str, rating: i64) -> AppResult<CsatView> {
        if !well_formed(token) {
            return Err(AppError::NotFound);
        }
        let rating = check_rating(rating).map_err(AppError::CsatRefused)?;
        let now = self.now();
        let v = self.store.write(|tx| {
            let row = desk_ops::csat_by_token(tx, token)?.ok_or(AppError::NotFound)?;
            // Under the ticket's lock, so two answers racing cannot both be taken.
            rows::lock_ticket(tx, row.ticket_id)?;
            let row = desk_ops::csat_of(tx, row.ticket_id)?.ok_or(AppError::NotFound)?;
            let done_at = desk_ops::last_done_at(tx, row.ticket_id)?
                .map(store::instant)
                .transpose()?;
            check_link(&row, done_at, now).map_err(AppError::CsatRefused)?;
            rate(tx, row.ticket_id, rating, LINK_RATER, now)
        })?;
        tracing::info!(
            ticket_id = v.ticket_id,
            rating,
            "ticket rated by survey link"
        );
        Ok(v)
    }
}
