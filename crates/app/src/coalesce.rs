//! Group commit for order intake: concurrent `POST /orders` requests are gathered into one
//! batch and placed in one transaction, so that a burst of orders pays for one commit instead
//! of one each. A request waits only for the batch in progress; a lone request is a batch of one.
//!
//! Batches are formed per principal, because the audit row of a batch names one actor.

use crate::intake::{Intake, OrderInput, OrderOutcome, ValidOrder};
use crate::{App, AppError, AppResult, Principal};
use std::sync::mpsc;

/// Orders placed together at most.
pub const COALESCE_BATCH_ORDERS_MAX: usize = 64;

/// Where an order's outcome goes once its batch is committed (or has failed).
type Reply = Box<dyn FnOnce(AppResult<Intake<OrderOutcome>>) + Send>;

struct Pending {
    who: Principal,
    order: AppResult<ValidOrder>,
    reply: Reply,
}

/// A handle to the coalescing thread; cheap to clone. The thread ends when every handle is dropped.
#[derive(Clone)]
pub struct OrderCoalescer {
    queue: mpsc::Sender<Pending>,
    /// The programme's currency, which validation needs.
    currency: domain::Currency,
}

impl OrderCoalescer {
    pub fn start(app: App) -> OrderCoalescer {
        let (queue, rx) = mpsc::channel::<Pending>();
        let currency = app.settings.currency;
        std::thread::Builder::new()
            .name("patron-orders".to_owned())
            .spawn(move || run(&app, &rx))
            .expect("spawning the order thread");
        OrderCoalescer { queue, currency }
    }

    /// Queues one order without waiting: `reply` is called on the order thread with its
    /// outcome once its batch is committed. The API answers through an async channel here, so
    /// that a waiting request holds no thread. The order is validated here, on the caller's
    /// thread, leaving the one order thread only the database work.
    pub fn submit(
        &self,
        who: &Principal,
        input: OrderInput,
        reply: impl FnOnce(AppResult<Intake<OrderOutcome>>) + Send + 'static,
    ) -> AppResult<()> {
        self.queue
            .send(Pending {
                who: who.clone(),
                order: input.validate(self.currency),
                reply: Box::new(reply),
            })
            .map_err(|_| anyhow::anyhow!("the order thread has stopped"))?;
        Ok(())
    }
}

fn run(app: &App, rx: &mpsc::Receiver<Pending>) {
    while let Ok(first) = rx.recv() {
        let mut batch = vec![first];
        while batch.len() < COALESCE_BATCH_ORDERS_MAX {
            match rx.try_recv() {
                Ok(p) => batch.push(p),
                Err(_) => break,
            }
        }
        // One transaction per principal present in the batch, in arrival order of principals.
        while !batch.is_empty() {
            let who = batch[0].who.clone();
            let (mine, rest): (Vec<Pending>, Vec<Pending>) =
                batch.into_iter().partition(|p| p.who == who);
            batch = rest;
            let (orders, replies): (Vec<AppResult<ValidOrder>>, Vec<_>) =
                mine.into_iter().map(|p| (p.order, p.reply)).unzip();
            match app.place_valid_orders(&who, &orders) {
                Ok(results) => {
                    for (reply, r) in replies.into_iter().zip(results) {
                        reply(Ok(r));
                    }
                }
                Err(e) => {
                    // The whole transaction failed: every order in it gets the error.
                    let text = format!("{e:#}");
                    tracing::error!(error = %text, orders = replies.len(), "order batch failed");
                    for reply in replies {
                        reply(Err(AppError::Internal(anyhow::anyhow!("{text}"))));
                    }
                }
            }
        }
    }
}
