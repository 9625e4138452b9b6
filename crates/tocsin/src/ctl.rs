//! `tocsin ctl`: a client of a running server's API. Lists and shows checks and alarms, acts on
//! alarms, adds, lists and ends maintenances, runs a check now, reloads. Prints tables by
//! default and the API's JSON with `--json`.
//!
//! The server is `--server` (or `TOCSIN_SERVER`, default `http://127.0.0.1:8080`); the token is
//! `--token` (or `TOCSIN_TOKEN`), made with `tocsin token create`. Plain HTTP only: put a TLS
//! proxy in front of a remote server and run ctl on its machine, or tunnel.

use std::process::ExitCode;

use anyhow::{Context, bail};
use bytes::Bytes;
use http::{Method, Request, header};
use http_body_util::{BodyExt, Full};
use hyper_util::rt::TokioIo;
use serde_json::Value;

/// Arguments of `tocsin ctl`.
#[derive(clap::Args, Debug)]
pub(crate) struct CtlArgs {
    /// The server's base URL.
    #[arg(long, env = "TOCSIN_SERVER", default_value = "http://127.0.0.1:8080")]
    server: String,
    /// An API token (`tocsin token create`).
    #[arg(long, env = "TOCSIN_TOKEN", hide_env_values = true)]
    token: Option<String>,
    /// Print the API's JSON instead of a table.
    #[arg(long, global = true)]
    json: bool,
    #[command(subcommand)]
    command: CtlCommand,
}

#[derive(clap::Subcommand, Debug)]
enum CtlCommand {
    /// List checks with their status.
    Checks {
        /// Only checks with this tag.
        #[arg(long)]
        tag: Option<String>,
        /// Only checks with this status (ok, warning, critical, unknown).
        #[arg(long)]
        status: Option<String>,
    },
    /// Show one check.
    Check {
        /// Its id.
        id: String,
    },
    /// Run a check now, off schedule.
    Run {
        /// Its id.
        id: String,
    },
    /// List alarms (open ones unless told otherwise).
    Alarms {
        /// Open and closed.
        #[arg(long, conflicts_with = "closed")]
        all: bool,
        /// Closed only.
        #[arg(long)]
        closed: bool,
    },
    /// Show one alarm with its timeline.
    Alarm {
        /// Its id (`42` or `#42`).
        id: String,
    },
    /// Take an alarm: re-notifications stop until it recovers or the ack expires.
    Ack {
        /// The alarm's id.
        id: String,
        /// Why.
        #[arg(long)]
        comment: Option<String>,
        /// When the ack ends by itself: `2h` or an RFC 3339 time.
        #[arg(long)]
        expires: Option<String>,
        /// Who (default: $USER).
        #[arg(long)]
        by: Option<String>,
    },
    /// Withdraw an ack.
    Unack(ByArgs),
    /// Close an alarm now.
    Close(ByArgs),
    /// Reopen a closed alarm.
    Reopen(ByArgs),
    /// Silence an alarm: nothing is sent, not even its recovery.
    Suppress(ByArgs),
    /// Lift the silence.
    Unsuppress(ByArgs),
    /// Maintenance windows.
    #[command(subcommand)]
    Maintenance(MaintenanceCommand),
    /// Reload the configuration.
    Reload,
    /// Notification outbox: counts and dead letters.
    Outbox,
}

#[derive(clap::Args, Debug)]
struct ByArgs {
    /// The alarm's id.
    id: String,
    /// Who (default: $USER).
    #[arg(long)]
    by: Option<String>,
}

#[derive(clap::Subcommand, Debug)]
#[allow(clippy::large_enum_variant, reason = "parsed once per process")]
enum MaintenanceCommand {
    /// Add a window: checks keep running, nobody is notified.
    Add {
        /// An id (default: generated).
        #[arg(long)]
        id: Option<String>,
        /// Every check.
        #[arg(long)]
        all: bool,
        /// Check ids, comma-separated.
        #[arg(long, value_delimiter = ',')]
        checks: Vec<String>,
        /// Group ids, comma-separated.
        #[arg(long, value_delimiter = ',')]
        groups: Vec<String>,
        /// Tags, comma-separated.
        #[arg(long, value_delimiter = ',')]
        tags: Vec<String>,
        /// Host labels, comma-separated.
        #[arg(long, value_delimiter = ',')]
        hosts: Vec<String>,
        /// `now` (default) or an RFC 3339 time.
        #[arg(long)]
        start: Option<String>,
        /// How long: `1h`, `30m`.
        #[arg(long = "for", conflicts_with = "end")]
        duration: Option<String>,
        /// When it ends: an RFC 3339 time.
        #[arg(long)]
        end: Option<String>,
        /// Why.
        #[arg(long)]
        note: Option<String>,
        /// Who (default: $USER).
        #[arg(long)]
        by: Option<String>,
    },
    /// List windows from files and from the API.
    List,
    /// End a window now (one created through the API or ctl).
    End {
        /// Its id.
        id: String,
    },
}

/// Who acts: `--by`, else `$USER`, else the token's name (the server's default).
fn who(by: Option<String>) -> Option<String> {
    by.or_else(|| std::env::var("USER").ok())
        .filter(|s| !s.is_empty())
}

pub(crate) async fn ctl(args: CtlArgs) -> anyhow::Result<ExitCode> {
    let client = Client::new(&args.server, args.token.clone())?;
    let json = args.json;
    let action = |verb: &'static str, b: ByArgs| {
        (
            format!("/api/v1/alarms/{}/{verb}", b.id.trim_start_matches('#')),
            serde_json::json!({ "by": who(b.by) }),
        )
    };
    let (doc, show): (Value, fn(&Value)) = match args.command {
        CtlCommand::Checks { tag, status } => {
            let mut path = "/api/v1/checks?".to_owned();
            if let Some(t) = tag {
                path.push_str(&format!("tag={}&", encode(&t)));
            }
            if let Some(s) = status {
                path.push_str(&format!("status={}&", encode(&s)));
            }
            (
                client.get(path.trim_end_matches(['?', '&'])).await?,
                print_checks,
            )
        }
        CtlCommand::Check { id } => (
            client
                .get(&format!("/api/v1/checks/{}", encode(&id)))
                .await?,
            print_pretty,
        ),
        CtlCommand::Run { id } => (
            client
                .post(&format!("/api/v1/checks/{}/run", encode(&id)), None)
                .await?,
            print_done,
        ),
        CtlCommand::Alarms { all, closed } => {
            let state = if all {
                "all"
            } else if closed {
                "closed"
            } else {
                "open"
            };
            (
                client.get(&format!("/api/v1/alarms?state={state}")).await?,
                print_alarms,
            )
        }
        CtlCommand::Alarm { id } => (
            client
                .get(&format!("/api/v1/alarms/{}", id.trim_start_matches('#')))
                .await?,
            print_alarm,
        ),
        CtlCommand::Ack {
            id,
            comment,
            expires,
            by,
        } => {
            let mut body = serde_json::json!({ "by": who(by) });
            if let Some(c) = comment {
                body["comment"] = c.into();
            }
            if let Some(e) = expires {
                body["expires"] = e.into();
            }
            (
                client
                    .post(
                        &format!("/api/v1/alarms/{}/ack", id.trim_start_matches('#')),
                        Some(&body),
                    )
                    .await?,
                print_alarm_line,
            )
        }
        CtlCommand::Unack(b) => post(&client, action("unack", b)).await?,
        CtlCommand::Close(b) => post(&client, action("close", b)).await?,
        CtlCommand::Reopen(b) => post(&client, action("reopen", b)).await?,
        CtlCommand::Suppress(b) => post(&client, action("suppress", b)).await?,
        CtlCommand::Unsuppress(b) => post(&client, action("unsuppress", b)).await?,
        CtlCommand::Maintenance(MaintenanceCommand::Add {
            id,
            all,
            checks,
            groups,
            tags,
            hosts,
            start,
            duration,
            end,
            note,
            by,
        }) => {
            let body = serde_json::json!({
                "id": id,
                "start": start,
                "end": end,
                "for": duration,
                "note": note,
                "by": who(by),
                "scope": { "all": all, "checks": checks, "groups": groups, "tags": tags, "hosts": hosts },
            });
            (
                client.post("/api/v1/maintenances", Some(&body)).await?,
                print_maintenance_added,
            )
        }
        CtlCommand::Maintenance(MaintenanceCommand::List) => (
            client.get("/api/v1/maintenances").await?,
            print_maintenances,
        ),
        CtlCommand::Maintenance(MaintenanceCommand::End { id }) => (
            client
                .post(&format!("/api/v1/maintenances/{}/end", encode(&id)), None)
                .await?,
            print_done,
        ),
        CtlCommand::Reload => (client.post("/api/v1/reload", None).await?, print_reload),
        CtlCommand::Outbox => (client.get("/api/v1/outbox").await?, print_outbox),
    };
    if json {
        println!("{}", serde_json::to_string_pretty(&doc)?);
    } else {
        show(&doc);
    }
    Ok(ExitCode::SUCCESS)
}

async fn post(
    client: &Client,
    (path, body): (String, Value),
) -> anyhow::Result<(Value, fn(&Value))> {
    Ok((client.post(&path, Some(&body)).await?, print_alarm_line))
}

fn encode(s: &str) -> String {
    let mut out = String::new();
    for b in s.bytes() {
        if b.is_ascii_alphanumeric() || matches!(b, b'-' | b'_' | b'.' | b'~') {
            out.push(b as char);
        } else {
            out.push_str(&format!("%{b:02X}"));
        }
    }
    out
}

// ---------------------------------------------------------------------------------------------
// Output.
// ---------------------------------------------------------------------------------------------

fn text(v: &Value) -> String {
    match v {
        Value::String(s) => s.clone(),
        Value::Null => String::new(),
        other => other.to_string(),
    }
}

fn time(ms: &Value) -> String {
    ms.as_i64()
        .and_then(|ms| jiff::Timestamp::from_millisecond(ms).ok())
        .map(|t| t.strftime("%Y-%m-%d %H:%M:%S").to_string())
        .unwrap_or_default()
}

fn print_pretty(v: &Value) {
    println!("{}", serde_json::to_string_pretty(v).unwrap_or_default());
}

fn print_done(_: &Value) {
    println!("ok");
}

fn print_checks(v: &Value) {
    println!("{:<28} {:<12} {:<22} MESSAGE", "ID", "KIND", "STATUS");
    for c in v["checks"].as_array().into_iter().flatten() {
        println!(
            "{:<28} {:<12} {:<22} {}",
            text(&c["id"]),
            text(&c["kind"]),
            text(&c["summary"]),
            text(&c["last_result"]["message"])
        );
    }
}

fn key_text(k: &Value) -> String {
    format!("{} {}", text(&k["kind"]), text(&k["id"]))
}

fn alarm_flags(a: &Value) -> String {
    let mut flags = vec![if a["closed_ms"].is_null() {
        "open"
    } else {
        "closed"
    }];
    if !a["ack"].is_null() {
        flags.push("acked");
    }
    if a["suppressed"].as_bool() == Some(true) {
        flags.push("suppressed");
    }
    let held = a["faults"]
        .as_object()
        .is_some_and(|f| f.values().any(|f| !f["hold"].is_null()));
    if held {
        flags.push("held");
    }
    flags.join(",")
}

fn print_alarms(v: &Value) {
    println!(
        "{:<6} {:<28} {:<20} {:<19} FAULTS",
        "ID", "KEY", "STATE", "OPENED"
    );
    for a in v["alarms"].as_array().into_iter().flatten() {
        let faults: Vec<String> = a["faults"]
            .as_object()
            .into_iter()
            .flatten()
            .map(|(check, f)| format!("{check}: {} {}", text(&f["status"]), text(&f["message"])))
            .collect();
        println!(
            "#{:<5} {:<28} {:<20} {:<19} {}",
            text(&a["id"]),
            key_text(&a["key"]),
            alarm_flags(a),
            time(&a["opened_ms"]),
            faults.join("; ")
        );
    }
}

fn print_alarm_line(a: &Value) {
    println!(
        "#{} {} {}",
        text(&a["id"]),
        key_text(&a["key"]),
        alarm_flags(a)
    );
}

fn print_alarm(v: &Value) {
    let a = &v["alarm"];
    print_alarm_line(a);
    for (check, f) in a["faults"].as_object().into_iter().flatten() {
        println!(
            "  fault {check}: {} since {}: {}",
            text(&f["status"]),
            time(&f["since_ms"]),
            text(&f["message"])
        );
    }
    println!("timeline:");
    for e in v["events"].as_array().into_iter().flatten() {
        let mut body = e["body"].clone();
        if let Some(o) = body.as_object_mut() {
            o.remove("at_ms");
            o.remove("event");
        }
        println!("  {} {:<18} {}", time(&e["at_ms"]), text(&e["kind"]), body);
    }
    let deliveries = v["deliveries"].as_array().map_or(0, Vec::len);
    if deliveries > 0 {
        println!("deliveries:");
        for d in v["deliveries"].as_array().into_iter().flatten() {
            println!(
                "  {:<20} {:<10} {:<9} attempts={} {}",
                text(&d["contact"]),
                text(&d["channel"]),
                text(&d["status"]),
                text(&d["attempts"]),
                text(&d["last_error"])
            );
        }
    }
}

fn print_maintenances(v: &Value) {
    println!(
        "{:<20} {:<6} {:<7} {:<26} {:<26} SCOPE",
        "ID", "SOURCE", "ACTIVE", "START", "END"
    );
    for m in v["maintenances"].as_array().into_iter().flatten() {
        let end = if m["end"].is_null() {
            text(&m["recurring"])
        } else {
            text(&m["end"])
        };
        println!(
            "{:<20} {:<6} {:<7} {:<26} {:<26} {}",
            text(&m["id"]),
            text(&m["source"]),
            if m["active"].as_bool() == Some(true) {
                "yes"
            } else {
                "no"
            },
            text(&m["start"]),
            end,
            m["scope"]
        );
    }
}

fn print_maintenance_added(m: &Value) {
    println!(
        "maintenance {} added, until {}",
        text(&m["id"]),
        text(&m["end"])
    );
}

fn print_reload(v: &Value) {
    println!(
        "reloaded: {} added, {} changed, {} removed, {} unchanged",
        text(&v["added"]),
        text(&v["changed"]),
        text(&v["removed"]),
        text(&v["unchanged"])
    );
    for e in v["errors"].as_array().into_iter().flatten() {
        println!("error: {}", text(e));
    }
}

fn print_outbox(v: &Value) {
    let c = &v["counts"];
    println!(
        "pending {}, delivered {}, dead {}",
        text(&c["pending"]),
        text(&c["delivered"]),
        text(&c["dead"])
    );
    for d in v["dead"].as_array().into_iter().flatten() {
        println!(
            "dead: alarm #{} to {} ({}) after {} attempts: {}",
            text(&d["alarm_id"]),
            text(&d["contact"]),
            text(&d["channel"]),
            text(&d["attempts"]),
            text(&d["last_error"])
        );
    }
}

// ---------------------------------------------------------------------------------------------
// The HTTP client.
// ---------------------------------------------------------------------------------------------

struct Client {
    host: String,
    port: u16,
    authority: String,
    base: String,
    token: Option<String>,
}

impl Client {
    fn new(server: &str, token: Option<String>) -> anyhow::Result<Self> {
        let uri: http::Uri = server
            .parse()
            .with_context(|| format!("--server {server:?} is not a URL"))?;
        if uri.scheme_str() != Some("http") {
            bail!("--server {server:?}: only http:// is supported (tunnel or proxy for TLS)");
        }
        let auth = uri
            .authority()
            .with_context(|| format!("--server {server:?} has no host"))?;
        Ok(Self {
            host: auth.host().trim_matches(['[', ']']).to_owned(),
            port: auth.port_u16().unwrap_or(80),
            authority: auth.as_str().to_owned(),
            base: uri.path().trim_end_matches('/').to_owned(),
            token: token.filter(|t| !t.is_empty()),
        })
    }

    async fn get(&self, path: &str) -> anyhow::Result<Value> {
        self.call(Method::GET, path, None).await
    }

    async fn post(&self, path: &str, body: Option<&Value>) -> anyhow::Result<Value> {
        self.call(Method::POST, path, body).await
    }

    async fn call(
        &self,
        method: Method,
        path: &str,
        body: Option<&Value>,
    ) -> anyhow::Result<Value> {
        let target = format!("http://{}{}{path}", self.authority, self.base);
        let tcp = tokio::net::TcpStream::connect((self.host.as_str(), self.port))
            .await
            .with_context(|| format!("cannot reach the server at {}", self.authority))?;
        let (mut sender, conn) = hyper::client::conn::http1::handshake(TokioIo::new(tcp))
            .await
            .context("HTTP handshake")?;
        let conn = tokio::spawn(conn);
        let bytes = body.map_or_else(Bytes::new, |b| Bytes::from(b.to_string()));
        let mut req = Request::builder()
            .method(method)
            .uri(format!("{}{path}", self.base))
            .header(header::HOST, &self.authority)
            .header(
                header::USER_AGENT,
                concat!("tocsin-ctl/", env!("CARGO_PKG_VERSION")),
            );
        if body.is_some() {
            req = req.header(header::CONTENT_TYPE, "application/json");
        }
        if let Some(t) = &self.token {
            req = req.header(header::AUTHORIZATION, format!("Bearer {t}"));
        }
        let resp = sender
            .send_request(req.body(Full::new(bytes))?)
            .await
            .with_context(|| target.clone())?;
        let status = resp.status();
        let body = resp.into_body().collect().await?.to_bytes();
        conn.abort();
        let doc: Value = if body.is_empty() {
            Value::Null
        } else {
            serde_json::from_slice(&body)
                .unwrap_or_else(|_| Value::String(String::from_utf8_lossy(&body).into_owned()))
        };
        if !status.is_success() {
            let message = doc["message"]
                .as_str()
                .map_or_else(|| text(&doc), str::to_owned);
            let hint = if status == http::StatusCode::UNAUTHORIZED && self.token.is_none() {
                " (set --token or TOCSIN_TOKEN; create one with `tocsin token create`)"
            } else {
                ""
            };
            bail!(
                "{} {}: {message}{hint}",
                status.as_u16(),
                status.canonical_reason().unwrap_or("")
            );
        }
        Ok(doc)
    }
}
