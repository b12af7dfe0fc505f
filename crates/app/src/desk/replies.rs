//! Templated replies and compensation on a ticket.
//!
//! Templates are the built-in defaults ([`domain::desk::reply`]) unless a shop stored its
//! own; a stored template is parsed against [`REPLY_VARIABLES`] when saved, so an unknown
//! variable is refused then. A reply is rendered from the ticket, its customer (honorific in
//! the customer's locale, returning when they ordered or wrote before) and its order; a
//! variable the ticket cannot fill (an order-status reply on a ticket without an order) is an
//! error, never a blank. On ticket creation on the channels that get one, the `ack`
//! template goes out as a system message marked `ack_only`: it fulfils the `ack` clock and
//! never `first_response`.
//!
//! Compensation posts points through the loyalty ledger ([`crate::points::post_correction`])
//! in the same transaction as the ticket log entry recording it, with the ticket's reference
//! in the ledger reason; agents may give up to
//! [`reply::COMPENSATION_POINTS_AGENT_MAX`], more needs
//! a manager.

use super::{Current, TicketView, change_ticket_tx};
use crate::{App, AppError, AppResult, Principal};
use anyhow::Context as _;
use domain::FieldError;
use domain::customer::Locale;
use domain::desk::reply::{
    self, COMPENSATION_POINTS_MAX, REPLY_VARIABLES, Title, compensation_limit, default_template,
    template_locale,
};
use domain::desk::{Body, Sender, TicketChannel, TicketEvent};
use domain::limits::REASON_CHARS_MAX;
use domain::template::{Context, Template, TemplateError};
use jiff::Timestamp;
use store::desk::{self as rows, TicketRow};
use store::sql::Tx;

/// Whether a ticket opened by the customer on `channel` gets an automatic acknowledgement:
/// messages that arrive unattended (e-mail, LINE, web form, social). Calls and counter
/// complaints are logged by staff who are talking to the customer already.
pub fn acknowledges(channel: TicketChannel) -> bool {
    matches!(
        channel,
        TicketChannel::Email | TicketChannel::Line | TicketChannel::Web | TicketChannel::Social
    )
}

/// A template as the API lists it.
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct TemplateView {
    pub key: String,
    pub locale: String,
    pub body: String,
    /// 0 for a built-in default never stored.
    pub version: i64,
    pub variables: Vec<String>,
}

/// What a compensation did.
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct CompensationView {
    pub ticket_id: i64,
    pub points: i64,
    /// The ledger reason: the ticket's reference and the agent's reason.
    pub reason: String,
    /// The ledger event the points were posted under.
    pub event_id: i64,
}

fn template_field_error(e: TemplateError) -> FieldError {
    FieldError::new("body", e.to_string())
}

/// The template text for a key and customer locale: stored (exact locale, then the
/// template locale), else the built-in default.
fn template_text(tx: &mut Tx<'_>, key: &str, locale: Locale) -> anyhow::Result<Option<String>> {
    let exact = match locale {
        Locale::ZhTw => "zh-TW",
        Locale::ZhHk => "zh-HK",
        Locale::En => "en",
    };
    for l in [exact, template_locale(locale)] {
        if let Some(row) = rows::get_template(tx, key, l)? {
            return Ok(Some(row.body));
        }
    }
    Ok(default_template(key, template_locale(locale)).map(str::to_owned))
}

/// The values a reply on `ticket` can use.
fn context(
    tx: &mut Tx<'_>,
    ticket: &TicketRow,
    title: Option<Title>,
    compensation: Option<i64>,
    settings: &crate::Settings,
) -> anyhow::Result<(Context, Locale)> {
    let mut ctx = Context::default();
    let mut locale = Locale::ZhTw;
    let mut name = None;
    let mut returning = false;
    if let Some(customer_id) = ticket.customer_id {
        if let Some(c) = store::customers::get(tx, customer_id)? {
            locale = Locale::parse(&c.locale).unwrap_or(Locale::ZhTw);
            name = c.name;
        }
        let (orders, tickets) = rows::customer_history(tx, customer_id, ticket.id)?;
        returning = orders > 0 || tickets > 0;
    }
    ctx.text(
        "customer.honorific",
        reply::honorific(name.as_deref(), title, locale),
    );
    ctx.flag("customer.returning", returning);
    ctx.text("ticket.reference", ticket.reference.clone());
    ctx.flag("order.known", ticket.order_event_id.is_some());
    // FAQ answers: the ticket's order or else the customer's latest, its amount and state;
    // the points balance; the reset link; the desk calendar's opening hours.
    let order_id = match (ticket.order_event_id, ticket.customer_id) {
        (Some(o), _) => Some(o),
        (None, Some(c)) => store::desk_triage::latest_order_of(tx, c)?,
        (None, None) => None,
    };
    if let Some(order_id) = order_id
        && let Some(order) = store::events::get(tx, order_id)?
    {
        let zone = jiff::tz::TimeZone::get("Asia/Taipei").unwrap_or(jiff::tz::TimeZone::UTC);
        ctx.text("order.id", order_id.to_string());
        ctx.text(
            "order.placed_on",
            order.occurred_at.to_zoned(zone).date().to_string(),
        );
        if let (Some(amount), Some(currency)) = (order.amount_minor, order.currency.as_deref()) {
            ctx.text("order.amount", format_amount(amount, currency));
        }
        let later = store::events::of_order(tx, order_id)?;
        let zh = !matches!(locale, Locale::En);
        let state = if later
            .iter()
            .any(|e| e.kind == domain::EventKind::OrderCancelled)
        {
            if zh { "已取消" } else { "cancelled" }
        } else if later
            .iter()
            .any(|e| e.kind == domain::EventKind::OrderRefunded)
        {
            if zh {
                "已退款（部分或全部）"
            } else {
                "refunded (in part or in full)"
            }
        } else if zh {
            "訂單已成立，處理中，無退款"
        } else {
            "placed and in progress, no refund"
        };
        ctx.text("order.state", state);
    }
    if let Some(customer_id) = ticket.customer_id
        && let Some(account) = store::ledger::customer_account(tx, customer_id)?
    {
        ctx.text("points.balance", account.balance.to_string());
    }
    ctx.text("account.reset_url", settings.password_reset_url.clone());
    if let Some(cal) = super::load_calendar_doc(tx, super::DEFAULT_CALENDAR_ID)? {
        ctx.text("store.hours", opening_hours(&cal.doc.weekly, locale));
    }
    ctx.flag("compensation.offered", compensation.is_some());
    if let Some(points) = compensation {
        ctx.text("compensation.points", points.to_string());
    }
    Ok((ctx, locale))
}

/// Renders template `key` for a ticket. `Ok(Err(..))` when the ticket cannot fill it.
fn render(
    tx: &mut Tx<'_>,
    ticket: &TicketRow,
    key: &str,
    title: Option<Title>,
    compensation: Option<i64>,
    settings: &crate::Settings,
    now: Timestamp,
) -> AppResult<String> {
    // A running A/B test of this key picks the ticket's variant (recorded); the use is recorded.
    let key = &super::ab::template_for(tx, ticket, key, now)?;
    let (ctx, locale) = context(tx, ticket, title, compensation, settings)?;
    let text = template_text(tx, key, locale)?
        .ok_or_else(|| FieldError::new("template", format!("no template {key:?}")))?;
    let template = Template::parse(&text, REPLY_VARIABLES)
        .map_err(|e| anyhow::anyhow!("stored template {key}: {e}"))?;
    template.render(&ctx).map_err(|e| {
        AppError::Invalid(FieldError::new(
            "template",
            format!("this ticket cannot fill template {key:?}: {e}"),
        ))
    })
}

/// Appends the automatic acknowledgement (template `ack`) to a just-opened ticket, and sends
/// it to LINE for a LINE ticket (by reply when the webhook gave a reply token).
pub(crate) fn acknowledge(
    tx: &mut Tx<'_>,
    ticket: &TicketRow,
    settings: &crate::Settings,
    now: Timestamp,
    attempts_max: i64,
    line_reply_token: Option<&str>,
) -> AppResult<()> {
    let text = render(tx, ticket, "ack", None, None, settings, now)?;
    let body = Body::parse(&text)?;
    let event = TicketEvent::Message {
        from: Sender::System,
        ack_only: true,
        body,
    };
    rows::append_event(tx, &super::event_row(ticket.id, now, "system", &event))?;
    if ticket.channel == TicketChannel::Line.as_str() {
        crate::line::enqueue_for_ticket(tx, ticket, &text, line_reply_token, now, attempts_max)?;
    } else if ticket.channel == TicketChannel::Email.as_str() {
        crate::email::enqueue_for_ticket(tx, ticket, &text, true, now, attempts_max)?;
    }
    Ok(())
}

/// `NT$1,234` for TWD minor units; other currencies as `USD 12.34`.
fn format_amount(minor: i64, currency: &str) -> String {
    let digits = |n: i64| {
        let s = n.abs().to_string();
        let mut out = String::new();
        for (i, c) in s.chars().enumerate() {
            if i > 0 && (s.len() - i).is_multiple_of(3) {
                out.push(',');
            }
            out.push(c);
        }
        out
    };
    let sign = if minor < 0 { "-" } else { "" };
    match currency {
        "TWD" if minor % 100 == 0 => format!("{sign}NT${}", digits(minor / 100)),
        "TWD" => format!(
            "{sign}NT${}.{:02}",
            digits(minor / 100),
            (minor % 100).abs()
        ),
        other => format!(
            "{sign}{other} {}.{:02}",
            digits(minor / 100),
            (minor % 100).abs()
        ),
    }
}

/// The weekly frames of a calendar as one line: `週一 09:00–12:00、13:00–18:00；…`.
fn opening_hours(w: &super::documents::WeeklyDoc, locale: Locale) -> String {
    let zh = !matches!(locale, Locale::En);
    let days = [
        ("週一", "Mon", &w.mon),
        ("週二", "Tue", &w.tue),
        ("週三", "Wed", &w.wed),
        ("週四", "Thu", &w.thu),
        ("週五", "Fri", &w.fri),
        ("週六", "Sat", &w.sat),
        ("週日", "Sun", &w.sun),
    ];
    let parts: Vec<String> = days
        .iter()
        .map(|(zh_day, en_day, frames)| {
            let spans: Vec<String> = frames
                .iter()
                .map(|f| format!("{}–{}", f.start, f.end))
                .collect();
            let day = if zh { zh_day } else { en_day };
            match (spans.is_empty(), zh) {
                (true, true) => format!("{day} 休息"),
                (true, false) => format!("{day} closed"),
                (false, true) => format!("{day} {}", spans.join("、")),
                (false, false) => format!("{day} {}", spans.join(", ")),
            }
        })
        .collect();
    parts.join(if zh { "；" } else { "; " })
}

/// Tier two of the auto-reply: the FAQ answer for `intent` as a system message marked
/// `ack_only` (it never answers for `first_response`), pushed to LINE on a LINE ticket and
/// mailed (as an automatic reply) on an e-mail ticket. A
/// ticket that cannot fill the template (no order, no customer) gets no answer: a person
/// takes it, and a system note says why.
pub(crate) fn answer_faq(
    tx: &mut Tx<'_>,
    ticket: &TicketRow,
    intent: domain::desk::classify::FaqIntent,
    with: &super::TriageContext<'_>,
    now: Timestamp,
    attempts_max: i64,
) -> AppResult<()> {
    let key = format!("faq_{}", intent.as_str());
    let (event, text) = match render(tx, ticket, &key, None, None, with.settings, now) {
        Ok(text) => (
            TicketEvent::Message {
                from: Sender::System,
                ack_only: true,
                body: Body::parse(&text)?,
            },
            Some(text),
        ),
        Err(AppError::Invalid(_)) => (
            TicketEvent::Note {
                from: Sender::System,
                body: Body::parse(&format!(
                    "FAQ intent {} recognised, but this ticket cannot fill template {key}: handed to a person.",
                    intent.as_str()
                ))?,
            },
            None,
        ),
        Err(e) => return Err(e),
    };
    rows::append_event(tx, &super::event_row(ticket.id, now, "system", &event))?;
    if let Some(text) = text {
        if ticket.channel == TicketChannel::Line.as_str() {
            crate::line::enqueue_for_ticket(tx, ticket, &text, None, now, attempts_max)?;
        } else if ticket.channel == TicketChannel::Email.as_str() {
            // An automatic reply: `Auto-Submitted: auto-replied`, within the per-sender limit.
            crate::email::enqueue_for_ticket(tx, ticket, &text, true, now, attempts_max)?;
        }
    }
    tracing::info!(
        ticket_id = ticket.id,
        intent = intent.as_str(),
        "FAQ auto-reply"
    );
    Ok(())
}

impl App {
    /// Every template: the stored ones and the built-in defaults not overridden.
    pub fn templates(&self) -> AppResult<Vec<TemplateView>> {
        let stored = self.store.read(rows::templates)?;
        let mut out: Vec<TemplateView> = Vec::new();
        for key in reply::TEMPLATE_KEYS {
            for locale in ["zh-TW", "en"] {
                if !stored.iter().any(|r| r.key == key && r.locale == locale) {
                    let body = default_template(key, locale).unwrap_or_default().to_owned();
                    out.push(view(key, locale, body, 0)?);
                }
            }
        }
        for r in stored {
            out.push(view(&r.key, &r.locale, r.body, r.version)?);
        }
        out.sort_by(|a, b| (&a.key, &a.locale).cmp(&(&b.key, &b.locale)));
        Ok(out)
    }

    /// Stores a template after parsing it against [`REPLY_VARIABLES`]: an unknown variable
    /// or a syntax error is refused here, naming it.
    pub fn put_template(
        &self,
        who: &Principal,
        key: &str,
        locale: &str,
        body: &str,
    ) -> AppResult<TemplateView> {
        if !reply::valid_template_key(key) {
            return Err(FieldError::new(
                "key",
                format!(
                    "1 to {} lower-case letters, digits or _",
                    reply::TEMPLATE_KEY_BYTES_MAX
                ),
            )
            .into());
        }
        if !reply::TEMPLATE_LOCALES.contains(&locale) {
            return Err(FieldError::new("locale", "must be zh-TW, zh-HK or en").into());
        }
        Template::parse(body, REPLY_VARIABLES).map_err(template_field_error)?;
        if body.trim().is_empty() {
            return Err(FieldError::new("body", "must not be blank").into());
        }
        let now = self.now_micros();
        let version = self.store.write(|tx| {
            let version = rows::put_template(tx, key, locale, body, now)?;
            store::audit::insert(
                tx,
                now,
                &who.actor,
                "template.put",
                Some(&format!("template:{key}:{locale}")),
                Some(&format!("version={version}")),
            )?;
            anyhow::Ok(version)
        })?;
        view(key, locale, body.to_owned(), version)
    }

    /// Renders template `key` for a ticket and adds it as the agent's message (sent to LINE
    /// for a LINE ticket). `title` (`mr`, `ms`, `manager`) chooses the honorific.
    pub fn reply_with_template(
        &self,
        who: &Principal,
        ticket_id: i64,
        key: &str,
        title: Option<&str>,
    ) -> AppResult<TicketView> {
        let title = title
            .map(|t| {
                Title::parse(t).ok_or_else(|| FieldError::new("title", "must be mr, ms or manager"))
            })
            .transpose()?;
        let now = self.now();
        let attempts_max = self.settings.job_attempts_max;
        self.store.write(|tx| {
            let row = rows::lock_ticket(tx, ticket_id)?.ok_or(AppError::NotFound)?;
            // A closed ticket takes no reply (`ticket_closed`), whether or not it could fill
            // the template.
            if let Some(status) = domain::sla::Status::parse(&row.status) {
                domain::desk::check_writable(status).map_err(super::refused)?;
            }
            let text = render(tx, &row, key, title, None, &self.settings, now)?;
            let body = Body::parse(&text)?;
            change_ticket_tx(
                tx,
                who,
                ticket_id,
                now,
                attempts_max,
                "ticket.reply",
                |state: &mut Current| super::message_log(state, Sender::Agent, false, body),
            )
        })?;
        self.ticket(ticket_id)
    }

    /// Gives the ticket's customer `points` as compensation: a ledger correction whose reason
    /// names the ticket, and a note in the ticket's log, in one transaction. Agents may give
    /// up to [`reply::COMPENSATION_POINTS_AGENT_MAX`]; managers and admins up to
    /// [`COMPENSATION_POINTS_MAX`]; others are `Forbidden`.
    pub fn compensate(
        &self,
        who: &Principal,
        ticket_id: i64,
        points: i64,
        reason: &str,
    ) -> AppResult<CompensationView> {
        if !(1..=COMPENSATION_POINTS_MAX).contains(&points) {
            return Err(FieldError::new(
                "points",
                format!("must be 1 to {COMPENSATION_POINTS_MAX}"),
            )
            .into());
        }
        let reason = reason.trim();
        if reason.is_empty() || reason.chars().count() > 200 {
            return Err(FieldError::new("reason", "must be 1 to 200 characters").into());
        }
        match compensation_limit(who.role) {
            Some(limit) if points <= limit => {}
            _ => return Err(AppError::Forbidden),
        }
        let now = self.now();
        let external_id = format!("compensation-{}", self.random_hex(12));
        let allow_negative = self.settings.allow_negative_balance;
        let attempts_max = self.settings.job_attempts_max;
        let view = self.store.write(|tx| {
            let row = rows::lock_ticket(tx, ticket_id)?.ok_or(AppError::NotFound)?;
            let customer_id = row.customer_id.ok_or_else(|| {
                FieldError::new("ticket", "the ticket has no customer to compensate")
            })?;
            let ledger_reason: String = format!("客訴補償 {}: {reason}", row.reference)
                .chars()
                .take(REASON_CHARS_MAX)
                .collect();
            let entry = crate::points::post_correction(
                tx,
                who,
                customer_id,
                points,
                &ledger_reason,
                &external_id,
                now.as_microsecond(),
                allow_negative,
            )?;
            let note = Body::parse(&format!(
                "Compensation: {points} points (ledger event {}). {reason}",
                entry.event_id
            ))?;
            change_ticket_tx(
                tx,
                who,
                ticket_id,
                now,
                attempts_max,
                "ticket.compensate",
                |state: &mut Current| {
                    domain::desk::check_writable(state.status).map_err(super::refused)?;
                    Ok(vec![TicketEvent::Note {
                        from: Sender::Agent,
                        body: note,
                    }])
                },
            )?;
            Ok::<_, AppError>(CompensationView {
                ticket_id,
                points,
                reason: ledger_reason,
                event_id: entry.event_id,
            })
        })?;
        tracing::info!(ticket_id, points, "compensation posted");
        Ok(view)
    }
}

fn view(key: &str, locale: &str, body: String, version: i64) -> AppResult<TemplateView> {
    let variables = Template::parse(&body, REPLY_VARIABLES)
        .with_context(|| format!("template {key} {locale}"))?
        .variables();
    Ok(TemplateView {
        key: key.to_owned(),
        locale: locale.to_owned(),
        body,
        version,
        variables,
    })
}
