//! Checks, contacts, contact groups and groups created through the API: validated with the
//! same loader as the files, stored with a version, and applied by a reload.
//!
//! The engine keeps the stored objects in memory; each tenant's objects make one document
//! `{checks: […], contacts: […], …}` that joins the configuration after the files
//! ([`tocsin_core::config::ConfigSet::set_api`]). An object defined in a file cannot be
//! changed here ([`ObjectError::InFile`] names the file and line). Who may create what (a
//! tenant's kinds, addresses, id prefix) is the API's policy, not the engine's.

use std::collections::BTreeMap;

use serde::Serialize;
use serde_json::Value;
use tocsin_core::config::{self, Catalog, ConfigError, RefKind};
use tocsin_store::{ObjectRow, StoreError};

use crate::{Engine, lock, now_ms};

/// The kinds of objects the API manages.
#[derive(Clone, Copy, Debug, PartialEq, Eq, PartialOrd, Ord, Hash)]
pub enum ObjectKind {
    /// A check.
    Check,
    /// A contact.
    Contact,
    /// A contact group.
    ContactGroup,
    /// A group of checks.
    Group,
}

impl ObjectKind {
    /// Every kind.
    pub const ALL: [Self; 4] = [Self::Check, Self::Contact, Self::ContactGroup, Self::Group];

    /// `check`, `contact`, `contact_group`, `group`.
    pub fn as_str(self) -> &'static str {
        match self {
            Self::Check => "check",
            Self::Contact => "contact",
            Self::ContactGroup => "contact_group",
            Self::Group => "group",
        }
    }

    /// The section of a configuration file that holds this kind.
    pub fn section(self) -> &'static str {
        match self {
            Self::Check => "checks",
            Self::Contact => "contacts",
            Self::ContactGroup => "contact_groups",
            Self::Group => "groups",
        }
    }

    fn parse(s: &str) -> Option<Self> {
        Self::ALL.into_iter().find(|k| k.as_str() == s)
    }
}

/// An object as the API shows it.
#[derive(Clone, Debug, Serialize)]
pub struct ObjectView {
    /// Its id.
    pub id: String,
    /// Its kind.
    pub kind: &'static str,
    /// The owning tenant (`""`: the operator).
    pub tenant: String,
    /// `file` (read-only here) or `api`.
    pub source: &'static str,
    /// Where a file defines it (`people.yml:12:5`).
    #[serde(skip_serializing_if = "Option::is_none")]
    pub origin: Option<String>,
    /// The version of an API object (its ETag).
    #[serde(skip_serializing_if = "Option::is_none")]
    pub version: Option<i64>,
    /// The definition as loaded: defaults applied, secrets shown as `********`.
    pub spec: Value,
}

/// Why an object could not be created, changed or deleted.
#[derive(Debug, thiserror::Error)]
pub enum ObjectError {
    /// The definition is not valid: every problem, each naming its field.
    #[error("{}", .0.join("; "))]
    Invalid(Vec<String>),
    /// No such object.
    #[error("no {kind} {id:?}")]
    NotFound {
        /// Its kind.
        kind: &'static str,
        /// Its id.
        id: String,
    },
    /// The id is taken.
    #[error("a {kind} with the id {id:?} already exists")]
    Exists {
        /// Its kind.
        kind: &'static str,
        /// Its id.
        id: String,
    },
    /// Defined in a configuration file: edit the file.
    #[error(
        "{kind} {id:?} is defined in {origin}: edit the file (the API changes only what it created)"
    )]
    InFile {
        /// Its kind.
        kind: &'static str,
        /// Its id.
        id: String,
        /// `file:line:column`.
        origin: String,
    },
    /// `If-Match` names another version.
    #[error("{kind} {id:?} is at version {current}, not {expected}: read it again")]
    Version {
        /// Its kind.
        kind: &'static str,
        /// Its id.
        id: String,
        /// The version the caller read.
        expected: i64,
        /// The version stored.
        current: i64,
    },
    /// The store failed.
    #[error(transparent)]
    Store(#[from] StoreError),
}

/// The stored objects, by kind and id.
pub(crate) type Objects = BTreeMap<(ObjectKind, String), ObjectRow>;

/// One document per tenant from the stored objects, parsed; errors are logged and returned
/// (an object that was valid when stored can turn invalid only through a reference to an
/// object deleted since, which the rules between files report).
pub(crate) fn documents(
    objects: &Objects,
) -> (
    BTreeMap<String, tocsin_core::config::ParsedFile>,
    Vec<ConfigError>,
) {
    let mut by_tenant: BTreeMap<&str, serde_json::Map<String, Value>> = BTreeMap::new();
    for ((kind, _), row) in objects {
        let doc = by_tenant.entry(row.tenant.as_str()).or_default();
        let list = doc
            .entry(kind.section())
            .or_insert_with(|| Value::Array(Vec::new()));
        if let Value::Array(items) = list {
            items.push(row.body.clone());
        }
    }
    let mut docs = BTreeMap::new();
    let mut errors = Vec::new();
    for (tenant, doc) in by_tenant {
        let key = config::api_key(tenant);
        match config::parse_api_document(&key, &Value::Object(doc)) {
            Ok(parsed) => {
                docs.insert(key, parsed);
            }
            Err(e) => errors.extend(e),
        }
    }
    (docs, errors)
}

/// The problems of one object sent to the API, as `field: message` (the field path relative
/// to the object).
fn validate(
    kind: ObjectKind,
    body: &Value,
) -> Result<tocsin_core::config::ParsedFile, ObjectError> {
    let doc = serde_json::json!({ kind.section(): [body] });
    config::parse_api_document("request body", &doc).map_err(|errors| {
        let prefix = format!("{}[0]", kind.section());
        ObjectError::Invalid(
            errors
                .into_iter()
                .map(|e| {
                    let field = e.field.as_deref().map_or_else(String::new, |f| {
                        f.strip_prefix(&prefix)
                            .map(|r| r.trim_start_matches('.'))
                            .unwrap_or(f)
                            .to_owned()
                    });
                    if field.is_empty() {
                        e.message
                    } else {
                        format!("{field}: {}", e.message)
                    }
                })
                .collect(),
        )
    })
}

/// The id of an object sent to the API.
fn id_of(kind: ObjectKind, body: &Value) -> Result<String, ObjectError> {
    body.get("id")
        .and_then(Value::as_str)
        .map(str::to_owned)
        .ok_or_else(|| {
            ObjectError::Invalid(vec![format!(
                "id: missing: every {} has an id",
                kind.as_str()
            )])
        })
}

impl Engine {
    /// The objects of `kind` (from files and from the API), by id.
    pub fn objects(&self, kind: ObjectKind) -> Vec<ObjectView> {
        let catalog = self.catalog();
        let stored = lock(&self.objects).clone();
        let view = |id: &str, origin: &tocsin_core::check::Origin, tenant: String, spec: Value| {
            let api = config::is_api_origin(&origin.file);
            ObjectView {
                id: id.to_owned(),
                kind: kind.as_str(),
                tenant,
                source: if api { "api" } else { "file" },
                origin: (!api).then(|| origin.to_string()),
                version: stored.get(&(kind, id.to_owned())).map(|r| r.version),
                spec,
            }
        };
        let tenant_of = |id: &str| {
            stored
                .get(&(kind, id.to_owned()))
                .map(|r| r.tenant.clone())
                .unwrap_or_default()
        };
        match kind {
            ObjectKind::Check => self
                .table()
                .values()
                .map(|e| {
                    view(
                        e.id().as_str(),
                        &e.spec.origin,
                        e.spec.tenant.clone(),
                        json(&*e.spec),
                    )
                })
                .collect(),
            ObjectKind::Contact => catalog
                .contacts
                .iter()
                .map(|c| view(&c.id, &c.origin, tenant_of(&c.id), json(&**c)))
                .collect(),
            ObjectKind::ContactGroup => catalog
                .contact_groups
                .iter()
                .map(|c| view(&c.id, &c.origin, tenant_of(&c.id), json(&**c)))
                .collect(),
            ObjectKind::Group => catalog
                .groups
                .iter()
                .map(|g| view(&g.id, &g.origin, tenant_of(&g.id), json(&**g)))
                .collect(),
        }
    }

    /// One object of `kind`.
    pub fn object(&self, kind: ObjectKind, id: &str) -> Option<ObjectView> {
        if kind == ObjectKind::Check {
            // Straight from the table, without listing every check.
            let e = self.check(id)?;
            let api = config::is_api_origin(&e.spec.origin.file);
            return Some(ObjectView {
                id: id.to_owned(),
                kind: kind.as_str(),
                tenant: e.spec.tenant.clone(),
                source: if api { "api" } else { "file" },
                origin: (!api).then(|| e.spec.origin.to_string()),
                version: lock(&self.objects)
                    .get(&(kind, id.to_owned()))
                    .map(|r| r.version),
                spec: json(&*e.spec),
            });
        }
        self.objects(kind).into_iter().find(|o| o.id == id)
    }

    /// Creates an object owned by `tenant` from its definition; applies it at once.
    pub async fn create_object(
        &self,
        kind: ObjectKind,
        tenant: &str,
        body: Value,
    ) -> Result<ObjectView, ObjectError> {
        let id = id_of(kind, &body)?;
        let parsed = validate(kind, &body)?;
        if self.object(kind, &id).is_some() {
            return Err(ObjectError::Exists {
                kind: kind.as_str(),
                id,
            });
        }
        self.check_references(&parsed)?;
        let now = now_ms();
        let row = ObjectRow {
            kind: kind.as_str().to_owned(),
            id: id.clone(),
            tenant: tenant.to_owned(),
            version: 1,
            created_ms: now,
            updated_ms: now,
            body,
        };
        match self.store.insert_object(&row).await {
            Ok(()) => {}
            Err(e) if e.is_conflict() => {
                return Err(ObjectError::Exists {
                    kind: kind.as_str(),
                    id,
                });
            }
            Err(e) => return Err(e.into()),
        }
        lock(&self.objects).insert((kind, id.clone()), row);
        self.apply_objects().await;
        self.object(kind, &id).ok_or(ObjectError::NotFound {
            kind: kind.as_str(),
            id,
        })
    }

    /// Replaces an API object's definition (its id stays); `if_match` is the version the
    /// caller read, if it sent one.
    pub async fn replace_object(
        &self,
        kind: ObjectKind,
        id: &str,
        mut body: Value,
        if_match: Option<i64>,
    ) -> Result<ObjectView, ObjectError> {
        let row = self.stored(kind, id)?;
        if let Some(obj) = body.as_object_mut() {
            match obj.get("id") {
                None => {
                    obj.insert("id".into(), Value::String(id.to_owned()));
                }
                Some(v) if v.as_str() == Some(id) => {}
                Some(v) => {
                    return Err(ObjectError::Invalid(vec![format!(
                        "id: {v} differs from the object's id {id:?}: an id cannot change \
                         (create a new object and delete this one)"
                    )]));
                }
            }
        }
        let parsed = validate(kind, &body)?;
        self.check_references(&parsed)?;
        let version = if_match.unwrap_or(row.version);
        if version != row.version {
            return Err(self.version_error(kind, id, version, row.version));
        }
        let now = now_ms();
        if !self
            .store
            .update_object(kind.as_str(), id, version, &body, now)
            .await?
        {
            let current = self.reread_version(kind, id).await?;
            return Err(self.version_error(kind, id, version, current));
        }
        {
            let mut objects = lock(&self.objects);
            if let Some(r) = objects.get_mut(&(kind, id.to_owned())) {
                r.body = body;
                r.version = version + 1;
                r.updated_ms = now;
            }
        }
        self.apply_objects().await;
        self.object(kind, id).ok_or(ObjectError::NotFound {
            kind: kind.as_str(),
            id: id.to_owned(),
        })
    }

    /// Deletes an API object; `if_match` as for [`Engine::replace_object`].
    pub async fn delete_object(
        &self,
        kind: ObjectKind,
        id: &str,
        if_match: Option<i64>,
    ) -> Result<(), ObjectError> {
        let row = self.stored(kind, id)?;
        let version = if_match.unwrap_or(row.version);
        if version != row.version || !self.store.delete_object(kind.as_str(), id, version).await? {
            let current = self.reread_version(kind, id).await?;
            return Err(self.version_error(kind, id, version, current));
        }
        lock(&self.objects).remove(&(kind, id.to_owned()));
        self.apply_objects().await;
        Ok(())
    }

    /// The stored row of an API object; a file's object is [`ObjectError::InFile`].
    pub fn stored(&self, kind: ObjectKind, id: &str) -> Result<ObjectRow, ObjectError> {
        if let Some(r) = lock(&self.objects).get(&(kind, id.to_owned())) {
            return Ok(r.clone());
        }
        match self.object(kind, id) {
            Some(o) => Err(ObjectError::InFile {
                kind: kind.as_str(),
                id: id.to_owned(),
                origin: o.origin.unwrap_or_default(),
            }),
            None => Err(ObjectError::NotFound {
                kind: kind.as_str(),
                id: id.to_owned(),
            }),
        }
    }

    fn version_error(
        &self,
        kind: ObjectKind,
        id: &str,
        expected: i64,
        current: i64,
    ) -> ObjectError {
        ObjectError::Version {
            kind: kind.as_str(),
            id: id.to_owned(),
            expected,
            current,
        }
    }

    async fn reread_version(&self, kind: ObjectKind, id: &str) -> Result<i64, ObjectError> {
        // Another node (or request) changed it: take the store's word and refresh.
        let rows = self.store.objects().await?;
        let current = rows
            .iter()
            .find(|r| r.kind == kind.as_str() && r.id == id)
            .map_or(0, |r| r.version);
        self.load_objects_from(rows);
        Ok(current)
    }

    /// Every id an object refers to must exist (a check's `depends_on` and `alert.notify`, a
    /// group's checks and contacts, a contact group's members).
    fn check_references(
        &self,
        parsed: &tocsin_core::config::ParsedFile,
    ) -> Result<(), ObjectError> {
        let catalog: std::sync::Arc<Catalog> = self.catalog();
        let table = self.table();
        let missing: Vec<String> = parsed
            .references
            .iter()
            .filter(|r| {
                let found = match r.kind {
                    RefKind::Check => tocsin_core::CheckId::new(&r.id)
                        .ok()
                        .is_some_and(|id| table.contains_key(&id)),
                    RefKind::Contact => {
                        catalog.contact(&r.id).is_some() || catalog.contact_group(&r.id).is_some()
                    }
                    RefKind::ContactMember => catalog.contact(&r.id).is_some(),
                    RefKind::Group => catalog.group(&r.id).is_some(),
                };
                !found
            })
            .map(|r| {
                let field = r
                    .field
                    .split_once(']')
                    .map_or(r.field.as_str(), |(_, f)| f.trim_start_matches('.'));
                format!("{field}: no {} has the id {:?}", r.kind, r.id)
            })
            .collect();
        if missing.is_empty() {
            Ok(())
        } else {
            Err(ObjectError::Invalid(missing))
        }
    }

    /// Replaces the in-memory objects with rows read from the store.
    pub(crate) fn load_objects_from(&self, rows: Vec<ObjectRow>) {
        let mut objects = lock(&self.objects);
        objects.clear();
        for r in rows {
            match ObjectKind::parse(&r.kind) {
                Some(k) => {
                    objects.insert((k, r.id.clone()), r);
                }
                None => {
                    tracing::warn!(kind = %r.kind, id = %r.id, "unknown API object kind; ignored");
                }
            }
        }
    }

    /// Reloads so that the objects take effect.
    async fn apply_objects(&self) {
        let me = self.me.get().and_then(std::sync::Weak::upgrade);
        match me {
            Some(engine) => {
                let _ = tokio::task::spawn_blocking(move || engine.reload()).await;
            }
            None => {
                self.reload();
            }
        }
    }
}

fn json<T: Serialize>(v: &T) -> Value {
    serde_json::to_value(v).unwrap_or_default()
}
