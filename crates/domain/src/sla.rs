//! The SLA engine: which response promises a ticket is under, when each is due, when to warn,
//! and which were kept or breached — computed, never stored, from the ticket's timeline.
//!
//! It follows helpdesk.md §B.2. A [`Policy`] (chosen by channel / priority / tier / category,
//! first match wins) sets a [`Target`] per [`ClockKind`] and which [`Status`]es pause which
//! clock. [`evaluate`] replays a [`Timeline`] up to `now` and returns every clock instance with
//! its deadline, warning instant and outcome, plus the [`ClockEvent`]s that have happened; the
//! caller persists new events ([`new_events`]) and schedules a job at [`next_timer`]. Because
//! deadlines are always recomputed from the clocks' original start instants, a policy, priority
//! or calendar change re-evaluates correctly (Zammad and Zendesk behaviour; GLPI's loss of
//! pause time on SLA change is the bug we avoid).
//!
//! Time is counted in [`Calendar`] business time or in calendar time per target, minus the
//! clock's pauses, at nanosecond resolution (Zammad rounds to minutes; we keep seconds exact).

use crate::FieldError;
use crate::calendar::{Basis, Calendar, Interval, SLA_SEARCH_DAYS_MAX, TimeError};
use jiff::{SignedDuration, Timestamp};
use std::collections::HashSet;
use std::fmt;

/// Shortest target: Zendesk's minimum, short enough for any chat promise.
pub const SLA_TARGET_SECONDS_MIN: i64 = 15;
/// Longest duration target (a year), in seconds.
pub const SLA_TARGET_SECONDS_MAX: i64 = 366 * 86_400;
/// Furthest end-of-business-day target, in business days after the start's business day.
pub const SLA_BUSINESS_DAYS_MAX: u16 = 60;
/// Longest warning lead, in seconds (a week).
pub const SLA_WARNING_LEAD_SECONDS_MAX: i64 = 7 * 86_400;
/// Entries in one ticket timeline.
pub const TIMELINE_ENTRIES_MAX: usize = 10_000;
/// Policies in one ordered policy list.
pub const SLA_POLICIES_MAX: usize = 200;
/// Pause intervals accepted by [`preview`].
pub const SLA_PAUSES_MAX: usize = 1_000;

/// The promises a desk tracks (helpdesk.md §B.2 clock table).
#[derive(Debug, Clone, Copy, PartialEq, Eq, PartialOrd, Ord, Hash)]
pub enum ClockKind {
    /// Acknowledgement: any outbound public message, auto-ack included.
    Ack,
    /// Substantive first answer by a person (or an AI agent if the policy allows).
    FirstResponse,
    /// Each unanswered customer message until the next agent answer (recurring).
    NextResponse,
    /// An agent update at least every target, until solved (recurring).
    PeriodicUpdate,
    /// Creation until solved.
    Resolution,
    /// In-store: an answer or a solve by the close of the business day.
    SameDay,
    /// In-store: a logged follow-up contact by the close of the next business day.
    FollowUp,
}

impl ClockKind {
    pub const ALL: [ClockKind; 7] = [
        ClockKind::Ack,
        ClockKind::FirstResponse,
        ClockKind::NextResponse,
        ClockKind::PeriodicUpdate,
        ClockKind::Resolution,
        ClockKind::SameDay,
        ClockKind::FollowUp,
    ];

    pub fn as_str(self) -> &'static str {
        match self {
            ClockKind::Ack => "ack",
            ClockKind::FirstResponse => "first_response",
            ClockKind::NextResponse => "next_response",
            ClockKind::PeriodicUpdate => "periodic_update",
            ClockKind::Resolution => "resolution",
            ClockKind::SameDay => "same_day",
            ClockKind::FollowUp => "follow_up",
        }
    }

    pub fn parse(s: &str) -> Option<ClockKind> {
        ClockKind::ALL.into_iter().find(|k| k.as_str() == s)
    }

    fn index(self) -> usize {
        self as usize
    }
}

impl fmt::Display for ClockKind {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        f.write_str(self.as_str())
    }
}

/// Ticket statuses as far as SLA clocks care.
#[derive(Debug, Clone, Copy, PartialEq, Eq, Hash)]
pub enum Status {
    New,
    Open,
    WaitingOnCustomer,
    WaitingOnThirdParty,
    Solved,
    Closed,
}

impl Status {
    pub const ALL: [Status; 6] = [
        Status::New,
        Status::Open,
        Status::WaitingOnCustomer,
        Status::WaitingOnThirdParty,
        Status::Solved,
        Status::Closed,
    ];

    pub fn as_str(self) -> &'static str {
        match self {
            Status::New => "new",
            Status::Open => "open",
            Status::WaitingOnCustomer => "waiting_on_customer",
            Status::WaitingOnThirdParty => "waiting_on_third_party",
            Status::Solved => "solved",
            Status::Closed => "closed",
        }
    }

    pub fn parse(s: &str) -> Option<Status> {
        Status::ALL.into_iter().find(|k| k.as_str() == s)
    }

    /// Solved or closed: the ticket is done until reopened.
    pub fn is_done(self) -> bool {
        matches!(self, Status::Solved | Status::Closed)
    }

    fn bit(self) -> u8 {
        1 << (self as u8)
    }
}

/// A set of statuses, e.g. those that pause one clock.
#[derive(Debug, Clone, Copy, PartialEq, Eq, Hash, Default)]
pub struct StatusSet(u8);

impl StatusSet {
    pub fn of(statuses: &[Status]) -> StatusSet {
        StatusSet(statuses.iter().fold(0, |bits, s| bits | s.bit()))
    }

    pub fn contains(self, status: Status) -> bool {
        self.0 & status.bit() != 0
    }

    pub fn with(self, status: Status) -> StatusSet {
        StatusSet(self.0 | status.bit())
    }
}

/// Where a ticket came in; selects the default targets (helpdesk.md §B.2 channel table).
#[derive(Debug, Clone, Copy, PartialEq, Eq, Hash)]
pub enum Channel {
    /// IM and social: LINE, Facebook, Instagram, web chat.
    Im,
    Email,
    /// Phone, with a callback promise; a logged outbound call is a reply.
    Phone,
    InStore,
    Other,
}

#[derive(Debug, Clone, Copy, PartialEq, Eq, PartialOrd, Ord, Hash)]
pub enum Priority {
    Low,
    Normal,
    High,
    Urgent,
}

/// How a target's deadline is computed.
#[derive(Debug, Clone, Copy, PartialEq, Eq, Hash)]
pub enum TargetRule {
    /// This much open time of the calendar, pauses excluded.
    Business(SignedDuration),
    /// This much wall-clock time, pauses excluded (what customers count).
    Calendar(SignedDuration),
    /// The close of the start's business day (`0`, "same day") or of a later business day.
    /// Pauses do not move it: the promise is a time of day.
    EndOfBusinessDay(u16),
}

/// A validated target. Build it with [`Target::business`], [`Target::calendar`] or
/// [`Target::end_of_business_day`].
#[derive(Debug, Clone, Copy, PartialEq, Eq, Hash)]
pub struct Target(TargetRule);

impl Target {
    fn duration(field: &str, duration: SignedDuration) -> Result<SignedDuration, FieldError> {
        let seconds = duration.as_secs();
        if duration.subsec_nanos() != 0
            || !(SLA_TARGET_SECONDS_MIN..=SLA_TARGET_SECONDS_MAX).contains(&seconds)
        {
            return Err(FieldError::new(
                field,
                format!(
                    "must be whole seconds from {SLA_TARGET_SECONDS_MIN} to {SLA_TARGET_SECONDS_MAX}"
                ),
            ));
        }
        Ok(duration)
    }

    /// `duration` of business time.
    pub fn business(duration: SignedDuration) -> Result<Target, FieldError> {
        Ok(Target(TargetRule::Business(Target::duration(
            "target.business",
            duration,
        )?)))
    }

    /// `duration` of calendar (wall-clock) time.
    pub fn calendar(duration: SignedDuration) -> Result<Target, FieldError> {
        Ok(Target(TargetRule::Calendar(Target::duration(
            "target.calendar",
            duration,
        )?)))
    }

    /// The close of the business day `days_after` business days after the start's.
    pub fn end_of_business_day(days_after: u16) -> Result<Target, FieldError> {
        if days_after > SLA_BUSINESS_DAYS_MAX {
            return Err(FieldError::new(
                "target.end_of_business_day",
                format!("must be 0 to {SLA_BUSINESS_DAYS_MAX}"),
            ));
        }
        Ok(Target(TargetRule::EndOfBusinessDay(days_after)))
    }

    /// `minutes` of business time.
    pub fn business_minutes(minutes: i64) -> Result<Target, FieldError> {
        Target::business(SignedDuration::from_secs(minutes.saturating_mul(60)))
    }

    /// `minutes` of calendar time.
    pub fn calendar_minutes(minutes: i64) -> Result<Target, FieldError> {
        Target::calendar(SignedDuration::from_secs(minutes.saturating_mul(60)))
    }

    pub fn rule(self) -> TargetRule {
        self.0
    }

    /// Known-valid constants for the default policies.
    const fn fixed(rule: TargetRule) -> Target {
        Target(rule)
    }
}

const fn business_mins(minutes: i64) -> Target {
    Target::fixed(TargetRule::Business(SignedDuration::from_secs(
        minutes * 60,
    )))
}

const fn calendar_hours(hours: i64) -> Target {
    Target::fixed(TargetRule::Calendar(SignedDuration::from_secs(
        hours * 3_600,
    )))
}

/// When a warning fires: `lead` before the deadline, in the target's own time (business time
/// for business targets, GLPI #22678). A business-time warning that falls outside open hours
/// moves to the next opening unless `outside_open_hours` (Zammad #4432: no midnight pings).
#[derive(Debug, Clone, Copy, PartialEq, Eq, Hash)]
pub struct WarningRule {
    lead: SignedDuration,
    outside_open_hours: bool,
}

impl WarningRule {
    pub fn new(lead: SignedDuration, outside_open_hours: bool) -> Result<WarningRule, FieldError> {
        if lead.subsec_nanos() != 0 || !(1..=SLA_WARNING_LEAD_SECONDS_MAX).contains(&lead.as_secs())
        {
            return Err(FieldError::new(
                "warning.lead",
                format!("must be whole seconds from 1 to {SLA_WARNING_LEAD_SECONDS_MAX}"),
            ));
        }
        Ok(WarningRule {
            lead,
            outside_open_hours,
        })
    }

    pub fn lead(self) -> SignedDuration {
        self.lead
    }

    pub fn outside_open_hours(self) -> bool {
        self.outside_open_hours
    }
}

/// Whether resolution stops at the first solve or keeps counting after a reopen.
#[derive(Debug, Clone, Copy, PartialEq, Eq, Hash, Default)]
pub enum ResolutionMode {
    /// Fulfilled by the first solve; a reopen does not restart it (Zendesk, Zammad).
    #[default]
    FirstSolve,
    /// Time while not solved adds up across reopens; fulfilled only while solved.
    Total,
}

/// Which tickets a policy applies to. An empty list matches anything; all lists must match.
#[derive(Debug, Clone, PartialEq, Eq, Default)]
pub struct Condition {
    pub channels: Vec<Channel>,
    pub priorities: Vec<Priority>,
    pub tiers: Vec<String>,
    pub categories: Vec<String>,
}

/// What policy selection looks at.
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct TicketFacts {
    pub channel: Channel,
    pub priority: Priority,
    pub tier: Option<String>,
    pub category: Option<String>,
}

fn matches_text(allowed: &[String], value: Option<&String>) -> bool {
    allowed.is_empty() || value.is_some_and(|v| allowed.contains(v))
}

impl Condition {
    pub fn matches(&self, facts: &TicketFacts) -> bool {
        (self.channels.is_empty() || self.channels.contains(&facts.channel))
            && (self.priorities.is_empty() || self.priorities.contains(&facts.priority))
            && matches_text(&self.tiers, facts.tier.as_ref())
            && matches_text(&self.categories, facts.category.as_ref())
    }
}

/// Targets, pause rules and warnings for the tickets matching `when`.
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct Policy {
    pub name: String,
    pub when: Condition,
    /// Target per clock, indexed like [`ClockKind::ALL`]; `None` = the clock is not tracked.
    pub targets: [Option<Target>; 7],
    /// Statuses pausing each clock, indexed like [`ClockKind::ALL`].
    pub pauses: [StatusSet; 7],
    pub warning: Option<WarningRule>,
    /// Whether an AI agent's public reply fulfils response clocks (system auto-replies never do).
    pub ai_replies_count: bool,
    /// Whether an internal note fulfils a periodic update (Zendesk's advanced option).
    pub notes_count_as_update: bool,
    pub resolution_mode: ResolutionMode,
}

/// The default pause flags of helpdesk.md §B.2: periodic updates pause while waiting on the
/// customer; resolution also while waiting on a third party; response clocks never pause.
pub fn default_pauses() -> [StatusSet; 7] {
    let mut pauses = [StatusSet::default(); 7];
    pauses[ClockKind::PeriodicUpdate.index()] = StatusSet::of(&[Status::WaitingOnCustomer]);
    pauses[ClockKind::Resolution.index()] =
        StatusSet::of(&[Status::WaitingOnCustomer, Status::WaitingOnThirdParty]);
    pauses
}

/// Fifteen business minutes before the deadline, never outside open hours (Zammad's default).
pub const DEFAULT_WARNING_LEAD_SECONDS: i64 = 15 * 60;

impl Policy {
    /// A policy with no clocks, the default pause flags and no warning.
    pub fn new(name: impl Into<String>) -> Policy {
        Policy {
            name: name.into(),
            when: Condition::default(),
            targets: [None; 7],
            pauses: default_pauses(),
            warning: None,
            ai_replies_count: false,
            notes_count_as_update: false,
            resolution_mode: ResolutionMode::FirstSolve,
        }
    }

    pub fn with_target(mut self, kind: ClockKind, target: Target) -> Policy {
        self.targets[kind.index()] = Some(target);
        self
    }

    pub fn with_pauses(mut self, kind: ClockKind, statuses: &[Status]) -> Policy {
        self.pauses[kind.index()] = StatusSet::of(statuses);
        self
    }

    pub fn with_warning(mut self, warning: WarningRule) -> Policy {
        self.warning = Some(warning);
        self
    }

    pub fn target(&self, kind: ClockKind) -> Option<Target> {
        self.targets[kind.index()]
    }

    pub fn pauses_for(&self, kind: ClockKind) -> StatusSet {
        self.pauses[kind.index()]
    }
}

/// The built-in policy for a channel and priority: the targets table of helpdesk.md §B.2,
/// from the source article (IM 1 h; e-mail ack 4 h, answer 24 h; phone callback 2 h; in-store
/// same day and follow-up the next day; updates every 24 h; resolution 24–72 h).
///
/// Decisions: targets of up to 4 h count business time (an IM at 17:55 is answered at 09:55
/// the next working day); targets of 24 h and more count calendar time, because that is how
/// customers read "24 小時內" ("I wrote on Friday, you answered Monday"). Resolution is 24 h
/// for urgent and high, 48 h for normal, 72 h for low priority. Edit per shop.
pub fn default_policy(channel: Channel, priority: Priority) -> Policy {
    let name = match channel {
        Channel::Im => "default_im",
        Channel::Email => "default_email",
        Channel::Phone => "default_phone",
        Channel::InStore => "default_in_store",
        Channel::Other => "default",
    };
    let resolution = match priority {
        Priority::Urgent | Priority::High => calendar_hours(24),
        Priority::Normal => calendar_hours(48),
        Priority::Low => calendar_hours(72),
    };
    let mut policy = Policy::new(name)
        .with_target(ClockKind::PeriodicUpdate, calendar_hours(24))
        .with_target(ClockKind::Resolution, resolution);
    policy.warning = Some(WarningRule {
        lead: SignedDuration::from_secs(DEFAULT_WARNING_LEAD_SECONDS),
        outside_open_hours: false,
    });
    match channel {
        Channel::Im => policy
            .with_target(ClockKind::FirstResponse, business_mins(60))
            .with_target(ClockKind::NextResponse, business_mins(60)),
        Channel::Email => policy
            .with_target(ClockKind::Ack, business_mins(4 * 60))
            .with_target(ClockKind::FirstResponse, calendar_hours(24))
            .with_target(ClockKind::NextResponse, calendar_hours(24)),
        Channel::Phone => policy.with_target(ClockKind::FirstResponse, business_mins(2 * 60)),
        Channel::InStore => policy
            .with_target(
                ClockKind::SameDay,
                Target::fixed(TargetRule::EndOfBusinessDay(0)),
            )
            .with_target(
                ClockKind::FollowUp,
                Target::fixed(TargetRule::EndOfBusinessDay(1)),
            ),
        Channel::Other => policy
            .with_target(ClockKind::FirstResponse, business_mins(2 * 60))
            .with_target(ClockKind::NextResponse, business_mins(2 * 60)),
    }
}

/// An ordered policy list: the first policy whose [`Condition`] matches applies (explicit
/// position is the precedence, as in Zendesk; Zammad's by-name order surprises admins);
/// when none matches, [`default_policy`] for the ticket's channel and priority applies.
#[derive(Debug, Clone, PartialEq, Eq, Default)]
pub struct PolicySet {
    policies: Vec<Policy>,
}

impl PolicySet {
    pub fn new(policies: Vec<Policy>) -> Result<PolicySet, FieldError> {
        if policies.len() > SLA_POLICIES_MAX {
            return Err(FieldError::new(
                "policies",
                format!("at most {SLA_POLICIES_MAX} policies"),
            ));
        }
        Ok(PolicySet { policies })
    }

    pub fn policies(&self) -> &[Policy] {
        &self.policies
    }

    /// The policy for a ticket; re-run on every ticket event (priority or tier may change).
    pub fn select(&self, facts: &TicketFacts) -> Policy {
        self.policies
            .iter()
            .find(|p| p.when.matches(facts))
            .cloned()
            .unwrap_or_else(|| default_policy(facts.channel, facts.priority))
    }
}

/// Who opened the ticket.
#[derive(Debug, Clone, Copy, PartialEq, Eq, Hash)]
pub enum Party {
    Customer,
    Agent,
}

/// Who wrote an outbound message or note.
#[derive(Debug, Clone, Copy, PartialEq, Eq, Hash)]
pub enum Author {
    Human,
    Ai,
    /// Triggers and auto-replies: they acknowledge, they never answer.
    System,
}

/// What happened on a ticket, as far as the clocks care.
#[derive(Debug, Clone, Copy, PartialEq, Eq, Hash)]
pub enum Activity {
    /// A public message from the customer.
    CustomerMessage,
    /// A public outbound message (a logged outbound call counts). `ack_only` marks
    /// "we received it" templates, which satisfy `ack` but not a response.
    Reply {
        author: Author,
        ack_only: bool,
    },
    /// An internal note.
    Note {
        author: Author,
    },
    Status(Status),
    /// A logged follow-up contact (in-store promise).
    FollowUp,
}

#[derive(Debug, Clone, Copy, PartialEq, Eq, Hash)]
pub struct Entry {
    pub at: Timestamp,
    pub activity: Activity,
}

/// A ticket's history from the event log: creation (status `new`) then entries in time order.
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct Timeline {
    created_at: Timestamp,
    opened_by: Party,
    entries: Vec<Entry>,
}

impl Timeline {
    /// Entries must not precede creation and must be in time order (ties keep log order).
    pub fn new(
        created_at: Timestamp,
        opened_by: Party,
        entries: Vec<Entry>,
    ) -> Result<Timeline, FieldError> {
        if entries.len() > TIMELINE_ENTRIES_MAX {
            return Err(FieldError::new(
                "entries",
                format!("at most {TIMELINE_ENTRIES_MAX} entries"),
            ));
        }
        let mut previous = created_at;
        for (i, entry) in entries.iter().enumerate() {
            if entry.at < previous {
                return Err(FieldError::new(
                    format!("entries[{i}].at"),
                    "before the ticket's creation or the previous entry",
                ));
            }
            previous = entry.at;
        }
        Ok(Timeline {
            created_at,
            opened_by,
            entries,
        })
    }

    pub fn created_at(&self) -> Timestamp {
        self.created_at
    }

    pub fn opened_by(&self) -> Party {
        self.opened_by
    }

    pub fn entries(&self) -> &[Entry] {
        &self.entries
    }
}

/// What a clock did.
#[derive(Debug, Clone, Copy, PartialEq, Eq, Hash)]
pub enum ClockAction {
    Activate,
    Pause,
    Resume,
    Warn,
    Breach,
    Fulfill,
    /// The clock stopped without being fulfilled: a periodic update at solve, or a clock the
    /// current policy no longer has (see [`new_events`]).
    Cancel,
}

/// One metric event, after Zendesk's (activate, pause, fulfill, breach, …): the caller
/// persists them; the breach record is never retracted by a later recompute.
#[derive(Debug, Clone, Copy, PartialEq, Eq, Hash)]
pub struct ClockEvent {
    pub kind: ClockKind,
    /// 0 for one-shot clocks; the n-th instance of a recurring clock.
    pub instance: u32,
    pub action: ClockAction,
    pub at: Timestamp,
}

/// One clock instance as of `now`.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub struct ClockState {
    pub kind: ClockKind,
    pub instance: u32,
    pub target: Target,
    pub started_at: Timestamp,
    /// Counted time (business or calendar, per target) that fell in pauses, start to stop.
    pub paused_total: SignedDuration,
    /// The start of the pause in progress at `now`, if any.
    pub paused_since: Option<Timestamp>,
    /// The deadline; `None` only while paused before it is reached (unknown until resumed).
    pub due_at: Option<Timestamp>,
    pub warn_at: Option<Timestamp>,
    pub fulfilled_at: Option<Timestamp>,
    pub cancelled_at: Option<Timestamp>,
    pub breached_at: Option<Timestamp>,
    /// Counted time from start to fulfilment, cancellation or `now`, pauses excluded
    /// (Zammad's `*_in_min`).
    pub elapsed: SignedDuration,
    /// `target − elapsed` for duration targets (Zammad's `*_diff_in_min`; negative = late).
    pub margin: Option<SignedDuration>,
}

impl ClockState {
    /// Fulfilled or cancelled.
    pub fn is_stopped(&self) -> bool {
        self.fulfilled_at.is_some() || self.cancelled_at.is_some()
    }
}

/// Every clock of a ticket as of `now`, and the events that have happened by then.
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct SlaState {
    pub policy: String,
    pub now: Timestamp,
    pub clocks: Vec<ClockState>,
    /// Sorted by instant.
    pub events: Vec<ClockEvent>,
    /// How far the calendar was looked at for anything that decides `events`, the deadlines
    /// and [`next_timer`]: every open span, whole local date (end-of-business-day targets) and
    /// next opening the evaluation used lies before this instant or ends at it. `None`: nothing
    /// depends on the calendar (only calendar-time targets). Evaluating the same timeline with
    /// another calendar whose [`Calendar::first_difference`] is after this instant gives the
    /// same clocks, so a recompute after a calendar edit can skip the ticket. (Elapsed time
    /// and margins are measured up to `now` and may differ; they are shown, never stored.)
    pub calendar_horizon: Option<Timestamp>,
}

impl SlaState {
    /// The instances of one clock, in order.
    pub fn instances(&self, kind: ClockKind) -> impl Iterator<Item = &ClockState> {
        self.clocks.iter().filter(move |c| c.kind == kind)
    }

    /// The first (for one-shot clocks, the only) instance of a clock.
    pub fn clock(&self, kind: ClockKind) -> Option<&ClockState> {
        self.instances(kind).next()
    }

    /// The instance with the smallest margin ("keep every instance plus the worst").
    pub fn worst(&self, kind: ClockKind) -> Option<&ClockState> {
        self.instances(kind)
            .min_by_key(|c| c.margin.unwrap_or(SignedDuration::MAX))
    }
}

/// Why clocks could not be computed.
#[derive(Debug, Clone, Copy, PartialEq, Eq, thiserror::Error)]
pub enum SlaError {
    #[error("{clock}: {source}")]
    Clock { clock: ClockKind, source: TimeError },
    #[error(transparent)]
    Time(#[from] TimeError),
    #[error("pauses[{index}]: ends before it starts")]
    PauseEndsBeforeStart { index: usize },
    #[error("pauses: more than {SLA_PAUSES_MAX} intervals")]
    TooManyPauses,
}

/// How an instance stopped.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
enum Stop {
    Fulfilled(Timestamp),
    Cancelled(Timestamp),
}

#[derive(Debug, Clone, Copy)]
struct Instance {
    start: Timestamp,
    stop: Option<Stop>,
}

/// The timeline up to `now`, with statuses resolved.
struct Replay<'a> {
    created_at: Timestamp,
    opened_by: Party,
    entries: Vec<&'a Entry>,
    /// Status changes `(from, status)`, starting with `new` at creation.
    statuses: Vec<(Timestamp, Status)>,
}

impl<'a> Replay<'a> {
    fn new(timeline: &'a Timeline, now: Timestamp) -> Replay<'a> {
        let entries: Vec<&Entry> = timeline.entries.iter().filter(|e| e.at <= now).collect();
        let mut statuses = vec![(timeline.created_at, Status::New)];
        for entry in &entries {
            let current = statuses.last().map_or(Status::New, |s| s.1);
            match entry.activity {
                Activity::Status(status) => statuses.push((entry.at, status)),
                // Anti-gaming (§B.2): a customer message always ends a wait on the customer.
                Activity::CustomerMessage if current == Status::WaitingOnCustomer => {
                    statuses.push((entry.at, Status::Open));
                }
                _ => {}
            }
        }
        Replay {
            created_at: timeline.created_at,
            opened_by: timeline.opened_by,
            entries,
            statuses,
        }
    }

    /// Intervals spent in `set`, sorted and merged; one in progress ends at `Timestamp::MAX`.
    fn intervals_in(&self, set: StatusSet) -> Vec<Interval> {
        let mut out: Vec<Interval> = Vec::new();
        for (i, &(from, status)) in self.statuses.iter().enumerate() {
            if !set.contains(status) {
                continue;
            }
            let until = self.statuses.get(i + 1).map_or(Timestamp::MAX, |s| s.0);
            if until <= from {
                continue;
            }
            match out.last_mut() {
                Some(last) if from <= last.end => last.end = last.end.max(until),
                _ => out.push(Interval::new(from, until)),
            }
        }
        out
    }

    fn first_at(&self, from: Timestamp, pred: impl Fn(&Activity) -> bool) -> Option<Timestamp> {
        self.entries
            .iter()
            .find(|e| e.at >= from && pred(&e.activity))
            .map(|e| e.at)
    }
}

fn is_response(activity: &Activity, policy: &Policy) -> bool {
    match activity {
        Activity::Reply {
            author: Author::Human,
            ack_only: false,
        } => true,
        Activity::Reply {
            author: Author::Ai,
            ack_only: false,
        } => policy.ai_replies_count,
        _ => false,
    }
}

fn is_update(activity: &Activity, policy: &Policy) -> bool {
    is_response(activity, policy)
        || match activity {
            Activity::Note {
                author: Author::Human,
            } => policy.notes_count_as_update,
            Activity::Note { author: Author::Ai } => {
                policy.notes_count_as_update && policy.ai_replies_count
            }
            _ => false,
        }
}

fn one_shot(start: Timestamp, fulfilled: Option<Timestamp>) -> Vec<Instance> {
    vec![Instance {
        start,
        stop: fulfilled.map(Stop::Fulfilled),
    }]
}

/// The instances of one clock kind in a replayed timeline.
fn instances(kind: ClockKind, replay: &Replay<'_>, policy: &Policy) -> Vec<Instance> {
    let created = replay.created_at;
    match kind {
        ClockKind::Ack => match replay.opened_by {
            Party::Customer => one_shot(
                created,
                replay.first_at(created, |a| matches!(a, Activity::Reply { .. })),
            ),
            Party::Agent => Vec::new(),
        },
        ClockKind::FirstResponse => {
            let start = match replay.opened_by {
                Party::Customer => Some(created),
                Party::Agent => replay.first_at(created, |a| *a == Activity::CustomerMessage),
            };
            match start {
                Some(start) => one_shot(start, replay.first_at(start, |a| is_response(a, policy))),
                None => Vec::new(),
            }
        }
        ClockKind::NextResponse => {
            let mut out = Vec::new();
            let mut waiting = (replay.opened_by == Party::Customer).then_some(created);
            for entry in &replay.entries {
                if entry.activity == Activity::CustomerMessage {
                    // Counted from the oldest unanswered message: later ones do not move it.
                    waiting = waiting.or(Some(entry.at));
                } else if is_response(&entry.activity, policy)
                    && let Some(start) = waiting.take()
                {
                    out.push(Instance {
                        start,
                        stop: Some(Stop::Fulfilled(entry.at)),
                    });
                }
            }
            if let Some(start) = waiting {
                out.push(Instance { start, stop: None });
            }
            out
        }
        ClockKind::PeriodicUpdate => {
            let mut out = Vec::new();
            let mut running = Some(created);
            for entry in &replay.entries {
                match (entry.activity, running) {
                    (Activity::Status(status), Some(start)) if status.is_done() => {
                        out.push(Instance {
                            start,
                            stop: Some(Stop::Cancelled(entry.at)),
                        });
                        running = None;
                    }
                    (Activity::Status(status), None) if !status.is_done() => {
                        running = Some(entry.at);
                    }
                    (activity, Some(start)) if is_update(&activity, policy) => {
                        out.push(Instance {
                            start,
                            stop: Some(Stop::Fulfilled(entry.at)),
                        });
                        running = Some(entry.at);
                    }
                    _ => {}
                }
            }
            if let Some(start) = running {
                out.push(Instance { start, stop: None });
            }
            out
        }
        ClockKind::Resolution => {
            let solved = match policy.resolution_mode {
                ResolutionMode::FirstSolve => replay.first_at(
                    created,
                    |a| matches!(a, Activity::Status(status) if status.is_done()),
                ),
                ResolutionMode::Total => replay
                    .statuses
                    .last()
                    .filter(|s| s.1.is_done())
                    .map(|s| s.0),
            };
            one_shot(created, solved)
        }
        ClockKind::SameDay => one_shot(
            created,
            replay.first_at(created, |a| {
                is_response(a, policy) || matches!(a, Activity::Status(s) if s.is_done())
            }),
        ),
        ClockKind::FollowUp => one_shot(
            created,
            replay.first_at(created, |a| *a == Activity::FollowUp),
        ),
    }
}

/// A deadline, or `None` while a pause in progress hides it.
struct Deadline {
    due: Option<Timestamp>,
    warn: Option<Timestamp>,
    /// How far the calendar was looked at for `due` and `warn` (see
    /// [`SlaState::calendar_horizon`]); `None` for calendar-time targets, which never look.
    horizon: Option<Timestamp>,
}

fn search_limit(from: Timestamp) -> Timestamp {
    from.checked_add(SignedDuration::from_hours(24 * SLA_SEARCH_DAYS_MAX))
        .unwrap_or(Timestamp::MAX)
}

/// Deadline and warning instant of a target started at `start` under `pauses` (sorted,
/// disjoint; the last may run to `Timestamp::MAX`).
fn deadline(
    calendar: &Calendar,
    start: Timestamp,
    target: Target,
    pauses: &[Interval],
    warning: Option<WarningRule>,
) -> Result<Deadline, TimeError> {
    let (basis, amount) = match target.rule() {
        TargetRule::Business(amount) => (Basis::Business(calendar), amount),
        TargetRule::Calendar(amount) => (Basis::AllTime, amount),
        TargetRule::EndOfBusinessDay(days) => {
            let due = calendar.end_of_business_day(start, days)?;
            let basis = Basis::Business(calendar);
            let amount = basis.measure(start.min(due), due, pauses)?;
            let (warn, looked) = warning_at(calendar, basis, start, amount, due, pauses, warning)?;
            // The answer depends on whole local dates up to the deadline's.
            let horizon = calendar.next_midnight(due)?.max(looked.unwrap_or(due));
            return Ok(Deadline {
                due: Some(due),
                warn,
                horizon: Some(horizon),
            });
        }
    };
    let looks = matches!(basis, Basis::Business(_));
    let limit = search_limit(start);
    let open_pause = pauses.last().filter(|p| p.end == Timestamp::MAX);
    let cut = open_pause.map_or(limit, |p| p.start.min(limit));
    let Some(due) = basis.add_until(start, amount, pauses, cut)? else {
        if cut < limit {
            return Ok(Deadline {
                due: None,
                warn: None,
                // The search looked at the calendar up to the pause.
                horizon: looks.then_some(cut),
            });
        }
        return Err(TimeError::NoOpenTime { from: start });
    };
    let (warn, looked) = warning_at(calendar, basis, start, amount, due, pauses, warning)?;
    Ok(Deadline {
        due: Some(due),
        warn,
        horizon: looks.then(|| looked.map_or(due, |l| l.max(due))),
    })
}

/// `lead` before `due` in the target's own time: the first instant at which `amount − lead`
/// has been used. No warning when the lead is not shorter than the whole target. Also answers
/// how far the calendar was looked at (`None`: not at all, or not beyond `due`).
fn warning_at(
    calendar: &Calendar,
    basis: Basis<'_>,
    start: Timestamp,
    amount: SignedDuration,
    due: Timestamp,
    pauses: &[Interval],
    warning: Option<WarningRule>,
) -> Result<(Option<Timestamp>, Option<Timestamp>), TimeError> {
    let Some(rule) = warning else {
        return Ok((None, None));
    };
    let Some(before) = amount.checked_sub(rule.lead).filter(|d| d.is_positive()) else {
        return Ok((None, None));
    };
    let Some(raw) = basis.add_until(start, before, pauses, due)? else {
        return Ok((None, None));
    };
    match basis {
        Basis::Business(_) if !rule.outside_open_hours => {
            let open = calendar.next_open(raw)?;
            Ok((Some(open.min(due)), Some(open)))
        }
        _ => Ok((Some(raw), None)),
    }
}

/// Every clock of `policy` for `timeline` as of `now`, counted on `calendar`. Entries after
/// `now` are ignored, so the same call answers "as of" any past instant.
pub fn evaluate(
    timeline: &Timeline,
    policy: &Policy,
    calendar: &Calendar,
    now: Timestamp,
) -> Result<SlaState, SlaError> {
    let replay = Replay::new(timeline, now);
    let mut clocks = Vec::new();
    let mut events = Vec::new();
    let mut horizon: Option<Timestamp> = None;
    for kind in ClockKind::ALL {
        let Some(target) = policy.target(kind) else {
            continue;
        };
        let mut paused_by = policy.pauses_for(kind);
        if kind == ClockKind::Resolution && policy.resolution_mode == ResolutionMode::Total {
            paused_by = paused_by.with(Status::Solved).with(Status::Closed);
        }
        let pauses = replay.intervals_in(paused_by);
        let in_progress = pauses
            .last()
            .filter(|p| p.end == Timestamp::MAX)
            .map(|p| p.start);
        for (number, instance) in instances(kind, &replay, policy).into_iter().enumerate() {
            let number = u32::try_from(number).unwrap_or(u32::MAX);
            let (state, looked) = clock_state(
                kind,
                number,
                target,
                instance,
                &pauses,
                in_progress,
                policy.warning,
                calendar,
                now,
            )
            .map_err(|source| SlaError::Clock {
                clock: kind,
                source,
            })?;
            horizon = horizon.max(looked);
            clock_events(&state, &pauses, now, &mut events);
            clocks.push(state);
        }
    }
    // Nothing has happened after `now` (a clock that starts later is listed, not activated).
    events.retain(|e| e.at <= now);
    events.sort_by_key(|e| (e.at, e.kind, e.instance));
    Ok(SlaState {
        policy: policy.name.clone(),
        now,
        clocks,
        events,
        calendar_horizon: horizon,
    })
}

#[allow(clippy::too_many_arguments)]
fn clock_state(
    kind: ClockKind,
    instance: u32,
    target: Target,
    run: Instance,
    pauses: &[Interval],
    in_progress: Option<Timestamp>,
    warning: Option<WarningRule>,
    calendar: &Calendar,
    now: Timestamp,
) -> Result<(ClockState, Option<Timestamp>), TimeError> {
    let (fulfilled_at, cancelled_at) = match run.stop {
        Some(Stop::Fulfilled(at)) => (Some(at), None),
        Some(Stop::Cancelled(at)) => (None, Some(at)),
        None => (None, None),
    };
    let stop = fulfilled_at.or(cancelled_at);
    // Pauses after a stop cannot change its outcome; clipping them keeps the deadline known
    // when a ticket is parked right after being answered.
    let clipped: Vec<Interval>;
    let pauses = match stop {
        Some(stop) => {
            clipped = pauses
                .iter()
                .filter(|p| p.start < stop)
                .map(|p| Interval::new(p.start, p.end.min(stop)))
                .collect();
            &clipped[..]
        }
        None => pauses,
    };
    let Deadline { due, warn, horizon } = deadline(calendar, run.start, target, pauses, warning)?;
    let end = stop.unwrap_or(now).max(run.start);
    let breached_at = due.filter(|&due| match stop {
        Some(stop) => due < stop,
        None => due <= now,
    });
    let basis = match target.rule() {
        TargetRule::Calendar(_) => Basis::AllTime,
        _ => Basis::Business(calendar),
    };
    let elapsed = basis.measure(run.start, end, pauses)?;
    let gross = basis.measure(run.start, end, &[])?;
    let margin = match target.rule() {
        TargetRule::Business(amount) | TargetRule::Calendar(amount) => amount.checked_sub(elapsed),
        TargetRule::EndOfBusinessDay(_) => None,
    };
    let paused_since = in_progress.filter(|&p| stop.is_none() && p <= now);
    let state = ClockState {
        kind,
        instance,
        target,
        started_at: run.start,
        paused_total: gross.saturating_sub(elapsed),
        paused_since,
        due_at: due,
        warn_at: warn,
        fulfilled_at,
        cancelled_at,
        breached_at,
        elapsed,
        margin,
    };
    Ok((state, horizon))
}

fn clock_events(
    state: &ClockState,
    pauses: &[Interval],
    now: Timestamp,
    out: &mut Vec<ClockEvent>,
) {
    let mut push = |action, at| {
        out.push(ClockEvent {
            kind: state.kind,
            instance: state.instance,
            action,
            at,
        });
    };
    push(ClockAction::Activate, state.started_at);
    let stop = state.fulfilled_at.or(state.cancelled_at);
    let end = stop.unwrap_or(now);
    for pause in pauses {
        if pause.end <= state.started_at || pause.start >= end {
            continue;
        }
        push(ClockAction::Pause, pause.start.max(state.started_at));
        if pause.end < end {
            push(ClockAction::Resume, pause.end);
        }
    }
    if let Some(warn) = state.warn_at {
        let before_stop = stop.is_none_or(|s| warn < s);
        if warn <= now && before_stop && state.due_at.is_some_and(|due| warn < due) {
            push(ClockAction::Warn, warn);
        }
    }
    if let Some(breach) = state.breached_at {
        push(ClockAction::Breach, breach);
    }
    if let Some(at) = state.fulfilled_at {
        push(ClockAction::Fulfill, at);
    }
    if let Some(at) = state.cancelled_at {
        push(ClockAction::Cancel, at);
    }
}

/// The next instant something happens without a new ticket event: the earliest future warning
/// or deadline of a running clock. Schedule a job exactly then and call [`evaluate`] again.
pub fn next_timer(state: &SlaState) -> Option<Timestamp> {
    state
        .clocks
        .iter()
        .filter(|c| !c.is_stopped() && c.paused_since.is_none())
        .flat_map(|c| [c.warn_at, c.due_at])
        .flatten()
        .filter(|&at| at > state.now)
        .min()
}

/// The events of `state` not yet in `persisted`, plus a `Cancel` (at `state.now`) for each
/// instance that was activated and not stopped but that the current policy no longer has
/// (a deactivated SLA cancels its escalations with an event, Zammad #4353). Pause and resume
/// are matched by instant; the other actions happen at most once per instance, so a breach
/// already persisted is never emitted again nor taken back.
pub fn new_events(persisted: &[ClockEvent], state: &SlaState) -> Vec<ClockEvent> {
    let key = |e: &ClockEvent| match e.action {
        ClockAction::Pause | ClockAction::Resume => (e.kind, e.instance, e.action, Some(e.at)),
        _ => (e.kind, e.instance, e.action, None),
    };
    let seen: HashSet<_> = persisted.iter().map(key).collect();
    let mut out: Vec<ClockEvent> = state
        .events
        .iter()
        .filter(|e| !seen.contains(&key(e)))
        .copied()
        .collect();
    let present: HashSet<(ClockKind, u32)> =
        state.clocks.iter().map(|c| (c.kind, c.instance)).collect();
    let stopped: HashSet<(ClockKind, u32)> = persisted
        .iter()
        .filter(|e| matches!(e.action, ClockAction::Fulfill | ClockAction::Cancel))
        .map(|e| (e.kind, e.instance))
        .collect();
    let mut cancelled = HashSet::new();
    for event in persisted {
        let id = (event.kind, event.instance);
        if event.action == ClockAction::Activate
            && !present.contains(&id)
            && !stopped.contains(&id)
            && cancelled.insert(id)
        {
            out.push(ClockEvent {
                kind: event.kind,
                instance: event.instance,
                action: ClockAction::Cancel,
                at: state.now,
            });
        }
    }
    out
}

/// The answer of [`preview`].
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub struct Preview {
    pub deadline: Timestamp,
    pub warning_at: Option<Timestamp>,
}

/// The deadline and warning instant of one target started at `start`, with known `pauses`
/// (for the CLI/API "when would this be due?" preview and for admins testing a calendar).
pub fn preview(
    calendar: &Calendar,
    start: Timestamp,
    target: Target,
    pauses: &[Interval],
    warning: Option<WarningRule>,
) -> Result<Preview, SlaError> {
    if pauses.len() > SLA_PAUSES_MAX {
        return Err(SlaError::TooManyPauses);
    }
    if let Some(index) = pauses.iter().position(|p| p.end < p.start) {
        return Err(SlaError::PauseEndsBeforeStart { index });
    }
    let pauses = normalize(pauses);
    let found = deadline(calendar, start, target, &pauses, warning)?;
    let deadline = found.due.ok_or(TimeError::NoOpenTime { from: start })?;
    Ok(Preview {
        deadline,
        warning_at: found.warn,
    })
}

/// Sorted, merged, non-empty intervals.
fn normalize(intervals: &[Interval]) -> Vec<Interval> {
    let mut sorted: Vec<Interval> = intervals
        .iter()
        .copied()
        .filter(|p| p.start < p.end)
        .collect();
    sorted.sort_unstable();
    let mut out: Vec<Interval> = Vec::with_capacity(sorted.len());
    for interval in sorted {
        match out.last_mut() {
            Some(last) if interval.start <= last.end => last.end = last.end.max(interval.end),
            _ => out.push(interval),
        }
    }
    out
}

#[cfg(test)]
mod tests;
