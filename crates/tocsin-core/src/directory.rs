//! Contacts, groups and maintenances: who is told, which checks share one alarm, and when
//! notifications are held back — as written in configuration files (`*Def`) and once validated.
//!
//! Like the check types, the `*Def` types are the users' contract: field names are the YAML
//! names and every struct denies unknown fields.

use std::collections::BTreeMap;
use std::fmt;
use std::time::Duration;

use jiff::Timestamp;
use serde::{Deserialize, Serialize, Serializer};

use crate::check::{CheckId, Origin, Secret, Spanned};
use crate::schedule::Schedule;
use crate::{CheckSpec, Dur};

// ---------------------------------------------------------------------------------------------
// Contacts.
// ---------------------------------------------------------------------------------------------

/// The kind of a notification destination.
#[cfg_attr(feature = "openapi", derive(utoipa::ToSchema))]
#[derive(Clone, Copy, Debug, PartialEq, Eq, PartialOrd, Ord, Hash, Deserialize, Serialize)]
#[serde(rename_all = "lowercase")]
pub enum ContactKind {
    /// An email address (`to`).
    Email,
    /// A generic JSON webhook (`url`).
    Webhook,
    /// A Slack incoming webhook (`url`).
    Slack,
    /// A Mattermost incoming webhook (`url`).
    Mattermost,
    /// A Microsoft Teams incoming webhook (`url`).
    Teams,
    /// A Discord webhook (`url`).
    Discord,
    /// A Telegram bot (`settings`).
    Telegram,
    /// PagerDuty Events v2 (`settings`).
    Pagerduty,
    /// Opsgenie alerts (`settings`).
    Opsgenie,
    /// Twilio SMS (`settings`).
    Twilio,
    /// Datadog events (`settings`).
    Datadog,
    /// AWS CloudWatch metrics (`settings`).
    Cloudwatch,
    /// AWS EventBridge events (`settings`).
    Eventbridge,
    /// An ntfy topic URL (`url`).
    Ntfy,
    /// A Gotify server (`url`).
    Gotify,
    /// Pushover (`settings`).
    Pushover,
}

impl ContactKind {
    /// Every kind, in the order of the documentation.
    pub const ALL: [Self; 16] = [
        Self::Email,
        Self::Webhook,
        Self::Slack,
        Self::Mattermost,
        Self::Teams,
        Self::Discord,
        Self::Telegram,
        Self::Pagerduty,
        Self::Opsgenie,
        Self::Twilio,
        Self::Datadog,
        Self::Cloudwatch,
        Self::Eventbridge,
        Self::Ntfy,
        Self::Gotify,
        Self::Pushover,
    ];

    /// The name used in files: `email`, `slack`, …
    pub fn as_str(self) -> &'static str {
        match self {
            Self::Email => "email",
            Self::Webhook => "webhook",
            Self::Slack => "slack",
            Self::Mattermost => "mattermost",
            Self::Teams => "teams",
            Self::Discord => "discord",
            Self::Telegram => "telegram",
            Self::Pagerduty => "pagerduty",
            Self::Opsgenie => "opsgenie",
            Self::Twilio => "twilio",
            Self::Datadog => "datadog",
            Self::Cloudwatch => "cloudwatch",
            Self::Eventbridge => "eventbridge",
            Self::Ntfy => "ntfy",
            Self::Gotify => "gotify",
            Self::Pushover => "pushover",
        }
    }

    /// Whether contacts of this kind must have a `url` (the destination itself: a webhook, an
    /// incoming-webhook URL, an ntfy topic, a Gotify server).
    pub fn requires_url(self) -> bool {
        matches!(
            self,
            Self::Webhook
                | Self::Mattermost
                | Self::Teams
                | Self::Discord
                | Self::Ntfy
                | Self::Gotify
        )
    }

    /// Whether contacts of this kind may have a `url`: every kind but email. For the kinds that
    /// do not require one it replaces the provider's API endpoint (a regional endpoint, a proxy,
    /// a test server), and for Slack it is the incoming-webhook URL.
    pub fn takes_url(self) -> bool {
        self != Self::Email
    }

    /// The provider's documented limit, used when a contact sets no `rate_limit`: Slack
    /// incoming webhooks 1/s, Discord webhooks 30/min, Telegram 20/min per chat, Twilio 1/s
    /// per sender; the others none.
    pub fn default_rate_limit(self) -> Option<RateLimit> {
        let (count, secs) = match self {
            Self::Slack | Self::Twilio => (1, 1),
            Self::Discord => (30, 60),
            Self::Telegram => (20, 60),
            _ => return None,
        };
        Some(RateLimit {
            count,
            per: Duration::from_secs(secs),
        })
    }

    /// Whether this kind is addressed by `to` (which it then requires).
    pub fn uses_to(self) -> bool {
        self == Self::Email
    }
}

impl fmt::Display for ContactKind {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        f.write_str(self.as_str())
    }
}

/// Kind-specific settings of a contact (tokens, channels, regions…). Values may be secret, so
/// they never appear in `Debug` or serialised output; use [`Settings::get`] where they are sent.
#[derive(Clone, Default, PartialEq, Deserialize)]
#[serde(transparent)]
pub struct Settings(BTreeMap<String, serde_json::Value>);

impl Settings {
    /// One setting.
    pub fn get(&self, key: &str) -> Option<&serde_json::Value> {
        self.0.get(key)
    }

    /// One setting that is a string.
    pub fn get_str(&self, key: &str) -> Option<&str> {
        self.0.get(key).and_then(serde_json::Value::as_str)
    }

    /// The setting names, sorted.
    pub fn keys(&self) -> impl Iterator<Item = &str> {
        self.0.keys().map(String::as_str)
    }

    /// Whether there are no settings.
    pub fn is_empty(&self) -> bool {
        self.0.is_empty()
    }
}

impl From<BTreeMap<String, serde_json::Value>> for Settings {
    fn from(m: BTreeMap<String, serde_json::Value>) -> Self {
        Self(m)
    }
}

impl fmt::Debug for Settings {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        f.debug_map()
            .entries(self.0.keys().map(|k| (k, "********")))
            .finish()
    }
}

impl Serialize for Settings {
    fn serialize<S: Serializer>(&self, s: S) -> Result<S::Ok, S::Error> {
        s.collect_map(self.0.keys().map(|k| (k, "********")))
    }
}

/// One contact as written in a file.
#[cfg_attr(feature = "openapi", derive(utoipa::ToSchema))]
#[derive(Clone, Debug, Deserialize, Serialize)]
#[serde(deny_unknown_fields)]
pub struct ContactDef {
    /// Unique id among contacts, `[a-z0-9_.-]+`.
    #[cfg_attr(feature = "openapi", schema(value_type = String))]
    pub id: Spanned<String>,
    /// Display name (default: the id).
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub name: Option<String>,
    /// The kind of destination.
    #[serde(rename = "type")]
    #[cfg_attr(feature = "openapi", schema(value_type = ContactKind))]
    pub kind: Spanned<ContactKind>,
    /// Email address (required for, and only for, `email`).
    #[serde(default, skip_serializing_if = "Option::is_none")]
    #[cfg_attr(feature = "openapi", schema(value_type = Option<String>))]
    pub to: Option<Spanned<String>>,
    /// Destination URL: required for webhook, mattermost, teams, discord, ntfy and gotify; for
    /// slack, the incoming-webhook URL; for the API channels, a replacement for the provider's
    /// endpoint; not taken by email. URLs often embed a token, so the value is kept secret.
    #[serde(default, skip_serializing_if = "Option::is_none")]
    #[cfg_attr(feature = "openapi", schema(value_type = Option<Secret>))]
    pub url: Option<Spanned<Secret>>,
    /// Everything else the kind needs (tokens, channel, region…).
    #[serde(default, skip_serializing_if = "Settings::is_empty")]
    pub settings: Settings,
    /// At most this many notifications per period to this contact, e.g. `30/min`, `1/s`,
    /// `100/h` (default: the provider's documented limit, see
    /// [`ContactKind::default_rate_limit`]); more wait their turn in the outbox.
    #[serde(default, skip_serializing_if = "Option::is_none")]
    #[cfg_attr(feature = "openapi", schema(value_type = Option<String>))]
    pub rate_limit: Option<Spanned<String>>,
}

/// A delivery rate limit: `count` notifications per `per`.
#[derive(Clone, Copy, Debug, PartialEq, Eq)]
pub struct RateLimit {
    /// How many.
    pub count: u32,
    /// Per how long.
    pub per: Duration,
}

impl RateLimit {
    /// Parses `30/min`, `1/s`, `1/sec`, `100/h`, `1000/hour`, `5/m`.
    pub fn parse(s: &str) -> Result<Self, String> {
        let bad = || format!("invalid rate limit {s:?}: expected N/s, N/min or N/h, e.g. 30/min");
        let (n, unit) = s.trim().split_once('/').ok_or_else(bad)?;
        let count: u32 = n.trim().parse().map_err(|_| bad())?;
        if count == 0 {
            return Err(format!(
                "invalid rate limit {s:?}: the count must be at least 1"
            ));
        }
        let per = match unit.trim() {
            "s" | "sec" | "second" => Duration::from_secs(1),
            "m" | "min" | "minute" => Duration::from_secs(60),
            "h" | "hour" => Duration::from_secs(3600),
            _ => return Err(bad()),
        };
        Ok(Self { count, per })
    }
}

impl fmt::Display for RateLimit {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        let unit = match self.per.as_secs() {
            1 => "s",
            60 => "min",
            _ => "h",
        };
        write!(f, "{}/{unit}", self.count)
    }
}

impl Serialize for RateLimit {
    fn serialize<S: Serializer>(&self, s: S) -> Result<S::Ok, S::Error> {
        s.collect_str(self)
    }
}

/// A validated contact.
#[cfg_attr(feature = "openapi", derive(utoipa::ToSchema))]
#[derive(Clone, Debug, Serialize)]
pub struct Contact {
    /// Identity.
    pub id: String,
    /// Display name.
    pub name: String,
    /// The kind of destination.
    #[serde(rename = "type")]
    pub kind: ContactKind,
    /// Email address, for `email`.
    #[serde(skip_serializing_if = "Option::is_none")]
    pub to: Option<String>,
    /// URL, for the kinds addressed by URL.
    #[serde(skip_serializing_if = "Option::is_none")]
    pub url: Option<Secret>,
    /// Kind-specific settings.
    pub settings: Settings,
    /// Deliveries allowed per period (`None`: unlimited).
    #[serde(skip_serializing_if = "Option::is_none")]
    pub rate_limit: Option<RateLimit>,
    /// Where its id was written.
    pub origin: Origin,
}

/// A named list of contacts, usable wherever a contact id is (`alert.notify`, a group's
/// `contacts`, `self.notify`). Contact groups share the contacts' namespace and do not nest.
#[cfg_attr(feature = "openapi", derive(utoipa::ToSchema))]
#[derive(Clone, Debug, Deserialize, Serialize)]
#[serde(deny_unknown_fields)]
pub struct ContactGroupDef {
    /// Unique among contacts and contact groups, `[a-z0-9_.-]+`.
    #[cfg_attr(feature = "openapi", schema(value_type = String))]
    pub id: Spanned<String>,
    /// Display name (default: the id).
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub name: Option<String>,
    /// Its contacts (contact ids, not other contact groups).
    #[cfg_attr(feature = "openapi", schema(value_type = Vec<String>))]
    pub contacts: Vec<Spanned<String>>,
}

/// A validated contact group.
#[cfg_attr(feature = "openapi", derive(utoipa::ToSchema))]
#[derive(Clone, Debug, Serialize)]
pub struct ContactGroup {
    /// Identity.
    pub id: String,
    /// Display name.
    pub name: String,
    /// Its contacts.
    pub contacts: Vec<String>,
    /// Where its id was written.
    pub origin: Origin,
}

/// `self:` — who hears of Tocsin's own trouble (configuration errors, a channel that keeps
/// failing, store errors, a scheduler that falls behind).
#[cfg_attr(feature = "openapi", derive(utoipa::ToSchema))]
#[derive(Clone, Debug, Default, Deserialize, Serialize)]
#[serde(deny_unknown_fields)]
pub struct SelfDef {
    /// Contact or contact-group ids.
    #[serde(default)]
    #[cfg_attr(feature = "openapi", schema(value_type = Vec<String>))]
    pub notify: Vec<Spanned<String>>,
}

// ---------------------------------------------------------------------------------------------
// Groups.
// ---------------------------------------------------------------------------------------------

/// One group as written in a file: checks whose faults share one alarm and one contact list.
#[cfg_attr(feature = "openapi", derive(utoipa::ToSchema))]
#[derive(Clone, Debug, Deserialize, Serialize)]
#[serde(deny_unknown_fields)]
pub struct GroupDef {
    /// Unique id among groups, `[a-z0-9_.-]+`.
    #[cfg_attr(feature = "openapi", schema(value_type = String))]
    pub id: Spanned<String>,
    /// Display name (default: the id).
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub name: Option<String>,
    /// Ids of its checks.
    #[serde(default, skip_serializing_if = "Vec::is_empty")]
    #[cfg_attr(feature = "openapi", schema(value_type = Vec<String>))]
    pub checks: Vec<Spanned<String>>,
    /// Ids of the contacts told about its alarms.
    #[serde(default, skip_serializing_if = "Vec::is_empty")]
    #[cfg_attr(feature = "openapi", schema(value_type = Vec<String>))]
    pub contacts: Vec<Spanned<String>>,
}

/// A validated group. In a [`crate::config::Catalog`], its references all exist.
#[cfg_attr(feature = "openapi", derive(utoipa::ToSchema))]
#[derive(Clone, Debug, Serialize)]
pub struct Group {
    /// Identity.
    pub id: String,
    /// Display name.
    pub name: String,
    /// Its checks.
    pub checks: Vec<CheckId>,
    /// Its contacts.
    pub contacts: Vec<String>,
    /// Where its id was written.
    pub origin: Origin,
}

// ---------------------------------------------------------------------------------------------
// Maintenances.
// ---------------------------------------------------------------------------------------------

/// One maintenance window as written in a file: checks still run, notifications are held back.
#[cfg_attr(feature = "openapi", derive(utoipa::ToSchema))]
#[derive(Clone, Debug, Deserialize, Serialize)]
#[serde(deny_unknown_fields)]
pub struct MaintenanceDef {
    /// Unique id among maintenances, `[a-z0-9_.-]+`.
    #[cfg_attr(feature = "openapi", schema(value_type = String))]
    pub id: Spanned<String>,
    /// Why (shown in the dashboard and in held-back notifications).
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub note: Option<String>,
    /// `now` or an RFC 3339 time (one-off windows).
    #[serde(default, skip_serializing_if = "Option::is_none")]
    #[cfg_attr(feature = "openapi", schema(value_type = Option<String>))]
    pub start: Option<Spanned<String>>,
    /// An RFC 3339 time, or a duration after `start` such as `2h` (one-off windows).
    #[serde(default, skip_serializing_if = "Option::is_none")]
    #[cfg_attr(feature = "openapi", schema(value_type = Option<String>))]
    pub end: Option<Spanned<String>>,
    /// A window that comes back (instead of `start`/`end`).
    #[serde(default, skip_serializing_if = "Option::is_none")]
    #[cfg_attr(feature = "openapi", schema(value_type = Option<RecurringDef>))]
    pub recurring: Option<Spanned<RecurringDef>>,
    /// What it covers.
    #[cfg_attr(feature = "openapi", schema(value_type = ScopeDef))]
    pub scope: Spanned<ScopeDef>,
}

/// `recurring:` of a maintenance, in one of two forms: `cron` + `duration` (it opens at each
/// time of `cron` and lasts `duration`), or `days` + `from` + `to` (those weekdays, that time
/// range; `to` before `from` runs past midnight). Both in `timezone` (default UTC).
#[cfg_attr(feature = "openapi", derive(utoipa::ToSchema))]
#[derive(Clone, Debug, Deserialize, Serialize)]
#[serde(deny_unknown_fields)]
pub struct RecurringDef {
    /// When each window opens (same syntax as a check's `cron`).
    #[serde(default, skip_serializing_if = "Option::is_none")]
    #[cfg_attr(feature = "openapi", schema(value_type = Option<String>))]
    pub cron: Option<Spanned<String>>,
    /// How long each window lasts.
    #[serde(default, skip_serializing_if = "Option::is_none")]
    #[cfg_attr(feature = "openapi", schema(value_type = Option<Dur>))]
    pub duration: Option<Spanned<Dur>>,
    /// Weekdays: `mon` … `sun` (or `monday` …).
    #[serde(default, skip_serializing_if = "Vec::is_empty")]
    #[cfg_attr(feature = "openapi", schema(value_type = Vec<String>))]
    pub days: Vec<Spanned<String>>,
    /// Start time of day, `HH:MM`.
    #[serde(default, skip_serializing_if = "Option::is_none")]
    #[cfg_attr(feature = "openapi", schema(value_type = Option<String>))]
    pub from: Option<Spanned<String>>,
    /// End time of day, `HH:MM`.
    #[serde(default, skip_serializing_if = "Option::is_none")]
    #[cfg_attr(feature = "openapi", schema(value_type = Option<String>))]
    pub to: Option<Spanned<String>>,
    /// Time zone (IANA name, default UTC).
    #[serde(default, skip_serializing_if = "Option::is_none")]
    #[cfg_attr(feature = "openapi", schema(value_type = Option<String>))]
    pub timezone: Option<Spanned<String>>,
}

/// `scope:` of a maintenance. Fields combine (a check is covered if any of them matches); at
/// least one must be given.
#[cfg_attr(feature = "openapi", derive(utoipa::ToSchema))]
#[derive(Clone, Debug, Default, Deserialize, Serialize)]
#[serde(deny_unknown_fields)]
pub struct ScopeDef {
    /// Every check.
    #[serde(default, skip_serializing_if = "std::ops::Not::not")]
    pub all: bool,
    /// These checks.
    #[serde(default, skip_serializing_if = "Vec::is_empty")]
    #[cfg_attr(feature = "openapi", schema(value_type = Vec<String>))]
    pub checks: Vec<Spanned<String>>,
    /// The checks of these groups.
    #[serde(default, skip_serializing_if = "Vec::is_empty")]
    #[cfg_attr(feature = "openapi", schema(value_type = Vec<String>))]
    pub groups: Vec<Spanned<String>>,
    /// Checks with any of these tags.
    #[serde(default, skip_serializing_if = "Vec::is_empty")]
    pub tags: Vec<String>,
    /// Checks whose `host` is one of these.
    #[serde(default, skip_serializing_if = "Vec::is_empty")]
    pub hosts: Vec<String>,
}

/// When a maintenance holds notifications back.
#[derive(Clone, Debug, Serialize)]
#[serde(rename_all = "snake_case")]
pub enum MaintenanceWindow {
    /// One window.
    Once {
        /// Its start; `None` means `now`: from when the maintenance was first loaded.
        start: Option<Timestamp>,
        /// Its end.
        end: WindowEnd,
    },
    /// A window at each time of a cron schedule.
    Recurring {
        /// When each window opens.
        schedule: Schedule,
        /// How long each lasts.
        #[serde(serialize_with = "ser_dur")]
        duration: Duration,
    },
}

/// The end of a one-off window.
#[derive(Clone, Copy, Debug, PartialEq, Eq, Serialize)]
#[serde(rename_all = "snake_case")]
pub enum WindowEnd {
    /// At this time.
    At(Timestamp),
    /// This long after the start (only with `start: now`; an absolute start gives an absolute end).
    #[serde(serialize_with = "ser_dur")]
    After(Duration),
}

fn ser_dur<S: Serializer>(d: &Duration, s: S) -> Result<S::Ok, S::Error> {
    s.collect_str(&Dur(*d))
}

impl MaintenanceWindow {
    /// Whether the window is open at `now`. `first_loaded` is when the maintenance was first
    /// seen, which is what `start: now` means.
    pub fn is_active(&self, now: Timestamp, first_loaded: Timestamp) -> bool {
        match self {
            Self::Once { start, end } => {
                let start = start.unwrap_or(first_loaded);
                let end = match end {
                    WindowEnd::At(t) => *t,
                    WindowEnd::After(d) => {
                        match jiff::SignedDuration::try_from(*d)
                            .ok()
                            .and_then(|d| start.checked_add(d).ok())
                        {
                            Some(t) => t,
                            None => Timestamp::MAX,
                        }
                    }
                };
                start <= now && now < end
            }
            Self::Recurring { schedule, duration } => {
                // Open iff a window opened in (now - duration, now].
                let d = i64::try_from(duration.as_millis()).unwrap_or(i64::MAX);
                let from = now.as_millisecond().saturating_sub(d);
                schedule
                    .next_after("", from)
                    .is_some_and(|t| t <= now.as_millisecond())
            }
        }
    }
}

/// What a maintenance covers. In a [`crate::config::Catalog`], its check and group ids exist.
#[cfg_attr(feature = "openapi", derive(utoipa::ToSchema))]
#[derive(Clone, Debug, Default, PartialEq, Eq, Serialize, Deserialize)]
#[serde(default, deny_unknown_fields)]
pub struct MaintenanceScope {
    /// Every check.
    pub all: bool,
    /// These checks.
    pub checks: Vec<CheckId>,
    /// The checks of these groups.
    pub groups: Vec<String>,
    /// Checks with any of these tags.
    pub tags: Vec<String>,
    /// Checks whose host label is one of these.
    pub hosts: Vec<String>,
}

impl MaintenanceScope {
    /// Whether it covers nothing at all (no field given).
    pub fn is_empty(&self) -> bool {
        !self.all
            && self.checks.is_empty()
            && self.groups.is_empty()
            && self.tags.is_empty()
            && self.hosts.is_empty()
    }

    /// Whether `check`, member of the groups `check_groups`, is covered.
    pub fn covers(&self, check: &CheckSpec, check_groups: &[&str]) -> bool {
        self.all
            || self.checks.contains(&check.id)
            || self
                .groups
                .iter()
                .any(|g| check_groups.contains(&g.as_str()))
            || self.tags.iter().any(|t| check.tags.contains(t))
            || check.host.as_ref().is_some_and(|h| self.hosts.contains(h))
    }
}

/// A validated maintenance.
#[derive(Clone, Debug, Serialize)]
pub struct Maintenance {
    /// Identity.
    pub id: String,
    /// Why.
    #[serde(skip_serializing_if = "Option::is_none")]
    pub note: Option<String>,
    /// When.
    pub window: MaintenanceWindow,
    /// What.
    pub scope: MaintenanceScope,
    /// Where its id was written.
    pub origin: Origin,
}

/// A token bucket for one rate limit (a contact's, an API token's), in GCRA form: the theoretical time the next
/// send is due; a burst of up to `count` sends is allowed.
#[derive(Debug, Default)]
pub struct Bucket {
    tat_ms: i64,
}

impl Bucket {
    /// Takes a token at `now_ms`, or tells when one will be available.
    pub fn take(&mut self, limit: RateLimit, now_ms: i64) -> Result<(), i64> {
        let per = i64::try_from(limit.per.as_millis()).unwrap_or(i64::MAX);
        let interval = (per / i64::from(limit.count.max(1))).max(1);
        let burst = per - interval;
        let tat = self.tat_ms.max(now_ms);
        if tat - now_ms > burst {
            return Err(tat - burst);
        }
        self.tat_ms = tat + interval;
        Ok(())
    }
}

// ---------------------------------------------------------------------------------------------
// JSON Schemas for the API's OpenAPI document (feature `openapi`): the types below serialise by
// hand, so their schemas are written by hand too.
// ---------------------------------------------------------------------------------------------

#[cfg(feature = "openapi")]
impl utoipa::PartialSchema for Settings {
    fn schema() -> utoipa::openapi::RefOr<utoipa::openapi::schema::Schema> {
        utoipa::openapi::ObjectBuilder::new()
            .schema_type(utoipa::openapi::schema::Type::Object)
            .additional_properties(Some(utoipa::openapi::schema::AdditionalProperties::FreeForm(true)))
            .description(Some("Kind-specific settings of a contact (tokens, channels, regions…): any JSON values, written as is and always answered as `********`."))
            .into()
    }
}

#[cfg(feature = "openapi")]
impl utoipa::ToSchema for Settings {}

#[cfg(feature = "openapi")]
impl utoipa::PartialSchema for RateLimit {
    fn schema() -> utoipa::openapi::RefOr<utoipa::openapi::schema::Schema> {
        utoipa::openapi::ObjectBuilder::new()
            .schema_type(utoipa::openapi::schema::Type::String)
            .pattern(Some(r"^ *[0-9]+ */ *(s|sec|second|m|min|minute|h|hour) *$"))
            .examples(["30/min"])
            .description(Some("A rate: `N/s`, `N/min` or `N/h`."))
            .into()
    }
}

#[cfg(feature = "openapi")]
impl utoipa::ToSchema for RateLimit {}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn buckets_allow_a_burst_then_the_rate() {
        let limit = RateLimit::parse("3/s").unwrap();
        let mut b = Bucket::default();
        // A burst of 3 at t=0, then one every 333 ms (the remainder rounds down).
        assert!(b.take(limit, 0).is_ok());
        assert!(b.take(limit, 0).is_ok());
        assert!(b.take(limit, 0).is_ok());
        assert_eq!(b.take(limit, 0), Err(332));
        assert_eq!(b.take(limit, 300), Err(332));
        assert!(b.take(limit, 332).is_ok());
        assert_eq!(b.take(limit, 332), Err(665));
        // Idle time refills the bucket, up to the burst.
        for _ in 0..3 {
            assert!(b.take(limit, 10_000).is_ok());
        }
        assert!(b.take(limit, 10_000).is_err());
    }

    #[test]
    fn rate_limits_parse() {
        assert_eq!(RateLimit::parse("30/min").unwrap().to_string(), "30/min");
        assert_eq!(RateLimit::parse(" 1 / s ").unwrap().to_string(), "1/s");
        assert_eq!(RateLimit::parse("100/hour").unwrap().to_string(), "100/h");
        for bad in ["0/s", "30", "x/min", "3/day", ""] {
            assert!(RateLimit::parse(bad).is_err(), "{bad}");
        }
    }
}
