//! The public routes, without any token: status pages per tenant, Atom and RSS feeds of status
//! changes, SlapOS documents and badges, and that none of them shows a check that is not public.
//!
//! Each test starts a real engine (temporary config directory, SQLite store, a local testkit
//! HTTP target on 127.0.0.1) and drives `tocsin_web::router_with` in-process with
//! `tower::ServiceExt::oneshot`. A check goes from ok to critical for real, by making its
//! target's JSON say `down`; waits are bounded polls.

mod common;

use common::wait_for;
use std::sync::Arc;

use axum::Router;
use axum::body::Body;
use axum::http::{HeaderMap, Request, StatusCode, header};
use serde_json::{Value, json};
use tempfile::TempDir;
use tocsin_core::Status;
use tocsin_core::alarm::Action;
use tocsin_engine::{Engine, now_ms};
use tocsin_testkit::HttpServer;
use tocsin_web::{AppState, WebOptions};
use tower::ServiceExt as _;

// ---------------------------------------------------------------------------------------------
// Helpers.
// ---------------------------------------------------------------------------------------------

/// A running engine and the router over it.
struct Site {
    _dir: TempDir,
    engine: Arc<Engine>,
    app: AppState,
    router: Router,
}

/// An answer: status, headers, body.
struct Answer {
    status: StatusCode,
    headers: HeaderMap,
    body: String,
}

impl Answer {
    fn header(&self, name: header::HeaderName) -> &str {
        self.headers
            .get(name)
            .and_then(|v| v.to_str().ok())
            .unwrap_or_default()
    }
}

/// The checks every test runs against `target`:
/// - `shop` (name `Shop`): public, every second, ok while the target's `/json` says ok, hard
///   critical at the first failure;
/// - `secret`: the operator's, not public;
/// - `acme-web` (name `Acme web`): tenant `acme`, public;
/// - `acme-private`: tenant `acme`, not public;
/// - `beta-hidden`: tenant `beta`, not public (a tenant without public checks).
fn config(target: &HttpServer) -> String {
    format!(
        r#"checks:
  - id: shop
    name: Shop
    public: true
    every: 1s
    timeout: 900ms
    http:
      url: "{json}"
      expect:
        json: [ {{ path: $.status, equals: ok }} ]
    alert: {{ failures: 1, recoveries: 1 }}
  - id: secret
    name: Secret database
    every: 1h
    timeout: 900ms
    http: {{ url: "{ok}" }}
  - id: acme-web
    name: Acme web
    tenant: acme
    public: true
    every: 1h
    timeout: 900ms
    http: {{ url: "{ok}" }}
  - id: acme-private
    name: Acme private
    tenant: acme
    every: 1h
    timeout: 900ms
    http: {{ url: "{ok}" }}
  - id: beta-hidden
    name: Beta hidden
    tenant: beta
    every: 1h
    timeout: 900ms
    http: {{ url: "{ok}" }}
"#,
        json = target.url("/json"),
        ok = target.url("/ok"),
    )
}

impl Site {
    /// Starts an engine on the checks of [`config`], with links under `public_url`.
    async fn start(target: &HttpServer, public_url: Option<&str>) -> Self {
        let dir = tempfile::tempdir().unwrap();
        let conf = dir.path().join("conf");
        std::fs::create_dir_all(&conf).unwrap();
        std::fs::write(conf.join("checks.yml"), config(target)).unwrap();
        // The tenant's checks reach the local test target.
        let engine = common::engine(dir.path(), true).await;
        let app = AppState::new(
            engine.clone(),
            WebOptions {
                public_url: public_url.map(str::to_owned),
                ..WebOptions::default()
            },
        );
        let router = tocsin_web::router_with(app.clone());
        Self {
            _dir: dir,
            engine,
            app,
            router,
        }
    }

    /// `GET path`, without any credentials.
    async fn get(&self, path: &str) -> Answer {
        let req = Request::builder().uri(path).body(Body::empty()).unwrap();
        let resp = self.router.clone().oneshot(req).await.unwrap();
        let status = resp.status();
        let headers = resp.headers().clone();
        let bytes = axum::body::to_bytes(resp.into_body(), usize::MAX)
            .await
            .unwrap();
        let body = String::from_utf8(bytes.to_vec()).unwrap();
        assert!(!status.is_server_error(), "GET {path}: {status}: {body}");
        Answer {
            status,
            headers,
            body,
        }
    }

    /// `GET path`, expecting 200 and `content_type` (its start).
    async fn get_ok(&self, path: &str, content_type: &str) -> Answer {
        let a = self.get(path).await;
        assert_eq!(a.status, StatusCode::OK, "GET {path}: {}", a.body);
        assert!(
            a.header(header::CONTENT_TYPE).starts_with(content_type),
            "GET {path}: content type {:?}",
            a.header(header::CONTENT_TYPE)
        );
        a
    }

    async fn json(&self, path: &str) -> Value {
        serde_json::from_str(&self.get_ok(path, "application/").await.body).unwrap()
    }

    async fn atom(&self, path: &str) -> atom_syndication::Feed {
        let a = self.get_ok(path, "application/atom+xml").await;
        atom_syndication::Feed::read_from(a.body.as_bytes())
            .unwrap_or_else(|e| panic!("GET {path}: not Atom: {e}: {}", a.body))
    }

    async fn rss(&self, path: &str) -> rss::Channel {
        let a = self.get_ok(path, "application/rss+xml").await;
        rss::Channel::read_from(a.body.as_bytes())
            .unwrap_or_else(|e| panic!("GET {path}: not RSS: {e}: {}", a.body))
    }

    /// Waits until check `id`'s state satisfies `f`.
    async fn wait_state(&self, id: &str, what: &str, f: impl Fn(&tocsin_engine::Runtime) -> bool) {
        wait_for(20, &format!("{id}: {what}"), async || {
            let rt = self.engine.check(id).unwrap().snapshot();
            f(&rt).then_some(())
        })
        .await;
    }

    /// Waits until `shop` has `n` results more than now, the latest of status `status`.
    async fn wait_results(&self, n: u64, status: Status) {
        let start = self.engine.check("shop").unwrap().snapshot().state.results;
        self.wait_state("shop", &format!("{n} more {status} results"), |rt| {
            rt.state.results >= start + n && rt.last.as_ref().is_some_and(|r| r.status == status)
        })
        .await;
    }

    async fn stop(self) {
        self.engine.shutdown().await;
    }
}

/// Asserts that `xml` is well-formed: balanced tags, quoted attributes, only known entities,
/// and one root element.
#[track_caller]
fn assert_well_formed(xml: &str) {
    let check_text = |text: &str| {
        for (i, _) in text.match_indices('&') {
            let rest = &text[i..];
            assert!(
                ["&amp;", "&lt;", "&gt;", "&quot;", "&#39;", "&apos;"]
                    .iter()
                    .any(|e| rest.starts_with(e)),
                "bare & in {text:?} of {xml}"
            );
        }
    };
    let mut stack: Vec<String> = Vec::new();
    let mut roots = 0;
    let mut rest = xml;
    while let Some(i) = rest.find('<') {
        let text = &rest[..i];
        check_text(text);
        assert!(
            !stack.is_empty() || text.trim().is_empty(),
            "text outside the root element: {xml}"
        );
        rest = &rest[i + 1..];
        let end = rest
            .find('>')
            .unwrap_or_else(|| panic!("unclosed tag: {xml}"));
        let tag = &rest[..end];
        rest = &rest[end + 1..];
        assert!(!tag.contains('<'), "'<' inside a tag: {tag:?}");
        if tag.starts_with('?') || tag.starts_with('!') {
            continue;
        }
        if let Some(name) = tag.strip_prefix('/') {
            assert_eq!(stack.pop().as_deref(), Some(name.trim()), "{xml}");
            continue;
        }
        assert_eq!(
            tag.matches('"').count() % 2,
            0,
            "unbalanced quotes: {tag:?}"
        );
        check_text(tag);
        let name = tag.split_whitespace().next().unwrap().trim_end_matches('/');
        if stack.is_empty() {
            roots += 1;
        }
        if !tag.ends_with('/') {
            stack.push(name.to_owned());
        }
    }
    assert!(rest.trim().is_empty(), "text after the root element: {xml}");
    assert!(stack.is_empty(), "unclosed elements {stack:?}: {xml}");
    assert_eq!(roots, 1, "{xml}");
}

/// The text of a badge's `aria-label`.
fn aria_label(svg: &str) -> &str {
    let start = svg.find("aria-label=\"").unwrap() + "aria-label=\"".len();
    &svg[start..start + svg[start..].find('"').unwrap()]
}

// ---------------------------------------------------------------------------------------------
// Tests.
// ---------------------------------------------------------------------------------------------

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn anything_not_public_is_a_404_like_a_missing_check() {
    let target = HttpServer::start().await.unwrap();
    let site = Site::start(&target, None).await;
    for path in [
        "/badge/{}.svg",
        "/badge/{}/uptime.svg",
        "/badge/{}/latency.svg",
        "/public/{}.status.json",
        "/public/{}.atom",
        "/public/{}.rss",
    ] {
        let hidden = site.get(&path.replace("{}", "secret")).await;
        let missing = site.get(&path.replace("{}", "no-such-check")).await;
        assert_eq!(
            hidden.status,
            StatusCode::NOT_FOUND,
            "{path}: {}",
            hidden.body
        );
        assert_eq!(missing.status, StatusCode::NOT_FOUND, "{path}");
        assert_eq!(
            hidden.body, missing.body,
            "{path}: a hidden check is told apart"
        );
        assert!(!hidden.body.contains("secret"), "{}", hidden.body);
        // The public check answers on the same route.
        let shown = site.get(&path.replace("{}", "shop")).await;
        assert_eq!(shown.status, StatusCode::OK, "{path}: {}", shown.body);
    }
    // A tenant with only private checks looks like a tenant that does not exist.
    for path in ["/status/{}", "/status/{}/feed.atom", "/status/{}/feed.rss"] {
        let hidden = site.get(&path.replace("{}", "beta")).await;
        let missing = site.get(&path.replace("{}", "nobody")).await;
        assert_eq!(hidden.status, StatusCode::NOT_FOUND, "{path}");
        assert_eq!(missing.status, StatusCode::NOT_FOUND, "{path}");
        assert_eq!(hidden.body, missing.body, "{path}");
    }
    assert_eq!(
        site.get("/status/Not_A_Tenant").await.status,
        StatusCode::NOT_FOUND
    );
    // Nothing private on the public documents either.
    let page = site.get_ok("/status", "text/html").await.body;
    let hal = site
        .get_ok("/monitor.haljson", "application/hal+json")
        .await
        .body;
    let feed = site
        .get_ok("/status/feed.atom", "application/atom+xml")
        .await
        .body;
    for text in [&page, &hal, &feed] {
        for private in ["secret", "Secret database", "acme", "Acme", "beta"] {
            assert!(!text.contains(private), "{private} shows in {text}");
        }
    }
    site.stop().await;
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn each_tenant_page_shows_only_its_public_checks() {
    let target = HttpServer::start().await.unwrap();
    let site = Site::start(&target, None).await;
    site.wait_results(1, Status::Ok).await;

    let own = site.get_ok("/status", "text/html").await;
    assert!(own.body.contains("id=\"check-shop\""), "{}", own.body);
    assert!(own.body.contains("<h3>Shop</h3>"), "{}", own.body);
    assert!(!own.body.contains("Acme"), "{}", own.body);

    let acme = site.get_ok("/status/acme", "text/html").await;
    assert!(acme.body.contains("<h1>acme status</h1>"), "{}", acme.body);
    assert!(acme.body.contains("<h3>Acme web</h3>"), "{}", acme.body);
    for other in ["Shop", "Acme private", "Secret"] {
        assert!(!acme.body.contains(other), "{other} shows: {}", acme.body);
    }
    assert!(
        acme.body.contains("href=\"/status/acme/feed.atom\""),
        "{}",
        acme.body
    );

    // Accessible, no script, no inline style (the CSP allows only our stylesheet).
    for page in [&own, &acme] {
        let b = &page.body;
        assert!(
            b.contains("<html lang=\"en\">") && b.contains("<h1>"),
            "{b}"
        );
        assert!(b.contains("name=\"viewport\""), "{b}");
        assert!(
            b.contains("role=\"img\"") && b.contains("aria-label="),
            "{b}"
        );
        for banned in ["<script", "<style", " style=", "javascript:"] {
            assert!(!b.contains(banned), "{banned} in {b}");
        }
        let csp = page.header(header::CONTENT_SECURITY_POLICY);
        assert!(csp.contains("style-src 'self'"), "{csp}");
        assert!(
            !csp.contains("unsafe-inline") && !csp.contains("script-src"),
            "{csp}"
        );
    }
    assert!(own.body.contains("Operational"), "{}", own.body);
    assert!(acme.body.contains("No data yet") || acme.body.contains("Operational"));
    let css = site.get_ok("/status.css", "text/css").await;
    assert!(css.body.contains(".bar-up"), "{}", css.body);

    // The tenant's feeds are the tenant's.
    let feed = site.atom("/status/acme/feed.atom").await;
    assert_eq!(feed.title.as_str(), "acme status");
    assert!(feed.entries.is_empty());
    let channel = site.rss("/status/acme/feed.rss").await;
    assert_eq!(channel.title, "acme status");
    assert!(channel.link.ends_with("/status/acme"), "{}", channel.link);
    site.stop().await;
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn a_check_going_down_and_back_makes_one_item_per_change_and_an_incident() {
    let target = HttpServer::start().await.unwrap();
    let site = Site::start(&target, None).await;
    let store = site.engine.store().clone();

    // Several ok results: no change of status yet, so no item.
    site.wait_results(3, Status::Ok).await;
    site.engine.flush().await;
    assert!(site.atom("/public/shop.atom").await.entries.is_empty());
    assert!(site.rss("/public/shop.rss").await.items.is_empty());
    let page = site.get_ok("/status", "text/html").await.body;
    assert!(page.contains("All systems operational"), "{page}");
    assert!(page.contains("No incidents in the last 14 days."), "{page}");

    // Down: hard critical at the first failure; an alarm opens; someone acks it with a note.
    target.set_json(json!({ "status": "down" }));
    site.wait_state("shop", "hard critical", |rt| {
        rt.state.hard_status == Status::Critical
    })
    .await;
    site.wait_results(2, Status::Critical).await;
    let alarm = wait_for(15, "the alarm of shop", async || {
        store.open_alarm("", "check:shop").await.unwrap()
    })
    .await;
    site.engine
        .alarm_action(
            u64::try_from(alarm.id).unwrap(),
            &Action::Ack {
                by: "alice@example.com".into(),
                comment: Some("db password is hunter2".into()),
                expires_ms: None,
            },
        )
        .await
        .unwrap();
    site.engine.flush().await;

    let page = site.get_ok("/status", "text/html").await.body;
    assert!(page.contains("Some systems are down"), "{page}");
    assert!(page.contains("Shop is down"), "{page}");
    assert!(page.contains("Ongoing"), "{page}");
    assert!(page.contains("Problem detected"), "{page}");
    assert!(page.contains("Acknowledged"), "{page}");
    for private in ["alice", "hunter2", "password"] {
        assert!(!page.contains(private), "{private} shows: {page}");
    }
    let feed = site.atom("/public/shop.atom").await;
    assert_eq!(feed.entries.len(), 1, "{feed:?}");
    assert_eq!(feed.entries[0].title.as_str(), "Shop is CRITICAL");
    let status = site.json("/public/shop.status.json").await;
    assert_eq!(status["status"], "ERROR", "{status}");
    assert_eq!(status["result"]["failed"], true, "{status}");
    let badge = site.get_ok("/badge/shop.svg", "image/svg+xml").await.body;
    assert_eq!(aria_label(&badge), "Shop: down");

    // Back up: the alarm closes; two changes in all, however many results.
    target.set_json(json!({ "status": "ok" }));
    site.wait_state("shop", "hard ok", |rt| rt.state.hard_status == Status::Ok)
        .await;
    site.wait_results(2, Status::Ok).await;
    wait_for(15, "the alarm of shop to close", async || {
        store
            .open_alarm("", "check:shop")
            .await
            .unwrap()
            .is_none()
            .then_some(())
    })
    .await;
    site.engine.flush().await;
    let results = store.results("shop", None, 1000).await.unwrap();
    assert!(results.len() >= 7, "{} results", results.len());

    for path in ["/public/shop.atom", "/status/feed.atom"] {
        let feed = site.atom(path).await;
        let titles: Vec<&str> = feed.entries.iter().map(|e| e.title.as_str()).collect();
        assert_eq!(titles, ["Shop is OK", "Shop is CRITICAL"], "{path}");
        let e = &feed.entries[0];
        assert!(e.id.starts_with("urn:tocsin:change:shop:"), "{}", e.id);
        assert_ne!(e.id, feed.entries[1].id);
        assert!(e.updated > feed.entries[1].updated);
        assert_eq!(e.links[0].href, "/status#check-shop");
        assert!(e.summary.is_some());
        // Stable ids: the same item keeps its id.
        assert_eq!(site.atom(path).await.entries[0].id, e.id, "{path}");
    }
    let atom_ids: Vec<String> = site
        .atom("/public/shop.atom")
        .await
        .entries
        .iter()
        .map(|e| e.id.clone())
        .collect();
    for path in ["/public/shop.rss", "/status/feed.rss"] {
        let channel = site.rss(path).await;
        let titles: Vec<&str> = channel
            .items
            .iter()
            .map(|i| i.title.as_deref().unwrap())
            .collect();
        assert_eq!(titles, ["Shop is OK", "Shop is CRITICAL"], "{path}");
        let guids: Vec<String> = channel
            .items
            .iter()
            .map(|i| i.guid.as_ref().unwrap().value.clone())
            .collect();
        assert_eq!(guids, atom_ids, "{path}");
        assert!(channel.items.iter().all(|i| i.pub_date.is_some()));
    }
    assert!(site.atom("/status/acme/feed.atom").await.entries.is_empty());

    let page = site.get_ok("/status", "text/html").await.body;
    assert!(page.contains("All systems operational"), "{page}");
    assert!(page.contains("Shop was down"), "{page}");
    assert!(
        page.contains("Resolved") && page.contains("Recovered"),
        "{page}"
    );
    assert!(page.contains("<dt>Ended</dt>") && page.contains("<dt>Duration</dt>"));
    assert!(
        !page.contains("alice") && !page.contains("hunter2"),
        "{page}"
    );
    site.stop().await;
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn slapos_documents_have_the_documented_fields() {
    let target = HttpServer::start().await.unwrap();
    let site = Site::start(&target, Some("https://status.example.com/")).await;
    site.wait_results(1, Status::Ok).await;
    let base = "https://status.example.com";

    let hal = site.json("/monitor.haljson").await;
    assert!(hal["title"].is_string(), "{hal}");
    assert_eq!(
        hal["_links"]["rss"]["href"],
        format!("{base}/status/feed.rss")
    );
    assert_eq!(
        hal["_links"]["atom"]["href"],
        format!("{base}/status/feed.atom")
    );
    assert_eq!(hal["_links"]["public"]["href"], format!("{base}/status"));
    assert!(hal["_links"]["related_monitor"].is_array(), "{hal}");
    let services = hal["_embedded"]["service"].as_array().unwrap();
    assert_eq!(
        services.len(),
        1,
        "only the operator's public checks: {hal}"
    );
    let s = &services[0];
    assert_eq!(s["id"], "shop");
    assert_eq!(s["title"], "Shop");
    assert_eq!(
        s["_links"]["status"]["href"],
        format!("{base}/public/shop.status.json")
    );
    assert_eq!(
        s["_links"]["interface"]["href"],
        format!("{base}/status#check-shop")
    );
    assert_eq!(
        s["_links"]["rss"]["href"],
        format!("{base}/public/shop.rss")
    );

    let doc = site.json("/public/shop.status.json").await;
    assert_eq!(doc["title"], "Shop", "{doc}");
    assert_eq!(doc["name"], "shop", "{doc}");
    assert_eq!(doc["status"], "OK", "{doc}");
    assert!(doc["message"].is_string(), "{doc}");
    let start = doc["start-date"].as_str().unwrap();
    assert!(
        jiff::civil::DateTime::strptime("%Y-%m-%d %H:%M:%S", start).is_ok(),
        "start-date {start:?}"
    );
    let change = doc["change-time"].as_i64().unwrap();
    assert!((0..=now_ms() / 1000).contains(&change), "{doc}");
    assert!(doc["execution-time"].is_number(), "{doc}");
    let result = &doc["result"];
    assert_eq!(result["type"], "Anomaly Result", "{doc}");
    assert_eq!(result["failed"], false, "{doc}");
    assert_eq!(result["message"], doc["message"], "{doc}");
    let date = result["date"].as_str().unwrap();
    assert!(
        jiff::Timestamp::strptime("%Y-%m-%dT%H:%M:%S%z", date).is_ok() && date.ends_with("+0000"),
        "date {date:?}"
    );
    assert_eq!(
        doc["_links"]["monitor"]["href"],
        format!("{base}/monitor.haljson")
    );

    // Feeds link to the public URL.
    let feed = site.atom("/status/feed.atom").await;
    assert!(
        feed.links
            .iter()
            .any(|l| l.rel == "self" && l.href == format!("{base}/status/feed.atom")),
        "{:?}",
        feed.links
    );
    assert_eq!(
        site.rss("/public/shop.rss").await.link,
        format!("{base}/status#check-shop")
    );
    site.stop().await;
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn badges_are_well_formed_svg_with_the_right_text() {
    let target = HttpServer::start().await.unwrap();
    let site = Site::start(&target, None).await;
    site.wait_results(2, Status::Ok).await;
    site.engine.flush().await;
    site.app
        .summaries
        .refresh(site.engine.store(), now_ms())
        .await
        .unwrap();

    for (path, label) in [
        ("/badge/shop.svg", "Shop: up"),
        ("/badge/shop/uptime.svg", "uptime 30d: 100%"),
        ("/badge/shop/latency.svg", "latency: "),
    ] {
        let a = site.get_ok(path, "image/svg+xml").await;
        assert_eq!(
            a.header(header::CACHE_CONTROL),
            "public, max-age=60",
            "{path}"
        );
        assert_well_formed(&a.body);
        assert!(
            a.body
                .starts_with("<svg xmlns=\"http://www.w3.org/2000/svg\""),
            "{path}"
        );
        assert!(a.body.contains("role=\"img\""), "{path}");
        let spoken = aria_label(&a.body);
        assert!(spoken.starts_with(label), "{path}: {spoken}");
        assert!(
            a.body.contains(&format!("<title>{spoken}</title>")),
            "{path}"
        );
    }
    let latency = site
        .get_ok("/badge/shop/latency.svg", "image/svg+xml")
        .await
        .body;
    assert!(aria_label(&latency).ends_with(" ms"), "{latency}");
    // A check that has not run yet says so.
    let pending = site
        .get_ok("/badge/acme-web/latency.svg", "image/svg+xml")
        .await;
    assert_well_formed(&pending.body);
    assert!(
        ["latency: no data"].contains(&aria_label(&pending.body))
            || aria_label(&pending.body).ends_with(" ms")
    );
    site.stop().await;
}
