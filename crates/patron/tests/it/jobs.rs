//! Webhook delivery through the outbox and the job worker.
