//! The maintenances page (`GET /maintenances`), creating a window (`POST /maintenances`, also
//! from a check's page) and ending one early (`POST /maintenances/{id}/end`).
//!
//! Maintenance windows belong to the operator. As in the API, a tenant's token sees and ends
//! only the windows that cover nothing but its own checks, and creates only such windows: a
//! window over tags or over all checks would also silence other tenants' checks, so it takes
//! a token of the operator's own tenant.

use askama::Template;
use axum::extract::{Path, Query, State};
use axum::response::{Html, Response};
use serde::Deserialize;
use tocsin_core::directory::MaintenanceScope;
use tocsin_core::{CheckId, Dur};
use tocsin_engine::{MAX_WINDOW, MaintenanceError, MaintenanceView, NewMaintenance, Table};

use super::error::UiError;
use super::guard::{PostForm, Viewer, csrf_form, redirect};
use super::{Chrome, Done, fmt};
use crate::AppState;
use crate::auth::Caller;

/// A window as the page shows it.
pub(crate) struct MaintView {
    pub(crate) id: String,
    pub(crate) active: bool,
    /// `from … to …`, or the recurrence.
    pub(crate) when: String,
    /// `checks: web, api`, `all checks`, …
    pub(crate) scope: String,
    pub(crate) note: Option<String>,
    /// Where a file's window is written (it is ended by editing the file).
    pub(crate) origin: Option<String>,
    /// Created at run time: can be ended here.
    pub(crate) api: bool,
}

fn scope_text(s: &MaintenanceScope) -> String {
    if s.all {
        return "all checks".to_owned();
    }
    let mut parts = Vec::new();
    let join = |v: &[String]| v.join(", ");
    if !s.checks.is_empty() {
        let ids: Vec<String> = s.checks.iter().map(ToString::to_string).collect();
        parts.push(format!("checks {}", join(&ids)));
    }
    for (what, v) in [
        ("tags", &s.tags),
        ("groups", &s.groups),
        ("hosts", &s.hosts),
    ] {
        if !v.is_empty() {
            parts.push(format!("{what} {}", join(v)));
        }
    }
    parts.join("; ")
}

/// The windows `caller` sees, as shown.
pub(crate) fn views(caller: &Caller, table: &Table, all: Vec<MaintenanceView>) -> Vec<MaintView> {
    all.into_iter()
        .filter(|m| crate::alarms::scope_visible(table, caller, &m.scope))
        .map(|m| {
            let ts = |t: jiff::Timestamp| fmt::when(t.as_millisecond());
            let when = match (&m.recurring, m.start, m.end) {
                (Some(r), _, _) => r.clone(),
                (None, Some(s), Some(e)) => format!("from {} to {}", ts(s), ts(e)),
                (None, Some(s), None) => format!("from {}", ts(s)),
                (None, None, Some(e)) => format!("until {}", ts(e)),
                (None, None, None) => String::new(),
            };
            MaintView {
                active: m.active,
                when,
                scope: scope_text(&m.scope),
                note: m.note,
                origin: m.origin,
                api: m.source == "api",
                id: m.id,
            }
        })
        .collect()
}

#[derive(Template)]
#[template(path = "ui/maintenances.html")]
struct MaintenancesPage {
    c: Chrome,
    windows: Vec<MaintView>,
    writes: bool,
    operator: bool,
    back: &'static str,
}

/// `GET /maintenances`.
pub(crate) async fn page(
    State(app): State<AppState>,
    viewer: Viewer,
    Query(done): Query<Done>,
) -> Result<Html<String>, UiError> {
    let caller = &viewer.caller;
    let windows = views(caller, &app.engine.table(), app.engine.maintenances());
    let page = MaintenancesPage {
        c: Chrome::new(&viewer, "Maintenances", "maintenances").done(&done),
        windows,
        writes: caller.writes(),
        operator: caller.sees(""),
        back: "/maintenances",
    };
    Ok(Html(page.render()?))
}

/// The fields of the form that creates a window.
#[derive(Default, Deserialize)]
pub(crate) struct CreateForm {
    #[serde(default)]
    csrf: String,
    /// `checks`, `tags` or `all`.
    #[serde(default)]
    scope: String,
    /// Check ids, separated by commas or spaces.
    #[serde(default)]
    checks: String,
    /// Tags, separated by commas or spaces.
    #[serde(default)]
    tags: String,
    /// How long, from now (`2h`).
    #[serde(default)]
    duration: String,
    #[serde(default)]
    note: String,
    #[serde(default)]
    back: String,
}

/// The form that ends a window.
#[derive(Default, Deserialize)]
pub(crate) struct EndForm {
    #[serde(default)]
    csrf: String,
    #[serde(default)]
    back: String,
}

csrf_form!(CreateForm, EndForm);

fn words(s: &str) -> impl Iterator<Item = &str> {
    s.split(|c: char| c == ',' || c.is_whitespace())
        .filter(|w| !w.is_empty())
}

fn needs_operator(what: &str) -> UiError {
    UiError::Forbidden(format!(
        "a maintenance over {what} also covers other tenants' checks: it needs a token of the \
         operator's own tenant; name the checks instead"
    ))
}

/// The scope the form asks for, checked against what the caller may cover.
fn scope_of(f: &CreateForm, caller: &Caller, table: &Table) -> Result<MaintenanceScope, UiError> {
    let mut scope = MaintenanceScope::default();
    match f.scope.as_str() {
        "checks" | "" => {
            for w in words(&f.checks) {
                let id = CheckId::new(w)
                    .ok()
                    .filter(|id| table.get(id).is_some_and(|e| caller.sees(&e.spec.tenant)))
                    .ok_or_else(|| UiError::BadRequest(format!("checks: no check {w:?}")))?;
                if !scope.checks.contains(&id) {
                    scope.checks.push(id);
                }
            }
            if scope.checks.is_empty() {
                return Err(UiError::BadRequest(
                    "checks: name at least one check".to_owned(),
                ));
            }
        }
        "tags" => {
            if !caller.sees("") {
                return Err(needs_operator("tags"));
            }
            scope.tags = words(&f.tags).map(str::to_owned).collect();
            if scope.tags.is_empty() {
                return Err(UiError::BadRequest(
                    "tags: name at least one tag".to_owned(),
                ));
            }
        }
        "all" => {
            if !caller.sees("") {
                return Err(needs_operator("all checks"));
            }
            scope.all = true;
        }
        other => {
            return Err(UiError::BadRequest(format!(
                "scope {other:?}: expected checks, tags or all"
            )));
        }
    }
    Ok(scope)
}

fn maintenance_error(e: MaintenanceError) -> UiError {
    match e {
        MaintenanceError::Invalid(m) => UiError::BadRequest(m),
        e @ (MaintenanceError::Duplicate(_) | MaintenanceError::InFile { .. }) => {
            UiError::Conflict(e.to_string())
        }
        e @ MaintenanceError::NotFound(_) => UiError::NotFound(e.to_string()),
        MaintenanceError::Store(e) => UiError::internal(e),
    }
}

/// `POST /maintenances`.
pub(crate) async fn create(
    State(app): State<AppState>,
    post: PostForm<CreateForm>,
) -> Result<Response, UiError> {
    let PostForm { viewer, form } = post;
    viewer.must_write()?;
    let scope = scope_of(&form, &viewer.caller, &app.engine.table())?;
    let text = form.duration.trim();
    let bad = || {
        UiError::BadRequest(format!(
            "duration {text:?}: expected a duration such as 30m, 2h or 1d, at most {}",
            Dur::from(MAX_WINDOW)
        ))
    };
    let dur: Dur = text.parse().map_err(|_| bad())?;
    if dur.get().is_zero() || dur.get() > MAX_WINDOW {
        return Err(bad());
    }
    let now = jiff::Timestamp::now();
    let end = jiff::SignedDuration::try_from(dur.get())
        .ok()
        .and_then(|d| now.checked_add(d).ok())
        .ok_or_else(bad)?;
    let new = NewMaintenance {
        id: None,
        start: None,
        end: Some(end),
        scope,
        note: Some(form.note.trim().to_owned()).filter(|n| !n.is_empty()),
        by: Some(viewer.caller.who()),
    };
    app.engine
        .add_maintenance(new)
        .await
        .map_err(maintenance_error)?;
    let back = fmt::local_path(&form.back).unwrap_or("/maintenances");
    Ok(redirect(&fmt::with_done(back, "maintenance-added")))
}

/// `POST /maintenances/{id}/end`.
pub(crate) async fn end(
    State(app): State<AppState>,
    Path(id): Path<String>,
    post: PostForm<EndForm>,
) -> Result<Response, UiError> {
    let PostForm { viewer, form } = post;
    let table = app.engine.table();
    let shown = app
        .engine
        .maintenances()
        .into_iter()
        .any(|m| m.id == id && crate::alarms::scope_visible(&table, &viewer.caller, &m.scope));
    if !shown {
        return Err(UiError::NotFound(format!(
            "no current maintenance with id {id:?}"
        )));
    }
    viewer.must_write()?;
    app.engine
        .end_maintenance(&id)
        .await
        .map_err(maintenance_error)?;
    let back = fmt::local_path(&form.back).unwrap_or("/maintenances");
    Ok(redirect(&fmt::with_done(back, "maintenance-ended")))
}
