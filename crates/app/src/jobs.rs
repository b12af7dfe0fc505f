//! The job worker: claims due jobs under a lease and runs them. Internal jobs complete in the
//! same transaction as their writes; deliveries to the outside are at-least-once by nature and
//! carry a stable `webhook-id` so receivers can deduplicate. Failures retry with exponential
//! backoff and end in the dead-letter state after the configured attempts.

use crate::{App, AppResult};
use jiff::SignedDuration;

/// How long a claimed job stays leased before another worker may take it.
pub const JOB_LEASE_SECONDS: i64 = 300;
/// Jobs claimed per round trip.
pub const JOB_CLAIM_BATCH: i64 = 16;
/// First retry delay; doubles per attempt up to [`JOB_RETRY_DELAY_SECONDS_MAX`].
pub const JOB_RETRY_DELAY_SECONDS_MIN: i64 = 30;
pub const JOB_RETRY_DELAY_SECONDS_MAX: i64 = 3_600;

/// Marks a job error that no retry can fix: the job is dead-lettered at once.
pub const PERMANENT_FAILURE_PREFIX: &str = "permanent: ";

/// A job error that dead-letters the job without retrying.
pub fn permanent(error: &str) -> String {
    format!("{PERMANENT_FAILURE_PREFIX}{error}")
}

/// Delay before retrying after `attempts` failed attempts.
pub fn retry_delay(attempts: i64) -> SignedDuration {
    let shift = attempts.clamp(1, 20) - 1;
    let secs = (JOB_RETRY_DELAY_SECONDS_MIN << shift).min(JOB_RETRY_DELAY_SECONDS_MAX);
    SignedDuration::from_secs(secs)
}

/// What one run of the worker did.
#[derive(Debug, Clone, Copy, Default, PartialEq, Eq)]
pub struct JobRun {
    pub done: usize,
    pub retried: usize,
    pub dead: usize,
}

impl App {
    /// Runs every job due now, until none is left; returns what happened.
    /// Tests call this after moving the clock instead of sleeping.
    pub fn run_pending_jobs(&self) -> AppResult<JobRun> {
        let mut run = JobRun::default();
        loop {
            let now = self.now();
            let lease_until = now + SignedDuration::from_secs(JOB_LEASE_SECONDS);
            let jobs = self.store.write(|tx| {
                store::jobs::claim(
                    tx,
                    &self.worker_id,
                    now.as_microsecond(),
                    lease_until.as_microsecond(),
                    JOB_CLAIM_BATCH,
                )
            })?;
            if jobs.is_empty() {
                return Ok(run);
            }
            for job in jobs {
                let outcome = match job.kind.as_str() {
                    crate::webhooks::DELIVER_JOB => self.deliver(&job.payload),
                    crate::analytics::REFIT_JOB => self.run_refit_job(&job.payload),
                    crate::desk::SLA_TIMER_JOB => self.run_sla_timer_job(&job.payload),
                    crate::desk::classifier::RETRAIN_JOB => {
                        self.run_classifier_retrain_job(&job.payload)
                    }
                    crate::line::SEND_JOB => self.run_line_send_job(&job.payload),
                    crate::email::SEND_JOB => self.run_email_send_job(&job.payload),
                    crate::email::FETCH_JOB => self.run_email_fetch_job(&job.payload),
                    crate::loyalty::ACTIVATE_JOB => self.run_activate_job(&job.payload),
                    crate::loyalty::EXPIRE_JOB => self.run_expire_job(&job.payload),
                    crate::loyalty::REMIND_JOB => self.run_remind_job(&job.payload),
                    crate::bonus::CELEBRATE_JOB => self.run_celebrate_job(&job.payload),
                    crate::bonus::REFERRAL_JOB => self.run_referral_job(&job.payload),
                    crate::tiers::TIERS_JOB => self.run_tiers_job(&job.payload),
                    other => Err(format!("unknown job kind {other:?}")),
                };
                let now = self.now().as_microsecond();
                let worker = &self.worker_id;
                match outcome {
                    Ok(()) => {
                        if self
                            .store
                            .write(|tx| store::jobs::complete(tx, job.id, worker, now))?
                        {
                            run.done += 1;
                        }
                    }
                    Err(error) => {
                        let retry_at = (job.attempts < job.max_attempts
                            && !error.starts_with(PERMANENT_FAILURE_PREFIX))
                        .then(|| (self.now() + retry_delay(job.attempts)).as_microsecond());
                        tracing::warn!(job_id = job.id, kind = %job.kind, attempts = job.attempts, %error, "job failed");
                        if self.store.write(|tx| {
                            store::jobs::fail(tx, job.id, worker, &error, retry_at, now)
                        })? {
                            if retry_at.is_some() {
                                run.retried += 1;
                            } else {
                                run.dead += 1;
                            }
                        }
                    }
                }
            }
        }
    }
}
