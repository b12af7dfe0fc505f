//! Patron's use cases: load → decide with `domain` → persist (with the outbox) in one
//! transaction. Everything is synchronous; async surfaces call in through `spawn_blocking`.
//! The clock and randomness are injected through [`sys`].

pub mod accounting;
pub mod analytics;
pub mod bonus;
pub mod coalesce;
pub mod customers;
pub mod desk;
pub mod email;
pub mod error;
pub mod intake;
pub mod jobs;
pub mod keys;
pub mod line;
pub mod loyalty;
pub mod points;
pub mod promotions;
pub mod rewards;
pub mod sys;
pub mod tiers;
pub mod webhooks;
pub mod workload;

mod canonical;

use domain::{Currency, EarnRule};
pub use error::{AppError, AppResult};
use std::sync::Arc;
pub use store::Store;
use sys::{Clock, Entropy};
use webhooks::WebhookSender;

/// Programme settings the use cases read (from config).
#[derive(Debug, Clone)]
pub struct Settings {
    pub currency: Currency,
    pub earn: EarnRule,
    /// Whether a reversal may take a customer's balance below zero (a debt).
    pub allow_negative_balance: bool,
    /// Attempts before a job is dead-lettered.
    pub job_attempts_max: i64,
    /// The e-mail channel (IMAP fetch, SMTP out); off unless configured.
    pub email: email::EmailSettings,
    /// The shop's password-reset page, given in the automatic `faq_password_reset` answer.
    pub password_reset_url: String,
}

/// The password-reset link until a shop configures its own (`desk.password_reset_url`).
pub const DEFAULT_PASSWORD_RESET_URL: &str = "https://shop.example/account/password-reset";

impl Default for Settings {
    fn default() -> Self {
        Settings {
            currency: Currency::TWD,
            earn: EarnRule::default(),
            allow_negative_balance: false,
            job_attempts_max: 8,
            email: email::EmailSettings::default(),
            password_reset_url: DEFAULT_PASSWORD_RESET_URL.to_owned(),
        }
    }
}

/// Who is asking: an API key's id and role, or a local operator at the CLI.
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct Principal {
    pub key_id: Option<i64>,
    pub role: domain::access::Role,
    /// Shown in the audit log: `key:ab12cd34` or `cli`.
    pub actor: String,
}

impl Principal {
    pub fn cli() -> Principal {
        Principal {
            key_id: None,
            role: domain::access::Role::Admin,
            actor: "cli".to_owned(),
        }
    }
}

/// The application: the store plus injected clock, entropy and outbound ports.
#[derive(Clone)]
pub struct App {
    pub store: Store,
    pub clock: Arc<dyn Clock>,
    pub entropy: Arc<dyn Entropy>,
    pub webhooks: Arc<dyn WebhookSender>,
    /// Replies and pushes to LINE ([`App::with_line_sender`] replaces it).
    pub line: Arc<dyn line::LineSender>,
    pub settings: Settings,
    /// Names this process's job leases.
    pub worker_id: String,
    /// The desk classifier in force, cached per stored version.
    pub classifier: Arc<desk::classifier::ClassifierCache>,
    /// The loyalty programme and rules in force, cached per stored version (intake's).
    pub loyalty: Arc<loyalty::LoyaltyCache>,
}

/// A request holding an `Idempotency-Key` longer than this is taken to have died with its
/// process, and a retry may run (far beyond any request's running time).
pub const IDEMPOTENCY_CLAIM_ABANDONED_AFTER_SECONDS: i64 = 300;

impl App {
    pub fn new(
        store: Store,
        clock: Arc<dyn Clock>,
        entropy: Arc<dyn Entropy>,
        webhooks: Arc<dyn WebhookSender>,
        settings: Settings,
    ) -> App {
        let mut id = [0u8; 6];
        entropy.fill(&mut id);
        let worker_id = format!(
            "worker-{}",
            id.iter().map(|b| format!("{b:02x}")).collect::<String>()
        );
        App {
            store,
            clock,
            entropy,
            webhooks,
            line: Arc::new(line::HttpLineSender::default()),
            settings,
            worker_id,
            classifier: Arc::default(),
            loyalty: Arc::default(),
        }
    }

    pub fn now(&self) -> jiff::Timestamp {
        self.clock.now()
    }

    pub fn now_micros(&self) -> i64 {
        self.clock.now().as_microsecond()
    }

    /// `n` random bytes as lower-case hex.
    pub fn random_hex(&self, n: usize) -> String {
        let mut buf = vec![0u8; n];
        self.entropy.fill(&mut buf);
        buf.iter().map(|b| format!("{b:02x}")).collect()
    }
}

impl App {
    /// The benchmark reference: one insert into the scratch table, nothing else.
    pub fn bench_scratch_insert(
        &self,
        customer: &str,
        day: i64,
        amount_minor: i64,
    ) -> AppResult<()> {
        Ok(self
            .store
            .write(|tx| store::scratch::insert(tx, customer, day, amount_minor))?)
    }

    pub fn bench_scratch_create(&self) -> AppResult<()> {
        Ok(self.store.write(store::scratch::create)?)
    }

    /// Refreshes the database's planner statistics of the intake tables: a bulk import calls
    /// it as the tables grow ([`store::Store::refresh_intake_statistics`]).
    pub fn refresh_intake_statistics(&self) -> AppResult<()> {
        Ok(self.store.refresh_intake_statistics()?)
    }
}

impl App {
    /// Claims an `Idempotency-Key` of this API key for a request about to run (see
    /// [`store::idempotency::begin`]); a claim older than [`IDEMPOTENCY_CLAIM_ABANDONED_AFTER_SECONDS`]
    /// is taken over.
    pub fn idempotency_begin(
        &self,
        key_id: i64,
        key: &str,
        request_hash: &[u8],
    ) -> AppResult<store::idempotency::Begin> {
        let now = self.now_micros();
        let abandoned_before = now - IDEMPOTENCY_CLAIM_ABANDONED_AFTER_SECONDS * 1_000_000;
        Ok(self.store.write(|tx| {
            store::idempotency::begin(tx, key_id, key, request_hash, now, abandoned_before)
        })?)
    }

    /// Ends a claim: stores the response for replays, or with `None` releases the key.
    /// False when the claim had been taken over meanwhile.
    pub fn idempotency_finish(
        &self,
        key_id: i64,
        key: &str,
        claimed_at_micros: i64,
        response: Option<&store::idempotency::StoredResponse>,
    ) -> AppResult<bool> {
        Ok(self
            .store
            .write(|tx| store::idempotency::finish(tx, key_id, key, claimed_at_micros, response))?)
    }

    /// The audit log, newest first, before `before_id` (exclusive).
    pub fn audit_recent(
        &self,
        before_id: i64,
        limit: i64,
    ) -> AppResult<Vec<store::audit::AuditRow>> {
        Ok(self
            .store
            .read(|tx| store::audit::recent(tx, before_id, limit))?)
    }
}
