//! The OpenAPI document at `GET /api/v1/openapi.json`: served without a token, OpenAPI 3.1, every
//! route of the API with its methods, an error answer (`{code, message}`) on every operation
//! that can fail, the bearer scheme, and the check definition's schema.
//!
//! The router runs in-process on a real engine (empty configuration, SQLite in a temp dir).

use std::collections::BTreeSet;
use std::sync::Arc;

use axum::body::Body;
use axum::http::{Request, StatusCode, header};
use serde_json::Value;
use tempfile::TempDir;
use tocsin_engine::{Engine, EngineOptions};
use tocsin_store::Store;
use tower::ServiceExt as _;

/// Starts an engine on an empty configuration and fetches the document through the router.
async fn document() -> (TempDir, Arc<Engine>, Value) {
    tocsin_testkit::init();
    let dir = tempfile::tempdir().unwrap();
    let conf = dir.path().join("conf");
    std::fs::create_dir_all(&conf).unwrap();
    let store = Store::open_sqlite_dir(&dir.path().join("data"))
        .await
        .unwrap();
    let engine = Engine::start(EngineOptions::new(&conf), store)
        .await
        .unwrap();
    let app = tocsin_web::router(engine.clone());
    let req = Request::get("/api/v1/openapi.json")
        .body(Body::empty())
        .unwrap();
    let resp = app.oneshot(req).await.unwrap();
    assert_eq!(resp.status(), StatusCode::OK);
    let content_type = resp.headers()[header::CONTENT_TYPE].to_str().unwrap();
    assert!(
        content_type.starts_with("application/json"),
        "{content_type}"
    );
    let bytes = axum::body::to_bytes(resp.into_body(), usize::MAX)
        .await
        .unwrap();
    let doc: Value = serde_json::from_slice(&bytes).expect("the document is JSON");
    (dir, engine, doc)
}

/// Follows a local `$ref` (`#/components/...`).
fn resolve<'a>(doc: &'a Value, v: &'a Value) -> &'a Value {
    match v.get("$ref").and_then(Value::as_str) {
        Some(r) => {
            let pointer = r.strip_prefix('#').expect("a local $ref");
            let target = doc
                .pointer(pointer)
                .unwrap_or_else(|| panic!("dangling $ref {r}"));
            resolve(doc, target)
        }
        None => v,
    }
}

/// Every route of the API and its methods.
const ROUTES: &[(&str, &[&str])] = &[
    ("/healthz", &["get"]),
    ("/metrics", &["get"]),
    ("/api/v1/checks", &["get", "post"]),
    ("/api/v1/checks/{id}", &["get", "put", "delete"]),
    ("/api/v1/checks/{id}/results", &["get"]),
    ("/api/v1/checks/{id}/changes", &["get"]),
    ("/api/v1/checks/{id}/rollups", &["get"]),
    ("/api/v1/checks/{id}/run", &["post"]),
    ("/api/v1/contacts", &["get", "post"]),
    ("/api/v1/contacts/{id}", &["get", "put", "delete"]),
    ("/api/v1/contact-groups", &["get", "post"]),
    ("/api/v1/contact-groups/{id}", &["get", "put", "delete"]),
    ("/api/v1/groups", &["get", "post"]),
    ("/api/v1/groups/{id}", &["get", "put", "delete"]),
    ("/api/v1/maintenances", &["get", "post"]),
    ("/api/v1/maintenances/{id}/end", &["post"]),
    ("/api/v1/alarms", &["get"]),
    ("/api/v1/alarms/{id}", &["get"]),
    ("/api/v1/alarms/{id}/{action}", &["post"]),
    ("/api/v1/tenants", &["get", "post"]),
    ("/api/v1/tenants/{id}", &["delete"]),
    ("/api/v1/tokens", &["get", "post"]),
    ("/api/v1/tokens/{id}", &["delete"]),
    ("/api/v1/status", &["get"]),
    ("/api/v1/outbox", &["get"]),
    ("/api/v1/reload", &["post"]),
    ("/api/v1/push/{id}", &["post"]),
    ("/api/v1/events", &["get"]),
    ("/api/v1/openapi.json", &["get"]),
];

/// Routes that need no token and answer no API error.
const PUBLIC: &[&str] = &["/healthz", "/metrics", "/api/v1/openapi.json"];

const METHODS: [&str; 5] = ["get", "put", "post", "delete", "patch"];

#[tokio::test]
async fn the_document_is_openapi_3_1_and_lists_every_route() {
    let (_dir, engine, doc) = document().await;
    let version = doc["openapi"].as_str().unwrap();
    assert!(version.starts_with("3.1"), "openapi {version}");
    assert!(doc["info"]["title"].is_string());
    let paths = doc["paths"].as_object().unwrap();
    for (path, methods) in ROUTES {
        let item = paths
            .get(*path)
            .unwrap_or_else(|| panic!("{path} is missing"));
        let documented: BTreeSet<&str> = METHODS
            .into_iter()
            .filter(|m| item.get(m).is_some())
            .collect();
        assert_eq!(
            documented,
            methods.iter().copied().collect(),
            "methods of {path}"
        );
    }
    let known: BTreeSet<&str> = ROUTES.iter().map(|(p, _)| *p).collect();
    for path in paths.keys() {
        assert!(known.contains(path.as_str()), "{path} is not a route");
    }
    engine.shutdown().await;
}

#[tokio::test]
async fn every_operation_that_can_fail_answers_the_error_schema() {
    let (_dir, engine, doc) = document().await;
    let error = doc.pointer("/components/schemas/ErrorBody").unwrap();
    let props = error["properties"].as_object().unwrap();
    assert!(props.contains_key("code") && props.contains_key("message"));
    let codes = resolve(&doc, &props["code"])["enum"].as_array().unwrap();
    for code in [
        "InvalidArgument",
        "Unauthenticated",
        "PermissionDenied",
        "NotFound",
        "Conflict",
        "FailedPrecondition",
        "TooManyRequests",
        "Internal",
    ] {
        assert!(codes.iter().any(|c| c == code), "{code} in {codes:?}");
    }
    let mut operations = 0;
    for (path, item) in doc["paths"].as_object().unwrap() {
        for method in METHODS {
            let Some(op) = item.get(method) else { continue };
            operations += 1;
            let what = format!("{method} {path}");
            let responses = op["responses"].as_object().unwrap();
            let errors: Vec<&str> = responses
                .iter()
                .filter(|(status, _)| status.starts_with('4'))
                .filter(|(_, r)| {
                    resolve(&doc, r).pointer("/content/application~1json/schema/$ref")
                        == Some(&Value::from("#/components/schemas/ErrorBody"))
                })
                .map(|(status, _)| status.as_str())
                .collect();
            if PUBLIC.contains(&path.as_str()) {
                assert!(op.get("security").is_none(), "{what} needs no token");
                continue;
            }
            assert!(!errors.is_empty(), "{what} has no 4xx error answer");
            if path != "/api/v1/push/{id}" {
                assert_eq!(
                    op["security"],
                    serde_json::json!([{ "bearer": [] }]),
                    "{what}"
                );
                assert!(errors.contains(&"401"), "{what} has no 401");
                let too_many = resolve(&doc, &responses["429"]);
                assert!(too_many["headers"]["Retry-After"].is_object(), "{what}");
            }
            if path.contains("{id}") {
                assert!(errors.contains(&"404"), "{what} has no 404");
            }
            if method == "put" {
                for s in ["409", "412"] {
                    assert!(errors.contains(&s), "{what} has no {s}");
                }
                let if_match = op["parameters"]
                    .as_array()
                    .unwrap()
                    .iter()
                    .any(|p| p["name"] == "If-Match" && p["in"] == "header");
                assert!(if_match, "{what} takes If-Match");
            }
        }
    }
    assert!(operations >= 44, "{operations} operations");
    engine.shutdown().await;
}

#[tokio::test]
async fn the_bearer_scheme_and_the_check_definition_are_described() {
    let (_dir, engine, doc) = document().await;
    let bearer = &doc["components"]["securitySchemes"]["bearer"];
    assert_eq!(bearer["type"], "http");
    assert_eq!(bearer["scheme"], "bearer");
    let def = doc.pointer("/components/schemas/CheckDef").unwrap();
    let props = def["properties"].as_object().unwrap();
    for field in [
        "id",
        "http",
        "tcp",
        "every",
        "alert",
        "tenant",
        "depends_on",
    ] {
        assert!(props.contains_key(field), "CheckDef.{field}");
    }
    assert_eq!(def["required"], serde_json::json!(["id"]));
    assert_eq!(
        def["additionalProperties"], false,
        "unknown fields are refused"
    );
    // `every` is a duration string, `id` a plain string (not serde-saphyr's span wrapper).
    let every = resolve(&doc, &props["every"]);
    let text = every.to_string();
    assert!(text.contains("Dur") || text.contains("30s"), "{text}");
    assert_eq!(resolve(&doc, &props["id"])["type"], "string");
    let dur = doc.pointer("/components/schemas/Dur").unwrap();
    assert_eq!(dur["type"], "string");
    assert!(dur["pattern"].is_string());
    // The POST body of /checks is the definition.
    let body = doc
        .pointer("/paths/~1api~1v1~1checks/post/requestBody/content/application~1json/schema")
        .unwrap();
    assert_eq!(body["$ref"], "#/components/schemas/CheckDef");
    // Secrets are write-only strings.
    let secret = doc.pointer("/components/schemas/Secret").unwrap();
    assert_eq!(secret["type"], "string");
    assert_eq!(secret["writeOnly"], true);
    engine.shutdown().await;
}
