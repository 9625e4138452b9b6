//! Loading the configuration directory: every `*.yml`/`*.yaml` under it (nested folders too),
//! `${VAR}` / `${VAR:-default}` interpolation, strict parsing with file:line:column errors, and
//! validation that reports every error it can find, not only the first.
//!
//! A file is parsed and validated on its own ([`parse_file`]); [`ConfigSet`] keeps the last good
//! version of each file, so a broken edit never takes checks away, and checks what spans files
//! (duplicate ids, references between groups, checks, contacts and maintenances) on every
//! reload. [`ConfigSet::catalog`] assembles what the engine runs.

use std::cell::OnceCell;
use std::collections::{BTreeMap, BTreeSet, HashMap, HashSet};
use std::fmt;
use std::path::{Path, PathBuf};
use std::sync::Arc;
use std::time::Duration;

use jiff::Timestamp;
use serde::{Deserialize, Serialize};

use crate::assert::{FieldError, HttpAssertions, TcpAssertions};
use crate::check::TcpSpec;
use crate::check::{AlertDef, CheckDef, CheckId, Defaults, HttpSpec, Origin, ProbeSpec, Spanned};
use crate::directory::{
    Contact, ContactDef, ContactGroup, ContactGroupDef, Group, GroupDef, Maintenance,
    MaintenanceDef, MaintenanceScope, MaintenanceWindow, RateLimit, RecurringDef, SelfDef,
    WindowEnd,
};
use crate::schedule::{Schedule, ScheduleError};
use crate::{CheckSpec, Dur};

/// Interval of a check when neither it nor its file's `defaults` say otherwise.
pub const DEFAULT_EVERY: Duration = Duration::from_secs(60);
/// Timeout of a check when neither it nor its file's `defaults` say otherwise (capped at the
/// check's interval).
pub const DEFAULT_TIMEOUT: Duration = Duration::from_secs(10);
/// The shortest interval accepted.
pub const MIN_INTERVAL: Duration = Duration::from_secs(1);
/// The shortest `alert.renotify` accepted.
pub const MIN_RENOTIFY: Duration = Duration::from_secs(60);
/// Files larger than this are refused.
pub const MAX_FILE_SIZE: u64 = 16 << 20;

/// One configuration error, with its place: `conf.d/web.yml:12:5: checks[0].timout: …`.
#[derive(Clone, Debug, PartialEq, Eq, Serialize)]
pub struct ConfigError {
    /// File, relative to the configuration directory.
    pub file: String,
    /// 1-based line (0 if the error concerns the whole file).
    pub line: u64,
    /// 1-based column.
    pub column: u64,
    /// The field concerned, when known (`checks[2].http.url`).
    pub field: Option<String>,
    /// What is wrong and what was expected.
    pub message: String,
}

impl fmt::Display for ConfigError {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        write!(f, "{}:{}:{}: ", self.file, self.line, self.column)?;
        if let Some(field) = &self.field {
            write!(f, "{field}: ")?;
        }
        f.write_str(&self.message)
    }
}

impl std::error::Error for ConfigError {}

impl ConfigError {
    /// An error about a whole file (it cannot be read, …): line and column 0.
    pub fn whole_file(file: impl Into<String>, message: impl Into<String>) -> Self {
        Self {
            file: file.into(),
            line: 0,
            column: 0,
            field: None,
            message: message.into(),
        }
    }

    fn sort_key(&self) -> (&str, u64, u64, &str) {
        (&self.file, self.line, self.column, &self.message)
    }
}

/// What an id names, in a [`Reference`].
#[derive(Clone, Copy, Debug, PartialEq, Eq, Hash)]
pub enum RefKind {
    /// A check.
    Check,
    /// A contact or a contact group (where contacts are notified).
    Contact,
    /// A contact, not a group of them (a contact group's members).
    ContactMember,
    /// A group.
    Group,
}

impl fmt::Display for RefKind {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        f.write_str(match self {
            Self::Check => "check",
            Self::Contact | Self::ContactMember => "contact",
            Self::Group => "group",
        })
    }
}

/// An id a file refers to (a group's checks, a maintenance's scope…), checked against every
/// file on each reload.
#[derive(Clone, Debug, PartialEq, Eq)]
pub struct Reference {
    /// What the id names.
    pub kind: RefKind,
    /// The id.
    pub id: String,
    /// Where in the file: `groups[0].checks[1]`.
    pub field: String,
    /// Where it was written.
    pub origin: Origin,
}

/// What one file holds once parsed and validated on its own.
#[derive(Clone, Debug, Default)]
pub struct ParsedFile {
    /// Its checks, defaults applied, in file order.
    pub checks: Vec<Arc<CheckSpec>>,
    /// Its contacts, in file order.
    pub contacts: Vec<Arc<Contact>>,
    /// Its contact groups, in file order (references not yet checked).
    pub contact_groups: Vec<Arc<ContactGroup>>,
    /// Its `self:` section: who hears of Tocsin's own trouble.
    pub self_notify: Option<(Vec<String>, Origin)>,
    /// Its groups, in file order (references not yet checked).
    pub groups: Vec<Arc<Group>>,
    /// Its maintenances, in file order (references not yet checked).
    pub maintenances: Vec<Arc<Maintenance>>,
    /// The ids it refers to, for the cross-file check.
    pub references: Vec<Reference>,
}

/// The last good version of every file, and the errors of the latest attempt to load each.
#[derive(Clone, Debug, Default)]
pub struct ConfigSet {
    /// Last good parse of each file (relative path → content).
    pub good: BTreeMap<String, ParsedFile>,
    /// Errors of the latest load, per file; a file here may still have a last good version.
    pub errors: BTreeMap<String, Vec<ConfigError>>,
    /// Errors between files (duplicate ids, unknown references), recomputed on every reload.
    pub cross_errors: Vec<ConfigError>,
}

/// The assembled, cross-validated configuration.
#[derive(Clone, Debug, Default)]
pub struct Catalog {
    /// Every check, sorted by id.
    pub checks: Vec<Arc<CheckSpec>>,
    /// Every contact, sorted by id.
    pub contacts: Vec<Arc<Contact>>,
    /// Every contact group, sorted by id; its contacts all exist.
    pub contact_groups: Vec<Arc<ContactGroup>>,
    /// Who hears of Tocsin's own trouble (`self.notify`, contact and contact-group ids).
    pub self_notify: Vec<String>,
    /// Every group, sorted by id; its check and contact ids all exist.
    pub groups: Vec<Arc<Group>>,
    /// Every maintenance, sorted by id; the check and group ids of its scope all exist.
    pub maintenances: Vec<Arc<Maintenance>>,
}

impl Catalog {
    /// The check with this id.
    pub fn check(&self, id: &str) -> Option<&Arc<CheckSpec>> {
        find(&self.checks, id, |c| c.id.as_str())
    }

    /// The contact with this id.
    pub fn contact(&self, id: &str) -> Option<&Arc<Contact>> {
        find(&self.contacts, id, |c| &c.id)
    }

    /// The contact group with this id.
    pub fn contact_group(&self, id: &str) -> Option<&Arc<ContactGroup>> {
        find(&self.contact_groups, id, |g| &g.id)
    }

    /// Contact and contact-group ids turned into contact ids: each group replaced by its
    /// contacts, duplicates dropped, order kept.
    pub fn expand_contacts(&self, ids: &[String]) -> Vec<String> {
        let mut out: Vec<String> = Vec::with_capacity(ids.len());
        for id in ids {
            let members = match self.contact_group(id) {
                Some(g) => g.contacts.as_slice(),
                None => std::slice::from_ref(id),
            };
            for m in members {
                if !out.contains(m) {
                    out.push(m.clone());
                }
            }
        }
        out
    }

    /// The group with this id.
    pub fn group(&self, id: &str) -> Option<&Arc<Group>> {
        find(&self.groups, id, |g| &g.id)
    }

    /// The maintenance with this id.
    pub fn maintenance(&self, id: &str) -> Option<&Arc<Maintenance>> {
        find(&self.maintenances, id, |m| &m.id)
    }

    /// The ids of the groups `check` belongs to.
    pub fn groups_of(&self, check: &CheckId) -> Vec<&str> {
        self.groups
            .iter()
            .filter(|g| g.checks.contains(check))
            .map(|g| g.id.as_str())
            .collect()
    }
}

fn find<'a, T>(items: &'a [Arc<T>], id: &str, key: impl Fn(&T) -> &str) -> Option<&'a Arc<T>> {
    items
        .binary_search_by(|x| key(x).cmp(id))
        .ok()
        .map(|i| &items[i])
}

impl ConfigSet {
    /// Loads (or reloads) `dir`: files that parse replace their last good version, files that
    /// fail keep it and record their errors, files that are gone are dropped.
    ///
    /// `dir` may also be a single file. A directory (or sub-directory) that cannot be listed
    /// keeps the last good version of the files under it.
    pub fn reload(&mut self, dir: &Path, env: &dyn Fn(&str) -> Option<String>) {
        let listing = list_config_files(dir);
        let present: BTreeSet<&str> = listing.files.iter().map(|(k, _)| k.as_str()).collect();
        let kept = |key: &str| {
            present.contains(key)
                || listing.unlisted.iter().any(|p| {
                    p.is_empty()
                        || key
                            .strip_prefix(p.as_str())
                            .is_some_and(|r| r.starts_with('/'))
                })
        };
        self.good
            .retain(|k, _| k.starts_with(API_PREFIX) || kept(k));
        self.errors
            .retain(|k, _| kept(k) && !listing.errors.iter().any(|e| e.file == *k));
        for (key, path) in &listing.files {
            let result = read_config_file(path)
                .map_err(|message| vec![ConfigError::whole_file(key.clone(), message)])
                .and_then(|text| parse_file(key, &text, env));
            match result {
                Ok(parsed) => {
                    self.good.insert(key.clone(), parsed);
                    self.errors.remove(key);
                }
                Err(errors) => {
                    self.errors.insert(key.clone(), errors);
                }
            }
        }
        for e in listing.errors {
            self.errors.entry(e.file.clone()).or_default().push(e);
        }
        self.cross_errors = cross_check(&self.good);
    }

    /// Replaces the objects created through the API: one parsed document per tenant, keyed
    /// `~api:<tenant>` (see [`api_key`]). They join the files' catalog, after the files (an id
    /// defined in a file wins), and the rules between files.
    pub fn set_api(&mut self, docs: BTreeMap<String, ParsedFile>) {
        self.good.retain(|k, _| !k.starts_with(API_PREFIX));
        self.good.extend(docs);
        self.cross_errors = cross_check(&self.good);
    }

    /// Every error: per-file errors plus cross-file ones (duplicate ids, naming both places),
    /// sorted by file, then line and column.
    pub fn all_errors(&self) -> Vec<ConfigError> {
        let mut all: Vec<ConfigError> = self
            .errors
            .values()
            .flatten()
            .chain(&self.cross_errors)
            .cloned()
            .collect();
        all.sort_by(|a, b| a.sort_key().cmp(&b.sort_key()));
        all
    }

    /// The catalog built from the last good files (a duplicate id keeps its first definition,
    /// in sorted file order; references to unknown ids are left out).
    pub fn catalog(&self) -> Catalog {
        let mut cat = Catalog::default();
        let (mut checks, mut contacts, mut groups, mut maints) = (
            HashSet::new(),
            HashSet::new(),
            HashSet::new(),
            HashSet::new(),
        );
        for file in self.good.values() {
            for c in &file.checks {
                if checks.insert(c.id.clone()) {
                    cat.checks.push(Arc::clone(c));
                }
            }
            for c in &file.contacts {
                if contacts.insert(c.id.clone()) {
                    cat.contacts.push(Arc::clone(c));
                }
            }
            if cat.self_notify.is_empty()
                && let Some((notify, _)) = &file.self_notify
            {
                cat.self_notify.clone_from(notify);
            }
            for g in &file.groups {
                if groups.insert(g.id.clone()) {
                    cat.groups.push(Arc::clone(g));
                }
            }
            for m in &file.maintenances {
                if maints.insert(m.id.clone()) {
                    cat.maintenances.push(Arc::clone(m));
                }
            }
        }
        // Contact groups (their members must be contacts), then the contacts namespace holds
        // both for the references below.
        let mut cgroups = HashSet::new();
        for file in self.good.values() {
            for g in &file.contact_groups {
                if !contacts.contains(&g.id) && cgroups.insert(g.id.clone()) {
                    let mut g = ContactGroup::clone(g);
                    g.contacts.retain(|c| contacts.contains(c));
                    cat.contact_groups.push(Arc::new(g));
                }
            }
        }
        contacts.extend(cgroups);
        cat.self_notify.retain(|c| contacts.contains(c));
        for c in &mut cat.checks {
            if c.depends_on.iter().any(|d| !checks.contains(d))
                || c.alert.notify.iter().any(|n| !contacts.contains(n))
            {
                let mut fixed = CheckSpec::clone(c);
                fixed.depends_on.retain(|d| checks.contains(d));
                fixed.alert.notify.retain(|n| contacts.contains(n));
                *c = Arc::new(fixed);
            }
        }
        for g in &mut cat.groups {
            if g.checks.iter().any(|c| !checks.contains(c))
                || g.contacts.iter().any(|c| !contacts.contains(c))
            {
                let mut fixed = Group::clone(g);
                fixed.checks.retain(|c| checks.contains(c));
                fixed.contacts.retain(|c| contacts.contains(c));
                *g = Arc::new(fixed);
            }
        }
        for m in &mut cat.maintenances {
            let s = &m.scope;
            if s.checks.iter().any(|c| !checks.contains(c))
                || s.groups.iter().any(|g| !groups.contains(g))
            {
                let mut fixed = Maintenance::clone(m);
                fixed.scope.checks.retain(|c| checks.contains(c));
                fixed.scope.groups.retain(|g| groups.contains(g));
                *m = Arc::new(fixed);
            }
        }
        cat.checks.sort_by(|a, b| a.id.cmp(&b.id));
        cat.contacts.sort_by(|a, b| a.id.cmp(&b.id));
        cat.contact_groups.sort_by(|a, b| a.id.cmp(&b.id));
        cat.groups.sort_by(|a, b| a.id.cmp(&b.id));
        cat.maintenances.sort_by(|a, b| a.id.cmp(&b.id));
        cat
    }
}

/// The prefix of the keys of API documents in [`ConfigSet::good`], and of their origins.
pub const API_PREFIX: &str = "~api:";

/// The key (and origin file) of a tenant's API document: `~api:<tenant>` (`~api:` for the
/// operator's own objects).
pub fn api_key(tenant: &str) -> String {
    format!("{API_PREFIX}{tenant}")
}

/// Whether an origin is an API document's (not a file's).
pub fn is_api_origin(file: &str) -> bool {
    file.starts_with(API_PREFIX)
}

/// The sections of a configuration document that the API accepts objects for.
pub const API_SECTIONS: [&str; 4] = ["checks", "contacts", "contact_groups", "groups"];

/// Parses objects sent to the API as one document `{section: [objects…]}` of the same schema
/// as the files. `${VAR}` is not interpolated (an API caller must not read the server's
/// environment): a value that holds `${` is refused.
pub fn parse_api_document(
    file: &str,
    doc: &serde_json::Value,
) -> Result<ParsedFile, Vec<ConfigError>> {
    let text = serde_json::to_string(doc).unwrap_or_default();
    parse_file(file, &text, &|_| None)
}

/// Loads `dir` (a directory or one file) once: the catalog, or every error (for `tocsin
/// validate`).
pub fn validate_dir(
    dir: &Path,
    env: &dyn Fn(&str) -> Option<String>,
) -> Result<Catalog, Vec<ConfigError>> {
    let mut set = ConfigSet::default();
    set.reload(dir, env);
    let errors = set.all_errors();
    if errors.is_empty() {
        Ok(set.catalog())
    } else {
        Err(errors)
    }
}

/// Whether a path relative to the configuration directory names a configuration file: a
/// `.yml`/`.yaml` file with no component starting with a dot. For file watchers.
pub fn is_config_path(rel: &Path) -> bool {
    let hidden = rel
        .components()
        .any(|c| c.as_os_str().to_string_lossy().starts_with('.'));
    !hidden && has_yaml_extension(rel)
}

fn has_yaml_extension(p: &Path) -> bool {
    p.extension()
        .and_then(|e| e.to_str())
        .is_some_and(|e| e.eq_ignore_ascii_case("yml") || e.eq_ignore_ascii_case("yaml"))
}

// ---------------------------------------------------------------------------------------------
// Finding and reading files.
// ---------------------------------------------------------------------------------------------

#[derive(Default)]
struct Listing {
    /// (key, path), sorted by key.
    files: Vec<(String, PathBuf)>,
    /// Directories that could not be listed, as keys ("" for the root).
    unlisted: Vec<String>,
    /// Why.
    errors: Vec<ConfigError>,
}

fn list_config_files(root: &Path) -> Listing {
    let mut listing = Listing::default();
    match std::fs::metadata(root) {
        Err(e) => {
            listing.unlisted.push(String::new());
            listing.errors.push(ConfigError::whole_file(
                root.display().to_string(),
                format!("cannot read the configuration: {e}"),
            ));
        }
        Ok(m) if m.is_dir() => {
            let mut visited = HashSet::new();
            walk(root, "", &mut listing, &mut visited);
        }
        Ok(_) => {
            let key = root.file_name().map_or_else(
                || root.display().to_string(),
                |n| n.to_string_lossy().into_owned(),
            );
            listing.files.push((key, root.to_path_buf()));
        }
    }
    listing.files.sort();
    listing
}

fn walk(dir: &Path, prefix: &str, listing: &mut Listing, visited: &mut HashSet<PathBuf>) {
    // Symbolic links are followed; a directory already seen (a link loop) is skipped.
    if let Ok(canonical) = std::fs::canonicalize(dir)
        && !visited.insert(canonical)
    {
        return;
    }
    let entries = match std::fs::read_dir(dir) {
        Ok(entries) => entries,
        Err(e) => {
            let key = if prefix.is_empty() {
                dir.display().to_string()
            } else {
                prefix.to_owned()
            };
            listing.unlisted.push(prefix.to_owned());
            listing.errors.push(ConfigError::whole_file(
                key,
                format!("cannot list directory: {e}"),
            ));
            return;
        }
    };
    for entry in entries.flatten() {
        let name = entry.file_name().to_string_lossy().into_owned();
        if name.starts_with('.') {
            continue;
        }
        let key = if prefix.is_empty() {
            name
        } else {
            format!("{prefix}/{name}")
        };
        let path = entry.path();
        match std::fs::metadata(&path) {
            Ok(m) if m.is_dir() => walk(&path, &key, listing, visited),
            Ok(m) if m.is_file() && has_yaml_extension(&path) => listing.files.push((key, path)),
            Ok(_) => {}
            // A dangling link that looks like a config file: reading it reports the error.
            Err(_) if has_yaml_extension(&path) => listing.files.push((key, path)),
            Err(_) => {}
        }
    }
}

fn read_config_file(path: &Path) -> Result<String, String> {
    let meta = std::fs::metadata(path).map_err(|e| format!("cannot read: {e}"))?;
    if meta.len() > MAX_FILE_SIZE {
        return Err(format!(
            "file is too large ({} bytes; at most {MAX_FILE_SIZE})",
            meta.len()
        ));
    }
    let bytes = std::fs::read(path).map_err(|e| format!("cannot read: {e}"))?;
    String::from_utf8(bytes).map_err(|e| {
        format!(
            "file is not valid UTF-8 (invalid byte at offset {})",
            e.utf8_error().valid_up_to()
        )
    })
}

// ---------------------------------------------------------------------------------------------
// Parsing and validating one file.
// ---------------------------------------------------------------------------------------------

/// The top level of a configuration file.
#[derive(Deserialize)]
#[serde(deny_unknown_fields)]
struct FileDef {
    #[serde(default)]
    defaults: Option<Spanned<Defaults>>,
    #[serde(default)]
    checks: Option<Vec<Spanned<CheckDef>>>,
    #[serde(default)]
    contacts: Option<Vec<Spanned<ContactDef>>>,
    #[serde(default)]
    contact_groups: Option<Vec<Spanned<ContactGroupDef>>>,
    #[serde(default, rename = "self")]
    self_: Option<Spanned<SelfDef>>,
    #[serde(default)]
    groups: Option<Vec<Spanned<GroupDef>>>,
    #[serde(default)]
    maintenances: Option<Vec<Spanned<MaintenanceDef>>>,
}

/// Parses and validates one file on its own. `file` is its name in errors and origins; `env`
/// resolves `${VAR}`. Cross-file rules (duplicate ids, references) are [`ConfigSet`]'s.
pub fn parse_file(
    file: &str,
    text: &str,
    env: &dyn Fn(&str) -> Option<String>,
) -> Result<ParsedFile, Vec<ConfigError>> {
    let cx = FileCx::new(file, text);
    let parsed = yaml::parse::<Option<FileDef>>(text, env);
    if !parsed.problems.is_empty() {
        let mut errors: Vec<ConfigError> = parsed
            .problems
            .iter()
            .map(|(p, path)| cx.interpolation_error(p, path))
            .collect();
        if let Err(e) = &parsed.value {
            // A deserialisation error where a variable is missing is likely a consequence of it.
            if !parsed
                .problems
                .iter()
                .any(|(_, path)| Some(path) == parsed.error_path.as_ref())
            {
                errors.push(cx.yaml_error(e, parsed.error_path.as_deref()));
            }
            // Reading stopped there: report the missing variables further down too.
            for more in cx.missing_after(e, env) {
                if !errors
                    .iter()
                    .any(|x| (x.line, x.column) == (more.line, more.column))
                {
                    errors.push(more);
                }
            }
        }
        return Err(sorted(errors));
    }
    match parsed.value {
        Err(e) => Err(vec![cx.yaml_error(&e, parsed.error_path.as_deref())]),
        Ok(None) => Ok(ParsedFile::default()),
        Ok(Some(def)) => cx.validate(def),
    }
}

/// Sorted by place, each error once (a value reused through a YAML alias is read twice).
fn sorted(mut errors: Vec<ConfigError>) -> Vec<ConfigError> {
    errors.sort_by(|a, b| a.sort_key().cmp(&b.sort_key()));
    errors.dedup();
    errors
}

/// Per-file validation state: the errors found so far and, built on demand, where each field
/// of the file is.
struct FileCx<'a> {
    file: &'a str,
    /// `file`, shared by the origins of everything defined in it.
    shared_file: Arc<str>,
    text: &'a str,
    index: OnceCell<HashMap<String, (u64, u64)>>,
    errors: Vec<ConfigError>,
}

/// `defaults:` of a file, validated. A default that is itself wrong is reported once, at
/// `defaults`, and checks relying on it are not reported again.
struct FileDefaults {
    every: Option<Duration>,
    timeout: Option<Duration>,
    timeout_set: bool,
    timezone: Option<String>,
    timezone_ok: bool,
    tags: Vec<String>,
    alert: AlertDef,
    alert_ok: bool,
}

impl<'a> FileCx<'a> {
    fn new(file: &'a str, text: &'a str) -> Self {
        Self {
            file,
            shared_file: Arc::from(file),
            text,
            index: OnceCell::new(),
            errors: Vec::new(),
        }
    }

    fn origin(&self, line: u64, column: u64) -> Origin {
        Origin {
            file: self.shared_file.clone(),
            line,
            column,
        }
    }

    fn spanned_origin<T>(&self, s: &Spanned<T>, path: &str) -> Origin {
        let (line, column) = self.place(s, path);
        self.origin(line, column)
    }

    /// Where `s` was written; the field index for values without a location.
    fn place<T>(&self, s: &Spanned<T>, path: &str) -> (u64, u64) {
        let (line, column) = (s.referenced.line(), s.referenced.column());
        if line == 0 {
            self.locate(path)
        } else {
            (line, column)
        }
    }

    /// Where the value at `path` (`checks[0].http.url`) was written, or its nearest ancestor.
    fn locate(&self, path: &str) -> (u64, u64) {
        let index = self.index.get_or_init(|| yaml::field_index(self.text));
        let mut p = path;
        loop {
            if let Some(&place) = index.get(p) {
                return place;
            }
            if p.is_empty() {
                return (0, 0);
            }
            let cut = if p.ends_with(']') {
                p.rfind('[')
            } else {
                p.rfind('.')
            };
            p = cut.map_or("", |i| &p[..i]);
        }
    }

    fn error_at(&mut self, field: &str, (line, column): (u64, u64), message: impl Into<String>) {
        self.errors.push(ConfigError {
            file: self.file.to_owned(),
            line,
            column,
            field: (!field.is_empty()).then(|| field.to_owned()),
            message: message.into(),
        });
    }

    /// An error at `field`, placed where the field is written.
    fn error(&mut self, field: &str, message: impl Into<String>) {
        let place = self.locate(field);
        self.error_at(field, place, message);
    }

    /// An error about the value of a spanned field.
    fn error_on<T>(&mut self, field: &str, s: &Spanned<T>, message: impl Into<String>) {
        let place = self.place(s, field);
        self.error_at(field, place, message);
    }

    fn field_errors(&mut self, prefix: &str, errors: Vec<FieldError>) {
        for e in errors {
            let field = format!("{prefix}.{}", e.field);
            let place = if e.line == 0 {
                self.locate(&field)
            } else {
                (e.line, e.column)
            };
            self.error_at(&field, place, e.message);
        }
    }

    fn interpolation_error(&self, problem: &InterpolationError, path: &str) -> ConfigError {
        let (line, column) = self.locate(path);
        let (line, column) =
            find_after(self.text, line, column, &problem.needle()).unwrap_or((line, column));
        ConfigError {
            file: self.file.to_owned(),
            line,
            column,
            field: (!path.is_empty()).then(|| path.to_owned()),
            message: problem.to_string(),
        }
    }

    /// `${NAME}` references to unset variables written after the place of `e` (outside
    /// comments), found in the text. Reading stops at the first error, so these would
    /// otherwise only show up one fix at a time.
    fn missing_after(
        &self,
        e: &serde_saphyr::Error,
        env: &dyn Fn(&str) -> Option<String>,
    ) -> Vec<ConfigError> {
        let Some(loc) = e.location() else {
            return Vec::new();
        };
        let after = (loc.line(), loc.column());
        let index = self.index.get_or_init(|| yaml::field_index(self.text));
        let mut out = Vec::new();
        for (n, line) in self.text.lines().enumerate() {
            let line_no = n as u64 + 1;
            if line_no < after.0 {
                continue;
            }
            // The text before a comment (a `#` at the start or after a blank).
            let code = line
                .char_indices()
                .find(|&(i, c)| {
                    c == '#' && line[..i].chars().last().is_none_or(char::is_whitespace)
                })
                .map_or(line, |(i, _)| &line[..i]);
            let mut from = 0;
            while let Some(i) = code[from..].find("${") {
                let start = from + i;
                from = start + 2;
                let column = code[..start].chars().count() as u64 + 1;
                if (line_no, column) <= after || code[..start].ends_with('$') {
                    continue;
                }
                let rest = &code[start + 2..];
                let name_len = rest
                    .bytes()
                    .enumerate()
                    .take_while(|&(k, b)| {
                        b == b'_' || b.is_ascii_alphabetic() || (k > 0 && b.is_ascii_digit())
                    })
                    .count();
                let name = &rest[..name_len];
                if name.is_empty() || !rest[name_len..].starts_with('}') || env(name).is_some() {
                    continue;
                }
                // The field: the last value that starts at or before the reference.
                let field = index
                    .iter()
                    .filter(|(_, place)| **place <= (line_no, column))
                    .max_by(|a, b| a.1.cmp(b.1).then(a.0.len().cmp(&b.0.len())))
                    .map(|(path, _)| path.clone())
                    .filter(|p| !p.is_empty());
                out.push(ConfigError {
                    file: self.file.to_owned(),
                    line: line_no,
                    column,
                    field,
                    message: InterpolationError::Missing {
                        name: name.to_owned(),
                    }
                    .to_string(),
                });
            }
        }
        out
    }

    fn yaml_error(&self, e: &serde_saphyr::Error, path: Option<&str>) -> ConfigError {
        use serde_saphyr::Error as E;
        let loc = e.location().map_or((0, 0), |l| (l.line(), l.column()));
        let value_error = matches!(
            e,
            E::SerdeInvalidType { .. } | E::SerdeInvalidValue { .. } | E::Message { .. }
        );
        // Type and value errors point at the value; serde's own place may be the key.
        let (line, column) = match path {
            Some(p) if value_error => {
                let index = self.index.get_or_init(|| yaml::field_index(self.text));
                index.get(p).copied().unwrap_or(loc)
            }
            _ => loc,
        };
        // A syntax error is about the text, not a field.
        let syntax = matches!(
            e,
            E::ExternalMessage { .. }
                | E::MultipleDocuments { .. }
                | E::UnknownAnchor { .. }
                | E::Eof { .. }
                | E::IndentationError { .. }
        );
        ConfigError {
            file: self.file.to_owned(),
            line,
            column,
            field: path.filter(|p| !p.is_empty() && !syntax).map(str::to_owned),
            message: yaml::describe(e),
        }
    }

    fn validate(mut self, def: FileDef) -> Result<ParsedFile, Vec<ConfigError>> {
        let mut out = ParsedFile::default();
        let defaults = self.defaults(def.defaults.as_ref(), &mut out.references);
        for (i, c) in def.checks.iter().flatten().enumerate() {
            if let Some(spec) = self.check(i, c, &defaults, &mut out.references) {
                out.checks.push(Arc::new(spec));
            }
        }
        for (i, c) in def.contacts.iter().flatten().enumerate() {
            if let Some(contact) = self.contact(i, c) {
                out.contacts.push(Arc::new(contact));
            }
        }
        for (i, g) in def.contact_groups.iter().flatten().enumerate() {
            if let Some(group) = self.contact_group(i, g, &mut out.references) {
                out.contact_groups.push(Arc::new(group));
            }
        }
        if let Some(me) = &def.self_ {
            let before = self.errors.len();
            let notify = self.references(
                "self.notify",
                RefKind::Contact,
                &me.value.notify,
                &mut out.references,
            );
            if self.errors.len() == before {
                out.self_notify = Some((notify, self.spanned_origin(me, "self")));
            }
        }
        for (i, g) in def.groups.iter().flatten().enumerate() {
            if let Some(group) = self.group(i, g, &mut out.references) {
                out.groups.push(Arc::new(group));
            }
        }
        for (i, m) in def.maintenances.iter().flatten().enumerate() {
            if let Some(maintenance) = self.maintenance(i, m, &mut out.references) {
                out.maintenances.push(Arc::new(maintenance));
            }
        }
        if self.errors.is_empty() {
            Ok(out)
        } else {
            Err(sorted(self.errors))
        }
    }

    // -- defaults and checks -------------------------------------------------------------------

    fn defaults(
        &mut self,
        d: Option<&Spanned<Defaults>>,
        refs: &mut Vec<Reference>,
    ) -> FileDefaults {
        let empty = Defaults::default();
        let d = d.map_or(&empty, |d| &d.value);
        let mut every = Some(DEFAULT_EVERY);
        if let Some(e) = &d.every {
            every = Some(e.value.get());
            if e.value.get() < MIN_INTERVAL {
                self.error_on(
                    "defaults.every",
                    e,
                    format!("must be at least 1s (got {})", e.value),
                );
                every = None;
            }
        }
        let mut timeout = Some(DEFAULT_TIMEOUT);
        if let Some(t) = &d.timeout {
            timeout = Some(t.value.get());
            if t.value.get().is_zero() {
                self.error_on("defaults.timeout", t, "must be more than 0s");
                timeout = None;
            } else if let (Some(e), Some(every)) = (&d.every, every)
                && t.value.get() > every
            {
                self.error_on(
                    "defaults.timeout",
                    t,
                    format!(
                        "{} is longer than defaults.every ({}); a run must end before the next \
                         one is due",
                        t.value, e.value
                    ),
                );
                timeout = None;
            }
        }
        let mut timezone_ok = true;
        if let Some(tz) = &d.timezone
            && let Err(e) = check_zone(&tz.value)
        {
            self.error_on("defaults.timezone", tz, e.to_string());
            timezone_ok = false;
        }
        let alert = d.alert.clone().unwrap_or_default();
        let mut alert_ok = self.alert_fields(&alert, "defaults.alert", refs);
        if alert_ok {
            let flap = alert.resolve().flap;
            if flap.low > flap.high {
                self.error(
                    "defaults.alert.flapping",
                    format!("low ({}) must not be above high ({})", flap.low, flap.high),
                );
                alert_ok = false;
            }
        }
        FileDefaults {
            every,
            timeout,
            timeout_set: d.timeout.is_some(),
            timezone: d.timezone.as_ref().map(|t| t.value.clone()),
            timezone_ok,
            tags: d.tags.clone(),
            alert,
            alert_ok,
        }
    }

    /// Range checks of one `alert:` as written, recording its contact references; true if
    /// they all pass.
    fn alert_fields(&mut self, a: &AlertDef, prefix: &str, refs: &mut Vec<Reference>) -> bool {
        let before = self.errors.len();
        if let Some(notify) = &a.notify {
            self.references(&format!("{prefix}.notify"), RefKind::Contact, notify, refs);
        }
        if let Some(r) = a.renotify
            && r.get() < MIN_RENOTIFY
        {
            self.error(
                &format!("{prefix}.renotify"),
                format!("must be at least 1m (got {r})"),
            );
        }
        if a.max_notifications == Some(0) {
            self.error(
                &format!("{prefix}.max_notifications"),
                "must be at least 1 (leave it out for no limit)",
            );
        }
        if a.failures == Some(0) {
            self.error(&format!("{prefix}.failures"), "must be at least 1");
        }
        if a.recoveries == Some(0) {
            self.error(&format!("{prefix}.recoveries"), "must be at least 1");
        }
        if a.within.is_some_and(|w| w.get().is_zero()) {
            self.error(&format!("{prefix}.within"), "must be more than 0s");
        }
        if let Some(f) = &a.flapping {
            for (name, v) in [("high", f.high), ("low", f.low)] {
                if let Some(v) = v
                    && !(0.0..=100.0).contains(&v)
                {
                    self.error(
                        &format!("{prefix}.flapping.{name}"),
                        format!("must be a percentage between 0 and 100 (got {v})"),
                    );
                }
            }
        }
        self.errors.len() == before
    }

    fn check(
        &mut self,
        i: usize,
        c: &Spanned<CheckDef>,
        d: &FileDefaults,
        refs: &mut Vec<Reference>,
    ) -> Option<CheckSpec> {
        let p = format!("checks[{i}]");
        let def = &c.value;
        let before = self.errors.len();

        let id = CheckId::new(&def.id.value)
            .map_err(|m| self.error_on(&format!("{p}.id"), &def.id, m))
            .ok();
        if def.id.value.starts_with(SELF_PREFIX) {
            self.error_on(
                &format!("{p}.id"),
                &def.id,
                format!("ids starting with {SELF_PREFIX:?} are Tocsin's own (self-alarms)"),
            );
        }

        let mut given = ProbeSpec::given(def);
        let probe = match given.len() {
            1 => given.pop(),
            0 => {
                self.error_on(
                    &p,
                    c,
                    format!(
                        "no probe: give exactly one of {}",
                        ProbeSpec::KINDS.join(", ")
                    ),
                );
                None
            }
            _ => {
                let names: Vec<&str> = given.iter().map(ProbeSpec::kind).collect();
                self.error_on(
                    &p,
                    c,
                    format!(
                        "several probes ({}): give exactly one of {}",
                        names.join(", "),
                        ProbeSpec::KINDS.join(", ")
                    ),
                );
                None
            }
        };
        if let Some(h) = &def.http {
            self.http(&p, h);
        }
        if let Some(t) = &def.tcp {
            self.tcp(&p, t);
        }
        for g in probe.iter().chain(&given) {
            let errors = g.validate();
            self.field_errors(&p, errors);
        }

        let schedule = self.schedule(&p, def, d);
        let timeout = self.timeout(&p, def, d, schedule.as_ref());
        if let (Some(probe), Some(t)) = (&probe, timeout) {
            let errors = probe.validate_timeout(t);
            self.field_errors(&p, errors);
        }

        let own_alert_ok = def
            .alert
            .as_ref()
            .is_none_or(|a| self.alert_fields(a, &format!("{p}.alert"), refs));
        let alert = def
            .alert
            .clone()
            .unwrap_or_default()
            .over(&d.alert)
            .resolve();
        if own_alert_ok && d.alert_ok && alert.flap.low > alert.flap.high {
            self.error(
                &format!("{p}.alert.flapping"),
                format!(
                    "low ({}) must not be above high ({}) (defaults.alert applied)",
                    alert.flap.low, alert.flap.high
                ),
            );
        }

        let depends_on = self.references(
            &format!("{p}.depends_on"),
            RefKind::Check,
            &def.depends_on,
            refs,
        );
        if let Some((j, r)) = def
            .depends_on
            .iter()
            .enumerate()
            .find(|(_, r)| r.value == def.id.value)
        {
            self.error_on(
                &format!("{p}.depends_on[{j}]"),
                r,
                format!("check {:?} cannot depend on itself", r.value),
            );
        }

        if let Some(t) = &def.tenant
            && let Err(m) = crate::check::validate_tenant(&t.value)
        {
            self.error_on(&format!("{p}.tenant"), t, m);
        }

        if self.errors.len() > before {
            return None;
        }
        let (id, probe, schedule, timeout) = (id?, probe?, schedule?, timeout?);
        let mut tags: Vec<String> = Vec::with_capacity(d.tags.len() + def.tags.len());
        for t in d.tags.iter().chain(&def.tags) {
            if !tags.contains(t) {
                tags.push(t.clone());
            }
        }
        Some(CheckSpec {
            name: def.name.clone().unwrap_or_else(|| id.to_string()),
            host: def.host.clone().or_else(|| probe.target_host()),
            tenant: def
                .tenant
                .as_ref()
                .map(|t| t.value.clone())
                .unwrap_or_default(),
            public: def.public,
            origin: self.spanned_origin(&def.id, &format!("{p}.id")),
            id,
            tags,
            schedule,
            timeout,
            probe,
            alert,
            // Format checked by `references`.
            depends_on: depends_on
                .iter()
                .filter_map(|c| CheckId::new(c).ok())
                .collect(),
        })
    }

    fn schedule(&mut self, p: &str, def: &CheckDef, d: &FileDefaults) -> Option<Schedule> {
        if let (Some(_), Some(cron)) = (&def.every, &def.cron) {
            self.error_on(
                &format!("{p}.cron"),
                cron,
                "\"every\" and \"cron\" cannot both be given: choose one",
            );
            return None;
        }
        if let Some(cron) = &def.cron {
            let zone = match &def.timezone {
                Some(tz) => match check_zone(&tz.value) {
                    Ok(()) => Ok(Some(tz.value.as_str())),
                    Err(e) => {
                        self.error_on(&format!("{p}.timezone"), tz, e.to_string());
                        Err(())
                    }
                },
                None if !d.timezone_ok => Err(()),
                None => Ok(d.timezone.as_deref()),
            };
            // With a bad zone, the expression is still checked (in UTC) to report it too.
            let schedule = Schedule::cron(&cron.value, zone.unwrap_or(None))
                .map_err(|e| self.error_on(&format!("{p}.cron"), cron, e.to_string()))
                .ok();
            return schedule.filter(|_| zone.is_ok());
        }
        if let Some(tz) = &def.timezone {
            self.error_on(
                &format!("{p}.timezone"),
                tz,
                "only applies to a cron schedule: add \"cron\" or remove \"timezone\"",
            );
        }
        let every = match &def.every {
            Some(e) if e.value.get() < MIN_INTERVAL => {
                self.error_on(
                    &format!("{p}.every"),
                    e,
                    format!("must be at least 1s (got {})", e.value),
                );
                return None;
            }
            Some(e) => e.value.get(),
            None => d.every?,
        };
        Schedule::every(every).ok()
    }

    fn timeout(
        &mut self,
        p: &str,
        def: &CheckDef,
        d: &FileDefaults,
        schedule: Option<&Schedule>,
    ) -> Option<Duration> {
        let interval = schedule.and_then(Schedule::interval);
        if let Some(t) = &def.timeout {
            let t_val = t.value.get();
            if t_val.is_zero() {
                self.error_on(&format!("{p}.timeout"), t, "must be more than 0s");
                return None;
            }
            if let Some(i) = interval
                && t_val > i
            {
                self.error_on(
                    &format!("{p}.timeout"),
                    t,
                    format!(
                        "{} is longer than the interval ({}); a run must end before the next one \
                         is due",
                        t.value,
                        Dur(i)
                    ),
                );
                return None;
            }
            return Some(t_val);
        }
        if d.timeout_set {
            let t = d.timeout?;
            if let (Some(i), Some(e)) = (interval, &def.every)
                && t > i
            {
                self.error_on(
                    &format!("{p}.every"),
                    e,
                    format!(
                        "the interval {} is shorter than defaults.timeout ({}): give this check \
                         a shorter timeout",
                        e.value,
                        Dur(t)
                    ),
                );
                return None;
            }
            return Some(t);
        }
        // Nothing said: 10s, or the interval if shorter.
        Some(interval.map_or(DEFAULT_TIMEOUT, |i| i.min(DEFAULT_TIMEOUT)))
    }

    fn http(&mut self, p: &str, h: &HttpSpec) {
        if let Err(m) = check_url(&h.url.value) {
            self.error_on(
                &format!("{p}.http.url"),
                &h.url,
                format!("{m} (got {:?})", h.url.value),
            );
        }
        let m = &h.method;
        if http::Method::from_bytes(m.as_bytes()).is_err() {
            self.error(
                &format!("{p}.http.method"),
                format!("invalid method {m:?} (expected a token such as GET, HEAD or POST)"),
            );
        } else if STANDARD_METHODS.contains(&m.to_ascii_uppercase().as_str())
            && *m != m.to_ascii_uppercase()
        {
            self.error(
                &format!("{p}.http.method"),
                format!(
                    "methods are case-sensitive: write {:?}, not {m:?}",
                    m.to_ascii_uppercase()
                ),
            );
        }
        for (name, value) in &h.headers {
            let field = format!("{p}.http.headers.{name}");
            if http::HeaderName::from_bytes(name.as_bytes()).is_err() {
                self.error(&field, format!("invalid header name {name:?}"));
            } else if http::HeaderValue::from_str(value).is_err() {
                self.error(
                    &field,
                    format!(
                        "invalid value for header {name:?}: control characters are not allowed"
                    ),
                );
            }
        }
        if let Err(errors) = HttpAssertions::compile(h) {
            self.field_errors(p, errors);
        }
    }

    fn tcp(&mut self, p: &str, t: &TcpSpec) {
        if t.host.trim().is_empty() {
            self.error(&format!("{p}.tcp.host"), "must not be empty");
        }
        if t.port == 0 {
            self.error(
                &format!("{p}.tcp.port"),
                "must be between 1 and 65535 (got 0)",
            );
        }
        if let Err(errors) = TcpAssertions::compile(t) {
            self.field_errors(p, errors);
        }
    }

    // -- contacts, groups, maintenances ---------------------------------------------------------

    /// Checks an id's format; `None` (and an error) if it is not valid.
    fn id(&mut self, field: &str, id: &Spanned<String>) -> Option<String> {
        match CheckId::new(&id.value) {
            Ok(_) => Some(id.value.clone()),
            Err(m) => {
                self.error_on(field, id, m);
                None
            }
        }
    }

    fn contact(&mut self, i: usize, c: &Spanned<ContactDef>) -> Option<Contact> {
        let p = format!("contacts[{i}]");
        let def = &c.value;
        let before = self.errors.len();
        let id = self.id(&format!("{p}.id"), &def.id);
        let kind = def.kind.value;
        match (&def.to, kind.uses_to()) {
            (None, true) => self.error_on(
                &format!("{p}.to"),
                c,
                format!("missing field \"to\": {kind} contacts need an address"),
            ),
            (Some(to), true) => {
                if !looks_like_email(&to.value) {
                    self.error_on(
                        &format!("{p}.to"),
                        to,
                        format!(
                            "invalid email address {:?} (expected e.g. ops@example.com)",
                            to.value
                        ),
                    );
                }
            }
            (Some(to), false) => self.error_on(
                &format!("{p}.to"),
                to,
                format!(
                    "only email contacts take \"to\"; put what {kind} needs under \"settings\""
                ),
            ),
            (None, false) => {}
        }
        match (&def.url, kind.takes_url()) {
            (None, _) if kind.requires_url() => self.error_on(
                &format!("{p}.url"),
                c,
                format!("missing field \"url\": {kind} contacts need a URL"),
            ),
            (Some(url), true) => {
                // The URL may hold a token: the message does not repeat it.
                if let Err(m) = check_url(url.value.expose()) {
                    self.error_on(&format!("{p}.url"), url, m);
                }
            }
            (Some(url), false) => self.error_on(
                &format!("{p}.url"),
                url,
                format!("{kind} contacts take no \"url\"; put what they need under \"settings\""),
            ),
            (None, _) => {}
        }
        let rate_limit = match &def.rate_limit {
            None => kind.default_rate_limit(),
            Some(r) => match RateLimit::parse(&r.value) {
                Ok(l) => Some(l),
                Err(m) => {
                    self.error_on(&format!("{p}.rate_limit"), r, m);
                    None
                }
            },
        };
        if self.errors.len() > before {
            return None;
        }
        let id = id?;
        Some(Contact {
            rate_limit,
            name: def.name.clone().unwrap_or_else(|| id.clone()),
            origin: self.spanned_origin(&def.id, &format!("{p}.id")),
            id,
            kind,
            to: def.to.as_ref().map(|t| t.value.clone()),
            url: def.url.as_ref().map(|u| u.value.clone()),
            settings: def.settings.clone(),
        })
    }

    /// Checks the format of referenced ids and records them for the cross-file check.
    fn references(
        &mut self,
        field: &str,
        kind: RefKind,
        ids: &[Spanned<String>],
        refs: &mut Vec<Reference>,
    ) -> Vec<String> {
        let mut out: Vec<String> = Vec::with_capacity(ids.len());
        for (j, r) in ids.iter().enumerate() {
            let field = format!("{field}[{j}]");
            if let Err(m) = CheckId::new(&r.value) {
                self.error_on(&field, r, format!("invalid {kind} id: {m}"));
                continue;
            }
            refs.push(Reference {
                kind,
                id: r.value.clone(),
                origin: self.spanned_origin(r, &field),
                field,
            });
            if !out.contains(&r.value) {
                out.push(r.value.clone());
            }
        }
        out
    }

    fn contact_group(
        &mut self,
        i: usize,
        g: &Spanned<ContactGroupDef>,
        refs: &mut Vec<Reference>,
    ) -> Option<ContactGroup> {
        let p = format!("contact_groups[{i}]");
        let def = &g.value;
        let before = self.errors.len();
        let id = self.id(&format!("{p}.id"), &def.id);
        if def.contacts.is_empty() {
            self.error_on(
                &format!("{p}.contacts"),
                g,
                "a contact group needs at least one contact",
            );
        }
        let contacts = self.references(
            &format!("{p}.contacts"),
            RefKind::ContactMember,
            &def.contacts,
            refs,
        );
        if self.errors.len() > before {
            return None;
        }
        let id = id?;
        Some(ContactGroup {
            name: def.name.clone().unwrap_or_else(|| id.clone()),
            origin: self.spanned_origin(&def.id, &format!("{p}.id")),
            id,
            contacts,
        })
    }

    fn group(
        &mut self,
        i: usize,
        g: &Spanned<GroupDef>,
        refs: &mut Vec<Reference>,
    ) -> Option<Group> {
        let p = format!("groups[{i}]");
        let def = &g.value;
        let before = self.errors.len();
        let id = self.id(&format!("{p}.id"), &def.id);
        let checks = self.references(&format!("{p}.checks"), RefKind::Check, &def.checks, refs);
        let contacts = self.references(
            &format!("{p}.contacts"),
            RefKind::Contact,
            &def.contacts,
            refs,
        );
        if self.errors.len() > before {
            return None;
        }
        let id = id?;
        Some(Group {
            name: def.name.clone().unwrap_or_else(|| id.clone()),
            origin: self.spanned_origin(&def.id, &format!("{p}.id")),
            id,
            // Format checked above.
            checks: checks.iter().filter_map(|c| CheckId::new(c).ok()).collect(),
            contacts,
        })
    }

    fn maintenance(
        &mut self,
        i: usize,
        m: &Spanned<MaintenanceDef>,
        refs: &mut Vec<Reference>,
    ) -> Option<Maintenance> {
        let p = format!("maintenances[{i}]");
        let def = &m.value;
        let before = self.errors.len();
        let id = self.id(&format!("{p}.id"), &def.id);
        let window = self.window(&p, m);

        let s = &def.scope.value;
        let checks = self.references(
            &format!("{p}.scope.checks"),
            RefKind::Check,
            &s.checks,
            refs,
        );
        let groups = self.references(
            &format!("{p}.scope.groups"),
            RefKind::Group,
            &s.groups,
            refs,
        );
        if !s.all
            && s.checks.is_empty()
            && s.groups.is_empty()
            && s.tags.is_empty()
            && s.hosts.is_empty()
        {
            self.error_on(
                &format!("{p}.scope"),
                &def.scope,
                "covers nothing: give all: true, or at least one of checks, groups, tags, hosts",
            );
        }
        if self.errors.len() > before {
            return None;
        }
        let id = id?;
        Some(Maintenance {
            origin: self.spanned_origin(&def.id, &format!("{p}.id")),
            id,
            note: def.note.clone(),
            window: window?,
            scope: MaintenanceScope {
                all: s.all,
                checks: checks.iter().filter_map(|c| CheckId::new(c).ok()).collect(),
                groups,
                tags: s.tags.clone(),
                hosts: s.hosts.clone(),
            },
        })
    }

    /// A recurring window as a cron expression (with the field and place to blame for it) and a
    /// duration: given as such, or made from `days`, `from` and `to`.
    fn recurrence<'d>(
        &mut self,
        p: &str,
        r: &'d RecurringDef,
        m: &'d Spanned<MaintenanceDef>,
    ) -> Option<(CronSource<'d>, Duration)> {
        let weekly = !r.days.is_empty() || r.from.is_some() || r.to.is_some();
        match (&r.cron, &r.duration, weekly) {
            (Some(cron), Some(d), false) => {
                if d.value.get().is_zero() {
                    // Reported here; the expression is still checked by the caller.
                    self.error_on(
                        &format!("{p}.recurring.duration"),
                        d,
                        "must be more than 0s",
                    );
                }
                Some((
                    CronSource {
                        value: cron.value.clone(),
                        field: "cron",
                        at: cron,
                    },
                    d.value.get(),
                ))
            }
            (None, None, true) => self.weekly(p, r, m),
            (_, _, true) => {
                self.error_on(
                    &format!("{p}.recurring"),
                    m,
                    "give cron and duration, or days, from and to: not both",
                );
                None
            }
            _ => {
                self.error_on(
                    &format!("{p}.recurring"),
                    m,
                    "give cron and duration, or days, from and to",
                );
                None
            }
        }
    }

    /// `days` + `from` + `to` as a cron expression opening at `from` on those days, and the
    /// time to `to` (past midnight when `to` is earlier).
    fn weekly<'d>(
        &mut self,
        p: &str,
        r: &'d RecurringDef,
        m: &'d Spanned<MaintenanceDef>,
    ) -> Option<(CronSource<'d>, Duration)> {
        let before = self.errors.len();
        let mut days = Vec::new();
        if r.days.is_empty() {
            self.error_on(
                &format!("{p}.recurring.days"),
                m,
                "missing: give weekdays, e.g. [mon, tue]",
            );
        }
        for (i, d) in r.days.iter().enumerate() {
            match weekday(&d.value) {
                Some(w) if !days.contains(&w) => days.push(w),
                Some(_) => {}
                None => self.error_on(
                    &format!("{p}.recurring.days[{i}]"),
                    d,
                    format!(
                        "{:?} is not a weekday: expected mon, tue, wed, thu, fri, sat or sun",
                        d.value
                    ),
                ),
            }
        }
        let mut time = |field: &str, t: &Option<Spanned<String>>| match t {
            None => {
                self.error_on(
                    &format!("{p}.recurring.{field}"),
                    m,
                    "missing: give a time, e.g. 22:00",
                );
                None
            }
            Some(t) => match time_of_day(&t.value) {
                Some(minutes) => Some(minutes),
                None => {
                    self.error_on(
                        &format!("{p}.recurring.{field}"),
                        t,
                        format!(
                            "{:?} is not a time of day: expected HH:MM, e.g. 22:00",
                            t.value
                        ),
                    );
                    None
                }
            },
        };
        let from = time("from", &r.from);
        let to = time("to", &r.to);
        let (Some(from), Some(to)) = (from, to) else {
            return None;
        };
        if from == to {
            self.error_on(&format!("{p}.recurring.to"), m, "must differ from \"from\"");
        }
        if self.errors.len() > before {
            return None;
        }
        let minutes = (to + 24 * 60 - from) % (24 * 60);
        let at = r.from.as_ref()?;
        Some((
            CronSource {
                value: format!("{} {} * * {}", from % 60, from / 60, days.join(",")),
                field: "from",
                at,
            },
            Duration::from_secs(u64::from(minutes) * 60),
        ))
    }

    fn window(&mut self, p: &str, m: &Spanned<MaintenanceDef>) -> Option<MaintenanceWindow> {
        let def = &m.value;
        if let Some(r) = &def.recurring {
            if def.start.is_some() || def.end.is_some() {
                self.error_on(
                    &format!("{p}.recurring"),
                    r,
                    "\"recurring\" cannot be combined with \"start\" and \"end\": choose one",
                );
                return None;
            }
            let r = &r.value;
            let zone = match &r.timezone {
                Some(tz) => match check_zone(&tz.value) {
                    Ok(()) => Ok(Some(tz.value.as_str())),
                    Err(e) => {
                        self.error_on(&format!("{p}.recurring.timezone"), tz, e.to_string());
                        Err(())
                    }
                },
                None => Ok(None),
            };
            let (expr, duration) = self.recurrence(p, r, m)?;
            // With a bad zone, the expression is still checked (in UTC) to report it too.
            let schedule = Schedule::cron(&expr.value, zone.unwrap_or(None))
                .map_err(|e| {
                    self.error_on(
                        &format!("{p}.recurring.{}", expr.field),
                        expr.at,
                        e.to_string(),
                    );
                })
                .ok()
                .filter(|_| zone.is_ok() && !duration.is_zero());
            return Some(MaintenanceWindow::Recurring {
                schedule: schedule?,
                duration,
            });
        }
        let (Some(start), Some(end)) = (&def.start, &def.end) else {
            let missing = if def.start.is_none() { "start" } else { "end" };
            self.error_on(
                &format!("{p}.{missing}"),
                m,
                format!(
                    "missing field \"{missing}\": a maintenance needs \"start\" and \"end\", or \
                     \"recurring\""
                ),
            );
            return None;
        };
        let start_at = if start.value.trim() == "now" {
            None
        } else {
            match start.value.trim().parse::<Timestamp>() {
                Ok(t) => Some(t),
                Err(_) => {
                    self.error_on(
                        &format!("{p}.start"),
                        start,
                        format!(
                            "invalid start {:?}: expected \"now\" or an RFC 3339 time such as \
                             2026-05-01T22:00:00Z",
                            start.value
                        ),
                    );
                    return None;
                }
            }
        };
        let end_field = format!("{p}.end");
        let end_value = end.value.trim();
        let end = if let Ok(t) = end_value.parse::<Timestamp>() {
            if let Some(s) = start_at
                && t <= s
            {
                self.error_on(&end_field, end, format!("end {t} is not after start {s}"));
                return None;
            }
            WindowEnd::At(t)
        } else if let Ok(d) = end_value.parse::<Dur>() {
            if d.get().is_zero() {
                self.error_on(&end_field, end, "must be more than 0s after start");
                return None;
            }
            match start_at {
                None => WindowEnd::After(d.get()),
                Some(s) => {
                    let at = jiff::SignedDuration::try_from(d.get())
                        .ok()
                        .and_then(|d| s.checked_add(d).ok());
                    let Some(at) = at else {
                        self.error_on(&end_field, end, format!("{d} after start is out of range"));
                        return None;
                    };
                    WindowEnd::At(at)
                }
            }
        } else {
            self.error_on(
                &end_field,
                end,
                format!(
                    "invalid end {:?}: expected an RFC 3339 time such as 2026-05-02T02:00:00Z or a \
                     duration after start such as 2h",
                    end.value
                ),
            );
            return None;
        };
        Some(MaintenanceWindow::Once {
            start: start_at,
            end,
        })
    }
}

/// The prefix of the ids of Tocsin's own checks (self-alarms: `tocsin.config`, …).
pub const SELF_PREFIX: &str = "tocsin.";

/// A cron expression of a recurring maintenance, with the field and place to blame for it.
struct CronSource<'a> {
    value: String,
    field: &'static str,
    at: &'a Spanned<String>,
}

/// `mon`, `Monday`… as cron's day name.
fn weekday(s: &str) -> Option<&'static str> {
    let s = s.trim().to_ascii_lowercase();
    ["mon", "tue", "wed", "thu", "fri", "sat", "sun"]
        .into_iter()
        .find(|d| {
            s == *d
                || matches!(
                    (*d, s.as_str()),
                    ("mon", "monday")
                        | ("tue", "tuesday")
                        | ("wed", "wednesday")
                        | ("thu", "thursday")
                        | ("fri", "friday")
                        | ("sat", "saturday")
                        | ("sun", "sunday")
                )
        })
}

/// `HH:MM` as minutes after midnight.
fn time_of_day(s: &str) -> Option<u32> {
    let (h, m) = s.trim().split_once(':')?;
    if h.is_empty() || h.len() > 2 || m.len() != 2 {
        return None;
    }
    let (h, m): (u32, u32) = (h.parse().ok()?, m.parse().ok()?);
    (h < 24 && m < 60).then_some(h * 60 + m)
}

const STANDARD_METHODS: [&str; 9] = [
    "GET", "HEAD", "POST", "PUT", "DELETE", "CONNECT", "OPTIONS", "TRACE", "PATCH",
];

fn check_zone(name: &str) -> Result<(), ScheduleError> {
    if name == "UTC" {
        return Ok(());
    }
    jiff::tz::TimeZone::get(name)
        .map(|_| ())
        .map_err(|_| ScheduleError::BadZone(name.to_owned()))
}

/// An `http://` or `https://` URL with a host. The message does not repeat the URL.
fn check_url(url: &str) -> Result<(), String> {
    let uri: http::Uri = url
        .trim()
        .parse()
        .map_err(|e| format!("invalid URL: {e}"))?;
    match uri.scheme_str() {
        Some("http" | "https") => {}
        Some(s) => {
            return Err(format!(
                "unsupported URL scheme \"{s}\": expected http or https"
            ));
        }
        None => return Err("the URL must start with http:// or https://".into()),
    }
    if uri.host().is_none_or(str::is_empty) {
        return Err("the URL has no host".into());
    }
    Ok(())
}

fn looks_like_email(s: &str) -> bool {
    let Some((local, domain)) = s.split_once('@') else {
        return false;
    };
    !local.is_empty()
        && !domain.is_empty()
        && !domain.contains('@')
        && !domain.starts_with('.')
        && !domain.ends_with('.')
        && !s
            .chars()
            .any(|c| c.is_whitespace() || c.is_control() || matches!(c, '<' | '>' | ',' | ';'))
}

/// Finds `needle` at or after `line:column` in `text`; its line and column.
fn find_after(text: &str, line: u64, column: u64, needle: &str) -> Option<(u64, u64)> {
    if line == 0 {
        return None;
    }
    let mut offset = 0;
    for (n, l) in text.split_inclusive('\n').enumerate() {
        if n as u64 + 1 == line {
            let skip: usize = l
                .chars()
                .take(column.saturating_sub(1) as usize)
                .map(char::len_utf8)
                .sum();
            offset += skip;
            break;
        }
        offset += l.len();
    }
    let found = offset + text.get(offset..)?.find(needle)?;
    let before = &text[..found];
    let line = before.matches('\n').count() as u64 + 1;
    let line_start = before.rfind('\n').map_or(0, |i| i + 1);
    let column = before[line_start..].chars().count() as u64 + 1;
    Some((line, column))
}

// ---------------------------------------------------------------------------------------------
// Rules between files.
// ---------------------------------------------------------------------------------------------

fn cross_check(good: &BTreeMap<String, ParsedFile>) -> Vec<ConfigError> {
    let mut errors = Vec::new();
    let mut duplicates =
        |kind: &str, items: &mut dyn Iterator<Item = (String, String, &Origin)>| {
            let mut first: HashMap<String, Origin> = HashMap::new();
            let mut known = HashSet::new();
            for (id, field, origin) in items {
                if let Some(f) = first.get(&id) {
                    errors.push(ConfigError {
                        file: origin.file.to_string(),
                        line: origin.line,
                        column: origin.column,
                        field: Some(field),
                        message: format!("duplicate {kind} id {id:?} (first defined at {f})"),
                    });
                } else {
                    known.insert(id.clone());
                    first.insert(id, origin.clone());
                }
            }
            known
        };
    let checks = duplicates(
        "check",
        &mut good.values().flat_map(|f| {
            f.checks
                .iter()
                .enumerate()
                .map(|(i, c)| (c.id.to_string(), format!("checks[{i}].id"), &c.origin))
        }),
    );
    // Contacts and contact groups share one namespace.
    let contacts = duplicates(
        "contact",
        &mut good.values().flat_map(|f| {
            let people = f
                .contacts
                .iter()
                .enumerate()
                .map(|(i, c)| (c.id.clone(), format!("contacts[{i}].id"), &c.origin));
            let lists = f
                .contact_groups
                .iter()
                .enumerate()
                .map(|(i, g)| (g.id.clone(), format!("contact_groups[{i}].id"), &g.origin));
            people.chain(lists)
        }),
    );
    let members: HashSet<String> = good
        .values()
        .flat_map(|f| &f.contacts)
        .map(|c| c.id.clone())
        .collect();
    let mut extra = Vec::new();
    let selves: Vec<&Origin> = good
        .values()
        .filter_map(|f| f.self_notify.as_ref().map(|(_, o)| o))
        .collect();
    for o in selves.iter().skip(1) {
        extra.push(ConfigError {
            file: o.file.to_string(),
            line: o.line,
            column: o.column,
            field: Some("self".into()),
            message: format!(
                "\"self\" is already defined at {}: define it once",
                selves[0]
            ),
        });
    }
    let groups = duplicates(
        "group",
        &mut good.values().flat_map(|f| {
            f.groups
                .iter()
                .enumerate()
                .map(|(i, g)| (g.id.clone(), format!("groups[{i}].id"), &g.origin))
        }),
    );
    duplicates(
        "maintenance",
        &mut good.values().flat_map(|f| {
            f.maintenances
                .iter()
                .enumerate()
                .map(|(i, m)| (m.id.clone(), format!("maintenances[{i}].id"), &m.origin))
        }),
    );
    errors.extend(extra);
    for r in good.values().flat_map(|f| &f.references) {
        let known = match r.kind {
            RefKind::Check => &checks,
            RefKind::Contact => &contacts,
            RefKind::ContactMember => &members,
            RefKind::Group => &groups,
        };
        if !known.contains(&r.id) {
            errors.push(ConfigError {
                file: r.origin.file.to_string(),
                line: r.origin.line,
                column: r.origin.column,
                field: Some(r.field.clone()),
                message: match r.kind {
                    RefKind::Contact => format!(
                        "unknown contact {:?}: no contact or contact group has this id",
                        r.id
                    ),
                    RefKind::ContactMember if contacts.contains(&r.id) => format!(
                        "{:?} is a contact group: contact groups list contacts, not other groups",
                        r.id
                    ),
                    _ => format!("unknown {} {:?}: no {} has this id", r.kind, r.id, r.kind),
                },
            });
        }
    }
    errors.extend(dependency_cycles(good));
    errors
}

/// One error per dependency cycle among checks (`depends_on`), placed on the reference that
/// closes it. The first definition of a duplicated id is the one followed.
fn dependency_cycles(good: &BTreeMap<String, ParsedFile>) -> Vec<ConfigError> {
    // Each edge: (from, to, where it is written).
    let mut edges: BTreeMap<&str, Vec<(&str, Option<&Reference>)>> = BTreeMap::new();
    for file in good.values() {
        for (i, c) in file.checks.iter().enumerate() {
            if edges.contains_key(c.id.as_str()) {
                continue;
            }
            let prefix = format!("checks[{i}].depends_on[");
            let out = c
                .depends_on
                .iter()
                .map(|d| {
                    let at = file.references.iter().find(|r| {
                        r.kind == RefKind::Check
                            && r.id == d.as_str()
                            && r.field.starts_with(&prefix)
                    });
                    (d.as_str(), at)
                })
                .collect();
            edges.insert(c.id.as_str(), out);
        }
    }
    // Iterative depth-first search; colour 1 = on the path, 2 = done.
    let mut colour: HashMap<&str, u8> = HashMap::new();
    let mut errors = Vec::new();
    for &root in edges.keys() {
        if colour.contains_key(root) {
            continue;
        }
        let mut path: Vec<(&str, usize)> = vec![(root, 0)];
        colour.insert(root, 1);
        while let Some((node, next)) = path.last_mut() {
            let node = *node;
            let out = edges.get(node).map_or(&[][..], Vec::as_slice);
            let Some(&(to, at)) = out.get(*next) else {
                colour.insert(node, 2);
                path.pop();
                continue;
            };
            *next += 1;
            match colour.get(to) {
                None if edges.contains_key(to) => {
                    colour.insert(to, 1);
                    path.push((to, 0));
                }
                Some(1) => {
                    let start = path.iter().position(|(n, _)| *n == to).unwrap_or(0);
                    let mut names: Vec<&str> = path[start..].iter().map(|(n, _)| *n).collect();
                    names.push(to);
                    let origin = at.map(|r| (r.origin.clone(), r.field.clone()));
                    let (origin, field) = origin.unwrap_or_default();
                    errors.push(ConfigError {
                        file: origin.file.to_string(),
                        line: origin.line,
                        column: origin.column,
                        field: (!field.is_empty()).then_some(field),
                        message: format!("dependency cycle: {}", names.join(" → ")),
                    });
                }
                _ => {}
            }
        }
    }
    errors
}

// ---------------------------------------------------------------------------------------------
// Interpolation.
// ---------------------------------------------------------------------------------------------

/// Why a `${…}` could not be expanded.
#[derive(Debug, Clone, PartialEq, Eq, thiserror::Error)]
pub enum InterpolationError {
    /// `${NAME}` with `NAME` unset and no default.
    #[error(
        "environment variable {name:?} is not set (write ${{{name}:-default}} to give a default)"
    )]
    Missing {
        /// The variable.
        name: String,
    },
    /// `${NAME` with no closing brace.
    #[error("unclosed {text:?}: expected ${{NAME}} or ${{NAME:-default}}")]
    Unclosed {
        /// What was written.
        text: String,
    },
    /// `${NAME…}` in a form other than `${NAME}` and `${NAME:-default}`.
    #[error("unsupported {text:?}: only ${{NAME}} and ${{NAME:-default}} are supported")]
    Unsupported {
        /// What was written.
        text: String,
    },
}

impl InterpolationError {
    /// The text that starts the faulty reference, to find it in the file.
    fn needle(&self) -> String {
        match self {
            Self::Missing { name } => format!("${{{name}"),
            Self::Unclosed { text } | Self::Unsupported { text } => text.chars().take(64).collect(),
        }
    }
}

/// Expands `${NAME}` and `${NAME:-default}` (the default applies when `NAME` is unset or empty)
/// in `s`. `NAME` is `[A-Za-z_][A-Za-z0-9_]*`; `$${` is a literal `${`; any other `$` (a lone
/// `$`, `$$`, `$NAME`) is kept as written.
pub fn interpolate(
    s: &str,
    env: &dyn Fn(&str) -> Option<String>,
) -> Result<String, InterpolationError> {
    let mut problems = Vec::new();
    let out = interpolate_into(s, env, &mut problems);
    match problems.into_iter().next() {
        Some(p) => Err(p),
        None => Ok(out),
    }
}

/// [`interpolate`], recording every problem (a missing variable expands to nothing).
fn interpolate_into(
    s: &str,
    env: &dyn Fn(&str) -> Option<String>,
    problems: &mut Vec<InterpolationError>,
) -> String {
    let mut out = String::with_capacity(s.len());
    let mut rest = s;
    while let Some(i) = rest.find("${") {
        if rest[..i].ends_with('$') {
            // `$${`: a literal `${`.
            out.push_str(&rest[..i - 1]);
            out.push_str("${");
            rest = &rest[i + 2..];
            continue;
        }
        out.push_str(&rest[..i]);
        let after = &rest[i + 2..];
        let name_len = after
            .bytes()
            .enumerate()
            .take_while(|&(k, b)| {
                b == b'_' || b.is_ascii_alphabetic() || (k > 0 && b.is_ascii_digit())
            })
            .count();
        if name_len == 0 {
            out.push_str("${");
            rest = after;
            continue;
        }
        let name = &after[..name_len];
        let tail = &after[name_len..];
        let (default, next) = if let Some(t) = tail.strip_prefix('}') {
            (None, t)
        } else if let Some(t) = tail.strip_prefix(":-")
            && let Some(j) = t.find('}')
        {
            if t[..j].contains("${") {
                let text = format!("${{{name}:-{}}}", &t[..=j]);
                problems.push(InterpolationError::Unsupported { text });
                out.push_str(&rest[i..i + 2 + name_len + 2 + j + 1]);
                rest = &t[j + 1..];
                continue;
            }
            (Some(&t[..j]), &t[j + 1..])
        } else if let Some(j) = tail.find('}') {
            let text = format!("${{{name}{}", &tail[..=j]);
            problems.push(InterpolationError::Unsupported { text: text.clone() });
            out.push_str(&text);
            rest = &tail[j + 1..];
            continue;
        } else {
            problems.push(InterpolationError::Unclosed {
                text: format!("${{{name}"),
            });
            out.push_str(&rest[i..]);
            rest = "";
            continue;
        };
        match (env(name), default) {
            (Some(v), None) => out.push_str(&v),
            (Some(v), Some(_)) if !v.is_empty() => out.push_str(&v),
            (_, Some(d)) => out.push_str(d),
            (None, None) => problems.push(InterpolationError::Missing {
                name: name.to_owned(),
            }),
        }
        rest = next;
    }
    out.push_str(rest);
    out
}

// ---------------------------------------------------------------------------------------------
// YAML: a deserializer wrapper that interpolates scalars and records the field path, the field
// index, and error messages without their location suffix.
// ---------------------------------------------------------------------------------------------

mod yaml {
    //! serde-saphyr glue. [`parse`] runs the deserializer through a wrapper that expands `${…}`
    //! in every scalar (so numbers and booleans can come from the environment too, and a value
    //! can never change the structure of the document) and tracks the path of the field being
    //! read, so that an error can say `checks[1].http.expect.json[0].path`.

    use std::cell::{Cell, RefCell};
    use std::collections::HashMap;
    use std::fmt;

    use serde::Deserialize;
    use serde::de::{
        self, DeserializeSeed, Deserializer, EnumAccess, IgnoredAny, MapAccess, SeqAccess,
        VariantAccess, Visitor,
    };
    use serde_saphyr::Spanned;

    use super::{InterpolationError, interpolate_into};

    /// The first key of the map serde-saphyr synthesises for a `Spanned<T>`; the value of such
    /// a map is at the same path as the map itself.
    const SPANNED_MARKER: &str = "__serde_saphyr_private_spanned";

    /// What [`parse`] returns.
    pub(super) struct Parsed<T> {
        pub(super) value: Result<T, serde_saphyr::Error>,
        /// The path of the field where the error arose.
        pub(super) error_path: Option<String>,
        /// Interpolation problems and the path of the field where each was found.
        pub(super) problems: Vec<(InterpolationError, String)>,
    }

    fn options() -> serde_saphyr::Options {
        let mut o = serde_saphyr::Options::default();
        o.with_snippet = false;
        o
    }

    /// Deserialises `text`, interpolating scalars with `env`.
    pub(super) fn parse<T: for<'de> Deserialize<'de>>(
        text: &str,
        env: &dyn Fn(&str) -> Option<String>,
    ) -> Parsed<T> {
        let ctx = Ctx {
            env,
            path: RefCell::new(Vec::new()),
            error_path: RefCell::new(None),
            key: RefCell::new(None),
            key_mode: Cell::new(false),
            problems: RefCell::new(Vec::new()),
        };
        let value = serde_saphyr::with_deserializer_from_str_with_options(text, options(), |d| {
            T::deserialize(De {
                inner: d,
                ctx: &ctx,
            })
        });
        Parsed {
            value,
            error_path: ctx.error_path.into_inner().map(|p| render(&p)),
            problems: ctx.problems.into_inner(),
        }
    }

    /// Where every value of `text` is: field path → (line, column). Empty if `text` does not
    /// parse.
    pub(super) fn field_index(text: &str) -> HashMap<String, (u64, u64)> {
        let mut index = HashMap::new();
        if let Ok(root) = serde_saphyr::from_str_with_options::<Spanned<Tree>>(text, options()) {
            fill(&mut index, String::new(), &root);
        }
        index
    }

    fn fill(index: &mut HashMap<String, (u64, u64)>, path: String, node: &Spanned<Tree>) {
        match &node.value {
            Tree::Map(entries) => {
                for (k, v) in entries {
                    let p = if path.is_empty() {
                        k.clone()
                    } else {
                        format!("{path}.{k}")
                    };
                    fill(index, p, v);
                }
            }
            Tree::Seq(items) => {
                for (i, v) in items.iter().enumerate() {
                    fill(index, format!("{path}[{i}]"), v);
                }
            }
            Tree::Leaf => {}
        }
        index
            .entry(path)
            .or_insert((node.referenced.line(), node.referenced.column()));
    }

    /// The shape of a document, for [`field_index`].
    enum Tree {
        Map(Vec<(String, Spanned<Tree>)>),
        Seq(Vec<Spanned<Tree>>),
        Leaf,
    }

    impl<'de> Deserialize<'de> for Tree {
        fn deserialize<D: Deserializer<'de>>(d: D) -> Result<Self, D::Error> {
            d.deserialize_any(TreeVisitor)
        }
    }

    struct TreeVisitor;

    macro_rules! leaf {
        ($($m:ident: $t:ty),*) => {
            $(fn $m<E: de::Error>(self, _: $t) -> Result<Tree, E> { Ok(Tree::Leaf) })*
        };
    }

    impl<'de> Visitor<'de> for TreeVisitor {
        type Value = Tree;

        fn expecting(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
            f.write_str("any YAML value")
        }

        leaf!(visit_bool: bool, visit_i64: i64, visit_u64: u64, visit_i128: i128, visit_u128: u128,
              visit_f64: f64, visit_str: &str, visit_bytes: &[u8]);

        fn visit_unit<E: de::Error>(self) -> Result<Tree, E> {
            Ok(Tree::Leaf)
        }

        fn visit_none<E: de::Error>(self) -> Result<Tree, E> {
            Ok(Tree::Leaf)
        }

        fn visit_some<D: Deserializer<'de>>(self, d: D) -> Result<Tree, D::Error> {
            Tree::deserialize(d)
        }

        fn visit_seq<A: SeqAccess<'de>>(self, mut a: A) -> Result<Tree, A::Error> {
            let mut items = Vec::new();
            while let Some(v) = a.next_element()? {
                items.push(v);
            }
            Ok(Tree::Seq(items))
        }

        fn visit_map<A: MapAccess<'de>>(self, mut a: A) -> Result<Tree, A::Error> {
            let mut entries = Vec::new();
            while let Some(KeyText(k)) = a.next_key()? {
                entries.push((k, a.next_value()?));
            }
            Ok(Tree::Map(entries))
        }
    }

    /// A mapping key as text (`?` for a key that is itself a collection).
    struct KeyText(String);

    impl<'de> Deserialize<'de> for KeyText {
        fn deserialize<D: Deserializer<'de>>(d: D) -> Result<Self, D::Error> {
            struct V;
            impl<'de> Visitor<'de> for V {
                type Value = KeyText;

                fn expecting(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
                    f.write_str("a mapping key")
                }

                fn visit_str<E: de::Error>(self, s: &str) -> Result<KeyText, E> {
                    Ok(KeyText(s.to_owned()))
                }

                fn visit_bool<E: de::Error>(self, b: bool) -> Result<KeyText, E> {
                    Ok(KeyText(b.to_string()))
                }

                fn visit_i64<E: de::Error>(self, n: i64) -> Result<KeyText, E> {
                    Ok(KeyText(n.to_string()))
                }

                fn visit_u64<E: de::Error>(self, n: u64) -> Result<KeyText, E> {
                    Ok(KeyText(n.to_string()))
                }

                fn visit_f64<E: de::Error>(self, n: f64) -> Result<KeyText, E> {
                    Ok(KeyText(n.to_string()))
                }

                fn visit_unit<E: de::Error>(self) -> Result<KeyText, E> {
                    Ok(KeyText("null".into()))
                }

                fn visit_seq<A: SeqAccess<'de>>(self, mut a: A) -> Result<KeyText, A::Error> {
                    while a.next_element::<IgnoredAny>()?.is_some() {}
                    Ok(KeyText("?".into()))
                }

                fn visit_map<A: MapAccess<'de>>(self, mut a: A) -> Result<KeyText, A::Error> {
                    while a.next_entry::<IgnoredAny, IgnoredAny>()?.is_some() {}
                    Ok(KeyText("?".into()))
                }
            }
            d.deserialize_any(V)
        }
    }

    /// A deserialisation error as one clean sentence, without the location suffix.
    pub(super) fn describe(e: &serde_saphyr::Error) -> String {
        use serde_saphyr::Error as E;
        match e {
            E::SerdeUnknownField {
                field, expected, ..
            } if expected.is_empty() => {
                format!("unknown field {field:?}: no fields are allowed here")
            }
            E::SerdeUnknownField {
                field, expected, ..
            } => {
                format!(
                    "unknown field {field:?}, expected one of: {}",
                    expected.join(", ")
                )
            }
            E::SerdeUnknownVariant {
                variant, expected, ..
            } => {
                format!(
                    "unknown value {variant:?}, expected one of: {}",
                    expected.join(", ")
                )
            }
            E::SerdeMissingField { field, .. } => format!("missing field {field:?}"),
            E::SerdeInvalidType {
                unexpected,
                expected,
                ..
            } => {
                format!("expected {}, found {unexpected}", human(expected))
            }
            E::SerdeInvalidValue {
                unexpected,
                expected,
                ..
            } => {
                format!("invalid value: {unexpected}, expected {}", human(expected))
            }
            E::DuplicateMappingKey { key: Some(k), .. } => format!("duplicate key {k:?}"),
            E::DuplicateMappingKey { key: None, .. } => "duplicate key".into(),
            E::Unexpected { expected, .. } => format!("expected {}", human(expected)),
            E::Message { msg, .. } => msg.clone(),
            E::MultipleDocuments { .. } => {
                "a file holds one YAML document: remove this \"---\" or move what follows to \
                 another file"
                    .into()
            }
            E::ExternalMessage { msg, .. } => format!("invalid YAML: {msg}"),
            E::WithSnippet { error, .. } => describe(error),
            _ => strip_location(e),
        }
    }

    fn strip_location(e: &serde_saphyr::Error) -> String {
        let text = e.to_string();
        match e.location() {
            Some(l) => {
                let suffix = format!(" at line {}, column {}", l.line(), l.column());
                text.strip_suffix(&suffix)
                    .map_or_else(|| text.clone(), str::to_owned)
            }
            None => text,
        }
    }

    /// serde's names for what it expected, in the words of a configuration file.
    fn human(expected: &str) -> String {
        let bounded = |max: u128| format!("a whole number from 0 to {max}");
        match expected {
            "u8" => bounded(u8::MAX.into()),
            "u16" => bounded(u16::MAX.into()),
            "u32" => bounded(u32::MAX.into()),
            "u64" => bounded(u64::MAX.into()),
            "i8" | "i16" | "i32" | "i64" => "a whole number".into(),
            "f32" | "f64" => "a number".into(),
            "a boolean" => "true or false".into(),
            "a sequence" | "sequence start" => "a list".into(),
            "a map" | "mapping start" => "a mapping".into(),
            "string scalar" => "a string".into(),
            s if s.starts_with("struct ") => "a mapping".into(),
            s => s.to_owned(),
        }
    }

    #[derive(Clone, Debug, PartialEq)]
    enum Seg {
        Key(String),
        Index(usize),
    }

    fn render(path: &[Seg]) -> String {
        let mut s = String::new();
        for seg in path {
            match seg {
                Seg::Key(k) => {
                    if !s.is_empty() {
                        s.push('.');
                    }
                    s.push_str(k);
                }
                Seg::Index(i) => {
                    s.push('[');
                    s.push_str(&i.to_string());
                    s.push(']');
                }
            }
        }
        s
    }

    struct Ctx<'a> {
        env: &'a dyn Fn(&str) -> Option<String>,
        /// The path of the value being read.
        path: RefCell<Vec<Seg>>,
        /// The path where the first error arose (the deepest, as errors unwind).
        error_path: RefCell<Option<Vec<Seg>>>,
        /// The last mapping key read.
        key: RefCell<Option<String>>,
        /// Whether a mapping key (or enum variant name) is being read.
        key_mode: Cell<bool>,
        problems: RefCell<Vec<(InterpolationError, String)>>,
    }

    impl Ctx<'_> {
        fn capture(&self, extra: Option<Seg>) {
            let mut e = self.error_path.borrow_mut();
            if e.is_none() {
                let mut p = self.path.borrow().clone();
                p.extend(extra);
                *e = Some(p);
            }
        }

        /// The expanded scalar, or `None` if it has nothing to expand.
        fn expand(&self, s: &str) -> Option<String> {
            if self.key_mode.get() {
                *self.key.borrow_mut() = Some(s.to_owned());
            }
            if !s.contains("${") {
                return None;
            }
            let mut problems = Vec::new();
            let out = interpolate_into(s, self.env, &mut problems);
            if !problems.is_empty() {
                let path = render(&self.path.borrow());
                self.problems
                    .borrow_mut()
                    .extend(problems.into_iter().map(|p| (p, path.clone())));
            }
            Some(out)
        }

        fn scoped<R, E>(&self, seg: Option<Seg>, f: impl FnOnce() -> Result<R, E>) -> Result<R, E> {
            let pushed = seg.is_some();
            if let Some(seg) = seg {
                self.path.borrow_mut().push(seg);
            }
            let r = f();
            if r.is_err() {
                self.capture(None);
            }
            if pushed {
                self.path.borrow_mut().pop();
            }
            r
        }
    }

    struct De<'c, 'a, D> {
        inner: D,
        ctx: &'c Ctx<'a>,
    }

    /// What a scalar read through `deserialize_any` should become once expanded.
    #[derive(Clone, Copy)]
    enum Hint {
        Bool,
        Int,
        Uint,
        Float,
    }

    macro_rules! forward {
        ($($m:ident),*) => {
            $(fn $m<V: Visitor<'de>>(self, v: V) -> Result<V::Value, Self::Error> {
                self.inner.$m(Vis { v, ctx: self.ctx, hint: None })
            })*
        };
    }

    macro_rules! hinted {
        ($($m:ident => $h:ident),*) => {
            $(fn $m<V: Visitor<'de>>(self, v: V) -> Result<V::Value, Self::Error> {
                // Read as "anything" so that `${PORT}` reaches us as text to expand.
                self.inner.deserialize_any(Vis { v, ctx: self.ctx, hint: Some(Hint::$h) })
            })*
        };
    }

    impl<'de, D: Deserializer<'de>> Deserializer<'de> for De<'_, '_, D> {
        type Error = D::Error;

        forward!(
            deserialize_any,
            deserialize_char,
            deserialize_str,
            deserialize_string,
            deserialize_bytes,
            deserialize_byte_buf,
            deserialize_option,
            deserialize_unit,
            deserialize_seq,
            deserialize_map,
            deserialize_identifier,
            deserialize_ignored_any
        );

        hinted!(deserialize_bool => Bool, deserialize_i8 => Int, deserialize_i16 => Int,
                deserialize_i32 => Int, deserialize_i64 => Int, deserialize_i128 => Int,
                deserialize_u8 => Uint, deserialize_u16 => Uint, deserialize_u32 => Uint,
                deserialize_u64 => Uint, deserialize_u128 => Uint, deserialize_f32 => Float,
                deserialize_f64 => Float);

        fn deserialize_unit_struct<V: Visitor<'de>>(
            self,
            name: &'static str,
            v: V,
        ) -> Result<V::Value, Self::Error> {
            self.inner.deserialize_unit_struct(
                name,
                Vis {
                    v,
                    ctx: self.ctx,
                    hint: None,
                },
            )
        }

        fn deserialize_newtype_struct<V: Visitor<'de>>(
            self,
            name: &'static str,
            v: V,
        ) -> Result<V::Value, Self::Error> {
            self.inner.deserialize_newtype_struct(
                name,
                Vis {
                    v,
                    ctx: self.ctx,
                    hint: None,
                },
            )
        }

        fn deserialize_tuple<V: Visitor<'de>>(
            self,
            len: usize,
            v: V,
        ) -> Result<V::Value, Self::Error> {
            self.inner.deserialize_tuple(
                len,
                Vis {
                    v,
                    ctx: self.ctx,
                    hint: None,
                },
            )
        }

        fn deserialize_tuple_struct<V: Visitor<'de>>(
            self,
            name: &'static str,
            len: usize,
            v: V,
        ) -> Result<V::Value, Self::Error> {
            self.inner.deserialize_tuple_struct(
                name,
                len,
                Vis {
                    v,
                    ctx: self.ctx,
                    hint: None,
                },
            )
        }

        fn deserialize_struct<V: Visitor<'de>>(
            self,
            name: &'static str,
            fields: &'static [&'static str],
            v: V,
        ) -> Result<V::Value, Self::Error> {
            self.inner.deserialize_struct(
                name,
                fields,
                Vis {
                    v,
                    ctx: self.ctx,
                    hint: None,
                },
            )
        }

        fn deserialize_enum<V: Visitor<'de>>(
            self,
            name: &'static str,
            variants: &'static [&'static str],
            v: V,
        ) -> Result<V::Value, Self::Error> {
            self.inner.deserialize_enum(
                name,
                variants,
                Vis {
                    v,
                    ctx: self.ctx,
                    hint: None,
                },
            )
        }

        fn is_human_readable(&self) -> bool {
            self.inner.is_human_readable()
        }
    }

    struct Vis<'c, 'a, V> {
        v: V,
        ctx: &'c Ctx<'a>,
        hint: Option<Hint>,
    }

    macro_rules! pass {
        ($($m:ident: $t:ty),*) => {
            $(fn $m<E: de::Error>(self, x: $t) -> Result<Self::Value, E> { self.v.$m(x) })*
        };
    }

    impl<'de, V: Visitor<'de>> Vis<'_, '_, V> {
        fn text<E: de::Error>(self, s: &str, borrowed: Option<&'de str>) -> Result<V::Value, E> {
            let Some(expanded) = self.ctx.expand(s) else {
                return match borrowed {
                    Some(b) => self.v.visit_borrowed_str(b),
                    None => self.v.visit_str(s),
                };
            };
            let Some(hint) = self.hint else {
                return self.v.visit_string(expanded);
            };
            let t = expanded.trim();
            // The expanded value may be a secret: a mismatch does not repeat it.
            let mismatch = |what: &str| {
                E::custom(format!(
                    "expected {what}, but {s:?} expands to something else"
                ))
            };
            match hint {
                Hint::Bool => match t {
                    "true" => self.v.visit_bool(true),
                    "false" => self.v.visit_bool(false),
                    _ => Err(mismatch("true or false")),
                },
                Hint::Int => t
                    .parse()
                    .map_or_else(|_| Err(mismatch("a whole number")), |n| self.v.visit_i64(n)),
                Hint::Uint => t
                    .parse()
                    .map_or_else(|_| Err(mismatch("a whole number")), |n| self.v.visit_u64(n)),
                Hint::Float => t
                    .parse()
                    .map_or_else(|_| Err(mismatch("a number")), |n| self.v.visit_f64(n)),
            }
        }
    }

    impl<'de, V: Visitor<'de>> Visitor<'de> for Vis<'_, '_, V> {
        type Value = V::Value;

        fn expecting(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
            self.v.expecting(f)
        }

        pass!(visit_bool: bool, visit_i8: i8, visit_i16: i16, visit_i32: i32, visit_i64: i64,
              visit_i128: i128, visit_u8: u8, visit_u16: u16, visit_u32: u32, visit_u64: u64,
              visit_u128: u128, visit_f32: f32, visit_f64: f64, visit_char: char,
              visit_bytes: &[u8], visit_borrowed_bytes: &'de [u8], visit_byte_buf: Vec<u8>);

        fn visit_str<E: de::Error>(self, s: &str) -> Result<Self::Value, E> {
            self.text(s, None)
        }

        fn visit_borrowed_str<E: de::Error>(self, s: &'de str) -> Result<Self::Value, E> {
            self.text(s, Some(s))
        }

        fn visit_string<E: de::Error>(self, s: String) -> Result<Self::Value, E> {
            if self.hint.is_none() && !s.contains("${") {
                if self.ctx.key_mode.get() {
                    *self.ctx.key.borrow_mut() = Some(s.clone());
                }
                return self.v.visit_string(s);
            }
            self.text(&s, None)
        }

        fn visit_none<E: de::Error>(self) -> Result<Self::Value, E> {
            self.v.visit_none()
        }

        fn visit_unit<E: de::Error>(self) -> Result<Self::Value, E> {
            self.v.visit_unit()
        }

        fn visit_some<D: Deserializer<'de>>(self, d: D) -> Result<Self::Value, D::Error> {
            self.v.visit_some(De {
                inner: d,
                ctx: self.ctx,
            })
        }

        fn visit_newtype_struct<D: Deserializer<'de>>(self, d: D) -> Result<Self::Value, D::Error> {
            self.v.visit_newtype_struct(De {
                inner: d,
                ctx: self.ctx,
            })
        }

        fn visit_seq<A: SeqAccess<'de>>(self, a: A) -> Result<Self::Value, A::Error> {
            self.v.visit_seq(Seq {
                inner: a,
                ctx: self.ctx,
                index: 0,
            })
        }

        fn visit_map<A: MapAccess<'de>>(self, a: A) -> Result<Self::Value, A::Error> {
            self.v.visit_map(Map {
                inner: a,
                ctx: self.ctx,
                first: true,
                spanned: false,
                key: None,
            })
        }

        fn visit_enum<A: EnumAccess<'de>>(self, a: A) -> Result<Self::Value, A::Error> {
            self.v.visit_enum(Enum {
                inner: a,
                ctx: self.ctx,
            })
        }
    }

    struct Seed<'c, 'a, S> {
        s: S,
        ctx: &'c Ctx<'a>,
    }

    impl<'de, S: DeserializeSeed<'de>> DeserializeSeed<'de> for Seed<'_, '_, S> {
        type Value = S::Value;

        fn deserialize<D: Deserializer<'de>>(self, d: D) -> Result<S::Value, D::Error> {
            self.s.deserialize(De {
                inner: d,
                ctx: self.ctx,
            })
        }
    }

    struct Seq<'c, 'a, A> {
        inner: A,
        ctx: &'c Ctx<'a>,
        index: usize,
    }

    impl<'de, A: SeqAccess<'de>> SeqAccess<'de> for Seq<'_, '_, A> {
        type Error = A::Error;

        fn next_element_seed<T: DeserializeSeed<'de>>(
            &mut self,
            seed: T,
        ) -> Result<Option<T::Value>, A::Error> {
            let index = self.index;
            self.index += 1;
            let ctx = self.ctx;
            let inner = &mut self.inner;
            ctx.scoped(Some(Seg::Index(index)), || {
                inner.next_element_seed(Seed { s: seed, ctx })
            })
        }

        fn size_hint(&self) -> Option<usize> {
            self.inner.size_hint()
        }
    }

    struct Map<'c, 'a, A> {
        inner: A,
        ctx: &'c Ctx<'a>,
        first: bool,
        /// The synthetic map of a `Spanned<T>`: transparent in paths.
        spanned: bool,
        key: Option<String>,
    }

    impl<'de, A: MapAccess<'de>> MapAccess<'de> for Map<'_, '_, A> {
        type Error = A::Error;

        fn next_key_seed<K: DeserializeSeed<'de>>(
            &mut self,
            seed: K,
        ) -> Result<Option<K::Value>, A::Error> {
            *self.ctx.key.borrow_mut() = None;
            self.ctx.key_mode.set(true);
            let r = self.inner.next_key_seed(Seed {
                s: seed,
                ctx: self.ctx,
            });
            self.ctx.key_mode.set(false);
            self.key = self.ctx.key.borrow_mut().take();
            if r.is_err() {
                // An unknown field: its path names it.
                self.ctx.capture(self.key.clone().map(Seg::Key));
            }
            if self.first && self.key.as_deref() == Some(SPANNED_MARKER) {
                self.spanned = true;
            }
            self.first = false;
            r
        }

        fn next_value_seed<T: DeserializeSeed<'de>>(
            &mut self,
            seed: T,
        ) -> Result<T::Value, A::Error> {
            let seg = if self.spanned {
                None
            } else {
                Some(Seg::Key(self.key.clone().unwrap_or_else(|| "?".into())))
            };
            let ctx = self.ctx;
            let inner = &mut self.inner;
            ctx.scoped(seg, || inner.next_value_seed(Seed { s: seed, ctx }))
        }

        fn size_hint(&self) -> Option<usize> {
            self.inner.size_hint()
        }
    }

    struct Enum<'c, 'a, A> {
        inner: A,
        ctx: &'c Ctx<'a>,
    }

    impl<'c, 'a, 'de, A: EnumAccess<'de>> EnumAccess<'de> for Enum<'c, 'a, A> {
        type Error = A::Error;
        type Variant = Variant<'c, 'a, A::Variant>;

        fn variant_seed<S: DeserializeSeed<'de>>(
            self,
            seed: S,
        ) -> Result<(S::Value, Self::Variant), A::Error> {
            *self.ctx.key.borrow_mut() = None;
            self.ctx.key_mode.set(true);
            let r = self.inner.variant_seed(Seed {
                s: seed,
                ctx: self.ctx,
            });
            self.ctx.key_mode.set(false);
            let name = self.ctx.key.borrow_mut().take();
            match r {
                Ok((value, variant)) => Ok((
                    value,
                    Variant {
                        inner: variant,
                        ctx: self.ctx,
                        name,
                    },
                )),
                Err(e) => {
                    self.ctx.capture(None);
                    Err(e)
                }
            }
        }
    }

    struct Variant<'c, 'a, A> {
        inner: A,
        ctx: &'c Ctx<'a>,
        name: Option<String>,
    }

    impl<'de, A: VariantAccess<'de>> VariantAccess<'de> for Variant<'_, '_, A> {
        type Error = A::Error;

        fn unit_variant(self) -> Result<(), A::Error> {
            self.inner.unit_variant()
        }

        fn newtype_variant_seed<T: DeserializeSeed<'de>>(
            self,
            seed: T,
        ) -> Result<T::Value, A::Error> {
            let (ctx, inner) = (self.ctx, self.inner);
            ctx.scoped(self.name.map(Seg::Key), || {
                inner.newtype_variant_seed(Seed { s: seed, ctx })
            })
        }

        fn tuple_variant<V: Visitor<'de>>(self, len: usize, v: V) -> Result<V::Value, A::Error> {
            let (ctx, inner) = (self.ctx, self.inner);
            ctx.scoped(self.name.map(Seg::Key), || {
                inner.tuple_variant(len, Vis { v, ctx, hint: None })
            })
        }

        fn struct_variant<V: Visitor<'de>>(
            self,
            fields: &'static [&'static str],
            v: V,
        ) -> Result<V::Value, A::Error> {
            let (ctx, inner) = (self.ctx, self.inner);
            ctx.scoped(self.name.map(Seg::Key), || {
                inner.struct_variant(fields, Vis { v, ctx, hint: None })
            })
        }
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    fn env(name: &str) -> Option<String> {
        match name {
            "HOST" => Some("db.example.com".into()),
            "EMPTY" => Some(String::new()),
            _ => None,
        }
    }

    #[test]
    fn interpolation_table() {
        let ok = [
            ("plain", "plain"),
            ("${HOST}", "db.example.com"),
            ("a-${HOST}-b", "a-db.example.com-b"),
            ("${NOPE:-fallback}", "fallback"),
            ("${EMPTY:-fallback}", "fallback"),
            ("${EMPTY}", ""),
            ("${HOST:-x}", "db.example.com"),
            ("${NOPE:-}", ""),
            ("pa$$word", "pa$$word"),
            ("cost: 5$", "cost: 5$"),
            ("$HOST", "$HOST"),
            ("$${HOST}", "${HOST}"),
            ("${1x}", "${1x}"),
            ("${ HOST}", "${ HOST}"),
            ("${", "${"),
        ];
        for (input, want) in ok {
            assert_eq!(interpolate(input, &env).as_deref(), Ok(want), "{input}");
        }
        let bad = [
            (
                "${NOPE}",
                InterpolationError::Missing {
                    name: "NOPE".into(),
                },
            ),
            (
                "x ${HOST",
                InterpolationError::Unclosed {
                    text: "${HOST".into(),
                },
            ),
            (
                "${HOST-x}",
                InterpolationError::Unsupported {
                    text: "${HOST-x}".into(),
                },
            ),
            (
                "${HOST:?err}",
                InterpolationError::Unsupported {
                    text: "${HOST:?err}".into(),
                },
            ),
            (
                "${A:-${HOST}}",
                InterpolationError::Unsupported {
                    text: "${A:-${HOST}}".into(),
                },
            ),
        ];
        for (input, want) in bad {
            assert_eq!(interpolate(input, &env), Err(want), "{input}");
        }
    }

    #[test]
    fn find_after_counts_characters() {
        let text = "a: 1\nb: \"é ${X}\"\n";
        assert_eq!(find_after(text, 2, 4, "${X"), Some((2, 7)));
        assert_eq!(find_after(text, 2, 4, "${Y"), None);
    }

    #[test]
    fn field_index_knows_every_value() {
        let index = yaml::field_index("checks:\n  - id: a\n    http:\n      url: x\n");
        assert_eq!(index.get("checks[0]"), Some(&(2, 5)));
        assert_eq!(index.get("checks[0].id"), Some(&(2, 9)));
        assert_eq!(index.get("checks[0].http.url"), Some(&(4, 12)));
    }

    #[test]
    fn maintenance_windows_open_and_close() {
        let t = |s: &str| s.parse::<Timestamp>().unwrap();
        let once = MaintenanceWindow::Once {
            start: None,
            end: WindowEnd::After(Duration::from_secs(3600)),
        };
        let loaded = t("2026-01-01T00:00:00Z");
        assert!(once.is_active(t("2026-01-01T00:30:00Z"), loaded));
        assert!(!once.is_active(t("2026-01-01T01:00:00Z"), loaded));
        let nightly = MaintenanceWindow::Recurring {
            schedule: Schedule::cron("0 2 * * *", None).unwrap(),
            duration: Duration::from_secs(1800),
        };
        assert!(nightly.is_active(t("2026-01-01T02:10:00Z"), loaded));
        assert!(nightly.is_active(t("2026-01-01T02:00:00Z"), loaded));
        assert!(!nightly.is_active(t("2026-01-01T02:30:00Z"), loaded));
        assert!(!nightly.is_active(t("2026-01-01T01:59:00Z"), loaded));
    }
}
