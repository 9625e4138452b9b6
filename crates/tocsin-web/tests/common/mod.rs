//! What the web tests share: an engine on a temporary configuration and SQLite store with
//! short timings, tokens, and a bounded poll.

#![allow(dead_code)] // Each test crate uses its own part.

use std::path::Path;
use std::sync::Arc;
use std::time::{Duration, Instant};

use tocsin_engine::{DeliveryOptions, Engine, EngineOptions, now_ms};
use tocsin_store::Store;

/// Starts an engine on `dir/conf` with its store in `dir/data`: writes flushed every 50 ms,
/// fast delivery retries and alarm ticks; `tenant_private_networks` lets tenants' checks reach
/// the local targets. Panics on any configuration error.
pub(crate) async fn engine(dir: &Path, tenant_private_networks: bool) -> Arc<Engine> {
    tocsin_testkit::init();
    let conf = dir.join("conf");
    std::fs::create_dir_all(&conf).unwrap();
    let store = Store::open_sqlite_dir(&dir.join("data")).await.unwrap();
    let mut options = EngineOptions::new(&conf);
    options.store_flush = Duration::from_millis(50);
    options.shutdown_grace = Duration::from_secs(2);
    options.tenant_private_networks = tenant_private_networks;
    options.delivery = DeliveryOptions {
        retry_base: Duration::from_millis(50),
        retry_max: Duration::from_millis(200),
        poll: Duration::from_millis(50),
        tick: Duration::from_millis(100),
        ..DeliveryOptions::default()
    };
    let engine = Engine::start(options, store).await.unwrap();
    let errors = engine.config_errors();
    assert!(errors.is_empty(), "{errors:?}");
    engine
}

/// A new token of `tenant` (`""`: the operator's) with `role`.
pub(crate) async fn token(engine: &Engine, tenant: &str, name: &str, role: &str) -> String {
    tocsin_web::auth::issue_token(engine.store(), tenant, name, role, now_ms())
        .await
        .unwrap()
        .1
}

/// Polls `f` every 25 ms until it answers, for at most `secs` seconds.
pub(crate) async fn wait_for<T>(secs: u64, what: &str, mut f: impl AsyncFnMut() -> Option<T>) -> T {
    let end = Instant::now() + Duration::from_secs(secs);
    loop {
        if let Some(v) = f().await {
            return v;
        }
        assert!(
            Instant::now() < end,
            "timed out after {secs}s waiting for {what}"
        );
        tokio::time::sleep(Duration::from_millis(25)).await;
    }
}
