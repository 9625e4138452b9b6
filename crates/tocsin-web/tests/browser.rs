//! The web UI in a real browser: Debian's chromium, headless, driven over WebDriver
//! (chromedriver, through `fantoccini`) against Tocsin's own server on 127.0.0.1, as an operator
//! would use it:
//!
//! 1. signs in with a token typed into `/login`;
//! 2. watches the dashboard: when the local target behind a check starts failing, the check's
//!    row and the counts turn critical by themselves, over the live events, without the page
//!    being loaded again;
//! 3. acknowledges the alarm that opened, from the alarms page;
//! 4. starts a maintenance window from the maintenances page, then ends it;
//! 5. sees the row turn back to ok live when the target recovers.
//!
//! Every step is checked in the browser's page and again in the store. The test needs
//! `/usr/bin/chromium` and `/usr/bin/chromedriver` (Debian's `chromium` and `chromium-driver`,
//! which `.ci/run` installs). Without them it says so and passes, unless `CI` is set: then it
//! fails, so CI cannot skip it silently.

mod common;

use std::net::SocketAddr;
use std::path::Path;
use std::process::Stdio;
use std::sync::Arc;
use std::time::{Duration, Instant};

use common::{token, wait_for};
use fantoccini::elements::Element;
use fantoccini::{Client, ClientBuilder, Locator};
use hyper_util::client::legacy::connect::HttpConnector;
use serde_json::json;
use tocsin_engine::{Engine, now_ms};
use tocsin_store::AlarmFilter;
use tocsin_testkit::HttpServer;
use tocsin_web::{AppState, WebOptions};

const CHROMIUM: &str = "/usr/bin/chromium";
const CHROMEDRIVER: &str = "/usr/bin/chromedriver";

/// How long any one step may take in the browser.
const STEP: Duration = Duration::from_secs(20);

/// A chromedriver process on a free port of 127.0.0.1, killed when dropped (chromium, started
/// through a pipe, goes with it).
struct Driver {
    _child: tokio::process::Child,
    url: String,
}

impl Driver {
    async fn start() -> Self {
        let port = std::net::TcpListener::bind("127.0.0.1:0")
            .unwrap()
            .local_addr()
            .unwrap()
            .port();
        let child = tokio::process::Command::new(CHROMEDRIVER)
            .arg(format!("--port={port}"))
            .arg("--allowed-ips=127.0.0.1")
            .stdout(Stdio::null())
            .stderr(Stdio::null())
            .kill_on_drop(true)
            .spawn()
            .unwrap_or_else(|e| panic!("cannot start {CHROMEDRIVER}: {e}"));
        Self {
            _child: child,
            url: format!("http://127.0.0.1:{port}"),
        }
    }

    /// A new headless browser session, with its profile in `profile`. Retries while
    /// chromedriver is still starting.
    async fn session(&self, profile: &Path) -> Client {
        let mut caps = serde_json::Map::new();
        caps.insert(
            "goog:chromeOptions".into(),
            json!({
                "binary": CHROMIUM,
                "args": [
                    "--headless",
                    "--no-sandbox",
                    "--disable-gpu",
                    "--disable-dev-shm-usage",
                    "--disable-background-networking",
                    "--no-first-run",
                    "--window-size=1280,900",
                    format!("--user-data-dir={}", profile.display()),
                ],
            }),
        );
        let end = Instant::now() + STEP;
        loop {
            match ClientBuilder::new(HttpConnector::new())
                .capabilities(caps.clone())
                .connect(&self.url)
                .await
            {
                Ok(client) => return client,
                Err(_) if Instant::now() < end => {
                    tokio::time::sleep(Duration::from_millis(200)).await;
                }
                Err(e) => panic!("no browser session from chromedriver: {e}"),
            }
        }
    }
}

/// Whether the browser is installed; panics when it is not and `CI` is set.
fn browser_available() -> bool {
    let present = Path::new(CHROMIUM).exists() && Path::new(CHROMEDRIVER).exists();
    if !present {
        assert!(
            std::env::var_os("CI").is_none(),
            "CI is set but {CHROMIUM} or {CHROMEDRIVER} is missing \
             (Debian packages chromium and chromium-driver)"
        );
        eprintln!("skipped: {CHROMIUM} or {CHROMEDRIVER} is missing (set CI to make this fail)");
    }
    present
}

/// The element `css` finds once `ready` holds for it, within [`STEP`].
async fn wait_element(
    browser: &Client,
    css: &str,
    what: &str,
    ready: impl AsyncFn(&Element) -> bool,
) -> Element {
    let end = Instant::now() + STEP;
    loop {
        if let Ok(el) = browser.find(Locator::Css(css)).await
            && ready(&el).await
        {
            return el;
        }
        if Instant::now() >= end {
            let page = browser.source().await.unwrap_or_default();
            panic!("timed out after {STEP:?} waiting for {what} ({css}); the page:\n{page}");
        }
        tokio::time::sleep(Duration::from_millis(100)).await;
    }
}

/// The element `css` finds now.
async fn find(browser: &Client, css: &str) -> Element {
    browser
        .find(Locator::Css(css))
        .await
        .unwrap_or_else(|e| panic!("no {css}: {e}"))
}

/// Types `keys` into the element `css` finds.
async fn type_into(browser: &Client, css: &str, keys: &str) {
    find(browser, css).await.send_keys(keys).await.unwrap();
}

/// Clicks the element `css` finds.
async fn click(browser: &Client, css: &str) {
    find(browser, css).await.click().await.unwrap();
}

/// The text of the element `css` finds.
async fn text(browser: &Client, css: &str) -> String {
    find(browser, css).await.text().await.unwrap()
}

/// The `data-status` of a dashboard row.
async fn row_status(el: &Element) -> String {
    el.attr("data-status")
        .await
        .ok()
        .flatten()
        .unwrap_or_default()
}

/// Tocsin on 127.0.0.1: the engine on a temporary configuration and store, and the web server.
struct Tocsin {
    _dir: tempfile::TempDir,
    engine: Arc<Engine>,
    addr: SocketAddr,
    stop: tokio::sync::oneshot::Sender<()>,
    server: tokio::task::JoinHandle<std::io::Result<()>>,
}

impl Tocsin {
    /// Check `shop` runs every second against `target`'s `/health`, hard on the first failure.
    async fn start(target: &HttpServer) -> Self {
        let dir = tempfile::tempdir().unwrap();
        let conf = dir.path().join("conf");
        std::fs::create_dir_all(&conf).unwrap();
        std::fs::write(
            conf.join("checks.yml"),
            format!(
                r#"checks:
  - id: shop
    name: Shop health
    tags: [shop, prod]
    every: 1s
    timeout: 900ms
    http: {{ url: "{}" }}
    alert: {{ failures: 1, recoveries: 1 }}
"#,
                target.url("/health")
            ),
        )
        .unwrap();
        let engine = common::engine(dir.path(), false).await;
        let listener = tokio::net::TcpListener::bind("127.0.0.1:0").await.unwrap();
        let addr = listener.local_addr().unwrap();
        let (stop, stopped) = tokio::sync::oneshot::channel::<()>();
        let app = AppState::new(engine.clone(), WebOptions::default());
        let server = tokio::spawn(tocsin_web::serve(listener, app, async move {
            let _ = stopped.await;
        }));
        Self {
            _dir: dir,
            engine,
            addr,
            stop,
            server,
        }
    }

    fn url(&self, path: &str) -> String {
        format!("http://{}{path}", self.addr)
    }

    /// The check's current status, as the engine holds it.
    fn status(&self, id: &str) -> String {
        let e = self.engine.check(id).unwrap();
        e.snapshot().state.status.to_string()
    }

    async fn stop(self) {
        let _ = self.stop.send(());
        // Open event streams keep the graceful shutdown waiting: bounded.
        let _ = tokio::time::timeout(Duration::from_secs(5), self.server).await;
        self.engine.shutdown().await;
    }
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn an_operator_watches_acks_and_ends_a_maintenance_in_chromium() {
    if !browser_available() {
        return;
    }
    let target = HttpServer::start().await.unwrap();
    target.respond("/health", 200, &[], "ok");
    let tocsin = Tocsin::start(&target).await;
    let op = token(&tocsin.engine, "", "ops", "operator").await;
    wait_for(15, "shop to be ok", async || {
        (tocsin.status("shop") == "ok").then_some(())
    })
    .await;

    let profile = tempfile::tempdir().unwrap();
    let driver = Driver::start().await;
    let browser = driver.session(profile.path()).await;

    // 1. Sign in: the dashboard sends an anonymous browser to /login, which sends it back.
    browser.goto(&tocsin.url("/")).await.unwrap();
    let url = browser.current_url().await.unwrap();
    assert_eq!(url.path(), "/login", "{url}");
    type_into(&browser, "#token", &op).await;
    click(&browser, "form[action='/login'] button[type=submit]").await;
    wait_element(
        &browser,
        "#check-shop",
        "the dashboard's shop row",
        async |el| row_status(el).await == "ok",
    )
    .await;
    assert_eq!(browser.current_url().await.unwrap().path(), "/");
    assert_eq!(text(&browser, "[data-count='ok']").await, "1");

    // 2. The target fails: the row turns critical in the page that is already open. A mark
    // left in the page's window shows it was not loaded again.
    browser
        .execute("window.tocsinMark = 'same page'; return true;", vec![])
        .await
        .unwrap();
    target.respond("/health", 503, &[], "down for repairs");
    let row = wait_element(
        &browser,
        "#check-shop",
        "the shop row to turn critical live",
        async |el| row_status(el).await == "critical",
    )
    .await;
    let badge = row
        .find(Locator::Css(".c-status .badge"))
        .await
        .unwrap()
        .text()
        .await
        .unwrap();
    assert!(badge.contains("critical"), "{badge}");
    wait_element(
        &browser,
        "[data-count='critical']",
        "the critical count to reach 1",
        async |el| el.text().await.unwrap_or_default() == "1",
    )
    .await;
    let mark = browser
        .execute("return window.tocsinMark || null;", vec![])
        .await
        .unwrap();
    assert_eq!(mark, json!("same page"), "the dashboard was loaded again");

    // 3. Acknowledge the alarm from the alarms page.
    let alarm = wait_for(15, "the shop alarm", async || {
        let rows = tocsin
            .engine
            .store()
            .alarms(None, AlarmFilter::Open, None, 10)
            .await
            .unwrap();
        rows.into_iter().find(|r| r.key == "check:shop")
    })
    .await;
    browser.goto(&tocsin.url("/alarms")).await.unwrap();
    let form = format!("form[action='/alarms/{}/ack']", alarm.id);
    type_into(
        &browser,
        &format!("{form} input[name=comment]"),
        "looking at the shop",
    )
    .await;
    click(&browser, &format!("{form} button[type=submit]")).await;
    wait_element(
        &browser,
        "article.alarm.open .badge.st-acked",
        "the alarm to show as acknowledged",
        async |_| true,
    )
    .await;
    let acked = tocsin
        .engine
        .store()
        .alarm("", alarm.id)
        .await
        .unwrap()
        .unwrap();
    assert_eq!(acked.body["ack"]["by"], "token:ops", "{}", acked.body);
    assert_eq!(acked.body["ack"]["comment"], "looking at the shop");

    // 4. Start a maintenance window on the check, then end it.
    browser.goto(&tocsin.url("/maintenances")).await.unwrap();
    type_into(&browser, "#m-checks", "shop").await;
    type_into(&browser, "#m-note", "replacing the disk").await;
    click(&browser, "form[action='/maintenances'] button[type=submit]").await;
    let end_button = wait_element(
        &browser,
        "li.maint form[action$='/end'] button",
        "the new window with its end button",
        async |_| true,
    )
    .await;
    let item = text(&browser, "li.maint").await;
    assert!(item.contains("active"), "{item}");
    assert!(item.contains("replacing the disk"), "{item}");
    let windows = tocsin
        .engine
        .store()
        .current_maintenances(now_ms())
        .await
        .unwrap();
    assert_eq!(windows.len(), 1, "{windows:?}");
    let window = windows[0].id.clone();
    end_button.click().await.unwrap();
    wait_element(
        &browser,
        "#main",
        "the window to be gone from the list",
        async |el| {
            el.text()
                .await
                .unwrap_or_default()
                .contains("No maintenance window.")
        },
    )
    .await;
    let ended = tocsin
        .engine
        .store()
        .maintenance("", &window)
        .await
        .unwrap()
        .unwrap();
    assert!(ended.ended_ms.is_some(), "{ended:?}");

    // 5. Back on the dashboard, the target recovers: the row turns ok live.
    browser.goto(&tocsin.url("/")).await.unwrap();
    wait_element(&browser, "#check-shop", "the critical row", async |el| {
        row_status(el).await == "critical"
    })
    .await;
    target.respond("/health", 200, &[], "ok");
    wait_element(
        &browser,
        "#check-shop",
        "the shop row to turn ok live",
        async |el| row_status(el).await == "ok",
    )
    .await;

    browser.close().await.unwrap();
    tocsin.stop().await;
}
