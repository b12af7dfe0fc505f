//! The audit log: who wrote what, when. Details never hold personal data.

use crate::sql::Tx;
use crate::{args, instant};
use anyhow::Result;

#[derive(Debug, Clone, PartialEq, Eq)]
pub struct AuditRow {
    pub id: i64,
    pub at: jiff::Timestamp,
    pub actor: String,
    pub action: String,
    pub target: Option<String>,
    pub detail: Option<String>,
}

pub fn insert(
    tx: &mut Tx<'_>,
    at_micros: i64,
    actor: &str,
    action: &str,
    target: Option<&str>,
    detail: Option<&str>,
) -> Result<()> {
    tx.execute(
        "INSERT INTO audit_log (at, actor, action, target, detail) VALUES ($1, $2, $3, $4, $5)",
        args![at_micros, actor, action, target, detail],
    )?;
    Ok(())
}

pub fn recent(tx: &mut Tx<'_>, before_id: i64, limit: i64) -> Result<Vec<AuditRow>> {
    tx.query(
        "SELECT id, at, actor, action, target, detail FROM audit_log
         WHERE id < $1 ORDER BY id DESC LIMIT $2",
        args![before_id, limit],
    )?
    .iter()
    .map(|r| {
        Ok(AuditRow {
            id: r.int(0)?,
            at: instant(r.int(1)?)?,
            actor: r.text(2)?.to_owned(),
            action: r.text(3)?.to_owned(),
            target: r.opt_text(4)?.map(str::to_owned),
            detail: r.opt_text(5)?.map(str::to_owned),
        })
    })
    .collect()
}
