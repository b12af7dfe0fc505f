//! Schema migrations, one ordered list per backend, recorded in `schema_migrations`.
//! On PostgreSQL an advisory lock makes concurrent starts of several instances safe.

use crate::{BackendKind, Store, args};
use anyhow::{Result, bail};

/// A migration: its version and name.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub struct Migration {
    pub version: i64,
    pub name: &'static str,
}

struct Script {
    migration: Migration,
    sqlite: &'static str,
    postgres: &'static str,
}

const SCRIPTS: &[Script] = &[
    Script {
        migration: Migration {
            version: 1,
            name: "init",
        },
        sqlite: include_str!("../migrations/sqlite/0001_init.sql"),
        postgres: include_str!("../migrations/postgres/0001_init.sql"),
    },
    Script {
        migration: Migration {
            version: 2,
            name: "loyalty",
        },
        sqlite: include_str!("../migrations/sqlite/0002_loyalty.sql"),
        postgres: include_str!("../migrations/postgres/0002_loyalty.sql"),
    },
    Script {
        migration: Migration {
            version: 3,
            name: "analytics",
        },
        sqlite: include_str!("../migrations/sqlite/0003_analytics.sql"),
        postgres: include_str!("../migrations/postgres/0003_analytics.sql"),
    },
    Script {
        migration: Migration {
            version: 4,
            name: "desk",
        },
        sqlite: include_str!("../migrations/sqlite/0004_desk.sql"),
        postgres: include_str!("../migrations/postgres/0004_desk.sql"),
    },
    Script {
        migration: Migration {
            version: 5,
            name: "desk_more",
        },
        sqlite: include_str!("../migrations/sqlite/0005_desk_more.sql"),
        postgres: include_str!("../migrations/postgres/0005_desk_more.sql"),
    },
    Script {
        migration: Migration {
            version: 6,
            name: "loyalty_rewards",
        },
        sqlite: include_str!("../migrations/sqlite/0006_loyalty_rewards.sql"),
        postgres: include_str!("../migrations/postgres/0006_loyalty_rewards.sql"),
    },
    Script {
        migration: Migration {
            version: 7,
            name: "email",
        },
        sqlite: include_str!("../migrations/sqlite/0007_email.sql"),
        postgres: include_str!("../migrations/postgres/0007_email.sql"),
    },
    Script {
        migration: Migration {
            version: 8,
            name: "desk_ops",
        },
        sqlite: include_str!("../migrations/sqlite/0008_desk_ops.sql"),
        postgres: include_str!("../migrations/postgres/0008_desk_ops.sql"),
    },
    Script {
        migration: Migration {
            version: 9,
            name: "desk_triage",
        },
        sqlite: include_str!("../migrations/sqlite/0009_desk_triage.sql"),
        postgres: include_str!("../migrations/postgres/0009_desk_triage.sql"),
    },
    Script {
        migration: Migration {
            version: 10,
            name: "loyalty_accounting",
        },
        sqlite: include_str!("../migrations/sqlite/0010_loyalty_accounting.sql"),
        postgres: include_str!("../migrations/postgres/0010_loyalty_accounting.sql"),
    },
    Script {
        migration: Migration {
            version: 11,
            name: "tier_overrides",
        },
        sqlite: include_str!("../migrations/sqlite/0011_tier_overrides.sql"),
        postgres: include_str!("../migrations/postgres/0011_tier_overrides.sql"),
    },
    Script {
        migration: Migration {
            version: 12,
            name: "member_tiers",
        },
        sqlite: include_str!("../migrations/sqlite/0012_member_tiers.sql"),
        postgres: include_str!("../migrations/postgres/0012_member_tiers.sql"),
    },
    Script {
        migration: Migration {
            version: 13,
            name: "promotions",
        },
        sqlite: include_str!("../migrations/sqlite/0013_promotions.sql"),
        postgres: include_str!("../migrations/postgres/0013_promotions.sql"),
    },
    Script {
        migration: Migration {
            version: 14,
            name: "bonus_referrals",
        },
        sqlite: include_str!("../migrations/sqlite/0014_bonus_referrals.sql"),
        postgres: include_str!("../migrations/postgres/0014_bonus_referrals.sql"),
    },
    Script {
        migration: Migration {
            version: 15,
            name: "ledger_debt",
        },
        sqlite: include_str!("../migrations/sqlite/0015_ledger_debt.sql"),
        postgres: include_str!("../migrations/postgres/0015_ledger_debt.sql"),
    },
    Script {
        migration: Migration {
            version: 16,
            name: "desk_tags_teams",
        },
        sqlite: include_str!("../migrations/sqlite/0016_desk_tags_teams.sql"),
        postgres: include_str!("../migrations/postgres/0016_desk_tags_teams.sql"),
    },
    Script {
        migration: Migration {
            version: 17,
            name: "sla_horizon",
        },
        sqlite: include_str!("../migrations/sqlite/0017_sla_horizon.sql"),
        postgres: include_str!("../migrations/postgres/0017_sla_horizon.sql"),
    },
    Script {
        migration: Migration {
            version: 18,
            name: "message_attachments_sla_timer",
        },
        sqlite: include_str!("../migrations/sqlite/0018_message_attachments_sla_timer.sql"),
        postgres: include_str!("../migrations/postgres/0018_message_attachments_sla_timer.sql"),
    },
    Script {
        migration: Migration {
            version: 19,
            name: "loyalty_gaps",
        },
        sqlite: include_str!("../migrations/sqlite/0019_loyalty_gaps.sql"),
        postgres: include_str!("../migrations/postgres/0019_loyalty_gaps.sql"),
    },
    Script {
        migration: Migration {
            version: 20,
            name: "lot_provenance",
        },
        sqlite: include_str!("../migrations/sqlite/0020_lot_provenance.sql"),
        postgres: include_str!("../migrations/postgres/0020_lot_provenance.sql"),
    },
];

/// Arbitrary constant naming Patron's migration lock among PostgreSQL advisory locks.
const PG_MIGRATION_LOCK: i64 = 0x7061_7472_6f6e;

/// Applies the pending migrations numbered up to `through`.
pub(crate) fn apply(store: &Store, through: i64) -> Result<Vec<Migration>> {
    let kind = store.kind();
    store.write(|tx| {
        if kind == BackendKind::Postgres {
            tx.execute("SELECT pg_advisory_xact_lock($1)", args![PG_MIGRATION_LOCK])?;
        }
        tx.batch(
            "CREATE TABLE IF NOT EXISTS schema_migrations (
                version BIGINT PRIMARY KEY,
                name TEXT NOT NULL
            )",
        )?;
        let applied: Vec<i64> = tx
            .query(
                "SELECT version FROM schema_migrations ORDER BY version",
                &[],
            )?
            .iter()
            .map(|r| r.int(0))
            .collect::<Result<_>>()?;
        // A database a newer Patron has migrated may have dropped or reshaped what this build
        // writes: refuse it rather than fail, or write wrongly, at the first request.
        let newest_known = SCRIPTS.last().map_or(0, |s| s.migration.version);
        if let Some(&newest) = applied.iter().max()
            && newest > newest_known
        {
            bail!(
                "the database is at schema version {newest}, newer than this build of Patron \
                 knows ({newest_known}): run the Patron release that migrated it, or a later one"
            );
        }
        let mut now_applied = Vec::new();
        for script in SCRIPTS {
            if script.migration.version > through {
                break;
            }
            if applied.contains(&script.migration.version) {
                continue;
            }
            tx.batch(match kind {
                BackendKind::Sqlite => script.sqlite,
                BackendKind::Postgres => script.postgres,
            })?;
            tx.execute(
                "INSERT INTO schema_migrations (version, name) VALUES ($1, $2)",
                args![script.migration.version, script.migration.name],
            )?;
            now_applied.push(script.migration);
        }
        Ok(now_applied)
    })
}

/// Every migration this build knows, in order.
pub fn known() -> Vec<Migration> {
    SCRIPTS.iter().map(|s| s.migration).collect()
}
