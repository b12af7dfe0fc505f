//! Seeded model-based test of the intake and ledger.
