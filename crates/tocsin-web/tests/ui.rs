//! Tests of the web UI: signing in and out, the pages a session sees (scoped by its token's
//! tenant), the forms (CSRF field, `Origin`), and the headers and assets the pages rely on.
//!
//! Each test starts a real engine (temporary config directory, SQLite store, a local testkit
//! HTTP target on 127.0.0.1) and drives `tocsin_web::router_with` in-process with
//! `tower::ServiceExt::oneshot`, as a browser would: cookies, form posts, redirects.

mod common;

use common::{token, wait_for};
use std::sync::Arc;

use axum::Router;
use axum::body::Body;
use axum::http::{HeaderMap, Request, StatusCode, header};
use tempfile::TempDir;
use tocsin_engine::{Engine, now_ms};
use tocsin_testkit::HttpServer;
use tocsin_web::{AppState, WebOptions};
use tower::ServiceExt as _;

/// The policy every page must carry.
const CSP: &str = "default-src 'self'; script-src 'self'; style-src 'self'; img-src 'self' \
                   data:; frame-ancestors 'none'; form-action 'self'";

/// The webhook URL's secret part: it must never reach a page.
const HOOK_SECRET: &str = "s3cr3t-hook-path-7f1c";

// ---------------------------------------------------------------------------------------------
// Helpers.
// ---------------------------------------------------------------------------------------------

/// A running engine, its router, and tokens.
struct Ui {
    _dir: TempDir,
    engine: Arc<Engine>,
    app: Router,
    /// `operator`.
    op: String,
    /// The operator's tenant, `read`.
    read: String,
    /// Tenant `acme`, `admin`.
    acme: String,
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

    fn location(&self) -> &str {
        self.header(header::LOCATION)
    }

    /// Every `Set-Cookie` line.
    fn cookies(&self) -> Vec<String> {
        self.headers
            .get_all(header::SET_COOKIE)
            .iter()
            .map(|v| v.to_str().unwrap().to_owned())
            .collect()
    }

    /// The `Set-Cookie` line of cookie `name`.
    #[track_caller]
    fn cookie(&self, name: &str) -> String {
        self.cookies()
            .into_iter()
            .find(|c| c.starts_with(&format!("{name}=")))
            .unwrap_or_else(|| panic!("no {name} cookie in {:?}", self.cookies()))
    }
}

/// A browser session: its cookie and the CSRF token its forms carry.
struct Session {
    cookie: String,
    csrf: String,
}

/// The checks: `web` (operator's, tags prod and web, an HTML-looking name), `down`
/// (operator's, failing every second: its alarm opens), `acme-api` (tenant acme), `other-api`
/// (tenant other); all but `down` idle (they run once a year, or when asked); a webhook
/// contact whose URL holds a secret.
fn config(target: &HttpServer) -> String {
    format!(
        r#"checks:
  - id: web
    name: "Web <b>front</b>"
    tags: [prod, web]
    cron: "0 0 1 1 *"
    timeout: 900ms
    http: {{ url: "{ok}" }}
  - id: down
    tags: [prod]
    every: 1s
    timeout: 900ms
    http: {{ url: "{bad}" }}
    alert: {{ failures: 1, recoveries: 1 }}
  - id: acme-api
    tenant: acme
    cron: "0 0 1 1 *"
    timeout: 900ms
    http: {{ url: "{ok}" }}
  - id: other-api
    tenant: other
    cron: "0 0 1 1 *"
    timeout: 900ms
    http: {{ url: "{ok}" }}
contacts:
  - id: hook
    name: Team hook
    type: webhook
    url: "http://127.0.0.1:9/hooks/{HOOK_SECRET}"
"#,
        ok = target.url("/ok"),
        bad = target.url("/status/500"),
    )
}

impl Ui {
    async fn start(target: &HttpServer) -> Self {
        Self::start_with(target, WebOptions::default()).await
    }

    async fn start_with(target: &HttpServer, options: WebOptions) -> Self {
        let dir = tempfile::tempdir().unwrap();
        let conf = dir.path().join("conf");
        std::fs::create_dir_all(&conf).unwrap();
        std::fs::write(conf.join("checks.yml"), config(target)).unwrap();
        let engine = common::engine(dir.path(), true).await;
        let op = token(&engine, "", "ops", "operator").await;
        let read = token(&engine, "", "viewer", "read").await;
        let acme = token(&engine, "acme", "acme-admin", "admin").await;
        let app = tocsin_web::router_with(AppState::new(engine.clone(), options));
        Self {
            _dir: dir,
            engine,
            app,
            op,
            read,
            acme,
        }
    }

    async fn send(&self, req: Request<Body>) -> Answer {
        let resp = self.app.clone().oneshot(req).await.unwrap();
        let status = resp.status();
        let headers = resp.headers().clone();
        let bytes = axum::body::to_bytes(resp.into_body(), usize::MAX)
            .await
            .unwrap();
        Answer {
            status,
            headers,
            body: String::from_utf8(bytes.to_vec()).unwrap(),
        }
    }

    /// `GET path`, with a session's cookie if given.
    async fn get(&self, path: &str, session: Option<&Session>) -> Answer {
        let mut req = Request::get(path).header(header::HOST, "127.0.0.1:8080");
        if let Some(s) = session {
            req = req.header(header::COOKIE, format!("tocsin_session={}", s.cookie));
        }
        self.send(req.body(Body::empty()).unwrap()).await
    }

    /// `GET path` as `session`, expecting 200; returns the page.
    async fn page(&self, path: &str, session: &Session) -> String {
        let a = self.get(path, Some(session)).await;
        assert_eq!(a.status, StatusCode::OK, "GET {path}: {}", a.body);
        a.body
    }

    /// Posts a form; `origin` is sent as `Origin` (the host is always `127.0.0.1:8080`).
    async fn post(
        &self,
        path: &str,
        cookie: Option<&str>,
        fields: &[(&str, &str)],
        origin: Option<&str>,
    ) -> Answer {
        let mut req = Request::post(path)
            .header(header::HOST, "127.0.0.1:8080")
            .header(header::CONTENT_TYPE, "application/x-www-form-urlencoded");
        if let Some(c) = cookie {
            req = req.header(header::COOKIE, c);
        }
        if let Some(o) = origin {
            req = req.header(header::ORIGIN, o);
        }
        let body = fields
            .iter()
            .map(|(k, v)| format!("{}={}", enc(k), enc(v)))
            .collect::<Vec<_>>()
            .join("&");
        self.send(req.body(Body::from(body)).unwrap()).await
    }

    /// Posts a form as `session`, from this site, with its CSRF token.
    async fn submit(&self, path: &str, session: &Session, fields: &[(&str, &str)]) -> Answer {
        let mut all = vec![("csrf", session.csrf.as_str())];
        all.extend_from_slice(fields);
        self.post(
            path,
            Some(&format!("tocsin_session={}", session.cookie)),
            &all,
            Some("http://127.0.0.1:8080"),
        )
        .await
    }

    /// The login form's double-submit token: (cookie value, form field).
    async fn login_form(&self) -> (String, String) {
        let a = self.get("/login", None).await;
        assert_eq!(a.status, StatusCode::OK, "{}", a.body);
        let cookie = cookie_value(&a.cookie("tocsin_login"));
        let field = field(&a.body, "csrf");
        assert_eq!(cookie, field);
        (cookie, field)
    }

    /// Signs in with `token`; returns the answer to the `POST /login`.
    async fn login_answer(&self, token: &str, next: &str) -> Answer {
        let (cookie, csrf) = self.login_form().await;
        self.post(
            "/login",
            Some(&format!("tocsin_login={cookie}")),
            &[("token", token), ("csrf", &csrf), ("next", next)],
            Some("http://127.0.0.1:8080"),
        )
        .await
    }

    /// Signs in with `token`: a session.
    async fn login(&self, token: &str) -> Session {
        let a = self.login_answer(token, "").await;
        assert_eq!(a.status, StatusCode::SEE_OTHER, "{}", a.body);
        let cookie = cookie_value(&a.cookie("tocsin_session"));
        let page = self
            .page(
                "/",
                &Session {
                    cookie: cookie.clone(),
                    csrf: String::new(),
                },
            )
            .await;
        Session {
            csrf: field(&page, "csrf"),
            cookie,
        }
    }

    /// Waits until alarm #1 (of check `down`) is open.
    async fn wait_for_alarm(&self) {
        wait_for(15, "the alarm of check down", async || {
            let rows = self
                .engine
                .store()
                .alarms(None, tocsin_store::AlarmFilter::Open, None, 10)
                .await
                .unwrap();
            rows.iter().any(|r| r.key == "check:down").then_some(())
        })
        .await;
    }

    async fn stop(self) {
        self.engine.shutdown().await;
    }
}

/// Form encoding.
fn enc(s: &str) -> String {
    s.bytes()
        .map(|b| match b {
            b'A'..=b'Z' | b'a'..=b'z' | b'0'..=b'9' | b'-' | b'.' | b'_' | b'~' => {
                char::from(b).to_string()
            }
            _ => format!("%{b:02X}"),
        })
        .collect()
}

/// The value of a `Set-Cookie` line.
fn cookie_value(set_cookie: &str) -> String {
    let pair = set_cookie.split(';').next().unwrap();
    pair.split_once('=').unwrap().1.to_owned()
}

/// The value of the first `<input name="{name}" value="…">` of a page.
#[track_caller]
fn field(page: &str, name: &str) -> String {
    let marker = format!("name=\"{name}\" value=\"");
    let start = page
        .find(&marker)
        .unwrap_or_else(|| panic!("no field {name} in {page}"))
        + marker.len();
    page[start..].split('"').next().unwrap().to_owned()
}

/// Where row `check-{id}` is in a page (panics if absent).
#[track_caller]
fn row_at(page: &str, id: &str) -> usize {
    page.find(&format!("id=\"check-{id}\""))
        .unwrap_or_else(|| panic!("no row {id}"))
}

fn has_row(page: &str, id: &str) -> bool {
    page.contains(&format!("id=\"check-{id}\""))
}

// ---------------------------------------------------------------------------------------------
// Signing in and out.
// ---------------------------------------------------------------------------------------------

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn login_sets_a_strict_session_cookie_and_logout_ends_it() {
    let target = HttpServer::start().await.unwrap();
    let ui = Ui::start(&target).await;

    // The form, and its double-submit cookie.
    let form = ui.get("/login", None).await;
    assert_eq!(form.status, StatusCode::OK);
    assert!(form.body.contains("<label for=\"token\">"), "{}", form.body);
    let login_cookie = form.cookie("tocsin_login");
    for flag in ["HttpOnly", "SameSite=Strict", "Path=/login"] {
        assert!(login_cookie.contains(flag), "{login_cookie}");
    }

    // A good token: a session cookie, HttpOnly, SameSite=Strict, Path=/, not Secure over http.
    let a = ui.login_answer(&ui.op, "/alarms").await;
    assert_eq!(a.status, StatusCode::SEE_OTHER, "{}", a.body);
    assert_eq!(a.location(), "/alarms");
    let set = a.cookie("tocsin_session");
    for flag in ["; HttpOnly", "; SameSite=Strict", "; Path=/"] {
        assert!(set.contains(flag), "{set}");
    }
    assert!(!set.contains("Secure"), "http site: {set}");
    assert!(!set.contains(&ui.op), "the cookie is not the token: {set}");
    let value = cookie_value(&set);
    assert_eq!(value.len(), 32, "{set}");
    // The login cookie is spent.
    assert!(a.cookie("tocsin_login").contains("Max-Age=0"));

    // The session opens the pages.
    let s = ui.login(&ui.op).await;
    let page = ui.page("/", &s).await;
    assert!(page.contains("ops (operator)"), "who is signed in");

    // A `next` elsewhere is ignored.
    for next in ["//evil.example/x", "https://evil.example/", "/login"] {
        let a = ui.login_answer(&ui.op, next).await;
        assert_eq!(a.location(), "/", "next={next}");
    }

    // Sign out: the cookie is cleared and the session is over.
    let out = ui.submit("/logout", &s, &[]).await;
    assert_eq!(out.status, StatusCode::SEE_OTHER, "{}", out.body);
    assert_eq!(out.location(), "/login");
    assert!(out.cookie("tocsin_session").contains("Max-Age=0"));
    let after = ui.get("/", Some(&s)).await;
    assert_eq!(after.status, StatusCode::SEE_OTHER);
    assert!(after.location().starts_with("/login"));
    ui.stop().await;
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn session_cookies_are_secure_when_the_site_is_https() {
    let target = HttpServer::start().await.unwrap();
    let ui = Ui::start_with(
        &target,
        WebOptions {
            public_url: Some("https://tocsin.example.com".into()),
            ..WebOptions::default()
        },
    )
    .await;
    let a = ui.login_answer(&ui.op, "").await;
    assert_eq!(a.status, StatusCode::SEE_OTHER, "{}", a.body);
    let set = a.cookie("tocsin_session");
    assert!(set.contains("; Secure"), "{set}");
    assert!(set.contains("; HttpOnly") && set.contains("; SameSite=Strict"));
    // The public origin is this site too.
    let s = ui.login(&ui.op).await;
    let out = ui
        .post(
            "/logout",
            Some(&format!("tocsin_session={}", s.cookie)),
            &[("csrf", &s.csrf)],
            Some("https://tocsin.example.com"),
        )
        .await;
    assert_eq!(out.status, StatusCode::SEE_OTHER, "{}", out.body);
    ui.stop().await;
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn bad_tokens_and_forged_logins_are_refused() {
    let target = HttpServer::start().await.unwrap();
    let ui = Ui::start(&target).await;

    let wrong = "tcn_00000000_0123456789abcdef0123456789abcdef";
    let a = ui.login_answer(wrong, "").await;
    assert_eq!(a.status, StatusCode::UNAUTHORIZED);
    assert!(
        a.body
            .contains("That token is unknown or has been revoked."),
        "{}",
        a.body
    );
    assert!(!a.body.contains(wrong), "the token is echoed");
    assert!(
        a.cookies()
            .iter()
            .all(|c| !c.starts_with("tocsin_session="))
    );

    let empty = ui.login_answer("  ", "").await;
    assert_eq!(empty.status, StatusCode::BAD_REQUEST);
    assert!(empty.body.contains("Enter an API token."), "{}", empty.body);

    // No double-submit cookie, or a different one: refused even with a good token.
    let (cookie, csrf) = ui.login_form().await;
    for (c, f) in [
        (None, csrf.as_str()),
        (Some("tocsin_login=other"), csrf.as_str()),
    ] {
        let a = ui
            .post("/login", c, &[("token", &ui.op), ("csrf", f)], None)
            .await;
        assert_eq!(a.status, StatusCode::FORBIDDEN, "{}", a.body);
        assert!(
            a.cookies()
                .iter()
                .all(|c| !c.starts_with("tocsin_session="))
        );
    }
    // From another site: refused.
    let a = ui
        .post(
            "/login",
            Some(&format!("tocsin_login={cookie}")),
            &[("token", &ui.op), ("csrf", &csrf)],
            Some("http://evil.example"),
        )
        .await;
    assert_eq!(a.status, StatusCode::FORBIDDEN, "{}", a.body);
    assert!(a.body.contains("another site"), "{}", a.body);

    // A revoked token's session ends.
    let s = ui.login(&ui.read).await;
    let id = ui.read.split('_').nth(1).unwrap();
    assert!(ui.engine.store().revoke_token(id, now_ms()).await.unwrap());
    let a = ui.get("/", Some(&s)).await;
    assert_eq!(a.status, StatusCode::SEE_OTHER);
    ui.stop().await;
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn pages_redirect_to_login_without_a_session() {
    let target = HttpServer::start().await.unwrap();
    let ui = Ui::start(&target).await;
    let bogus = Session {
        cookie: "0123456789abcdef0123456789abcdef".into(),
        csrf: String::new(),
    };
    for path in ["/", "/alarms", "/maintenances", "/contacts", "/checks/web"] {
        for session in [None, Some(&bogus)] {
            let a = ui.get(path, session).await;
            assert_eq!(a.status, StatusCode::SEE_OTHER, "GET {path}");
            assert!(
                a.location().starts_with("/login"),
                "GET {path}: {}",
                a.location()
            );
        }
    }
    assert_eq!(
        ui.get("/alarms?x=1", None).await.location(),
        "/login?next=%2Falarms%3Fx%3D1"
    );
    // A bearer token opens the API, not the pages.
    let req = Request::get("/")
        .header(header::AUTHORIZATION, format!("Bearer {}", ui.op))
        .body(Body::empty())
        .unwrap();
    assert_eq!(ui.send(req).await.status, StatusCode::SEE_OTHER);
    // Forms too: nothing runs.
    let a = ui
        .post("/checks/web/run", None, &[("csrf", "x")], None)
        .await;
    assert_eq!(a.status, StatusCode::SEE_OTHER);
    assert_eq!(a.location(), "/login");
    ui.stop().await;
}

// ---------------------------------------------------------------------------------------------
// Pages.
// ---------------------------------------------------------------------------------------------

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn the_dashboard_lists_sorts_and_filters_checks() {
    let target = HttpServer::start().await.unwrap();
    let ui = Ui::start(&target).await;
    ui.wait_for_alarm().await;
    let s = ui.login(&ui.op).await;

    let page = ui.page("/", &s).await;
    for id in ["web", "down", "acme-api", "other-api"] {
        assert!(has_row(&page, id), "{id}");
    }
    // Status in words and as a class; the failing check's message.
    assert!(
        page.contains("class=\"st-critical\" data-status=\"critical\""),
        "{page}"
    );
    assert!(
        page.contains("<span class=\"badge\">critical</span>"),
        "{page}"
    );
    assert!(
        page.contains("<span class=\"badge\">pending</span>"),
        "{page}"
    );
    assert!(page.contains("500"), "the message says why");
    // Counts on top.
    assert!(page.contains("data-count=\"critical\">1<"), "{page}");
    assert!(page.contains("data-count=\"pending\">3<"), "{page}");
    // Names are escaped.
    assert!(page.contains("Web &#60;b&#62;front&#60;/b&#62;"), "{page}");
    assert!(!page.contains("<b>front</b>"));
    // Worst first by default, with the sort announced.
    assert!(row_at(&page, "down") < row_at(&page, "web"));
    assert!(page.contains("aria-sort=\"descending\""));
    // Labels for the filters.
    for f in ["f-q", "f-tag", "f-status"] {
        assert!(page.contains(&format!("<label for=\"{f}\">")), "{f}");
    }

    // Sort by name, both ways (names in any case).
    let asc = ui.page("/?sort=name&order=asc", &s).await;
    let order: Vec<usize> = ["acme-api", "down", "other-api", "web"]
        .iter()
        .map(|id| row_at(&asc, id))
        .collect();
    assert!(order.is_sorted(), "{order:?}");
    assert!(
        asc.contains("href=\"/?sort=name&#38;order=desc\""),
        "the header toggles"
    );
    let desc = ui.page("/?sort=name&order=desc", &s).await;
    assert!(row_at(&desc, "web") < row_at(&desc, "acme-api"));
    for sort in ["since", "uptime_24h", "uptime_30d", "latency", "bogus"] {
        let p = ui.page(&format!("/?sort={sort}"), &s).await;
        assert!(has_row(&p, "down"), "sort={sort}");
    }

    // Filters: status, tag, text.
    let crit = ui.page("/?status=critical", &s).await;
    assert!(has_row(&crit, "down") && !has_row(&crit, "web"));
    assert!(crit.contains("1 of 4 checks (filtered)"), "{crit}");
    let tagged = ui.page("/?tag=web", &s).await;
    assert!(has_row(&tagged, "web") && !has_row(&tagged, "down"));
    let prod = ui.page("/?tag=prod", &s).await;
    assert!(has_row(&prod, "web") && has_row(&prod, "down") && !has_row(&prod, "acme-api"));
    let text = ui.page("/?q=FRONT", &s).await;
    assert!(has_row(&text, "web") && !has_row(&text, "down"));
    let none = ui.page("/?q=nothing-matches", &s).await;
    assert!(none.contains("No check matches these filters."), "{none}");
    // Sort links keep the filters.
    assert!(tagged.contains("&#38;tag=web"), "{tagged}");
    ui.stop().await;
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn a_tenant_session_sees_only_its_tenant() {
    let target = HttpServer::start().await.unwrap();
    let ui = Ui::start(&target).await;
    ui.wait_for_alarm().await;
    let op = ui.login(&ui.op).await;
    let all = ui
        .submit(
            "/maintenances",
            &op,
            &[("scope", "all"), ("duration", "1h"), ("note", "ops-wide")],
        )
        .await;
    assert_eq!(all.status, StatusCode::SEE_OTHER, "{}", all.body);

    let s = ui.login(&ui.acme).await;
    let page = ui.page("/", &s).await;
    assert!(has_row(&page, "acme-api"));
    for id in ["web", "down", "other-api"] {
        assert!(!has_row(&page, id), "{id} is not acme's");
    }
    assert!(page.contains("1 of 1 checks"), "{page}");
    assert_eq!(
        ui.get("/checks/acme-api", Some(&s)).await.status,
        StatusCode::OK
    );
    for id in ["web", "other-api", "nope"] {
        let a = ui.get(&format!("/checks/{id}"), Some(&s)).await;
        assert_eq!(a.status, StatusCode::NOT_FOUND, "{id}");
        assert!(
            a.body.contains(&format!("no check &#34;{id}&#34;")),
            "{}",
            a.body
        );
    }
    let alarms = ui.page("/alarms", &s).await;
    assert!(alarms.contains("No open alarm."), "{alarms}");
    assert!(!alarms.contains("check down"));
    let contacts = ui.page("/contacts", &s).await;
    assert!(!contacts.contains("hook"), "{contacts}");
    let maint = ui.page("/maintenances", &s).await;
    assert!(!maint.contains("ops-wide"), "{maint}");
    assert!(
        !maint.contains("value=\"all\""),
        "only the operator covers all checks"
    );

    // Acting on another tenant's objects: 404, as if they did not exist.
    for path in ["/checks/web/run", "/alarms/1/ack", "/alarms/1/close"] {
        let a = ui.submit(path, &s, &[]).await;
        assert_eq!(a.status, StatusCode::NOT_FOUND, "{path}: {}", a.body);
    }
    let id = ui.engine.maintenances()[0].id.clone();
    let a = ui.submit(&format!("/maintenances/{id}/end"), &s, &[]).await;
    assert_eq!(a.status, StatusCode::NOT_FOUND, "{}", a.body);
    let a = ui
        .submit(
            "/maintenances",
            &s,
            &[
                ("scope", "checks"),
                ("checks", "acme-api web"),
                ("duration", "1h"),
            ],
        )
        .await;
    assert_eq!(a.status, StatusCode::BAD_REQUEST, "{}", a.body);
    assert!(a.body.contains("no check &#34;web&#34;"), "{}", a.body);
    let a = ui
        .submit(
            "/maintenances",
            &s,
            &[("scope", "tags"), ("tags", "prod"), ("duration", "1h")],
        )
        .await;
    assert_eq!(a.status, StatusCode::FORBIDDEN, "{}", a.body);

    // Its own check: a window it then sees and ends.
    let a = ui
        .submit(
            "/maintenances",
            &s,
            &[
                ("scope", "checks"),
                ("checks", "acme-api"),
                ("duration", "30m"),
                ("note", "acme deploy"),
            ],
        )
        .await;
    assert_eq!(a.status, StatusCode::SEE_OTHER, "{}", a.body);
    let maint = ui.page("/maintenances", &s).await;
    assert!(
        maint.contains("acme deploy") && !maint.contains("ops-wide"),
        "{maint}"
    );
    ui.stop().await;
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn the_check_page_shows_state_history_and_forms() {
    let target = HttpServer::start().await.unwrap();
    let ui = Ui::start(&target).await;
    ui.wait_for_alarm().await;
    ui.engine.flush().await;
    let s = ui.login(&ui.op).await;
    let page = ui.page("/checks/down", &s).await;
    for part in [
        "<h2 id=\"state-h\">State: <span class=\"badge\">critical</span></h2>",
        "<svg class=\"chart\"",
        "<svg class=\"bars\"",
        "Uptime per day, last 90 days",
        "action=\"/checks/down/run\"",
        "action=\"/alarms/1/ack\"",
        "<label for=\"ack-1-comment\">",
        "action=\"/maintenances\"",
        "<label for=\"m-duration\">",
        "State changes",
        "Latest results",
    ] {
        assert!(page.contains(part), "{part}: {page}");
    }
    // A read-only session sees no forms.
    let r = ui.login(&ui.read).await;
    let page = ui.page("/checks/down", &r).await;
    assert!(!page.contains("action=\"/checks/down/run\""));
    assert!(!page.contains("action=\"/alarms/1/ack\""));
    ui.stop().await;
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn contacts_show_no_secret() {
    let target = HttpServer::start().await.unwrap();
    let ui = Ui::start(&target).await;
    let s = ui.login(&ui.op).await;
    let page = ui.page("/contacts", &s).await;
    assert!(page.contains("<code>hook</code>"), "{page}");
    assert!(
        page.contains("Team hook") && page.contains("webhook"),
        "{page}"
    );
    assert!(!page.contains(HOOK_SECRET), "{page}");
    assert!(!page.contains("127.0.0.1:9"), "{page}");
    ui.stop().await;
}

// ---------------------------------------------------------------------------------------------
// Forms.
// ---------------------------------------------------------------------------------------------

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn forms_refuse_missing_or_wrong_csrf_and_foreign_origins() {
    let target = HttpServer::start().await.unwrap();
    let ui = Ui::start(&target).await;
    let s = ui.login(&ui.op).await;
    let cookie = format!("tocsin_session={}", s.cookie);
    let here = Some("http://127.0.0.1:8080");
    let wrong = "f".repeat(s.csrf.len());

    /// Form fields, the `Origin` header, and what the case is.
    type Case<'a> = (&'a [(&'a str, &'a str)], Option<&'a str>, &'a str);
    let cases: [Case<'_>; 5] = [
        (&[], here, "no csrf field"),
        (&[("csrf", "")], here, "empty csrf"),
        (&[("csrf", wrong.as_str())], here, "wrong csrf"),
        (
            &[("csrf", s.csrf.as_str())],
            Some("http://evil.example"),
            "foreign origin",
        ),
        (&[("csrf", s.csrf.as_str())], Some("null"), "opaque origin"),
    ];
    for path in [
        "/checks/web/run",
        "/logout",
        "/maintenances",
        "/alarms/1/ack",
    ] {
        for (fields, origin, what) in cases {
            let a = ui.post(path, Some(&cookie), fields, origin).await;
            assert_eq!(
                a.status,
                StatusCode::FORBIDDEN,
                "{path}, {what}: {}",
                a.body
            );
            assert_eq!(a.header(header::CONTENT_SECURITY_POLICY), CSP);
        }
    }
    // A browser's cross-site fetch metadata is refused too.
    let req = Request::post("/checks/web/run")
        .header(header::COOKIE, &cookie)
        .header(header::CONTENT_TYPE, "application/x-www-form-urlencoded")
        .header("sec-fetch-site", "cross-site")
        .body(Body::from(format!("csrf={}", s.csrf)))
        .unwrap();
    assert_eq!(ui.send(req).await.status, StatusCode::FORBIDDEN);
    assert!(ui.engine.maintenances().is_empty(), "nothing was created");
    // The session still works, and a post without Origin (older browsers) is judged by its
    // CSRF field alone.
    let a = ui
        .post("/checks/web/run", Some(&cookie), &[("csrf", &s.csrf)], None)
        .await;
    assert_eq!(a.status, StatusCode::SEE_OTHER, "{}", a.body);

    // A read-only session may post nothing.
    let r = ui.login(&ui.read).await;
    let a = ui.submit("/checks/web/run", &r, &[]).await;
    assert_eq!(a.status, StatusCode::FORBIDDEN, "{}", a.body);
    assert!(a.body.contains("read-only"), "{}", a.body);
    ui.stop().await;
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn forms_run_ack_and_manage_maintenance() {
    let target = HttpServer::start().await.unwrap();
    let ui = Ui::start(&target).await;
    let s = ui.login(&ui.op).await;

    // Run now: the idle check gets a result.
    let before = target.requests();
    let a = ui.submit("/checks/web/run", &s, &[]).await;
    assert_eq!(a.status, StatusCode::SEE_OTHER, "{}", a.body);
    assert_eq!(a.location(), "/checks/web?done=run");
    wait_for(10, "web to run", async || {
        let e = ui.engine.check("web").unwrap();
        (e.snapshot().state.results > 0).then_some(())
    })
    .await;
    assert!(target.requests() > before);
    let page = ui.page(a.location(), &s).await;
    assert!(page.contains("Run requested"), "{page}");
    assert!(page.contains("<span class=\"badge\">ok</span>"), "{page}");
    assert!(ui.get("/checks/nope", Some(&s)).await.status == StatusCode::NOT_FOUND);
    let a = ui.submit("/checks/nope/run", &s, &[]).await;
    assert_eq!(a.status, StatusCode::NOT_FOUND);

    // Ack the open alarm, with a comment and an expiry.
    ui.wait_for_alarm().await;
    let a = ui
        .submit(
            "/alarms/1/ack",
            &s,
            &[
                ("comment", "on it <now>"),
                ("expires", "2h"),
                ("back", "/checks/down"),
            ],
        )
        .await;
    assert_eq!(a.status, StatusCode::SEE_OTHER, "{}", a.body);
    assert_eq!(a.location(), "/checks/down?done=ack");
    let row = ui.engine.store().alarm("", 1).await.unwrap().unwrap();
    assert_eq!(row.body["ack"]["by"], "token:ops", "{}", row.body);
    assert_eq!(row.body["ack"]["comment"], "on it <now>");
    assert!(row.body["ack"]["expires_ms"].as_i64().unwrap() > now_ms());
    let page = ui.page("/checks/down?done=ack", &s).await;
    assert!(page.contains("Alarm acknowledged."), "{page}");
    assert!(page.contains("on it &#60;now&#62;"), "{page}");
    let alarms = ui.page("/alarms", &s).await;
    assert!(alarms.contains("acknowledged"), "{alarms}");
    assert!(alarms.contains("action=\"/alarms/1/close\""), "{alarms}");
    // A bad expiry names the field; an unknown action or alarm is a 404.
    let a = ui.submit("/alarms/1/ack", &s, &[("expires", "soon")]).await;
    assert_eq!(a.status, StatusCode::BAD_REQUEST, "{}", a.body);
    assert!(a.body.contains("until"), "{}", a.body);
    assert_eq!(
        ui.submit("/alarms/1/explode", &s, &[]).await.status,
        StatusCode::NOT_FOUND
    );
    assert_eq!(
        ui.submit("/alarms/99/ack", &s, &[]).await.status,
        StatusCode::NOT_FOUND
    );
    // Close it.
    let a = ui.submit("/alarms/1/close", &s, &[]).await;
    assert_eq!(a.status, StatusCode::SEE_OTHER, "{}", a.body);
    assert_eq!(a.location(), "/alarms?done=close");
    let row = ui.engine.store().alarm("", 1).await.unwrap().unwrap();
    assert!(!row.open);

    // A maintenance window for one check, from its page; then ended.
    let a = ui
        .submit(
            "/maintenances",
            &s,
            &[
                ("scope", "checks"),
                ("checks", "web"),
                ("duration", "90m"),
                ("note", "deploy"),
                ("back", "/checks/web"),
            ],
        )
        .await;
    assert_eq!(a.status, StatusCode::SEE_OTHER, "{}", a.body);
    assert_eq!(a.location(), "/checks/web?done=maintenance-added");
    let windows = ui.engine.maintenances();
    assert_eq!(windows.len(), 1);
    assert_eq!(windows[0].scope.checks[0].as_str(), "web");
    assert_eq!(windows[0].note.as_deref(), Some("deploy"));
    let id = windows[0].id.clone();
    let page = ui.page("/checks/web", &s).await;
    assert!(page.contains("deploy") && page.contains(&format!("/maintenances/{id}/end")));
    let list = ui.page("/maintenances", &s).await;
    assert!(list.contains(&id) && list.contains("checks web"), "{list}");
    let a = ui.submit(&format!("/maintenances/{id}/end"), &s, &[]).await;
    assert_eq!(a.status, StatusCode::SEE_OTHER, "{}", a.body);
    assert_eq!(a.location(), "/maintenances?done=maintenance-ended");
    assert!(ui.engine.maintenances().is_empty());
    // Tags, all; bad input is a 400 naming the field.
    let a = ui
        .submit(
            "/maintenances",
            &s,
            &[("scope", "tags"), ("tags", "prod, web"), ("duration", "1h")],
        )
        .await;
    assert_eq!(a.status, StatusCode::SEE_OTHER, "{}", a.body);
    assert_eq!(ui.engine.maintenances()[0].scope.tags, ["prod", "web"]);
    for (fields, says) in [
        (
            &[("scope", "checks"), ("checks", ""), ("duration", "1h")][..],
            "checks",
        ),
        (
            &[("scope", "checks"), ("checks", "web"), ("duration", "soon")][..],
            "duration",
        ),
        (
            &[("scope", "checks"), ("checks", "web"), ("duration", "0s")][..],
            "duration",
        ),
        (&[("scope", "planet"), ("duration", "1h")][..], "scope"),
    ] {
        let a = ui.submit("/maintenances", &s, fields).await;
        assert_eq!(a.status, StatusCode::BAD_REQUEST, "{fields:?}: {}", a.body);
        assert!(a.body.contains(says), "{says}: {}", a.body);
    }
    // A return address elsewhere is ignored.
    let a = ui
        .submit("/alarms/1/reopen", &s, &[("back", "https://evil.example/")])
        .await;
    assert!(
        a.status == StatusCode::CONFLICT || a.location() == "/alarms?done=reopen",
        "{} {}",
        a.status,
        a.location()
    );
    ui.stop().await;
}

// ---------------------------------------------------------------------------------------------
// Headers and assets.
// ---------------------------------------------------------------------------------------------

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn pages_send_security_headers_and_hashed_assets() {
    let target = HttpServer::start().await.unwrap();
    let ui = Ui::start(&target).await;
    let s = ui.login(&ui.op).await;
    for (path, session, status) in [
        ("/login", None, StatusCode::OK),
        ("/", Some(&s), StatusCode::OK),
        ("/checks/web", Some(&s), StatusCode::OK),
        ("/checks/nope", Some(&s), StatusCode::NOT_FOUND),
        ("/alarms", Some(&s), StatusCode::OK),
        ("/maintenances", Some(&s), StatusCode::OK),
        ("/contacts", Some(&s), StatusCode::OK),
        ("/", None, StatusCode::SEE_OTHER),
    ] {
        let a = ui.get(path, session).await;
        assert_eq!(a.status, status, "{path}");
        assert_eq!(a.header(header::CONTENT_SECURITY_POLICY), CSP, "{path}");
        assert_eq!(
            a.header(header::X_CONTENT_TYPE_OPTIONS),
            "nosniff",
            "{path}"
        );
        assert_eq!(a.header(header::REFERRER_POLICY), "same-origin", "{path}");
        assert_eq!(a.header(header::CACHE_CONTROL), "no-store", "{path}");
        if status != StatusCode::SEE_OTHER {
            let b = &a.body;
            assert!(
                b.starts_with("<!DOCTYPE html>\n<html lang=\"en\">"),
                "{path}"
            );
            assert!(b.contains("<h1>"), "{path}");
            assert!(!b.contains(" style="), "{path}: no inline style");
            assert!(!b.contains("<script>"), "{path}: no inline script");
            assert!(
                !b.contains(" onclick=") && !b.contains(" onload="),
                "{path}"
            );
        }
    }

    // Assets: named by their content, cached for a year; the script listens to the events.
    let page = ui.page("/", &s).await;
    let css = page
        .split("<link rel=\"stylesheet\" href=\"")
        .nth(1)
        .unwrap();
    let css = css.split('"').next().unwrap().to_owned();
    let js = page.split("<script src=\"").nth(1).unwrap();
    let js = js.split('"').next().unwrap().to_owned();
    assert!(
        css.starts_with("/assets/app.") && css.ends_with(".css"),
        "{css}"
    );
    assert!(
        js.starts_with("/assets/app.") && js.ends_with(".js"),
        "{js}"
    );
    let a = ui.get(&css, None).await;
    assert_eq!(a.status, StatusCode::OK);
    assert_eq!(a.header(header::CONTENT_TYPE), "text/css; charset=utf-8");
    assert!(a.header(header::CACHE_CONTROL).contains("immutable"));
    assert!(a.body.contains(":focus-visible"));
    let a = ui.get(&js, None).await;
    assert_eq!(
        a.header(header::CONTENT_TYPE),
        "text/javascript; charset=utf-8"
    );
    assert!(a.header(header::CACHE_CONTROL).contains("max-age=31536000"));
    assert!(a.body.contains("new EventSource('/api/v1/events')"));
    assert!(!a.body.contains("eval("));
    let a = ui.get("/assets/app.js", None).await;
    assert_eq!(a.header(header::CACHE_CONTROL), "no-cache");
    assert_eq!(
        ui.get("/assets/nope.js", None).await.status,
        StatusCode::NOT_FOUND
    );
    ui.stop().await;
}
