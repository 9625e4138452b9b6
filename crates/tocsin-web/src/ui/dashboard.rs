//! The dashboard (`GET /`): every check the session's token sees, with its status (in words
//! and in colour), since when, its last message, a latency sparkline and its 24-hour and
//! 30-day uptime; counts by status on top; sorting by any column and filtering by tag, status
//! and text, all in the URL (`?sort=…&order=…&tag=…&status=…&q=…`), so it works without
//! JavaScript. `/assets/app.js` updates rows and counts live.
//!
//! Rendering reads memory only (the check table and the precomputed summaries);
//! `tocsin-bench dashboard` measures it.

use std::collections::{BTreeSet, HashMap};
use std::sync::{Arc, Mutex, PoisonError, Weak};

use askama::Template;
use axum::extract::{Query, State};
use axum::response::Html;
use serde::Deserialize;
use tocsin_core::CheckSpec;

use super::error::UiError;
use super::guard::Viewer;
use super::{Chrome, Done, fmt};
use crate::AppState;
use crate::auth::Caller;
use crate::summary::{CheckSummary, SummaryMap};
use crate::svg;

/// The dashboard's query string. Unknown or empty values mean "the default".
#[derive(Clone, Debug, Default, Deserialize)]
pub(crate) struct DashboardQuery {
    /// The column to sort by: `name`, `status` (the default, worst first), `since`,
    /// `uptime_24h`, `uptime_30d` or `latency`.
    #[serde(default)]
    pub sort: Option<String>,
    /// `asc` or `desc` (default: the column's natural order, worst or newest first).
    #[serde(default)]
    pub order: Option<String>,
    /// Only checks with this tag.
    #[serde(default)]
    pub tag: Option<String>,
    /// Only checks with this status: `ok`, `warning`, `critical`, `unknown` or `pending`.
    #[serde(default)]
    pub status: Option<String>,
    /// Only checks whose id, name or host contains this text (any case).
    #[serde(default)]
    pub q: Option<String>,
}

/// The dashboard's columns that sort.
#[derive(Clone, Copy, Debug, PartialEq, Eq)]
enum Sort {
    Status,
    Name,
    Since,
    Latency,
    Uptime24h,
    Uptime30d,
}

impl Sort {
    const ALL: [Self; 6] = [
        Self::Status,
        Self::Name,
        Self::Since,
        Self::Latency,
        Self::Uptime24h,
        Self::Uptime30d,
    ];

    fn key(self) -> &'static str {
        match self {
            Self::Status => "status",
            Self::Name => "name",
            Self::Since => "since",
            Self::Latency => "latency",
            Self::Uptime24h => "uptime_24h",
            Self::Uptime30d => "uptime_30d",
        }
    }

    fn parse(s: &str) -> Option<Self> {
        Self::ALL.into_iter().find(|c| c.key() == s)
    }

    /// Whether the column's first click sorts descending: worst status, latest change and
    /// slowest first; names and uptimes (worst first) ascending.
    fn desc_first(self) -> bool {
        matches!(self, Self::Status | Self::Since | Self::Latency)
    }
}

/// The statuses a row can show, in the order of the counts.
const STATUSES: [&str; 5] = ["critical", "unknown", "warning", "ok", "pending"];

/// One check as the dashboard shows it.
struct Row<'a> {
    id: &'a str,
    name: &'a str,
    tags: &'a [String],
    /// `ok`, `warning`, `critical`, `unknown` or `pending`.
    status: &'static str,
    /// `critical (soft)`, `ok (recovering)`, `pending`, …
    summary: String,
    /// When the status last changed (0: pending).
    since_ms: i64,
    message: String,
    /// The latest result's total time.
    latency_us: Option<u64>,
    summary_of: Option<&'a CheckSummary>,
    /// The latency sparkline, if there is data.
    spark: Option<Arc<str>>,
    now: i64,
}

impl Row<'_> {
    /// Sort rank of the status: pending, ok, warning, unknown, critical.
    fn rank(&self) -> u8 {
        match self.status {
            "pending" => 0,
            "ok" => 1,
            "warning" => 2,
            "unknown" => 3,
            _ => 4,
        }
    }

    fn up24(&self) -> Option<f64> {
        self.summary_of.and_then(|s| s.uptime_24h)
    }

    fn up30(&self) -> Option<f64> {
        self.summary_of.and_then(|s| s.uptime_30d)
    }

    fn since_iso(&self) -> String {
        fmt::iso(self.since_ms)
    }

    fn since_full(&self) -> String {
        fmt::when(self.since_ms)
    }

    fn since_text(&self) -> String {
        fmt::ago(self.since_ms, self.now)
    }

    fn latency(&self) -> String {
        self.latency_us.map(fmt::latency_us).unwrap_or_default()
    }

    fn up24_text(&self) -> String {
        fmt::uptime(self.up24())
    }

    fn up30_text(&self) -> String {
        fmt::uptime(self.up30())
    }

    fn up24_class(&self) -> &'static str {
        svg::uptime_class(self.up24())
    }

    fn up30_class(&self) -> &'static str {
        svg::uptime_class(self.up30())
    }
}

/// A count on top: `3 critical`, a link that filters by that status.
struct Count {
    status: &'static str,
    count: usize,
    href: String,
}

/// A column header.
struct Header {
    label: &'static str,
    class: &'static str,
    /// The link that sorts by this column (`None`: it does not sort).
    href: Option<String>,
    /// `ascending`/`descending` on the current sort column.
    aria_sort: Option<&'static str>,
    /// `▲`/`▼` on the current sort column.
    arrow: &'static str,
}

/// An option of a filter's `<select>`.
struct Opt {
    value: String,
    selected: bool,
}

#[derive(Template)]
#[template(path = "ui/dashboard.html")]
struct DashboardPage<'a> {
    c: Chrome,
    counts: Vec<Count>,
    total: usize,
    rows: Vec<Row<'a>>,
    tags: Vec<Opt>,
    statuses: Vec<Opt>,
    q: &'a str,
    sort: &'static str,
    order: &'static str,
    filtered: bool,
    sorted_by: String,
    headers: Vec<Header>,
}

/// The query's value, if given (blank is not given).
fn given(v: Option<&String>) -> Option<&str> {
    v.map(|s| s.trim()).filter(|s| !s.is_empty())
}

/// The state of one check as a row, read under its lock without copying its history.
fn row<'a>(spec: &'a CheckSpec, entry: &tocsin_engine::CheckEntry, now: i64) -> Row<'a> {
    let rt = entry.runtime();
    let pending = rt.state.is_pending();
    Row {
        id: spec.id.as_str(),
        name: &spec.name,
        tags: &spec.tags,
        status: if pending {
            "pending"
        } else {
            rt.state.status.as_str()
        },
        summary: rt.state.describe(),
        since_ms: if pending { 0 } else { rt.state.since_ms },
        message: rt
            .last
            .as_ref()
            .map(|r| r.message.clone())
            .unwrap_or_default(),
        latency_us: rt.last.as_ref().map(|r| r.timings.total_us),
        summary_of: None,
        spark: None,
        now,
    }
}

/// The sparklines drawn for one summaries map. Summaries are replaced whole every minute and
/// never change in between, so each check's sparkline is drawn once per map, not once per
/// page view: a dashboard of 10,000 checks then mostly copies them.
struct SparkCache {
    of: Weak<SummaryMap>,
    svgs: HashMap<String, Arc<str>>,
}

static SPARKS: Mutex<Option<SparkCache>> = Mutex::new(None);

/// The cache, locked for one render, for the map `summaries`.
struct Sparks(std::sync::MutexGuard<'static, Option<SparkCache>>);

impl Sparks {
    fn of(summaries: &Arc<SummaryMap>) -> Self {
        let mut guard = SPARKS.lock().unwrap_or_else(PoisonError::into_inner);
        // A `Weak` keeps the map's allocation, so its address cannot be reused while held.
        if guard
            .as_ref()
            .is_none_or(|c| !std::ptr::eq(c.of.as_ptr(), Arc::as_ptr(summaries)))
        {
            *guard = Some(SparkCache {
                of: Arc::downgrade(summaries),
                svgs: HashMap::new(),
            });
        }
        Self(guard)
    }

    /// The sparkline of check `id`, if it has data.
    fn get(&mut self, id: &str, sum: &CheckSummary) -> Option<Arc<str>> {
        if !sum.spark.iter().any(Option::is_some) {
            return None;
        }
        let cache = self.0.as_mut()?;
        if let Some(s) = cache.svgs.get(id) {
            return Some(s.clone());
        }
        let svg: Arc<str> = Arc::from(svg::sparkline(
            &sum.spark,
            96,
            20,
            "median latency, last 24 hours",
        ));
        cache.svgs.insert(id.to_owned(), svg.clone());
        Some(svg)
    }
}

fn render(
    app: &AppState,
    caller: &Caller,
    query: &DashboardQuery,
    mut c: Chrome,
    now: i64,
) -> Result<String, askama::Error> {
    c.live = "dashboard";
    let table = app.engine.table();
    let summaries = app.summaries.get();
    let mut sparks = Sparks::of(&summaries);
    let sort = given(query.sort.as_ref())
        .and_then(Sort::parse)
        .unwrap_or(Sort::Status);
    let desc = match given(query.order.as_ref()) {
        Some("asc") => false,
        Some("desc") => true,
        _ => sort.desc_first(),
    };
    let tag = given(query.tag.as_ref());
    let status = given(query.status.as_ref()).filter(|s| STATUSES.contains(s));
    let q = given(query.q.as_ref()).unwrap_or("");
    let q_lower = q.to_lowercase();

    let mut all_tags: BTreeSet<&str> = BTreeSet::new();
    let mut total = 0;
    let mut rows: Vec<Row<'_>> = Vec::new();
    for entry in table.values() {
        let spec = &*entry.spec;
        if !caller.sees(&spec.tenant) {
            continue;
        }
        total += 1;
        all_tags.extend(spec.tags.iter().map(String::as_str));
        if tag.is_some_and(|t| !spec.tags.iter().any(|x| x == t)) {
            continue;
        }
        let matches = spec.id.as_str().contains(&q_lower)
            || spec.name.to_lowercase().contains(&q_lower)
            || spec
                .host
                .as_ref()
                .is_some_and(|h| h.to_lowercase().contains(&q_lower));
        if !q_lower.is_empty() && !matches {
            continue;
        }
        let mut r = row(spec, entry, now);
        if status.is_some_and(|s| s != r.status) {
            continue;
        }
        r.summary_of = summaries.get(spec.id.as_str());
        if let Some(sum) = r.summary_of {
            r.spark = sparks.get(spec.id.as_str(), sum);
        }
        rows.push(r);
    }
    drop(sparks);
    sort_rows(&mut rows, sort, desc);

    let filter_query = |status: Option<&str>| {
        let mut s = String::new();
        for (k, v) in [("tag", tag), ("status", status), ("q", Some(q))] {
            if let Some(v) = v.filter(|v| !v.is_empty()) {
                s.push('&');
                s.push_str(k);
                s.push('=');
                s.push_str(&fmt::enc(v));
            }
        }
        s
    };
    let filters = filter_query(status);
    let counts = STATUSES
        .iter()
        .map(|&s| Count {
            status: s,
            count: rows.iter().filter(|r| r.status == s).count(),
            href: format!(
                "/?sort={}&order={}{}",
                sort.key(),
                if desc { "desc" } else { "asc" },
                filter_query(Some(s))
            ),
        })
        .collect();
    let headers = headers(sort, desc, &filters);
    let order = if desc { "desc" } else { "asc" };
    let sorted_by = format!(
        "sorted by {}, {}",
        headers
            .iter()
            .find(|h| h.aria_sort.is_some())
            .map_or("status", |h| h.label)
            .to_lowercase(),
        if desc { "descending" } else { "ascending" }
    );
    let page = DashboardPage {
        c,
        counts,
        total,
        tags: all_tags
            .into_iter()
            .map(|t| Opt {
                value: t.to_owned(),
                selected: Some(t) == tag,
            })
            .collect(),
        statuses: STATUSES
            .iter()
            .map(|&s| Opt {
                value: s.to_owned(),
                selected: Some(s) == status,
            })
            .collect(),
        q,
        sort: sort.key(),
        order,
        filtered: tag.is_some() || status.is_some() || !q.is_empty(),
        sorted_by,
        headers,
        rows,
    };
    let html = page.render()?;
    Ok(html)
}

/// Sorts rows by a column, ties broken by name then id (stable, so equal rows keep the
/// table's id order).
fn sort_rows(rows: &mut [Row<'_>], sort: Sort, desc: bool) {
    use std::cmp::Ordering;
    // Missing values (no data) sort last whatever the order.
    fn opt<T: PartialOrd>(a: Option<T>, b: Option<T>, desc: bool) -> Ordering {
        match (a, b) {
            (Some(x), Some(y)) => {
                let o = x.partial_cmp(&y).unwrap_or(Ordering::Equal);
                if desc { o.reverse() } else { o }
            }
            (Some(_), None) => Ordering::Less,
            (None, Some(_)) => Ordering::Greater,
            (None, None) => Ordering::Equal,
        }
    }
    let flip = |o: Ordering| if desc { o.reverse() } else { o };
    rows.sort_by(|a, b| {
        let primary = match sort {
            Sort::Name => Ordering::Equal,
            Sort::Status => flip(a.rank().cmp(&b.rank())),
            Sort::Since => opt(
                (a.since_ms > 0).then_some(a.since_ms),
                (b.since_ms > 0).then_some(b.since_ms),
                desc,
            ),
            Sort::Latency => opt(a.latency_us, b.latency_us, desc),
            Sort::Uptime24h => opt(a.up24(), b.up24(), desc),
            Sort::Uptime30d => opt(a.up30(), b.up30(), desc),
        };
        let by_name = || {
            // Names in any case, without allocating.
            let o = a
                .name
                .bytes()
                .map(|c| c.to_ascii_lowercase())
                .cmp(b.name.bytes().map(|c| c.to_ascii_lowercase()))
                .then_with(|| a.id.cmp(b.id));
            if sort == Sort::Name { flip(o) } else { o }
        };
        primary.then_with(by_name)
    });
}

/// The column headers, with their sort links (keeping the filters).
fn headers(sort: Sort, desc: bool, filters: &str) -> Vec<Header> {
    let col = |label: &'static str, class: &'static str, s: Option<Sort>| {
        let current = s == Some(sort);
        Header {
            label,
            class,
            href: s.map(|s| {
                let d = if current { !desc } else { s.desc_first() };
                format!(
                    "/?sort={}&order={}{filters}",
                    s.key(),
                    if d { "desc" } else { "asc" }
                )
            }),
            aria_sort: current.then_some(if desc { "descending" } else { "ascending" }),
            arrow: match (current, desc) {
                (false, _) => "",
                (true, true) => " ▼",
                (true, false) => " ▲",
            },
        }
    };
    vec![
        col("Status", "c-status", Some(Sort::Status)),
        col("Check", "c-name", Some(Sort::Name)),
        col("Since", "c-since", Some(Sort::Since)),
        col("Last message", "c-msg", None),
        col("Latency", "c-lat", Some(Sort::Latency)),
        col("Uptime 24 h", "c-up", Some(Sort::Uptime24h)),
        col("Uptime 30 d", "c-up c-30d", Some(Sort::Uptime30d)),
    ]
}

/// `GET /`.
pub(crate) async fn page(
    State(app): State<AppState>,
    viewer: Viewer,
    Query(query): Query<DashboardQuery>,
    Query(done): Query<Done>,
) -> Result<Html<String>, UiError> {
    let c = Chrome::new(&viewer, "Checks", "dashboard").done(&done);
    // Thousands of rows: render off the async workers.
    let html = tokio::task::spawn_blocking(move || {
        render(&app, &viewer.caller, &query, c, tocsin_engine::now_ms())
    })
    .await
    .map_err(UiError::internal)??;
    Ok(Html(html))
}
