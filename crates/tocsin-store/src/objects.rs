//! Objects created through the API (checks, contacts, contact groups, groups) and tenants.
//!
//! The store keeps each object as the JSON document a configuration file would hold, with its
//! tenant and a version that grows by one on every change (the API's ETag). Writes are
//! conditional on the version the caller read, so two concurrent edits cannot both win.

use sqlx::Row;
use sqlx::any::AnyRow;

use crate::{Store, StoreError};

/// One stored object.
#[derive(Clone, Debug, PartialEq)]
pub struct ObjectRow {
    /// `check`, `contact`, `contact_group` or `group`.
    pub kind: String,
    /// Its id (unique per kind, across tenants).
    pub id: String,
    /// The owning tenant (`""`: the operator).
    pub tenant: String,
    /// 1 when created, +1 on every change.
    pub version: i64,
    /// Created, Unix ms.
    pub created_ms: i64,
    /// Last changed, Unix ms.
    pub updated_ms: i64,
    /// The definition, as a file would write it.
    pub body: serde_json::Value,
}

/// A tenant.
#[derive(Clone, Debug, PartialEq, Eq, serde::Serialize)]
pub struct TenantRow {
    /// Its id, `[a-z0-9-]+`.
    pub id: String,
    /// Display name.
    pub name: String,
    /// Created, Unix ms.
    pub created_ms: i64,
}

impl Store {
    /// Every stored object, by kind and id.
    pub async fn objects(&self) -> Result<Vec<ObjectRow>, StoreError> {
        let op = "list API objects";
        let rows = sqlx::query(
            "SELECT kind, id, tenant, version, created_ms, updated_ms, body FROM api_objects \
             ORDER BY kind, id",
        )
        .fetch_all(&self.read)
        .await
        .map_err(self.err(op))?;
        rows.iter()
            .map(|r| object_of_row(r).map_err(self.err(op)))
            .collect()
    }

    /// Adds an object; a conflict error ([`StoreError::is_conflict`]) if its id is taken.
    pub async fn insert_object(&self, o: &ObjectRow) -> Result<(), StoreError> {
        sqlx::query(
            "INSERT INTO api_objects (kind, id, tenant, version, created_ms, updated_ms, body) \
             VALUES ($1, $2, $3, $4, $5, $6, $7)",
        )
        .bind(&o.kind)
        .bind(&o.id)
        .bind(&o.tenant)
        .bind(o.version)
        .bind(o.created_ms)
        .bind(o.updated_ms)
        .bind(o.body.to_string())
        .execute(&self.write)
        .await
        .map_err(self.err("add an API object"))?;
        Ok(())
    }

    /// Replaces an object's body if its version is still `version`; returns whether it did
    /// (the new version is `version + 1`).
    pub async fn update_object(
        &self,
        kind: &str,
        id: &str,
        version: i64,
        body: &serde_json::Value,
        now_ms: i64,
    ) -> Result<bool, StoreError> {
        let done = sqlx::query(
            "UPDATE api_objects SET body = $4, version = version + 1, updated_ms = $5 \
             WHERE kind = $1 AND id = $2 AND version = $3",
        )
        .bind(kind)
        .bind(id)
        .bind(version)
        .bind(body.to_string())
        .bind(now_ms)
        .execute(&self.write)
        .await
        .map_err(self.err("update an API object"))?;
        Ok(done.rows_affected() > 0)
    }

    /// Deletes an object if its version is still `version`; returns whether it did.
    pub async fn delete_object(
        &self,
        kind: &str,
        id: &str,
        version: i64,
    ) -> Result<bool, StoreError> {
        let done =
            sqlx::query("DELETE FROM api_objects WHERE kind = $1 AND id = $2 AND version = $3")
                .bind(kind)
                .bind(id)
                .bind(version)
                .execute(&self.write)
                .await
                .map_err(self.err("delete an API object"))?;
        Ok(done.rows_affected() > 0)
    }

    /// Every tenant, by id.
    pub async fn tenants(&self) -> Result<Vec<TenantRow>, StoreError> {
        let op = "list tenants";
        let rows = sqlx::query("SELECT id, name, created_ms FROM tenants ORDER BY id")
            .fetch_all(&self.read)
            .await
            .map_err(self.err(op))?;
        rows.iter()
            .map(|r| {
                Ok(TenantRow {
                    id: r.try_get(0)?,
                    name: r.try_get(1)?,
                    created_ms: r.try_get(2)?,
                })
            })
            .collect::<Result<_, sqlx::Error>>()
            .map_err(self.err(op))
    }

    /// Adds a tenant; a conflict error if the id is taken.
    pub async fn insert_tenant(&self, t: &TenantRow) -> Result<(), StoreError> {
        sqlx::query("INSERT INTO tenants (id, name, created_ms) VALUES ($1, $2, $3)")
            .bind(&t.id)
            .bind(&t.name)
            .bind(t.created_ms)
            .execute(&self.write)
            .await
            .map_err(self.err("add a tenant"))?;
        Ok(())
    }

    /// Deletes a tenant that owns no object and no live token; returns whether it did.
    pub async fn delete_tenant(&self, id: &str) -> Result<bool, StoreError> {
        let done = sqlx::query(
            "DELETE FROM tenants WHERE id = $1 \
             AND NOT EXISTS (SELECT 1 FROM api_objects WHERE tenant = $1) \
             AND NOT EXISTS (SELECT 1 FROM api_tokens WHERE tenant = $1 AND revoked_ms IS NULL)",
        )
        .bind(id)
        .execute(&self.write)
        .await
        .map_err(self.err("delete a tenant"))?;
        Ok(done.rows_affected() > 0)
    }
}

fn object_of_row(row: &AnyRow) -> Result<ObjectRow, sqlx::Error> {
    let body: String = row.try_get(6)?;
    Ok(ObjectRow {
        kind: row.try_get(0)?,
        id: row.try_get(1)?,
        tenant: row.try_get(2)?,
        version: row.try_get(3)?,
        created_ms: row.try_get(4)?,
        updated_ms: row.try_get(5)?,
        body: serde_json::from_str(&body).map_err(|e| sqlx::Error::Decode(Box::new(e)))?,
    })
}
