//! Atom and RSS feeds of status changes, per tenant and per check. As SlapOS's feed, a new item
//! appears only when a check's status changes: the store's hard state changes whose status
//! differs (not soft failures, not every result), newest first, at most [`MAX_ITEMS`].
//!
//! Item ids are stable URNs built from the check id and the time of the change
//! (`urn:tocsin:change:shop:1777644187000`), so readers never see an item twice.

use std::sync::Arc;

use atom_syndication as atom;
use axum::response::Response;
use tocsin_engine::{CheckEntry, now_ms};
use tocsin_store::{StateChange, Store, StoreError};

use super::format::{self, Level};
use super::{Links, public_check, respond};
use crate::{ApiError, AppState};

/// Items in a feed at most.
pub(crate) const MAX_ITEMS: usize = 50;

/// State changes read per check to find its status changes (soft ones are skipped).
const SCAN: u32 = 1000;

/// Feed formats.
#[derive(Clone, Copy, Debug, PartialEq, Eq)]
pub(crate) enum Kind {
    /// Atom (RFC 4287), `application/atom+xml`.
    Atom,
    /// RSS 2.0, `application/rss+xml`.
    Rss,
}

impl Kind {
    fn ext(self) -> &'static str {
        match self {
            Self::Atom => "atom",
            Self::Rss => "rss",
        }
    }

    fn content_type(self) -> &'static str {
        match self {
            Self::Atom => "application/atom+xml; charset=utf-8",
            Self::Rss => "application/rss+xml; charset=utf-8",
        }
    }
}

/// What a feed is about.
struct Head {
    /// Feed id (Atom) when no public URL makes one.
    urn: String,
    title: String,
    description: String,
    /// The page the feed follows.
    page: String,
    /// The feed itself.
    this: String,
}

/// One status change, ready to write.
#[derive(Debug, PartialEq)]
struct Item {
    id: String,
    title: String,
    summary: String,
    link: String,
    at_ms: i64,
    status: &'static str,
}

/// Whether a recorded state change is a change of status, worth an item.
pub(crate) fn is_status_change(c: &StateChange) -> bool {
    c.from != c.to && (c.hard || c.kind == "recovered")
}

/// The feed of a tenant's public `checks`.
pub(crate) async fn tenant(
    app: &AppState,
    tenant: &str,
    checks: &[Arc<CheckEntry>],
    kind: Kind,
) -> Result<Response, ApiError> {
    let links = Links::of(app);
    let name = if tenant.is_empty() {
        "Status".to_owned()
    } else {
        format!("{tenant} status")
    };
    let head = Head {
        urn: if tenant.is_empty() {
            "urn:tocsin:status".to_owned()
        } else {
            format!("urn:tocsin:status:{tenant}")
        },
        description: if tenant.is_empty() {
            "Status changes of the public services".to_owned()
        } else {
            format!("Status changes of the public services of {tenant}")
        },
        title: name,
        page: links.status_page(tenant),
        this: links.at(&Links::feed_path(tenant, kind.ext())),
    };
    let changes = changes(app.engine.store(), checks)
        .await
        .map_err(ApiError::internal)?;
    write(&head, &items(&links, &changes), kind)
}

/// The feed of one public check.
pub(crate) async fn check(app: &AppState, id: &str, kind: Kind) -> Result<Response, ApiError> {
    let e = public_check(&app.engine, id)?;
    let links = Links::of(app);
    let head = Head {
        urn: format!("urn:tocsin:check:{id}"),
        title: format!("{} status", e.spec.name),
        description: format!("Status changes of {}", e.spec.name),
        page: links.check_on_page(&e),
        this: links.check_feed(id, kind.ext()),
    };
    let checks = [e];
    let changes = changes(app.engine.store(), &checks)
        .await
        .map_err(ApiError::internal)?;
    write(&head, &items(&links, &changes), kind)
}

/// The latest status changes of `checks`, newest first, at most [`MAX_ITEMS`].
async fn changes(
    store: &Store,
    checks: &[Arc<CheckEntry>],
) -> Result<Vec<(Arc<CheckEntry>, StateChange)>, StoreError> {
    let mut all = Vec::new();
    for e in checks {
        let rows = store.state_changes(e.id().as_str(), SCAN).await?;
        all.extend(
            rows.into_iter()
                .filter(is_status_change)
                .take(MAX_ITEMS)
                .map(|c| (e.clone(), c)),
        );
    }
    all.sort_by(|(_, a), (_, b)| b.at_ms.cmp(&a.at_ms).then_with(|| a.check.cmp(&b.check)));
    all.truncate(MAX_ITEMS);
    Ok(all)
}

fn items(links: &Links, changes: &[(Arc<CheckEntry>, StateChange)]) -> Vec<Item> {
    changes
        .iter()
        .map(|(e, c)| Item {
            id: format!("urn:tocsin:change:{}:{}", c.check, c.at_ms),
            title: format!("{} is {}", e.spec.name, c.to.as_str().to_uppercase()),
            summary: if c.message.is_empty() {
                Level::of_status(c.to).words().to_owned()
            } else {
                c.message.clone()
            },
            link: links.check_on_page(e),
            at_ms: c.at_ms,
            status: c.to.as_str(),
        })
        .collect()
}

fn write(head: &Head, items: &[Item], kind: Kind) -> Result<Response, ApiError> {
    let updated = items.first().map_or_else(now_ms, |i| i.at_ms);
    let body = match kind {
        Kind::Atom => atom_feed(head, items, updated)?,
        Kind::Rss => rss_channel(head, items, updated)?,
    };
    Ok(respond(kind.content_type(), 60, body))
}

fn atom_time(ms: i64) -> Result<atom::FixedDateTime, ApiError> {
    format::rfc3339(ms)
        .parse::<atom::FixedDateTime>()
        .map_err(ApiError::internal)
}

fn atom_link(href: &str, rel: &str, mime_type: Option<&str>) -> atom::Link {
    atom::Link {
        href: href.to_owned(),
        rel: rel.to_owned(),
        mime_type: mime_type.map(str::to_owned),
        ..atom::Link::default()
    }
}

fn atom_feed(head: &Head, items: &[Item], updated: i64) -> Result<String, ApiError> {
    let mut entries = Vec::with_capacity(items.len());
    for i in items {
        let at = atom_time(i.at_ms)?;
        entries.push(atom::Entry {
            title: atom::Text::plain(i.title.as_str()),
            id: i.id.clone(),
            updated: at,
            published: Some(at),
            summary: Some(atom::Text::plain(i.summary.as_str())),
            links: vec![atom_link(&i.link, "alternate", Some("text/html"))],
            categories: vec![atom::Category {
                term: i.status.to_owned(),
                ..atom::Category::default()
            }],
            ..atom::Entry::default()
        });
    }
    let feed = atom::Feed {
        title: atom::Text::plain(head.title.as_str()),
        id: head.urn.clone(),
        updated: atom_time(updated)?,
        subtitle: Some(atom::Text::plain(head.description.as_str())),
        authors: vec![atom::Person {
            name: "Tocsin".to_owned(),
            ..atom::Person::default()
        }],
        generator: Some(atom::Generator {
            value: "Tocsin".to_owned(),
            version: Some(env!("CARGO_PKG_VERSION").to_owned()),
            ..atom::Generator::default()
        }),
        links: vec![
            atom_link(&head.this, "self", Some("application/atom+xml")),
            atom_link(&head.page, "alternate", Some("text/html")),
        ],
        entries,
        ..atom::Feed::default()
    };
    let bytes = feed.write_to(Vec::new()).map_err(ApiError::internal)?;
    String::from_utf8(bytes).map_err(ApiError::internal)
}

fn rss_channel(head: &Head, items: &[Item], updated: i64) -> Result<String, ApiError> {
    let items = items
        .iter()
        .map(|i| rss::Item {
            title: Some(i.title.clone()),
            link: Some(i.link.clone()),
            description: Some(i.summary.clone()),
            guid: Some(rss::Guid {
                value: i.id.clone(),
                permalink: false,
            }),
            pub_date: Some(format::rfc2822(i.at_ms)),
            categories: vec![rss::Category {
                name: i.status.to_owned(),
                domain: None,
            }],
            ..rss::Item::default()
        })
        .collect();
    let channel = rss::Channel {
        title: head.title.clone(),
        link: head.page.clone(),
        description: head.description.clone(),
        last_build_date: Some(format::rfc2822(updated)),
        generator: Some("Tocsin".to_owned()),
        ttl: Some("1".to_owned()),
        items,
        ..rss::Channel::default()
    };
    let bytes = channel.write_to(Vec::new()).map_err(ApiError::internal)?;
    String::from_utf8(bytes).map_err(ApiError::internal)
}

#[cfg(test)]
mod tests {
    use super::*;
    use tocsin_core::Status;

    fn change(from: Status, to: Status, hard: bool, kind: &str) -> StateChange {
        StateChange {
            check: "shop".into(),
            at_ms: 1_777_644_187_000,
            from,
            to,
            hard,
            kind: kind.into(),
            message: "HTTP 500 <oops> & more".into(),
        }
    }

    #[test]
    fn only_status_changes_make_items() {
        use Status::*;
        assert!(is_status_change(&change(Ok, Critical, true, "hard")));
        assert!(is_status_change(&change(Critical, Ok, false, "recovered")));
        assert!(!is_status_change(&change(Ok, Critical, false, "soft")));
        assert!(!is_status_change(&change(Critical, Critical, true, "hard")));
        assert!(!is_status_change(&change(Ok, Ok, false, "soft_recovered")));
    }

    fn sample() -> (Head, Vec<Item>) {
        let head = Head {
            urn: "urn:tocsin:status".into(),
            title: "Status".into(),
            description: "Status changes".into(),
            page: "https://t.example/status".into(),
            this: "https://t.example/status/feed.atom".into(),
        };
        let item = Item {
            id: "urn:tocsin:change:shop:1777644187000".into(),
            title: "Shop is CRITICAL".into(),
            summary: "HTTP 500 <oops> & more".into(),
            link: "https://t.example/status#check-shop".into(),
            at_ms: 1_777_644_187_000,
            status: "critical",
        };
        (head, vec![item])
    }

    #[test]
    fn atom_round_trips_and_escapes() {
        let (head, items) = sample();
        let xml = atom_feed(&head, &items, items[0].at_ms).unwrap();
        assert!(xml.contains("&lt;oops&gt; &amp; more"), "{xml}");
        let feed = atom::Feed::read_from(xml.as_bytes()).unwrap();
        assert_eq!(feed.entries.len(), 1);
        let e = &feed.entries[0];
        assert_eq!(e.id, "urn:tocsin:change:shop:1777644187000");
        assert_eq!(e.title.as_str(), "Shop is CRITICAL");
        assert_eq!(
            e.summary.as_ref().unwrap().as_str(),
            "HTTP 500 <oops> & more"
        );
        assert_eq!(e.updated.to_rfc3339(), "2026-05-01T14:03:07+00:00");
    }

    #[test]
    fn rss_round_trips() {
        let (head, items) = sample();
        let xml = rss_channel(&head, &items, items[0].at_ms).unwrap();
        let ch = rss::Channel::read_from(xml.as_bytes()).unwrap();
        assert_eq!(ch.items.len(), 1);
        let i = &ch.items[0];
        assert_eq!(i.guid.as_ref().unwrap().value, items[0].id);
        assert!(!i.guid.as_ref().unwrap().permalink);
        assert_eq!(
            i.pub_date.as_deref(),
            Some("Fri, 01 May 2026 14:03:07 +0000")
        );
        assert_eq!(i.description.as_deref(), Some("HTTP 500 <oops> & more"));
    }
}
