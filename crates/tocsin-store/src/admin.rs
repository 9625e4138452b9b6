//! Operator objects created at run time: maintenance windows added through the API or
//! `tocsin ctl` (migration 0003, table `maintenances`), and API tokens (`api_tokens`).
//!
//! As with alarms, the store does not know the maintenance model: a window is its tenant, id,
//! start, end, early end and an opaque JSON `body` (scope, note, who). A token is stored as the
//! hash its owner computed; the store never sees a token itself.

use serde::{Deserialize, Serialize};
use sqlx::Row;
use sqlx::any::AnyRow;

use crate::{Store, StoreError};

/// A maintenance window created at run time.
#[derive(Clone, Debug, PartialEq, Serialize, Deserialize)]
pub struct MaintenanceRow {
    /// The owning tenant (`""`: the operator).
    pub tenant: String,
    /// Unique per tenant.
    pub id: String,
    /// When it starts, Unix ms.
    pub starts_ms: i64,
    /// When it ends, Unix ms.
    pub ends_ms: i64,
    /// When someone ended it early, Unix ms.
    pub ended_ms: Option<i64>,
    /// When it was created, Unix ms.
    pub created_ms: i64,
    /// Scope, note, author: opaque to the store.
    pub body: serde_json::Value,
}

impl MaintenanceRow {
    /// When the window actually ends: its end, or the early end if sooner.
    pub fn effective_end_ms(&self) -> i64 {
        self.ended_ms.map_or(self.ends_ms, |e| e.min(self.ends_ms))
    }
}

/// An API token as stored (never the token: its hash).
#[derive(Clone, Debug, PartialEq, Eq, Serialize, Deserialize)]
pub struct TokenRow {
    /// Public id (the token's prefix), shown in listings.
    pub id: String,
    /// The tenant it acts for (`""`: the operator).
    pub tenant: String,
    /// A label: who or what uses it.
    pub name: String,
    /// `operator`, `admin` or `read`.
    pub role: String,
    /// Hex SHA-256 of the token.
    pub hash: String,
    /// When created, Unix ms.
    pub created_ms: i64,
    /// When last used, Unix ms.
    pub last_used_ms: Option<i64>,
    /// When revoked, Unix ms.
    pub revoked_ms: Option<i64>,
}

macro_rules! select_maintenances {
    () => {
        "SELECT tenant, id, starts_ms, ends_ms, ended_ms, created_ms, body FROM maintenances "
    };
}

macro_rules! select_tokens {
    () => {
        "SELECT id, tenant, name, role, hash, created_ms, last_used_ms, revoked_ms \
         FROM api_tokens "
    };
}

impl Store {
    /// Adds a maintenance window; fails if the tenant already has one with this id.
    pub async fn insert_maintenance(&self, m: &MaintenanceRow) -> Result<(), StoreError> {
        sqlx::query(
            "INSERT INTO maintenances (tenant, id, starts_ms, ends_ms, ended_ms, created_ms, body) \
             VALUES ($1, $2, $3, $4, $5, $6, $7)",
        )
        .bind(&m.tenant)
        .bind(&m.id)
        .bind(m.starts_ms)
        .bind(m.ends_ms)
        .bind(m.ended_ms)
        .bind(m.created_ms)
        .bind(m.body.to_string())
        .execute(&self.write)
        .await
        .map_err(self.err("add a maintenance"))?;
        Ok(())
    }

    /// Ends a window at `now_ms` (if it has not ended yet). Returns whether it changed.
    pub async fn end_maintenance(
        &self,
        tenant: &str,
        id: &str,
        now_ms: i64,
    ) -> Result<bool, StoreError> {
        let done = sqlx::query(
            "UPDATE maintenances SET ended_ms = $3 \
             WHERE tenant = $1 AND id = $2 AND ended_ms IS NULL AND ends_ms > $3",
        )
        .bind(tenant)
        .bind(id)
        .bind(now_ms)
        .execute(&self.write)
        .await
        .map_err(self.err("end a maintenance"))?;
        Ok(done.rows_affected() > 0)
    }

    /// The windows of every tenant that have not ended at `now_ms` (current and future), by
    /// start.
    pub async fn current_maintenances(
        &self,
        now_ms: i64,
    ) -> Result<Vec<MaintenanceRow>, StoreError> {
        let op = "read maintenances";
        let rows = sqlx::query(concat!(
            select_maintenances!(),
            "WHERE ends_ms > $1 AND (ended_ms IS NULL OR ended_ms > $1) \
             ORDER BY starts_ms, tenant, id"
        ))
        .bind(now_ms)
        .fetch_all(&self.read)
        .await
        .map_err(self.err(op))?;
        rows.iter()
            .map(|r| self.maintenance_of_row(r, op))
            .collect()
    }

    /// One window of a tenant, ended or not.
    pub async fn maintenance(
        &self,
        tenant: &str,
        id: &str,
    ) -> Result<Option<MaintenanceRow>, StoreError> {
        let op = "read a maintenance";
        let row = sqlx::query(concat!(
            select_maintenances!(),
            "WHERE tenant = $1 AND id = $2"
        ))
        .bind(tenant)
        .bind(id)
        .fetch_optional(&self.read)
        .await
        .map_err(self.err(op))?;
        row.map(|r| self.maintenance_of_row(&r, op)).transpose()
    }

    fn maintenance_of_row(
        &self,
        row: &AnyRow,
        op: &'static str,
    ) -> Result<MaintenanceRow, StoreError> {
        let e = || self.err(op);
        let tenant: String = row.try_get(0).map_err(e())?;
        let id: String = row.try_get(1).map_err(e())?;
        let body: String = row.try_get(6).map_err(e())?;
        let body = serde_json::from_str(&body).map_err(|err| StoreError::Corrupt {
            what: "maintenance body",
            row: format!("{tenant}/{id}"),
            reason: err.to_string(),
        })?;
        Ok(MaintenanceRow {
            starts_ms: row.try_get(2).map_err(e())?,
            ends_ms: row.try_get(3).map_err(e())?,
            ended_ms: row.try_get(4).map_err(e())?,
            created_ms: row.try_get(5).map_err(e())?,
            tenant,
            id,
            body,
        })
    }

    /// Stores a new token (its hash).
    pub async fn insert_token(&self, t: &TokenRow) -> Result<(), StoreError> {
        sqlx::query(
            "INSERT INTO api_tokens (id, tenant, name, role, hash, created_ms, last_used_ms, \
             revoked_ms) VALUES ($1, $2, $3, $4, $5, $6, $7, $8)",
        )
        .bind(&t.id)
        .bind(&t.tenant)
        .bind(&t.name)
        .bind(&t.role)
        .bind(&t.hash)
        .bind(t.created_ms)
        .bind(t.last_used_ms)
        .bind(t.revoked_ms)
        .execute(&self.write)
        .await
        .map_err(self.err("add a token"))?;
        Ok(())
    }

    /// The token with this hash, unless revoked.
    pub async fn token_by_hash(&self, hash: &str) -> Result<Option<TokenRow>, StoreError> {
        let op = "look up a token";
        let row = sqlx::query(concat!(
            select_tokens!(),
            "WHERE hash = $1 AND revoked_ms IS NULL"
        ))
        .bind(hash)
        .fetch_optional(&self.read)
        .await
        .map_err(self.err(op))?;
        row.map(|r| token_of_row(&r).map_err(self.err(op)))
            .transpose()
    }

    /// Every token, revoked ones included, by creation.
    pub async fn tokens(&self) -> Result<Vec<TokenRow>, StoreError> {
        let op = "list tokens";
        let rows = sqlx::query(concat!(select_tokens!(), "ORDER BY created_ms, id"))
            .fetch_all(&self.read)
            .await
            .map_err(self.err(op))?;
        rows.iter()
            .map(|r| token_of_row(r).map_err(self.err(op)))
            .collect()
    }

    /// Revokes a token by id. Returns whether it changed.
    pub async fn revoke_token(&self, id: &str, now_ms: i64) -> Result<bool, StoreError> {
        let done = sqlx::query(
            "UPDATE api_tokens SET revoked_ms = $2 WHERE id = $1 AND revoked_ms IS NULL",
        )
        .bind(id)
        .bind(now_ms)
        .execute(&self.write)
        .await
        .map_err(self.err("revoke a token"))?;
        Ok(done.rows_affected() > 0)
    }

    /// Records that a token was used (at most once a minute is worth writing; the caller
    /// decides).
    pub async fn touch_token(&self, id: &str, now_ms: i64) -> Result<(), StoreError> {
        sqlx::query("UPDATE api_tokens SET last_used_ms = $2 WHERE id = $1")
            .bind(id)
            .bind(now_ms)
            .execute(&self.write)
            .await
            .map_err(self.err("record a token's use"))?;
        Ok(())
    }
}

fn token_of_row(row: &AnyRow) -> Result<TokenRow, sqlx::Error> {
    Ok(TokenRow {
        id: row.try_get(0)?,
        tenant: row.try_get(1)?,
        name: row.try_get(2)?,
        role: row.try_get(3)?,
        hash: row.try_get(4)?,
        created_ms: row.try_get(5)?,
        last_used_ms: row.try_get(6)?,
        revoked_ms: row.try_get(7)?,
    })
}
