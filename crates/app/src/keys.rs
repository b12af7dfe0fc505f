//! API keys: `ptr_<prefix>_<secret>`, printed once, stored as a SHA-256 of the secret.
//! The secret has 128 bits from the OS, so a fast hash is enough (no password stretching).

use crate::{App, AppError, AppResult, Principal};
use domain::FieldError;
use domain::access::Role;
use sha2::{Digest, Sha256};

/// A key as listed (never with its secret).
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct KeyInfo {
    pub prefix: String,
    pub role: Role,
    pub name: String,
    pub created_at: jiff::Timestamp,
    pub revoked: bool,
}

fn constant_time_eq(a: &[u8], b: &[u8]) -> bool {
    a.len() == b.len() && a.iter().zip(b).fold(0u8, |acc, (x, y)| acc | (x ^ y)) == 0
}

impl App {
    /// Creates a key and returns its full text, which is never stored.
    pub fn create_key(&self, who: &Principal, role: Role, name: &str) -> AppResult<String> {
        let name = name.trim();
        if name.is_empty() || name.chars().count() > 100 {
            return Err(FieldError::new("name", "must be 1 to 100 characters").into());
        }
        let prefix = self.random_hex(4);
        let secret = self.random_hex(16);
        let hash = Sha256::digest(secret.as_bytes());
        let now = self.now_micros();
        self.store.write(|tx| {
            store::keys::insert(tx, &prefix, &hash, role.as_str(), name, now)?;
            store::audit::insert(
                tx,
                now,
                &who.actor,
                "key.create",
                Some(&format!("key:{prefix}")),
                Some(role.as_str()),
            )?;
            Ok::<_, AppError>(())
        })?;
        Ok(format!("ptr_{prefix}_{secret}"))
    }

    /// The principal a presented key stands for, or `Unauthenticated`.
    pub fn authenticate(&self, token: &str) -> AppResult<Principal> {
        let mut parts = token.splitn(3, '_');
        let (Some("ptr"), Some(prefix), Some(secret)) = (parts.next(), parts.next(), parts.next())
        else {
            return Err(AppError::Unauthenticated);
        };
        if prefix.len() != 8 || secret.len() != 32 {
            return Err(AppError::Unauthenticated);
        }
        let row = self
            .store
            .read(|tx| store::keys::find_by_prefix(tx, prefix))?
            .ok_or(AppError::Unauthenticated)?;
        if row.revoked_at.is_some()
            || !constant_time_eq(&Sha256::digest(secret.as_bytes()), &row.secret_hash)
        {
            return Err(AppError::Unauthenticated);
        }
        let role =
            Role::parse(&row.role).ok_or_else(|| anyhow::anyhow!("stored key has unknown role"))?;
        Ok(Principal {
            key_id: Some(row.id),
            role,
            actor: format!("key:{}", row.prefix),
        })
    }

    pub fn list_keys(&self) -> AppResult<Vec<KeyInfo>> {
        Ok(self
            .store
            .read(store::keys::list)?
            .into_iter()
            .filter_map(|k| {
                Some(KeyInfo {
                    role: Role::parse(&k.role)?,
                    prefix: k.prefix,
                    name: k.name,
                    created_at: k.created_at,
                    revoked: k.revoked_at.is_some(),
                })
            })
            .collect())
    }

    pub fn revoke_key(&self, who: &Principal, prefix: &str) -> AppResult<()> {
        let now = self.now_micros();
        self.store.write(|tx| {
            if !store::keys::revoke(tx, prefix, now)? {
                return Err(AppError::NotFound);
            }
            store::audit::insert(
                tx,
                now,
                &who.actor,
                "key.revoke",
                Some(&format!("key:{prefix}")),
                None,
            )?;
            Ok(())
        })
    }
}
