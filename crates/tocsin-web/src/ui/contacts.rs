//! The contacts page (`GET /contacts`): who is told about alarms, by id, name and kind only.
//! Addresses, URLs, settings and secrets never reach the page.
//!
//! Contacts and contact groups come from the operator's files: the operator's tokens see
//! them; a tenant's token sees none.

use askama::Template;
use axum::extract::State;
use axum::response::Html;

use super::Chrome;
use super::error::UiError;
use super::guard::Viewer;
use crate::AppState;

/// A contact as the page shows it: nothing that could be a secret.
struct ContactView {
    id: String,
    name: String,
    kind: &'static str,
}

/// A contact group: its id, name and members' ids.
struct GroupView {
    id: String,
    name: String,
    members: String,
}

#[derive(Template)]
#[template(path = "ui/contacts.html")]
struct ContactsPage {
    c: Chrome,
    contacts: Vec<ContactView>,
    groups: Vec<GroupView>,
    shown: bool,
}

/// `GET /contacts`.
pub(crate) async fn page(
    State(app): State<AppState>,
    viewer: Viewer,
) -> Result<Html<String>, UiError> {
    let shown = viewer.caller.sees("");
    let catalog = app.engine.catalog();
    let (contacts, groups) = if shown {
        (
            catalog
                .contacts
                .iter()
                .map(|c| ContactView {
                    id: c.id.clone(),
                    name: c.name.clone(),
                    kind: c.kind.as_str(),
                })
                .collect(),
            catalog
                .contact_groups
                .iter()
                .map(|g| GroupView {
                    id: g.id.clone(),
                    name: g.name.clone(),
                    members: g.contacts.join(", "),
                })
                .collect(),
        )
    } else {
        (Vec::new(), Vec::new())
    };
    let page = ContactsPage {
        c: Chrome::new(&viewer, "Contacts", "contacts"),
        contacts,
        groups,
        shown,
    };
    Ok(Html(page.render()?))
}
