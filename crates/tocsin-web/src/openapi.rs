//! The OpenAPI 3.1 document of the REST API, served at `GET /api/v1/openapi.json` (no token).
//!
//! It is generated from the code with utoipa: the request and answer bodies are the real types
//! where they exist (the configuration and model types of `tocsin-core`, through its `openapi`
//! feature), and small mirrors here where a handler builds its JSON by hand or answers with an
//! engine or store type (those crates know nothing of OpenAPI); each mirror says which answer it
//! describes. The path items are declared on stub functions below, one per route: they are never
//! called, so the handlers' modules stay free of documentation attributes. When a route changes,
//! its stub changes with it.
//!
//! Errors are `{code, message}` ([`ErrorBody`]); every operation lists the statuses it can
//! answer, as shared responses (`#/components/responses/NotFound`, …).

// The mirrors are never built and the stubs never called: they exist for their schemas.
#![allow(dead_code)]

use std::sync::OnceLock;

use axum::http::header;
use axum::response::{IntoResponse, Response};
use serde::Deserialize;
use tocsin_core::alarm::{Alarm, AlarmEvent};
use tocsin_core::check::CheckDef;
use tocsin_core::directory::{
    Contact, ContactDef, ContactGroup, ContactGroupDef, Group, GroupDef, MaintenanceScope,
};
use tocsin_core::{CheckResult, CheckSpec, CheckState, Dur, Schedule, Status};
use utoipa::openapi::schema::{ObjectBuilder, Type};
use utoipa::openapi::security::{ApiKey, ApiKeyValue, HttpAuthScheme, HttpBuilder, SecurityScheme};
use utoipa::openapi::{ContentBuilder, HeaderBuilder, Ref, RefOr, ResponseBuilder};
use utoipa::{IntoParams, Modify, OpenApi, ToSchema};

use crate::ApiError;

/// `GET /api/v1/openapi.json`: the document, built once.
pub(crate) async fn document() -> Response {
    static DOC: OnceLock<Result<String, String>> = OnceLock::new();
    match DOC.get_or_init(|| ApiDoc::openapi().to_json().map_err(|e| e.to_string())) {
        Ok(json) => ([(header::CONTENT_TYPE, "application/json")], json.clone()).into_response(),
        Err(e) => {
            ApiError::internal(format!("serialising the OpenAPI document: {e}")).into_response()
        }
    }
}

#[derive(OpenApi)]
#[openapi(
    info(
        title = "Tocsin API",
        description = "Tocsin's REST API: checks, contacts, groups, maintenances, alarms, \
                       tenants and tokens. Every route under `/api/v1` but `/openapi.json` and \
                       `/push/{id}` needs an API token (`Authorization: Bearer tcn_…`, made with \
                       `tocsin token create`); a tenant's token sees only its tenant's objects \
                       (another tenant's object is a 404). Errors are `{code, message}`.",
        license(name = "Apache-2.0", identifier = "Apache-2.0"),
    ),
    paths(
        healthz, metrics,
        list_checks, create_check, get_check, put_check, delete_check,
        check_results, check_changes, check_rollups, run_check,
        list_contacts, create_contact, get_contact, put_contact, delete_contact,
        list_contact_groups, create_contact_group, get_contact_group, put_contact_group,
        delete_contact_group,
        list_groups, create_group, get_group, put_group, delete_group,
        list_maintenances, create_maintenance, end_maintenance,
        list_alarms, get_alarm, act_on_alarm,
        list_tenants, create_tenant, delete_tenant,
        list_tokens, create_token, delete_token,
        server_status, outbox, reload, push, events, openapi_json,
    ),
    components(
        schemas(ErrorBody, ErrorCode, CheckDef, ContactDef, ContactGroupDef, GroupDef),
        responses(
            InvalidArgument, Unauthenticated, PermissionDenied, NotFound, Conflict,
            FailedPrecondition, TooManyRequests, Internal,
        ),
    ),
    modifiers(&SecuritySchemes),
    tags(
        (name = "checks", description = "Checks: definitions, state, results and history."),
        (name = "contacts", description = "Who is told about alarms."),
        (name = "contact-groups", description = "Named lists of contacts."),
        (name = "groups", description = "Checks that share one alarm."),
        (name = "maintenances", description = "Windows that hold notifications back."),
        (name = "alarms", description = "Alarms and the actions on them."),
        (name = "tenants", description = "Tenants (the operator's)."),
        (name = "tokens", description = "API tokens (the operator's)."),
        (name = "server", description = "Tocsin itself: health, metrics, status, reload, events."),
        (name = "push", description = "Results pushed to push (dead-man) checks."),
    ),
)]
struct ApiDoc;

/// The security schemes: API tokens, and push checks' own tokens.
struct SecuritySchemes;

impl Modify for SecuritySchemes {
    fn modify(&self, openapi: &mut utoipa::openapi::OpenApi) {
        let components = openapi.components.get_or_insert_with(Default::default);
        components.add_security_scheme(
            "bearer",
            SecurityScheme::Http(
                HttpBuilder::new()
                    .scheme(HttpAuthScheme::Bearer)
                    .bearer_format("tcn_<id>_<secret>")
                    .description(Some(
                        "An API token, `Authorization: Bearer tcn_…`, made with `tocsin token \
                         create` or `POST /api/v1/tokens`. Roles: `operator` (everything), \
                         `admin` (its tenant's objects), `read` (reads only).",
                    ))
                    .build(),
            ),
        );
        components.add_security_scheme(
            "push_token",
            SecurityScheme::Http(
                HttpBuilder::new()
                    .scheme(HttpAuthScheme::Bearer)
                    .description(Some("The push check's own token (its `push.token`)."))
                    .build(),
            ),
        );
        components.add_security_scheme(
            "push_token_query",
            SecurityScheme::ApiKey(ApiKey::Query(ApiKeyValue::with_description(
                "token",
                "The push check's own token as `?token=…`, for senders that cannot set \
                 headers (query strings end up in proxy logs).",
            ))),
        );
    }
}

// ---------------------------------------------------------------------------------------------
// Errors.
// ---------------------------------------------------------------------------------------------

/// An error answer: what went wrong, for a program (`code`) and for a person (`message`).
#[derive(ToSchema)]
struct ErrorBody {
    /// The kind of error; the HTTP status follows from it.
    code: ErrorCode,
    /// What failed, and with which input. A 500 says only to see the server log.
    message: String,
}

/// Error codes and their HTTP statuses.
#[derive(ToSchema)]
enum ErrorCode {
    /// 400: a query parameter, a path part or the body is wrong; the message names it.
    InvalidArgument,
    /// 401: no token, or an unknown or revoked one.
    Unauthenticated,
    /// 403: the token's role does not allow it.
    PermissionDenied,
    /// 404: no such object, route or action (or another tenant's object).
    NotFound,
    /// 409: the object's state does not allow it (an id taken, an object defined in a file).
    Conflict,
    /// 412: `If-Match` names another version than the current one.
    FailedPrecondition,
    /// 429: the token is over its rate limit; see `Retry-After`.
    TooManyRequests,
    /// 500: a server fault; the detail is in the server log only.
    Internal,
}

/// A response with an [`ErrorBody`].
fn error_response(description: &str) -> ResponseBuilder {
    ResponseBuilder::new().description(description).content(
        "application/json",
        ContentBuilder::new()
            .schema(Some(Ref::from_schema_name("ErrorBody")))
            .build(),
    )
}

macro_rules! error_responses {
    ($($name:ident: $description:literal,)*) => {$(
        #[doc = $description]
        struct $name;

        impl<'r> utoipa::ToResponse<'r> for $name {
            fn response() -> (&'r str, RefOr<utoipa::openapi::Response>) {
                (stringify!($name), error_response($description).build().into())
            }
        }
    )*};
}

error_responses! {
    InvalidArgument: "`InvalidArgument`: a query parameter, a path part or the body is wrong.",
    Unauthenticated: "`Unauthenticated`: no token, or an unknown or revoked one.",
    PermissionDenied: "`PermissionDenied`: the token's role does not allow this.",
    NotFound: "`NotFound`: no such object (another tenant's object is not found either).",
    Conflict: "`Conflict`: the object's state does not allow this.",
    FailedPrecondition: "`FailedPrecondition`: `If-Match` names another version.",
    Internal: "`Internal`: a server fault; the detail is in the server log.",
}

/// `TooManyRequests`: the token is over its rate limit; retry after `Retry-After` seconds.
struct TooManyRequests;

impl<'r> utoipa::ToResponse<'r> for TooManyRequests {
    fn response() -> (&'r str, RefOr<utoipa::openapi::Response>) {
        let seconds = ObjectBuilder::new()
            .schema_type(Type::Integer)
            .minimum(Some(1));
        let response = error_response(
            "`TooManyRequests`: the token is over its rate limit; retry after `Retry-After` \
             seconds.",
        )
        .header(
            "Retry-After",
            HeaderBuilder::new()
                .schema(Some(seconds))
                .description(Some("Seconds to wait before the next request."))
                .build(),
        );
        ("TooManyRequests", response.build().into())
    }
}

// ---------------------------------------------------------------------------------------------
// Shared wire types.
// ---------------------------------------------------------------------------------------------

/// Where an object is defined: in a configuration file (read-only through the API) or through
/// the API.
#[derive(ToSchema)]
#[schema(rename_all = "lowercase")]
enum Source {
    /// A configuration file: edit the file.
    File,
    /// Created through the API.
    Api,
}

macro_rules! object {
    ($name:ident, $list:ident, $spec:ident, $what:literal, $kind:literal) => {
        #[doc = concat!("One ", $what, " as the API answers it (mirror of `tocsin_engine::ObjectView`): identity, provenance and the definition as loaded, defaults applied (secrets shown as `********`).")]
        #[derive(ToSchema)]
        struct $name {
            /// Its id.
            id: String,
            /// What it is.
            #[schema(example = $kind)]
            kind: String,
            /// The owning tenant (`""`: the operator's own).
            tenant: String,
            /// Where it is defined.
            source: Source,
            /// Where a file defines it (`checks/web.yml:12:5`).
            origin: Option<String>,
            /// Its version (API objects): the `ETag`, to give back as `If-Match`.
            version: Option<i64>,
            /// The definition as loaded.
            spec: $spec,
        }

        #[doc = concat!("A list of ", $what, "s.")]
        #[derive(ToSchema)]
        struct $list {
            /// The objects.
            items: Vec<$name>,
        }
    };
}

object!(CheckObject, CheckObjects, CheckSpec, "check", "check");
object!(ContactObject, ContactList, Contact, "contact", "contact");
object!(
    ContactGroupObject,
    ContactGroupList,
    ContactGroup,
    "contact group",
    "contact_group"
);
object!(GroupObject, GroupList, Group, "group", "group");

/// A check as listed (mirror of the list handler's hand-built JSON): identity, schedule, state
/// and latest result.
#[derive(ToSchema)]
struct CheckView {
    /// Its id.
    id: String,
    /// Display name.
    name: String,
    /// The probe kind: `http`, `tcp`, `tls`, `dns`, `icmp`, `command`, `log`, `process`,
    /// `disk`, `host_metrics` or `push`.
    kind: String,
    /// Tags.
    tags: Vec<String>,
    /// Host label.
    host: Option<String>,
    /// The owning tenant (absent: the operator's own).
    tenant: Option<String>,
    /// Shown on public pages, feeds and badges.
    public: bool,
    /// When it runs.
    schedule: Schedule,
    /// The state in words: `pending`, `ok`, `critical (soft)`, `ok (recovering)`, …
    summary: String,
    /// Whether a run is under way.
    running: bool,
    /// The state engine's state.
    state: CheckState,
    /// The latest result, once there is one.
    last_result: Option<CheckResult>,
}

/// A page of checks (mirror of the list handler's hand-built JSON).
#[derive(ToSchema)]
struct CheckList {
    /// The checks of the page.
    checks: Vec<CheckView>,
    /// Checks matching the filters, all pages together.
    total: u64,
    /// The `offset` of the next page; absent or null on the last page.
    next_offset: Option<u64>,
}

/// One check in full (mirror of the show handler's hand-built JSON): as listed, plus where it
/// is defined and its definition as loaded.
#[derive(ToSchema)]
struct CheckDetail {
    /// Its id.
    id: String,
    /// Display name.
    name: String,
    /// The probe kind.
    kind: String,
    /// Tags.
    tags: Vec<String>,
    /// Host label.
    host: Option<String>,
    /// The owning tenant (absent: the operator's own).
    tenant: Option<String>,
    /// Shown on public pages, feeds and badges.
    public: bool,
    /// When it runs.
    schedule: Schedule,
    /// The state in words.
    summary: String,
    /// Whether a run is under way.
    running: bool,
    /// The state engine's state.
    state: CheckState,
    /// The latest result, once there is one.
    last_result: Option<CheckResult>,
    /// Where it is defined.
    source: Source,
    /// Where a file defines it.
    origin: Option<String>,
    /// Its version (checks created through the API): the `ETag`.
    version: Option<i64>,
    /// The definition as loaded, defaults applied (secrets shown as `********`).
    spec: CheckSpec,
}

/// Results of a check, newest first (mirror of the handler's hand-built JSON).
#[derive(ToSchema)]
struct ResultPage {
    /// The results.
    results: Vec<CheckResult>,
    /// `before` for the next page (null on the last page).
    next_before: Option<i64>,
}

/// A change of a check's status (mirror of `tocsin_store::StateChange`).
#[derive(ToSchema)]
struct StateChange {
    /// The check id.
    check: String,
    /// When, Unix ms.
    at_ms: i64,
    /// The status before.
    from: Status,
    /// The status after.
    to: Status,
    /// Whether the new state is hard.
    hard: bool,
    /// `hard`, `soft`, `recovered`, `flapping_started`, …
    kind: String,
    /// A one-line reason.
    message: String,
}

/// State changes of a check, newest first (mirror of the handler's hand-built JSON).
#[derive(ToSchema)]
struct ChangeList {
    /// The changes.
    changes: Vec<StateChange>,
}

/// The period of a rollup.
#[derive(ToSchema)]
#[schema(rename_all = "lowercase")]
enum Grain {
    /// One minute.
    Minute,
    /// One hour.
    Hour,
    /// One day (UTC).
    Day,
}

/// Results of one period, summed up (mirror of `tocsin_store::Rollup`).
#[derive(ToSchema)]
struct Rollup {
    /// Start of the period, Unix ms (named `minute_ms` whatever the grain).
    minute_ms: i64,
    /// Results in the period.
    count: u32,
    /// Of those, results with status `ok`.
    ok: u32,
    /// Median total run time, µs.
    p50_us: u64,
    /// 95th percentile of the total run time, µs.
    p95_us: u64,
    /// Longest total run time, µs.
    max_us: u64,
}

/// Rollups of a check (mirror of the handler's hand-built JSON).
#[derive(ToSchema)]
struct RollupList {
    /// The rollups, oldest first.
    rollups: Vec<Rollup>,
}

// ---------------------------------------------------------------------------------------------
// Query parameters (mirrors of the handlers' query structs).
// ---------------------------------------------------------------------------------------------

/// Columns checks sort by.
#[derive(ToSchema)]
#[schema(rename_all = "lowercase")]
enum CheckSort {
    /// The id (default).
    Id,
    /// The display name.
    Name,
    /// Worst status first.
    Status,
    /// When the status last changed.
    Since,
    /// The probe kind.
    Kind,
}

/// Sort direction.
#[derive(ToSchema)]
#[schema(rename_all = "lowercase")]
enum Order {
    /// Ascending (default).
    Asc,
    /// Descending.
    Desc,
}

/// Filters, sort and page of `GET /checks`.
#[derive(IntoParams)]
#[into_params(parameter_in = Query)]
struct ListChecksQuery {
    /// Only checks with this tag.
    tag: Option<String>,
    /// Only checks whose latest result has this status.
    #[param(inline)]
    status: Option<Status>,
    /// Only checks whose id or name contains this text (any case).
    q: Option<String>,
    /// Only this tenant's checks (`""`: the operator's own).
    tenant: Option<String>,
    /// Sort column (default `id`).
    #[param(inline)]
    sort: Option<CheckSort>,
    /// Sort direction (default `asc`).
    #[param(inline)]
    order: Option<Order>,
    /// Checks per page (default 100).
    #[param(minimum = 1, maximum = 1000)]
    limit: Option<u32>,
    /// Checks to skip (default 0).
    offset: Option<u32>,
}

/// Page of `GET /checks/{id}/results`.
#[derive(IntoParams)]
#[into_params(parameter_in = Query)]
struct ResultsQuery {
    /// Results per page (default 100).
    #[param(minimum = 1, maximum = 1000)]
    limit: Option<u32>,
    /// Only results that started before this time, Unix ms (a page's `next_before`).
    before: Option<i64>,
}

/// Page of `GET /checks/{id}/changes`.
#[derive(IntoParams)]
#[into_params(parameter_in = Query)]
struct ChangesQuery {
    /// Changes (default 100).
    #[param(minimum = 1, maximum = 1000)]
    limit: Option<u32>,
}

/// Period and range of `GET /checks/{id}/rollups`.
#[derive(IntoParams)]
#[into_params(parameter_in = Query)]
struct RollupsQuery {
    /// The period of each rollup (default `hour`).
    #[param(inline)]
    grain: Option<Grain>,
    /// From this time, Unix ms (default: a day before `to`).
    from: Option<i64>,
    /// Up to this time, Unix ms (default: now). At most 1500 periods from `from`.
    to: Option<i64>,
}

/// Which alarms `GET /alarms` lists.
#[derive(ToSchema)]
#[schema(rename_all = "lowercase")]
enum AlarmState {
    /// Open alarms (default).
    Open,
    /// Closed alarms.
    Closed,
    /// Both.
    All,
}

/// Filter and page of `GET /alarms`.
#[derive(IntoParams)]
#[into_params(parameter_in = Query)]
struct AlarmsQuery {
    /// Which alarms (default `open`).
    #[param(inline)]
    state: Option<AlarmState>,
    /// Alarms per page (default 100).
    #[param(minimum = 1, maximum = 500)]
    limit: Option<u32>,
    /// The `next_before` of the previous page.
    #[param(pattern = r"^[0-9]+\.[0-9]+$")]
    before: Option<String>,
}

/// Size of `GET /outbox`'s dead-letter list.
#[derive(IntoParams)]
#[into_params(parameter_in = Query)]
struct OutboxQuery {
    /// Dead letters listed (default 50; clamped to 1 to 500).
    limit: Option<u32>,
}

/// Event types of `GET /events`.
#[derive(IntoParams)]
#[into_params(parameter_in = Query)]
struct EventsQuery {
    /// Comma-separated event types (default both).
    #[param(
        pattern = r"^ *(state|alarm) *(, *(state|alarm) *)*$",
        example = "state,alarm"
    )]
    types: Option<String>,
}

// ---------------------------------------------------------------------------------------------
// Alarms, maintenances, outbox.
// ---------------------------------------------------------------------------------------------

/// A page of alarms, newest first, without their timelines (mirror of the handler's
/// hand-built JSON).
#[derive(ToSchema)]
struct AlarmPage {
    /// The alarms (`events` left out: `GET /alarms/{id}` has them).
    alarms: Vec<Alarm>,
    /// `before` for the next page (null on the last page).
    next_before: Option<String>,
}

/// One entry of an alarm's stored timeline (mirror of `tocsin_store::AlarmEvent`).
#[derive(ToSchema)]
struct TimelineEntry {
    /// Position in the timeline (1, 2, 3, …).
    seq: i64,
    /// When, Unix ms.
    at_ms: i64,
    /// What happened: `opened`, `fault`, `notified`, `acked`, `closed`, …
    kind: String,
    /// The details (an [`AlarmEvent`]).
    body: AlarmEvent,
}

/// Where a delivery is.
#[derive(ToSchema)]
#[schema(rename_all = "lowercase")]
enum DeliveryStatus {
    /// Waiting for its next attempt.
    Pending,
    /// Delivered.
    Delivered,
    /// Given up on (a dead letter).
    Dead,
}

/// A notification to one contact (mirror of `tocsin_store::Delivery`).
#[derive(ToSchema)]
struct Delivery {
    /// Row id.
    id: i64,
    /// `alarm:seq:contact`: the key that keeps a notification from being sent twice.
    idempotency_key: String,
    /// The alarm's tenant.
    tenant: String,
    /// The alarm's id.
    alarm_id: i64,
    /// The contact.
    contact: String,
    /// The channel kind.
    channel: String,
    /// What is delivered.
    payload: serde_json::Value,
    /// Queued, Unix ms.
    created_ms: i64,
    /// Attempts so far.
    attempts: u32,
    /// Next attempt, Unix ms.
    next_attempt_ms: i64,
    /// Last attempt, Unix ms.
    last_attempt_ms: Option<i64>,
    /// Why the last attempt failed.
    last_error: Option<String>,
    /// Where it is.
    status: DeliveryStatus,
    /// Delivered, Unix ms.
    delivered_ms: Option<i64>,
    /// Given up on, Unix ms.
    dead_ms: Option<i64>,
}

/// One alarm in full (mirror of the handler's hand-built JSON).
#[derive(ToSchema)]
struct AlarmDetail {
    /// The alarm.
    alarm: Alarm,
    /// Its timeline.
    events: Vec<TimelineEntry>,
    /// Its notifications, contact by contact.
    deliveries: Vec<Delivery>,
}

/// The actions on an alarm.
#[derive(ToSchema)]
#[schema(rename_all = "lowercase")]
enum AlarmAction {
    /// Take it: re-notifications stop until it closes or the ack expires.
    Ack,
    /// Withdraw the ack.
    Unack,
    /// Close it now (no message is sent).
    Close,
    /// Reopen a closed alarm.
    Reopen,
    /// Silence it: nothing is sent, not even its recovery.
    Suppress,
    /// Lift the silence.
    Unsuppress,
}

/// The optional body of an alarm action (mirror of the handler's body struct).
#[derive(ToSchema, Deserialize)]
#[serde(deny_unknown_fields)]
struct ActionBody {
    /// Who (default: `token:<name>`).
    by: Option<String>,
    /// Why, or what is being done (ack only).
    comment: Option<String>,
    /// When the ack ends by itself: a duration from now (`2h`) or an RFC 3339 time (ack only).
    #[schema(examples("2h", "2026-05-01T22:00:00Z"))]
    expires: Option<String>,
}

/// A run-time maintenance window to add (mirror of the handler's body struct). Give `end` or
/// `for`.
#[derive(ToSchema, Deserialize)]
#[serde(deny_unknown_fields)]
struct NewMaintenance {
    /// Its id (default: one is made up).
    id: Option<String>,
    /// `now` (default) or an RFC 3339 time.
    #[schema(examples("now", "2026-05-01T22:00:00Z"))]
    start: Option<String>,
    /// An RFC 3339 time.
    #[schema(examples("2026-05-01T23:00:00Z"))]
    end: Option<String>,
    /// How long after `start`.
    #[serde(rename = "for")]
    duration: Option<Dur>,
    /// What it covers.
    scope: MaintenanceScope,
    /// Why.
    note: Option<String>,
    /// Who (default: `token:<name>`).
    by: Option<String>,
}

/// A maintenance window as listed (mirror of `tocsin_engine::MaintenanceView`).
#[derive(ToSchema)]
struct Maintenance {
    /// Its id.
    id: String,
    /// Where it is defined.
    source: Source,
    /// Where a file defines it.
    origin: Option<String>,
    /// Whether it holds notifications back now.
    active: bool,
    /// Its start (one-off windows), RFC 3339.
    start: Option<String>,
    /// Its end (one-off windows), RFC 3339.
    end: Option<String>,
    /// Recurring windows: the cron expression and how long each lasts.
    recurring: Option<String>,
    /// What it covers.
    scope: MaintenanceScope,
    /// Why.
    note: Option<String>,
}

/// The maintenance windows the caller may see (mirror of the handler's hand-built JSON).
#[derive(ToSchema)]
struct MaintenanceList {
    /// The windows.
    maintenances: Vec<Maintenance>,
}

/// Outbox rows by status (mirror of `tocsin_store::OutboxCounts`).
#[derive(ToSchema)]
struct OutboxCounts {
    /// Waiting for delivery.
    pending: u64,
    /// Delivered.
    delivered: u64,
    /// Dead letters.
    dead: u64,
}

/// The outbox (mirror of the handler's hand-built JSON).
#[derive(ToSchema)]
struct Outbox {
    /// Rows by status.
    counts: OutboxCounts,
    /// The latest dead letters.
    dead: Vec<Delivery>,
}

/// What a reload changed (mirror of `tocsin_engine::ReloadReport`).
#[derive(ToSchema)]
struct ReloadReport {
    /// Checks added.
    added: u64,
    /// Checks whose definition changed.
    changed: u64,
    /// Checks removed.
    removed: u64,
    /// Checks left untouched.
    unchanged: u64,
    /// Every configuration error; broken files keep their last good version.
    errors: Vec<String>,
}

// ---------------------------------------------------------------------------------------------
// Tenants and tokens.
// ---------------------------------------------------------------------------------------------

/// A tenant (mirror of `tocsin_store::TenantRow`).
#[derive(ToSchema)]
struct Tenant {
    /// Its id, `[a-z0-9][a-z0-9-]*`.
    id: String,
    /// Display name.
    name: String,
    /// Created, Unix ms.
    created_ms: i64,
}

/// The tenants.
#[derive(ToSchema)]
struct TenantList {
    /// The tenants.
    items: Vec<Tenant>,
}

/// A tenant to add.
#[derive(ToSchema, Deserialize)]
#[serde(deny_unknown_fields)]
struct NewTenant {
    /// Its id: a-z, 0-9 and `-`, starting with a letter or digit; at most 63 bytes.
    #[schema(pattern = r"^[a-z0-9][a-z0-9-]*$", max_length = 63, min_length = 1)]
    id: String,
    /// Display name (default: the id).
    name: Option<String>,
}

/// A token's role.
#[derive(ToSchema, Deserialize)]
#[serde(rename_all = "lowercase")]
enum Role {
    /// Everything, every tenant.
    Operator,
    /// Reads and changes its tenant's objects.
    Admin,
    /// Reads its tenant's objects.
    Read,
}

/// An API token as listed: never the token itself, nor its hash.
#[derive(ToSchema)]
struct TokenView {
    /// Public id (the token's `tcn_<id>_` part).
    id: String,
    /// The tenant it acts for (`""`: the operator).
    tenant: String,
    /// Who or what uses it.
    name: String,
    /// Its role.
    role: Role,
    /// Created, Unix ms.
    created_ms: i64,
    /// Last used, Unix ms.
    last_used_ms: Option<i64>,
    /// Revoked, Unix ms.
    revoked_ms: Option<i64>,
}

/// The tokens.
#[derive(ToSchema)]
struct TokenList {
    /// The tokens.
    items: Vec<TokenView>,
}

/// A token to make.
#[derive(ToSchema, Deserialize)]
#[serde(deny_unknown_fields)]
struct NewToken {
    /// Who or what will use it.
    #[schema(min_length = 1)]
    name: String,
    /// Its role (a tenant's token is `admin` or `read`).
    role: Role,
    /// The tenant it acts for (default `""`: the operator's own).
    #[serde(default)]
    tenant: String,
}

/// A new token: the only answer that ever holds the token.
#[derive(ToSchema)]
struct IssuedToken {
    /// The token, `tcn_<id>_<secret>`: keep it now, it is never shown again.
    token: String,
    /// Public id.
    id: String,
    /// The tenant it acts for.
    tenant: String,
    /// Who or what uses it.
    name: String,
    /// Its role.
    role: Role,
    /// Created, Unix ms.
    created_ms: i64,
    /// Last used, Unix ms (null).
    last_used_ms: Option<i64>,
    /// Revoked, Unix ms (null).
    revoked_ms: Option<i64>,
}

// ---------------------------------------------------------------------------------------------
// Server, push.
// ---------------------------------------------------------------------------------------------

/// `{"status": "ok"}`.
#[derive(ToSchema)]
struct Health {
    /// Always `ok` while the server answers.
    status: String,
}

/// Tocsin's own status, as the caller may see it (mirror of the handler's hand-built JSON).
/// `store`, `config_errors` and `self` are for the operator's tenant only.
#[derive(ToSchema)]
struct ServerStatus {
    /// Tocsin's version.
    version: String,
    /// Checks the caller sees.
    checks: u64,
    /// Those checks by latest status (`pending` before the first result).
    by_status: std::collections::BTreeMap<String, u64>,
    /// The store's backend: `sqlite` or `postgres`.
    store: Option<String>,
    /// Configuration errors.
    config_errors: Option<Vec<String>>,
    /// Tocsin's own checks (`tocsin.*`).
    #[schema(rename = "self")]
    self_checks: Option<Vec<SelfCheck>>,
}

/// One of Tocsin's own checks.
#[derive(ToSchema)]
struct SelfCheck {
    /// Its id.
    id: String,
    /// Its status.
    status: Status,
    /// Its latest message.
    message: Option<String>,
}

/// A status as pushed: a name or a Nagios code.
#[derive(ToSchema, Deserialize)]
#[serde(untagged)]
enum PushStatus {
    /// `ok`, `warning`, `critical` or `unknown` (any case).
    Name(String),
    /// 0 ok, 1 warning, 2 critical, 3 unknown.
    Code(u8),
}

/// One pushed metric.
#[derive(ToSchema, Deserialize)]
#[serde(deny_unknown_fields)]
struct PushMetric {
    /// `[a-z0-9_]{1,64}`.
    #[schema(pattern = "^[a-z0-9_]{1,64}$")]
    name: String,
    /// A finite number.
    value: f64,
    /// Unit (default none).
    unit: Option<String>,
}

/// Pushed metrics: a map of name to value, or a list.
#[derive(ToSchema, Deserialize)]
#[serde(untagged)]
enum PushMetrics {
    /// `{"rows": 1200}`.
    Map(std::collections::BTreeMap<String, f64>),
    /// `[{"name": "rows", "value": 1200, "unit": ""}]`.
    List(Vec<PushMetric>),
}

/// A pushed result (mirror of the push handler's body); no body at all means "ok".
#[derive(ToSchema, Deserialize)]
#[serde(deny_unknown_fields)]
struct PushBody {
    /// The status (default ok).
    status: Option<PushStatus>,
    /// The message (at most 4096 bytes).
    #[schema(max_length = 4096)]
    message: Option<String>,
    /// Numbers to keep with the result (at most 100).
    metrics: Option<PushMetrics>,
}

// ---------------------------------------------------------------------------------------------
// Path items: one stub per route.
// ---------------------------------------------------------------------------------------------

/// Health: answers while the server runs.
#[utoipa::path(get, path = "/healthz", tag = "server",
    responses((status = 200, description = "The server runs.", body = Health)))]
fn healthz() {}

/// Prometheus metrics, text format.
#[utoipa::path(get, path = "/metrics", tag = "server",
    responses((status = 200, description = "Prometheus text format 0.0.4.", body = String,
        content_type = "text/plain")))]
fn metrics() {}

/// Lists checks with their state and latest result, filtered, sorted and paged.
#[utoipa::path(get, path = "/api/v1/checks", tag = "checks", params(ListChecksQuery),
    security(("bearer" = [])),
    responses(
        (status = 200, description = "A page of checks.", body = CheckList),
        (status = 400, response = InvalidArgument),
        (status = 401, response = Unauthenticated),
        (status = 429, response = TooManyRequests),
        (status = 500, response = Internal),
    ))]
fn list_checks() {}

/// Creates a check from its definition (what a configuration file says, as JSON). A tenant's
/// token may create network probes only.
#[utoipa::path(post, path = "/api/v1/checks", tag = "checks", security(("bearer" = [])),
    request_body(content = CheckDef, description = "The check, as a file would define it."),
    responses(
        (status = 201, description = "Created.", body = CheckObject,
            headers(("ETag" = String, description = "The object's version."))),
        (status = 400, response = InvalidArgument),
        (status = 401, response = Unauthenticated),
        (status = 403, response = PermissionDenied),
        (status = 409, response = Conflict),
        (status = 429, response = TooManyRequests),
        (status = 500, response = Internal),
    ))]
fn create_check() {}

/// Shows a check.
#[utoipa::path(get, path = "/api/v1/checks/{id}", tag = "checks", security(("bearer" = [])),
    params(("id" = String, Path, description = "The check's id.")),
    responses(
        (status = 200, description = "The check.", body = CheckDetail,
            headers(("ETag" = String, description = "The object's version."))),
        (status = 401, response = Unauthenticated),
        (status = 404, response = NotFound),
        (status = 429, response = TooManyRequests),
        (status = 500, response = Internal),
    ))]
fn get_check() {}

/// Replaces a check created through the API. `If-Match` makes the change conditional on the
/// version read.
#[utoipa::path(put, path = "/api/v1/checks/{id}", tag = "checks", security(("bearer" = [])),
    params(
        ("id" = String, Path, description = "The check's id."),
        ("If-Match" = Option<String>, Header, description = "The `ETag` read: 412 if the check changed since."),
    ),
    request_body(content = CheckDef, description = "The new definition (same id)."),
    responses(
        (status = 200, description = "Replaced.", body = CheckObject,
            headers(("ETag" = String, description = "The new version."))),
        (status = 400, response = InvalidArgument),
        (status = 401, response = Unauthenticated),
        (status = 403, response = PermissionDenied),
        (status = 404, response = NotFound),
        (status = 409, response = Conflict),
        (status = 412, response = FailedPrecondition),
        (status = 429, response = TooManyRequests),
        (status = 500, response = Internal),
    ))]
fn put_check() {}

/// Deletes a check created through the API.
#[utoipa::path(delete, path = "/api/v1/checks/{id}", tag = "checks", security(("bearer" = [])),
    params(("id" = String, Path, description = "The check's id.")),
    responses(
        (status = 204, description = "Deleted."),
        (status = 401, response = Unauthenticated),
        (status = 403, response = PermissionDenied),
        (status = 404, response = NotFound),
        (status = 409, response = Conflict),
        (status = 429, response = TooManyRequests),
        (status = 500, response = Internal),
    ))]
fn delete_check() {}

/// A check's results, newest first.
#[utoipa::path(get, path = "/api/v1/checks/{id}/results", tag = "checks",
    security(("bearer" = [])),
    params(("id" = String, Path, description = "The check's id."), ResultsQuery),
    responses(
        (status = 200, description = "A page of results.", body = ResultPage),
        (status = 400, response = InvalidArgument),
        (status = 401, response = Unauthenticated),
        (status = 404, response = NotFound),
        (status = 429, response = TooManyRequests),
        (status = 500, response = Internal),
    ))]
fn check_results() {}

/// A check's state changes, newest first.
#[utoipa::path(get, path = "/api/v1/checks/{id}/changes", tag = "checks",
    security(("bearer" = [])),
    params(("id" = String, Path, description = "The check's id."), ChangesQuery),
    responses(
        (status = 200, description = "The changes.", body = ChangeList),
        (status = 400, response = InvalidArgument),
        (status = 401, response = Unauthenticated),
        (status = 404, response = NotFound),
        (status = 429, response = TooManyRequests),
        (status = 500, response = Internal),
    ))]
fn check_changes() {}

/// A check's results summed up by minute, hour or day.
#[utoipa::path(get, path = "/api/v1/checks/{id}/rollups", tag = "checks",
    security(("bearer" = [])),
    params(("id" = String, Path, description = "The check's id."), RollupsQuery),
    responses(
        (status = 200, description = "The rollups.", body = RollupList),
        (status = 400, response = InvalidArgument),
        (status = 401, response = Unauthenticated),
        (status = 404, response = NotFound),
        (status = 429, response = TooManyRequests),
        (status = 500, response = Internal),
    ))]
fn check_rollups() {}

/// Runs a check now (its schedule is unchanged).
#[utoipa::path(post, path = "/api/v1/checks/{id}/run", tag = "checks",
    security(("bearer" = [])),
    params(("id" = String, Path, description = "The check's id.")),
    responses(
        (status = 202, description = "The run is queued."),
        (status = 401, response = Unauthenticated),
        (status = 403, response = PermissionDenied),
        (status = 404, response = NotFound),
        (status = 429, response = TooManyRequests),
        (status = 500, response = Internal),
    ))]
fn run_check() {}

/// The list, create, show, replace and delete stubs of one kind of directory object.
macro_rules! crud {
    (
        $tag:literal, $what:literal, $collection:literal, $item:literal, $def:ident, $object:ident,
        $list:ident, $list_fn:ident, $create_fn:ident, $get_fn:ident, $put_fn:ident,
        $delete_fn:ident
    ) => {
        #[doc = concat!("Lists the ", $what, "s the caller may see.")]
        #[utoipa::path(get, path = $collection, tag = $tag, security(("bearer" = [])),
            responses(
                (status = 200, description = "The list.", body = $list),
                (status = 401, response = Unauthenticated),
                (status = 429, response = TooManyRequests),
                (status = 500, response = Internal),
            ))]
        fn $list_fn() {}

        #[doc = concat!("Creates a ", $what, " from its definition (what a file says, as JSON).")]
        #[utoipa::path(post, path = $collection, tag = $tag, security(("bearer" = [])),
            request_body(content = $def, description = "The definition."),
            responses(
                (status = 201, description = "Created.", body = $object,
                    headers(("ETag" = String, description = "The object's version."))),
                (status = 400, response = InvalidArgument),
                (status = 401, response = Unauthenticated),
                (status = 403, response = PermissionDenied),
                (status = 409, response = Conflict),
                (status = 429, response = TooManyRequests),
                (status = 500, response = Internal),
            ))]
        fn $create_fn() {}

        #[doc = concat!("Shows a ", $what, ".")]
        #[utoipa::path(get, path = $item, tag = $tag, security(("bearer" = [])),
            params(("id" = String, Path, description = "Its id.")),
            responses(
                (status = 200, description = "The object.", body = $object,
                    headers(("ETag" = String, description = "The object's version."))),
                (status = 401, response = Unauthenticated),
                (status = 404, response = NotFound),
                (status = 429, response = TooManyRequests),
                (status = 500, response = Internal),
            ))]
        fn $get_fn() {}

        #[doc = concat!("Replaces a ", $what, " created through the API.")]
        #[utoipa::path(put, path = $item, tag = $tag, security(("bearer" = [])),
            params(
                ("id" = String, Path, description = "Its id."),
                ("If-Match" = Option<String>, Header, description = "The `ETag` read: 412 if the object changed since."),
            ),
            request_body(content = $def, description = "The new definition (same id)."),
            responses(
                (status = 200, description = "Replaced.", body = $object,
                    headers(("ETag" = String, description = "The new version."))),
                (status = 400, response = InvalidArgument),
                (status = 401, response = Unauthenticated),
                (status = 403, response = PermissionDenied),
                (status = 404, response = NotFound),
                (status = 409, response = Conflict),
                (status = 412, response = FailedPrecondition),
                (status = 429, response = TooManyRequests),
                (status = 500, response = Internal),
            ))]
        fn $put_fn() {}

        #[doc = concat!("Deletes a ", $what, " created through the API.")]
        #[utoipa::path(delete, path = $item, tag = $tag, security(("bearer" = [])),
            params(("id" = String, Path, description = "Its id.")),
            responses(
                (status = 204, description = "Deleted."),
                (status = 401, response = Unauthenticated),
                (status = 403, response = PermissionDenied),
                (status = 404, response = NotFound),
                (status = 409, response = Conflict),
                (status = 429, response = TooManyRequests),
                (status = 500, response = Internal),
            ))]
        fn $delete_fn() {}
    };
}

crud!(
    "contacts",
    "contact",
    "/api/v1/contacts",
    "/api/v1/contacts/{id}",
    ContactDef,
    ContactObject,
    ContactList,
    list_contacts,
    create_contact,
    get_contact,
    put_contact,
    delete_contact
);
crud!(
    "contact-groups",
    "contact group",
    "/api/v1/contact-groups",
    "/api/v1/contact-groups/{id}",
    ContactGroupDef,
    ContactGroupObject,
    ContactGroupList,
    list_contact_groups,
    create_contact_group,
    get_contact_group,
    put_contact_group,
    delete_contact_group
);
crud!(
    "groups",
    "group",
    "/api/v1/groups",
    "/api/v1/groups/{id}",
    GroupDef,
    GroupObject,
    GroupList,
    list_groups,
    create_group,
    get_group,
    put_group,
    delete_group
);

/// Lists the maintenance windows the caller may see (a tenant: the ones naming only its checks).
#[utoipa::path(get, path = "/api/v1/maintenances", tag = "maintenances",
    security(("bearer" = [])),
    responses(
        (status = 200, description = "The windows.", body = MaintenanceList),
        (status = 401, response = Unauthenticated),
        (status = 429, response = TooManyRequests),
        (status = 500, response = Internal),
    ))]
fn list_maintenances() {}

/// Adds a run-time maintenance window.
#[utoipa::path(post, path = "/api/v1/maintenances", tag = "maintenances",
    security(("bearer" = [])),
    request_body(content = NewMaintenance),
    responses(
        (status = 201, description = "Added.", body = Maintenance),
        (status = 400, response = InvalidArgument),
        (status = 401, response = Unauthenticated),
        (status = 403, response = PermissionDenied),
        (status = 409, response = Conflict),
        (status = 429, response = TooManyRequests),
        (status = 500, response = Internal),
    ))]
fn create_maintenance() {}

/// Ends a run-time maintenance window now.
#[utoipa::path(post, path = "/api/v1/maintenances/{id}/end", tag = "maintenances",
    security(("bearer" = [])),
    params(("id" = String, Path, description = "The window's id.")),
    responses(
        (status = 204, description = "Ended."),
        (status = 401, response = Unauthenticated),
        (status = 403, response = PermissionDenied),
        (status = 404, response = NotFound),
        (status = 409, response = Conflict),
        (status = 429, response = TooManyRequests),
        (status = 500, response = Internal),
    ))]
fn end_maintenance() {}

/// Lists alarms, newest first.
#[utoipa::path(get, path = "/api/v1/alarms", tag = "alarms", params(AlarmsQuery),
    security(("bearer" = [])),
    responses(
        (status = 200, description = "A page of alarms.", body = AlarmPage),
        (status = 400, response = InvalidArgument),
        (status = 401, response = Unauthenticated),
        (status = 429, response = TooManyRequests),
        (status = 500, response = Internal),
    ))]
fn list_alarms() {}

/// Shows an alarm, its timeline and its deliveries.
#[utoipa::path(get, path = "/api/v1/alarms/{id}", tag = "alarms", security(("bearer" = [])),
    params(("id" = String, Path, description = "The alarm's number (`42` or `#42`).")),
    responses(
        (status = 200, description = "The alarm.", body = AlarmDetail),
        (status = 401, response = Unauthenticated),
        (status = 404, response = NotFound),
        (status = 429, response = TooManyRequests),
        (status = 500, response = Internal),
    ))]
fn get_alarm() {}

/// Acts on an alarm. `comment` and `expires` go with `ack` only.
#[utoipa::path(post, path = "/api/v1/alarms/{id}/{action}", tag = "alarms",
    security(("bearer" = [])),
    params(
        ("id" = String, Path, description = "The alarm's number (`42` or `#42`)."),
        ("action" = inline(AlarmAction), Path, description = "What to do."),
    ),
    request_body(content = Option<ActionBody>, description = "Optional."),
    responses(
        (status = 200, description = "The alarm after the action.", body = Alarm),
        (status = 400, response = InvalidArgument),
        (status = 401, response = Unauthenticated),
        (status = 403, response = PermissionDenied),
        (status = 404, response = NotFound),
        (status = 409, response = Conflict),
        (status = 429, response = TooManyRequests),
        (status = 500, response = Internal),
    ))]
fn act_on_alarm() {}

/// Lists tenants (operator only).
#[utoipa::path(get, path = "/api/v1/tenants", tag = "tenants", security(("bearer" = [])),
    responses(
        (status = 200, description = "The tenants.", body = TenantList),
        (status = 401, response = Unauthenticated),
        (status = 403, response = PermissionDenied),
        (status = 429, response = TooManyRequests),
        (status = 500, response = Internal),
    ))]
fn list_tenants() {}

/// Adds a tenant (operator only).
#[utoipa::path(post, path = "/api/v1/tenants", tag = "tenants", security(("bearer" = [])),
    request_body(content = NewTenant),
    responses(
        (status = 201, description = "Added.", body = Tenant),
        (status = 400, response = InvalidArgument),
        (status = 401, response = Unauthenticated),
        (status = 403, response = PermissionDenied),
        (status = 409, response = Conflict),
        (status = 429, response = TooManyRequests),
        (status = 500, response = Internal),
    ))]
fn create_tenant() {}

/// Deletes a tenant (operator only).
#[utoipa::path(delete, path = "/api/v1/tenants/{id}", tag = "tenants",
    security(("bearer" = [])),
    params(("id" = String, Path, description = "The tenant's id.")),
    responses(
        (status = 204, description = "Deleted."),
        (status = 401, response = Unauthenticated),
        (status = 403, response = PermissionDenied),
        (status = 404, response = NotFound),
        (status = 409, response = Conflict),
        (status = 429, response = TooManyRequests),
        (status = 500, response = Internal),
    ))]
fn delete_tenant() {}

/// Lists API tokens, never the tokens themselves (operator only).
#[utoipa::path(get, path = "/api/v1/tokens", tag = "tokens", security(("bearer" = [])),
    responses(
        (status = 200, description = "The tokens.", body = TokenList),
        (status = 401, response = Unauthenticated),
        (status = 403, response = PermissionDenied),
        (status = 429, response = TooManyRequests),
        (status = 500, response = Internal),
    ))]
fn list_tokens() {}

/// Makes an API token (operator only). The answer holds the token, once.
#[utoipa::path(post, path = "/api/v1/tokens", tag = "tokens", security(("bearer" = [])),
    request_body(content = NewToken),
    responses(
        (status = 201, description = "Made: keep the token now.", body = IssuedToken),
        (status = 400, response = InvalidArgument),
        (status = 401, response = Unauthenticated),
        (status = 403, response = PermissionDenied),
        (status = 429, response = TooManyRequests),
        (status = 500, response = Internal),
    ))]
fn create_token() {}

/// Revokes an API token (operator only).
#[utoipa::path(delete, path = "/api/v1/tokens/{id}", tag = "tokens", security(("bearer" = [])),
    params(("id" = String, Path, description = "The token's public id.")),
    responses(
        (status = 204, description = "Revoked."),
        (status = 401, response = Unauthenticated),
        (status = 403, response = PermissionDenied),
        (status = 404, response = NotFound),
        (status = 429, response = TooManyRequests),
        (status = 500, response = Internal),
    ))]
fn delete_token() {}

/// Tocsin's own status.
#[utoipa::path(get, path = "/api/v1/status", tag = "server", security(("bearer" = [])),
    responses(
        (status = 200, description = "The status.", body = ServerStatus),
        (status = 401, response = Unauthenticated),
        (status = 429, response = TooManyRequests),
        (status = 500, response = Internal),
    ))]
fn server_status() {}

/// The outbox: counts by status and the latest dead letters (the operator's tenant only).
#[utoipa::path(get, path = "/api/v1/outbox", tag = "server", params(OutboxQuery),
    security(("bearer" = [])),
    responses(
        (status = 200, description = "The outbox.", body = Outbox),
        (status = 400, response = InvalidArgument),
        (status = 401, response = Unauthenticated),
        (status = 403, response = PermissionDenied),
        (status = 429, response = TooManyRequests),
        (status = 500, response = Internal),
    ))]
fn outbox() {}

/// Reloads the configuration files (the operator's tenant only).
#[utoipa::path(post, path = "/api/v1/reload", tag = "server", security(("bearer" = [])),
    responses(
        (status = 200, description = "What changed.", body = ReloadReport),
        (status = 401, response = Unauthenticated),
        (status = 403, response = PermissionDenied),
        (status = 429, response = TooManyRequests),
        (status = 500, response = Internal),
    ))]
fn reload() {}

/// Pushes a result to a push check, with the check's own token. No body means "ok".
#[utoipa::path(post, path = "/api/v1/push/{id}", tag = "push",
    security(("push_token" = []), ("push_token_query" = [])),
    params(("id" = String, Path, description = "The push check's id.")),
    request_body(content = Option<PushBody>, description = "Optional (at most 64 KiB)."),
    responses(
        (status = 204, description = "Recorded."),
        (status = 400, response = InvalidArgument),
        (status = 401, response = Unauthenticated),
        (status = 404, response = NotFound),
        (status = 413, description = "The body is over 64 KiB."),
    ))]
fn push() {}

/// Server-sent events: `state` and `alarm` changes as they are committed (the caller's tenant
/// only); `reload` when the subscriber fell behind; a comment every 15 s.
#[utoipa::path(get, path = "/api/v1/events", tag = "server", params(EventsQuery),
    security(("bearer" = [])),
    responses(
        (status = 200, description = "An endless `text/event-stream`.", body = String,
            content_type = "text/event-stream"),
        (status = 400, response = InvalidArgument),
        (status = 401, response = Unauthenticated),
        (status = 429, response = TooManyRequests),
    ))]
fn events() {}

/// This document.
#[utoipa::path(get, path = "/api/v1/openapi.json", tag = "server",
    responses((status = 200, description = "The OpenAPI 3.1 document.",
        body = serde_json::Value)))]
fn openapi_json() {}
