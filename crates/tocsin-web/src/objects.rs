//! Create, replace and delete checks, contacts, contact groups and groups through the API;
//! tenants and tokens (the operator's); Tocsin's own status.
//!
//! A request body is the object as a configuration file writes it (JSON is YAML), checked by
//! the same loader. Objects defined in files are read-only here (409 naming the file and
//! line). Answers carry `ETag: "<version>"`; `PUT` and `DELETE` honour `If-Match` (412 when
//! the object changed since).
//!
//! Policy (DESIGN.md §4, tenancy):
//! - The API never takes `command`, `log`, `process`, `disk` or `host_metrics` checks: those
//!   run programs or read this machine, and come from the operator's files only.
//! - A tenant's token creates network checks only (`http`, `tcp`, `tls`, `dns`, `icmp`),
//!   whose ids start with `<tenant>.`; its checks are the tenant's, and their probes refuse
//!   loopback, private and link-local addresses unless the server allows them
//!   (`--tenant-private-networks`). A tenant's contacts are `email` contacts; its objects
//!   refer only to its own objects.

use std::sync::Arc;

use axum::Json;
use axum::extract::{Path, State};
use axum::http::{HeaderMap, HeaderValue, StatusCode, header};
use axum::response::{IntoResponse, Response};
use serde::Deserialize;
use serde_json::Value;
use tocsin_engine::{Engine, ObjectError, ObjectKind, ObjectView, now_ms};
use tocsin_store::{Grain, TenantRow};

use crate::auth::{Caller, Operator, Writer};
use crate::error::{ApiQuery, JsonBody};
use crate::{ApiError, AppState};

/// Probe kinds the API accepts from anyone, and those it accepts from tenants.
const API_KINDS: [&str; 6] = ["http", "tcp", "tls", "dns", "icmp", "push"];
const TENANT_KINDS: [&str; 5] = ["http", "tcp", "tls", "dns", "icmp"];

/// The routes of the objects other than checks (whose list and show have routes of their
/// own in [`crate::api`]): `/api/v1/{contacts,contact-groups,groups}[/{id}]`, and the
/// create, replace and delete of checks.
pub(crate) fn routes() -> axum::Router<AppState> {
    use axum::routing::{get, post};
    let mut r = axum::Router::new()
        .route(
            "/api/v1/checks",
            post(|s: State<AppState>, w: Writer, b: JsonBody<Value>| {
                create(s, w, ObjectKind::Check, b)
            }),
        )
        .route(
            "/api/v1/checks/{id}",
            axum::routing::put(
                |s: State<AppState>,
                 w: Writer,
                 p: Path<String>,
                 h: HeaderMap,
                 b: JsonBody<Value>| { replace(s, w, ObjectKind::Check, p, h, b) },
            )
            .delete(
                |s: State<Arc<Engine>>, w: Writer, p: Path<String>, h: HeaderMap| {
                    delete(s, w, ObjectKind::Check, p, h)
                },
            ),
        );
    for (path, kind) in [
        ("contacts", ObjectKind::Contact),
        ("contact-groups", ObjectKind::ContactGroup),
        ("groups", ObjectKind::Group),
    ] {
        r = r
            .route(
                &format!("/api/v1/{path}"),
                get(move |s: State<Arc<Engine>>, c: Caller| list(s, c, kind)).post(
                    move |s: State<AppState>, w: Writer, b: JsonBody<Value>| create(s, w, kind, b),
                ),
            )
            .route(
                &format!("/api/v1/{path}/{{id}}"),
                get(move |s: State<Arc<Engine>>, c: Caller, p: Path<String>| {
                    get_one(s, c, kind, p)
                })
                .put(
                    move |s: State<AppState>,
                          w: Writer,
                          p: Path<String>,
                          h: HeaderMap,
                          b: JsonBody<Value>| replace(s, w, kind, p, h, b),
                )
                .delete(
                    move |s: State<Arc<Engine>>, w: Writer, p: Path<String>, h: HeaderMap| {
                        delete(s, w, kind, p, h)
                    },
                ),
            );
    }
    r.route("/api/v1/checks/{id}/rollups", get(rollups))
        .route("/api/v1/tenants", get(tenants).post(create_tenant))
        .route("/api/v1/tenants/{id}", axum::routing::delete(delete_tenant))
        .route("/api/v1/tokens", get(tokens).post(create_token))
        .route("/api/v1/tokens/{id}", axum::routing::delete(revoke_token))
        .route("/api/v1/status", get(status))
}

fn object_error(e: ObjectError) -> ApiError {
    match e {
        ObjectError::Invalid(_) => ApiError::invalid(e.to_string()),
        ObjectError::NotFound { .. } => ApiError::not_found(e.to_string()),
        ObjectError::Exists { .. } | ObjectError::InFile { .. } => {
            ApiError::conflict(e.to_string())
        }
        ObjectError::Version { .. } => ApiError::precondition(e.to_string()),
        ObjectError::Store(e) => ApiError::internal(e),
    }
}

/// `If-Match: "3"` (or `3`, `W/"3"`, `*`) as a version; `*` and no header are `None`.
fn if_match(headers: &HeaderMap) -> Result<Option<i64>, ApiError> {
    let Some(v) = headers.get(header::IF_MATCH) else {
        return Ok(None);
    };
    let text = v
        .to_str()
        .map_err(|_| ApiError::invalid("If-Match: not valid text"))?
        .trim();
    if text == "*" {
        return Ok(None);
    }
    text.trim_start_matches("W/")
        .trim_matches('"')
        .parse()
        .map(Some)
        .map_err(|_| {
            ApiError::invalid(format!(
                "If-Match {text:?}: expected the ETag of the object, such as \"3\""
            ))
        })
}

/// An object with its ETag.
fn answer(status: StatusCode, o: ObjectView) -> Response {
    let etag = o
        .version
        .and_then(|v| HeaderValue::from_str(&format!("\"{v}\"")).ok());
    let mut r = (status, Json(o)).into_response();
    if let Some(etag) = etag {
        r.headers_mut().insert(header::ETAG, etag);
    }
    r
}

/// The object if the caller may see it; a 404 otherwise.
fn visible(
    engine: &Engine,
    caller: &Caller,
    kind: ObjectKind,
    id: &str,
) -> Result<ObjectView, ApiError> {
    engine
        .object(kind, id)
        .filter(|o| caller.sees(&o.tenant))
        .ok_or_else(|| ApiError::not_found(format!("no {} {id:?}", kind.as_str())))
}

/// Applies the tenancy policy to a definition and returns the tenant that will own it.
fn admit(
    engine: &Engine,
    caller: &Caller,
    kind: ObjectKind,
    body: &mut Value,
    tenants: &[TenantRow],
) -> Result<String, ApiError> {
    let obj = body
        .as_object_mut()
        .ok_or_else(|| ApiError::invalid("request body: expected a JSON object"))?;
    let scoped = !caller.is_operator();
    let tenant = if kind == ObjectKind::Check {
        let given = obj.get("tenant").and_then(Value::as_str).map(str::to_owned);
        match (scoped, given) {
            (true, Some(t)) if t != caller.tenant() => {
                return Err(ApiError::forbidden(format!(
                    "tenant {t:?}: a token creates objects for its own tenant only"
                )));
            }
            (true, _) => caller.tenant().to_owned(),
            (false, Some(t)) => {
                if !tenants.iter().any(|x| x.id == t) {
                    return Err(ApiError::invalid(format!(
                        "tenant: no tenant {t:?} (create it with POST /api/v1/tenants)"
                    )));
                }
                t
            }
            (false, None) => String::new(),
        }
    } else {
        caller.tenant().to_owned()
    };
    if kind == ObjectKind::Check {
        if tenant.is_empty() {
            obj.remove("tenant");
        } else {
            obj.insert("tenant".into(), Value::String(tenant.clone()));
        }
        let probes: Vec<&str> = tocsin_core::ProbeSpec::KINDS
            .iter()
            .copied()
            .filter(|k| obj.contains_key(*k))
            .collect();
        let allowed: &[&str] = if tenant.is_empty() {
            &API_KINDS
        } else {
            &TENANT_KINDS
        };
        if let Some(k) = probes.iter().find(|k| !allowed.contains(k)) {
            return Err(ApiError::forbidden(format!(
                "{k}: {k} checks are not accepted through the API{}; allowed: {}",
                if tenant.is_empty() {
                    " (they run programs or read this machine: define them in the \
                     configuration files)"
                } else {
                    " for tenants"
                },
                allowed.join(", ")
            )));
        }
    }
    if !tenant.is_empty() {
        let id = obj.get("id").and_then(Value::as_str).unwrap_or_default();
        let prefix = format!("{tenant}.");
        if !id.starts_with(&prefix) {
            return Err(ApiError::invalid(format!(
                "id {id:?}: the ids of tenant {tenant:?}'s objects start with {prefix:?}"
            )));
        }
        if kind == ObjectKind::Contact && obj.get("type").and_then(Value::as_str) != Some("email") {
            return Err(ApiError::forbidden(
                "type: a tenant's contacts are email contacts",
            ));
        }
        // References stay within the tenant.
        for (field, refs, ref_kind) in references(kind, obj) {
            for r in refs {
                let owner = match ref_kind {
                    ObjectKind::Check => engine.check(&r).map(|e| e.spec.tenant.clone()),
                    k => engine.object(k, &r).map(|o| o.tenant),
                };
                if owner.as_deref() != Some(tenant.as_str()) {
                    return Err(ApiError::invalid(format!(
                        "{field}: no {} has the id {r:?}",
                        ref_kind.as_str()
                    )));
                }
            }
        }
    }
    Ok(tenant)
}

/// The ids an object definition refers to, with the field and the kind they name.
fn references(
    kind: ObjectKind,
    obj: &serde_json::Map<String, Value>,
) -> Vec<(&'static str, Vec<String>, ObjectKind)> {
    let ids = |v: Option<&Value>| -> Vec<String> {
        v.and_then(Value::as_array)
            .map(|a| {
                a.iter()
                    .filter_map(Value::as_str)
                    .map(str::to_owned)
                    .collect()
            })
            .unwrap_or_default()
    };
    match kind {
        ObjectKind::Check => vec![
            ("depends_on", ids(obj.get("depends_on")), ObjectKind::Check),
            (
                "alert.notify",
                ids(obj.get("alert").and_then(|a| a.get("notify"))),
                ObjectKind::Contact,
            ),
        ],
        ObjectKind::Group => vec![
            ("checks", ids(obj.get("checks")), ObjectKind::Check),
            ("contacts", ids(obj.get("contacts")), ObjectKind::Contact),
        ],
        ObjectKind::ContactGroup => {
            vec![("contacts", ids(obj.get("contacts")), ObjectKind::Contact)]
        }
        ObjectKind::Contact => Vec::new(),
    }
}

async fn create(
    State(app): State<AppState>,
    Writer(caller): Writer,
    kind: ObjectKind,
    JsonBody(mut body): JsonBody<Value>,
) -> Result<Response, ApiError> {
    let tenants = app
        .engine
        .store()
        .tenants()
        .await
        .map_err(ApiError::internal)?;
    let tenant = admit(&app.engine, &caller, kind, &mut body, &tenants)?;
    let o = app
        .engine
        .create_object(kind, &tenant, body)
        .await
        .map_err(object_error)?;
    Ok(answer(StatusCode::CREATED, o))
}

async fn list(
    State(engine): State<Arc<Engine>>,
    caller: Caller,
    kind: ObjectKind,
) -> Result<Json<Value>, ApiError> {
    let items: Vec<ObjectView> = engine
        .objects(kind)
        .into_iter()
        .filter(|o| caller.sees(&o.tenant))
        .collect();
    Ok(Json(serde_json::json!({ "items": items })))
}

async fn get_one(
    State(engine): State<Arc<Engine>>,
    caller: Caller,
    kind: ObjectKind,
    Path(id): Path<String>,
) -> Result<Response, ApiError> {
    Ok(answer(
        StatusCode::OK,
        visible(&engine, &caller, kind, &id)?,
    ))
}

async fn replace(
    State(app): State<AppState>,
    Writer(caller): Writer,
    kind: ObjectKind,
    Path(id): Path<String>,
    headers: HeaderMap,
    JsonBody(mut body): JsonBody<Value>,
) -> Result<Response, ApiError> {
    let current = visible(&app.engine, &caller, kind, &id)?;
    let version = if_match(&headers)?;
    if let Some(o) = body.as_object_mut()
        && !o.contains_key("id")
    {
        o.insert("id".into(), Value::String(id.clone()));
    }
    let tenants = app
        .engine
        .store()
        .tenants()
        .await
        .map_err(ApiError::internal)?;
    let tenant = admit(&app.engine, &caller, kind, &mut body, &tenants)?;
    if tenant != current.tenant {
        return Err(ApiError::invalid(format!(
            "tenant: an object cannot move from tenant {:?} to {tenant:?}",
            current.tenant
        )));
    }
    let o = app
        .engine
        .replace_object(kind, &id, body, version)
        .await
        .map_err(object_error)?;
    Ok(answer(StatusCode::OK, o))
}

async fn delete(
    State(engine): State<Arc<Engine>>,
    Writer(caller): Writer,
    kind: ObjectKind,
    Path(id): Path<String>,
    headers: HeaderMap,
) -> Result<StatusCode, ApiError> {
    visible(&engine, &caller, kind, &id)?;
    let version = if_match(&headers)?;
    engine
        .delete_object(kind, &id, version)
        .await
        .map_err(object_error)?;
    Ok(StatusCode::NO_CONTENT)
}

#[derive(Deserialize)]
#[serde(deny_unknown_fields)]
pub(crate) struct RollupsQuery {
    grain: Option<String>,
    from: Option<i64>,
    to: Option<i64>,
}

/// `GET /api/v1/checks/{id}/rollups?grain=minute|hour|day&from=MS&to=MS`: per-period counts
/// and latencies (default: the last 24 hours by hour).
async fn rollups(
    State(engine): State<Arc<Engine>>,
    caller: Caller,
    Path(id): Path<String>,
    ApiQuery(q): ApiQuery<RollupsQuery>,
) -> Result<Json<Value>, ApiError> {
    crate::api::find(&engine, &caller, &id)?;
    let grain = match q.grain.as_deref() {
        None | Some("hour") => Grain::Hour,
        Some("minute") => Grain::Minute,
        Some("day") => Grain::Day,
        Some(g) => {
            return Err(ApiError::invalid(format!(
                "grain {g:?}: expected minute, hour or day"
            )));
        }
    };
    let to = q.to.unwrap_or_else(|| now_ms() + grain.ms());
    let from = q.from.unwrap_or(to.saturating_sub(24 * 3_600_000));
    if from >= to {
        return Err(ApiError::invalid(format!(
            "from {from} must be before to {to}"
        )));
    }
    // At most 1,500 periods in one answer (the span of two extreme times overflows: too wide).
    if to
        .checked_sub(from)
        .is_none_or(|span| span / grain.ms() > 1500)
    {
        return Err(ApiError::invalid(
            "from..to spans more than 1500 periods of this grain: narrow it or use a coarser grain",
        ));
    }
    let rows = engine
        .store()
        .rollups_in(grain, &id, from, to)
        .await
        .map_err(ApiError::internal)?;
    Ok(Json(serde_json::json!({ "rollups": rows })))
}

#[derive(Deserialize)]
#[serde(deny_unknown_fields)]
pub(crate) struct NewTenant {
    id: String,
    name: Option<String>,
}

async fn tenants(
    State(engine): State<Arc<Engine>>,
    _op: Operator,
) -> Result<Json<Value>, ApiError> {
    let items = engine.store().tenants().await.map_err(ApiError::internal)?;
    Ok(Json(serde_json::json!({ "items": items })))
}

async fn create_tenant(
    State(engine): State<Arc<Engine>>,
    _op: Operator,
    JsonBody(t): JsonBody<NewTenant>,
) -> Result<(StatusCode, Json<TenantRow>), ApiError> {
    tocsin_core::check::validate_tenant(&t.id)
        .map_err(|m| ApiError::invalid(format!("id: {m}")))?;
    let row = TenantRow {
        name: t
            .name
            .filter(|n| !n.trim().is_empty())
            .unwrap_or_else(|| t.id.clone()),
        id: t.id,
        created_ms: now_ms(),
    };
    match engine.store().insert_tenant(&row).await {
        Ok(()) => Ok((StatusCode::CREATED, Json(row))),
        Err(e) if e.is_conflict() => Err(ApiError::conflict(format!(
            "a tenant with the id {:?} already exists",
            row.id
        ))),
        Err(e) => Err(ApiError::internal(e)),
    }
}

async fn delete_tenant(
    State(engine): State<Arc<Engine>>,
    _op: Operator,
    Path(id): Path<String>,
) -> Result<StatusCode, ApiError> {
    let store = engine.store();
    let exists = store
        .tenants()
        .await
        .map_err(ApiError::internal)?
        .iter()
        .any(|t| t.id == id);
    if !exists {
        return Err(ApiError::not_found(format!("no tenant {id:?}")));
    }
    if store.delete_tenant(&id).await.map_err(ApiError::internal)? {
        Ok(StatusCode::NO_CONTENT)
    } else {
        Err(ApiError::conflict(format!(
            "tenant {id:?} still owns objects or live tokens: delete or revoke them first"
        )))
    }
}

#[derive(Deserialize)]
#[serde(deny_unknown_fields)]
pub(crate) struct NewToken {
    name: String,
    role: String,
    #[serde(default)]
    tenant: String,
}

/// A token row without its hash.
fn token_json(t: &tocsin_store::TokenRow) -> Value {
    serde_json::json!({
        "id": t.id, "tenant": t.tenant, "name": t.name, "role": t.role,
        "created_ms": t.created_ms, "last_used_ms": t.last_used_ms, "revoked_ms": t.revoked_ms,
    })
}

async fn tokens(State(engine): State<Arc<Engine>>, _op: Operator) -> Result<Json<Value>, ApiError> {
    let rows = engine.store().tokens().await.map_err(ApiError::internal)?;
    let items: Vec<Value> = rows.iter().map(token_json).collect();
    Ok(Json(serde_json::json!({ "items": items })))
}

async fn create_token(
    State(engine): State<Arc<Engine>>,
    _op: Operator,
    JsonBody(t): JsonBody<NewToken>,
) -> Result<(StatusCode, Json<Value>), ApiError> {
    let store = engine.store();
    if !t.tenant.is_empty()
        && !store
            .tenants()
            .await
            .map_err(ApiError::internal)?
            .iter()
            .any(|x| x.id == t.tenant)
    {
        return Err(ApiError::invalid(format!(
            "tenant: no tenant {:?} (create it with POST /api/v1/tenants)",
            t.tenant
        )));
    }
    match crate::auth::issue_token(store, &t.tenant, &t.name, &t.role, now_ms()).await {
        Ok((row, token)) => {
            let mut v = token_json(&row);
            v["token"] = Value::String(token);
            Ok((StatusCode::CREATED, Json(v)))
        }
        Err(crate::auth::TokenError::Store(e)) => Err(ApiError::internal(e)),
        Err(crate::auth::TokenError::Random(e)) => Err(ApiError::internal(e)),
        Err(e) => Err(ApiError::invalid(e.to_string())),
    }
}

async fn revoke_token(
    State(engine): State<Arc<Engine>>,
    _op: Operator,
    Path(id): Path<String>,
) -> Result<StatusCode, ApiError> {
    if engine
        .store()
        .revoke_token(&id, now_ms())
        .await
        .map_err(ApiError::internal)?
    {
        Ok(StatusCode::NO_CONTENT)
    } else {
        Err(ApiError::not_found(format!("no live token {id:?}")))
    }
}

/// `GET /api/v1/status`: Tocsin's own state, as the caller may see it.
async fn status(
    State(engine): State<Arc<Engine>>,
    caller: Caller,
) -> Result<Json<Value>, ApiError> {
    let table = engine.table();
    let mut counts = std::collections::BTreeMap::<&str, usize>::new();
    let mut checks = 0;
    for e in table.values().filter(|e| caller.sees(&e.spec.tenant)) {
        checks += 1;
        let rt = e.snapshot();
        let s = if rt.last.is_some() {
            rt.state.status.as_str()
        } else {
            "pending"
        };
        *counts.entry(s).or_default() += 1;
    }
    let mut v = serde_json::json!({
        "version": env!("CARGO_PKG_VERSION"),
        "checks": checks,
        "by_status": counts,
    });
    if caller.tenant().is_empty() {
        let self_checks: Vec<Value> = table
            .values()
            .filter(|e| e.id().as_str().starts_with("tocsin."))
            .map(|e| {
                let rt = e.snapshot();
                serde_json::json!({
                    "id": e.id().as_str(),
                    "status": rt.state.status,
                    "message": rt.last.as_ref().map(|r| r.message.clone()),
                })
            })
            .collect();
        v["store"] = Value::String(engine.store().backend().as_str().to_owned());
        v["config_errors"] = serde_json::to_value(
            engine
                .config_errors()
                .iter()
                .map(ToString::to_string)
                .collect::<Vec<_>>(),
        )
        .unwrap_or_default();
        v["self"] = Value::Array(self_checks);
    }
    Ok(Json(v))
}
