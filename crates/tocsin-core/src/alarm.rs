//! The alarm engine: pure functions that open, update and close alarms from the state engine's
//! transitions, and decide which notifications to send.
//!
//! The model is Amon's (research/originals.md §1.5), completed:
//! - An alarm belongs to a key: a check, or a group whose checks share one alarm. It holds the
//!   current *faults* (one per hard-bad check), a timeline of events, and closes itself when the
//!   last fault clears (and no check of it is flapping). A hard recovery with no open alarm is
//!   dropped; a hard failure with no open alarm opens one.
//! - A fault can be *held* ([`Hold`]): its check has a parent (`depends_on`) that is hard bad, or
//!   it is in a maintenance window. Held faults are recorded but nobody is told; when the hold
//!   ends and the fault is still there, it is notified then (Amon's unfinished
//!   `handleMaintenanceEnd`).
//! - Notifications go through the filters in Alertmanager's order: dependency → maintenance →
//!   suppression/ack → dedupe → send (with pymon's cut-off) → record.
//!
//! Who decides what:
//! - The caller (the engine) says which key a check's alarm has ([`AlarmKey::of`]), who is told
//!   ([`NotifyPolicy`]) and the facts the engine cannot know ([`CheckFacts`]: maintenance,
//!   parents down) through a [`Context`]. The caller also calls [`AlarmBook::tick`] (or
//!   [`on_tick`]) periodically, say every 10 s, for re-notifications, ack expiry and the end of
//!   holds.
//! - These functions decide; they never read a clock and do no I/O. Their output is the new
//!   alarm (to store as JSON) and [`Notification`] intents (to write to the outbox in the same
//!   transaction).
//!
//! Rules, each tested in `tests/alarm.rs`:
//! - *Opened* is sent when an alarm opens with a fault that is not held; *new fault* when
//!   another check of a group fails; *fault changed* when a fault's status changes; *fault
//!   cleared* when one of several faults clears; *recovered* when the last one clears and the
//!   alarm closes. The same hard status twice is not sent twice (dedupe).
//! - A cleared fault or a recovery is only sent when someone was told about the alarm before.
//! - While an alarm is acknowledged, nothing but the recovery is sent; the ack ends when the
//!   alarm closes, on `unack`, or when it expires (re-notifications then resume).
//! - A suppressed alarm sends nothing at all, not even its recovery (Amon).
//! - A flapping check sends one message when flapping starts and one when it stops; its fault
//!   changes in between are recorded only. A flapping start opens an alarm if none is open.
//! - Re-notify every `renotify` while the alarm has a fault that is neither held nor flapping and
//!   the alarm is neither acked nor suppressed.
//! - Cut-off: messages about trouble (opened, new fault, fault changed, re-notify, flapping
//!   started, hold ended) count; after `max_notifications` of them, the next one is replaced by
//!   one final [`NotificationKind::CutOff`] message and later ones are dropped. Messages about
//!   things getting better (fault cleared, recovered, flapping stopped) are never cut off.
//! - Manual actions: ack, unack, close (no message), reopen (an undo of close that keeps the
//!   opening time and the counters), suppress, unsuppress.

use std::collections::{BTreeMap, BTreeSet};
use std::fmt;
use std::time::Duration;

use serde::{Deserialize, Serialize};

use crate::Status;
use crate::check::{AlertPolicy, CheckId};
use crate::state::Transition;

/// How long closed alarms are kept by default (Amon kept them about a week; the issue asks 30
/// days).
pub const DEFAULT_RETENTION: Duration = Duration::from_secs(30 * 24 * 3600);

/// The most events an alarm's timeline keeps; beyond, the oldest (except the first) are
/// dropped and counted in [`Alarm::events_dropped`].
pub const MAX_EVENTS: usize = 1000;

/// The text of the final message sent when the cut-off is reached.
pub const CUT_OFF_MESSAGE: &str = "further notifications suppressed";

// ---------------------------------------------------------------------------------------------
// The model.
// ---------------------------------------------------------------------------------------------

/// What an alarm belongs to: one check, or a group of checks that share one alarm.
#[cfg_attr(feature = "openapi", derive(utoipa::ToSchema))]
#[derive(Clone, Debug, PartialEq, Eq, PartialOrd, Ord, Hash, Serialize, Deserialize)]
#[serde(tag = "kind", content = "id", rename_all = "snake_case")]
pub enum AlarmKey {
    /// The alarm of a check that is in no group.
    Check(CheckId),
    /// The alarm shared by the checks of a group.
    Group(String),
}

impl AlarmKey {
    /// The key of `check`'s alarm: its first group (by id) if it is in any, else the check.
    /// `groups` is [`crate::config::Catalog::groups_of`]'s answer.
    pub fn of(check: &CheckId, groups: &[&str]) -> Self {
        match groups.iter().min() {
            Some(g) => Self::Group((*g).to_owned()),
            None => Self::Check(check.clone()),
        }
    }
}

impl fmt::Display for AlarmKey {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        match self {
            Self::Check(c) => write!(f, "check {c}"),
            Self::Group(g) => write!(f, "group {g}"),
        }
    }
}

/// Why a fault is held back: nobody is told about it while this lasts.
#[cfg_attr(feature = "openapi", derive(utoipa::ToSchema))]
#[derive(Clone, Debug, PartialEq, Eq, Serialize, Deserialize)]
#[serde(tag = "kind", rename_all = "snake_case")]
pub enum Hold {
    /// A check this one depends on is hard bad ("suppressed: parent X is down").
    Parent {
        /// The first parent that is down.
        parent: CheckId,
    },
    /// The check is in a maintenance window.
    Maintenance,
}

impl fmt::Display for Hold {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        match self {
            Self::Parent { parent } => write!(f, "suppressed: parent {parent} is down"),
            Self::Maintenance => f.write_str("in maintenance"),
        }
    }
}

/// One current fault of an alarm: a check that is hard bad.
#[cfg_attr(feature = "openapi", derive(utoipa::ToSchema))]
#[derive(Clone, Debug, PartialEq, Eq, Serialize, Deserialize)]
pub struct Fault {
    /// Its hard status (never ok).
    pub status: Status,
    /// When it became a fault (Unix ms).
    pub since_ms: i64,
    /// The message of the result that made it (or last changed it).
    pub message: String,
    /// Why nobody is told about it, if so.
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub hold: Option<Hold>,
}

/// Who took the alarm.
#[cfg_attr(feature = "openapi", derive(utoipa::ToSchema))]
#[derive(Clone, Debug, PartialEq, Eq, Serialize, Deserialize)]
pub struct Ack {
    /// Who.
    pub by: String,
    /// Why, or what they are doing.
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub comment: Option<String>,
    /// When (Unix ms).
    pub at_ms: i64,
    /// When the ack ends by itself (Unix ms); `None`: when the alarm closes.
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub expires_ms: Option<i64>,
}

/// One entry of an alarm's timeline.
#[cfg_attr(feature = "openapi", derive(utoipa::ToSchema))]
#[derive(Clone, Debug, PartialEq, Eq, Serialize, Deserialize)]
pub struct AlarmEvent {
    /// When (Unix ms).
    pub at_ms: i64,
    /// What happened.
    #[serde(flatten)]
    pub what: EventKind,
}

/// What happened to an alarm.
#[cfg_attr(feature = "openapi", derive(utoipa::ToSchema))]
#[derive(Clone, Debug, PartialEq, Eq, Serialize, Deserialize)]
#[serde(tag = "event", rename_all = "snake_case")]
pub enum EventKind {
    /// The alarm opened.
    Opened,
    /// A check became a fault.
    FaultAdded {
        /// The check.
        check: CheckId,
        /// Its status.
        status: Status,
        /// Its message.
        message: String,
    },
    /// A fault's status changed.
    FaultChanged {
        /// The check.
        check: CheckId,
        /// Previous status.
        from: Status,
        /// New status.
        to: Status,
    },
    /// A fault cleared (its check recovered).
    FaultCleared {
        /// The check.
        check: CheckId,
        /// The status it had.
        from: Status,
    },
    /// A notification was sent (handed to the outbox).
    Notified {
        /// Its kind.
        kind: NotificationKind,
        /// Its sequence number within the alarm.
        seq: u64,
        /// How many contacts it went to.
        contacts: usize,
    },
    /// A notification was not sent because the cut-off was passed.
    Dropped {
        /// The kind that was not sent.
        kind: NotificationKind,
    },
    /// Someone took the alarm.
    Acked {
        /// Who.
        by: String,
        /// Why.
        #[serde(default, skip_serializing_if = "Option::is_none")]
        comment: Option<String>,
        /// When the ack ends by itself.
        #[serde(default, skip_serializing_if = "Option::is_none")]
        expires_ms: Option<i64>,
    },
    /// The ack was withdrawn.
    Unacked {
        /// Who.
        by: String,
    },
    /// The ack expired.
    AckExpired,
    /// Someone silenced the alarm.
    Suppressed {
        /// Who.
        by: String,
    },
    /// Someone lifted the silence.
    Unsuppressed {
        /// Who.
        by: String,
    },
    /// A check of the alarm entered a maintenance window.
    MaintenanceStarted {
        /// The check.
        check: CheckId,
    },
    /// A check of the alarm left its maintenance window.
    MaintenanceEnded {
        /// The check.
        check: CheckId,
    },
    /// A parent of a check of the alarm is hard bad: the check's fault is held.
    ParentDown {
        /// The check.
        check: CheckId,
        /// The parent.
        parent: CheckId,
    },
    /// No parent of the check is hard bad any more.
    ParentUp {
        /// The check.
        check: CheckId,
        /// The parent that was down.
        parent: CheckId,
    },
    /// A check started flapping.
    FlappingStarted {
        /// The check.
        check: CheckId,
    },
    /// A check stopped flapping.
    FlappingStopped {
        /// The check.
        check: CheckId,
    },
    /// The alarm closed: by itself (`by` absent) or by someone.
    Closed {
        /// Who, for a manual close.
        #[serde(default, skip_serializing_if = "Option::is_none")]
        by: Option<String>,
    },
    /// Someone reopened a closed alarm.
    Reopened {
        /// Who.
        by: String,
    },
}

/// An alarm: the faults of a check or a group, from opening to closing. Serialised as JSON by
/// the store.
#[cfg_attr(feature = "openapi", derive(utoipa::ToSchema))]
#[derive(Clone, Debug, PartialEq, Eq, Serialize, Deserialize)]
pub struct Alarm {
    /// Short id, unique within its book (tenant): shown as `#42`.
    pub id: u64,
    /// What it belongs to.
    pub key: AlarmKey,
    /// When it opened (Unix ms).
    pub opened_ms: i64,
    /// When it closed (Unix ms); `None` while open.
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub closed_ms: Option<i64>,
    /// Current faults by check.
    #[serde(default)]
    pub faults: BTreeMap<CheckId, Fault>,
    /// Its checks that are flapping.
    #[serde(default, skip_serializing_if = "BTreeSet::is_empty")]
    pub flapping: BTreeSet<CheckId>,
    /// The timeline, oldest first.
    #[serde(default)]
    pub events: Vec<AlarmEvent>,
    /// Events dropped from the timeline beyond [`MAX_EVENTS`].
    #[serde(default)]
    pub events_dropped: u64,
    /// Who took it, if anyone.
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub ack: Option<Ack>,
    /// Silenced by someone: nothing is sent.
    #[serde(default)]
    pub suppressed: bool,
    /// Notifications about trouble sent so far (the cut-off counts these).
    #[serde(default)]
    pub notifications: u32,
    /// Sequence number of the latest notification of any kind (0 = none yet); with the alarm id
    /// and the contact it makes the outbox's idempotency key.
    #[serde(default)]
    pub seq: u64,
    /// When a notification was last sent (Unix ms).
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub last_notified_ms: Option<i64>,
    /// The cut-off was reached and its final message sent.
    #[serde(default)]
    pub cut_off: bool,
}

impl Alarm {
    /// A new open alarm with nothing in it yet.
    pub fn new(id: u64, key: AlarmKey, at_ms: i64) -> Self {
        let mut a = Self {
            id,
            key,
            opened_ms: at_ms,
            closed_ms: None,
            faults: BTreeMap::new(),
            flapping: BTreeSet::new(),
            events: Vec::new(),
            events_dropped: 0,
            ack: None,
            suppressed: false,
            notifications: 0,
            seq: 0,
            last_notified_ms: None,
            cut_off: false,
        };
        a.record(at_ms, EventKind::Opened);
        a
    }

    /// Whether it is open.
    pub const fn is_open(&self) -> bool {
        self.closed_ms.is_none()
    }

    /// When something last happened to it (Unix ms): the time of its latest event.
    pub fn last_event_ms(&self) -> i64 {
        self.events.last().map_or(self.opened_ms, |e| e.at_ms)
    }

    /// Amon's definition: open, with faults, all of them held by a maintenance.
    pub fn in_maintenance(&self) -> bool {
        self.is_open()
            && !self.faults.is_empty()
            && self
                .faults
                .values()
                .all(|f| f.hold == Some(Hold::Maintenance))
    }

    /// Why nobody is told about this alarm, if all its faults are held: the first hold.
    pub fn held(&self) -> Option<&Hold> {
        if self.faults.values().all(|f| f.hold.is_some()) {
            self.faults.values().find_map(|f| f.hold.as_ref())
        } else {
            None
        }
    }

    /// The faults somebody may be told about: neither held nor of a flapping check.
    fn notifiable(&self) -> impl Iterator<Item = (&CheckId, &Fault)> {
        self.faults
            .iter()
            .filter(|(c, f)| f.hold.is_none() && !self.flapping.contains(*c))
    }

    /// The worst notifiable fault (critical, then unknown, then warning; ties by check id).
    fn worst(&self) -> Option<(&CheckId, &Fault)> {
        self.notifiable()
            .max_by_key(|(c, f)| (severity(f.status), std::cmp::Reverse(*c)))
    }

    fn record(&mut self, at_ms: i64, what: EventKind) {
        self.events.push(AlarmEvent { at_ms, what });
        if self.events.len() > MAX_EVENTS {
            self.events.remove(1);
            self.events_dropped += 1;
        }
    }
}

fn severity(s: Status) -> u8 {
    match s {
        Status::Ok => 0,
        Status::Warning => 1,
        Status::Unknown => 2,
        Status::Critical => 3,
    }
}

// ---------------------------------------------------------------------------------------------
// Inputs.
// ---------------------------------------------------------------------------------------------

/// Who is told about an alarm, and how often.
#[derive(Clone, Debug, Default, PartialEq, Eq, Serialize, Deserialize)]
pub struct NotifyPolicy {
    /// Contact ids.
    pub contacts: Vec<String>,
    /// Re-notify this often while open and not acked (`None`: never).
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub renotify: Option<Duration>,
    /// At most this many notifications about trouble per alarm (`None`: no limit).
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub max_notifications: Option<u32>,
}

impl NotifyPolicy {
    /// The policy of a check's own alarm: its `alert.notify`, `renotify`, `max_notifications`.
    pub fn of_check(alert: &AlertPolicy) -> Self {
        Self {
            contacts: alert.notify.clone(),
            renotify: alert.renotify,
            max_notifications: alert.max_notifications,
        }
    }

    /// The policy of a group's alarm: the group's contacts (Amon), with the timing of the
    /// check that caused the step.
    pub fn of_group(contacts: &[String], alert: &AlertPolicy) -> Self {
        Self {
            contacts: contacts.to_vec(),
            renotify: alert.renotify,
            max_notifications: alert.max_notifications,
        }
    }
}

/// What the engine knows about one check now, and the alarm engine cannot.
#[derive(Clone, Debug, Default, PartialEq, Eq)]
pub struct CheckFacts {
    /// A maintenance window covers the check now.
    pub in_maintenance: bool,
    /// Its parents (`depends_on`) that are hard bad now.
    pub parents_down: Vec<CheckId>,
}

impl CheckFacts {
    /// The hold these facts put on a fault: dependency first, then maintenance.
    pub fn hold(&self) -> Option<Hold> {
        if let Some(parent) = self.parents_down.first() {
            Some(Hold::Parent {
                parent: parent.clone(),
            })
        } else if self.in_maintenance {
            Some(Hold::Maintenance)
        } else {
            None
        }
    }
}

/// The facts of one step, given by the caller.
pub struct Context<'a> {
    /// Now (Unix ms).
    pub now_ms: i64,
    /// Who is told about this alarm.
    pub policy: &'a NotifyPolicy,
    /// The facts of any check (asked for every check of the alarm).
    pub facts: &'a dyn Fn(&CheckId) -> CheckFacts,
}

impl fmt::Debug for Context<'_> {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        f.debug_struct("Context")
            .field("now_ms", &self.now_ms)
            .field("policy", &self.policy)
            .finish_non_exhaustive()
    }
}

/// An operator's action on an alarm.
#[derive(Clone, Debug, PartialEq, Eq, Serialize, Deserialize)]
#[serde(tag = "action", rename_all = "snake_case")]
pub enum Action {
    /// Take the alarm: re-notifications stop until it closes or the ack expires.
    Ack {
        /// Who.
        by: String,
        /// Why.
        #[serde(default)]
        comment: Option<String>,
        /// When the ack ends by itself (Unix ms).
        #[serde(default)]
        expires_ms: Option<i64>,
    },
    /// Withdraw the ack.
    Unack {
        /// Who.
        by: String,
    },
    /// Close the alarm now, faults or not (no message is sent).
    Close {
        /// Who.
        by: String,
    },
    /// Reopen a closed alarm (when its key has no other open alarm).
    Reopen {
        /// Who.
        by: String,
    },
    /// Silence the alarm: nothing is sent, not even its recovery.
    Suppress {
        /// Who.
        by: String,
    },
    /// Lift the silence.
    Unsuppress {
        /// Who.
        by: String,
    },
}

/// Why an action or a look-up failed.
#[derive(Clone, Debug, PartialEq, Eq, thiserror::Error)]
#[non_exhaustive]
pub enum AlarmError {
    /// No alarm has this id.
    #[error("no alarm #{id}")]
    NotFound {
        /// The id asked for.
        id: u64,
    },
    /// The action needs an open alarm.
    #[error("alarm #{id} is closed")]
    Closed {
        /// The alarm.
        id: u64,
    },
    /// Reopen needs a closed alarm.
    #[error("alarm #{id} is open")]
    Open {
        /// The alarm.
        id: u64,
    },
    /// Reopen would give a key two open alarms.
    #[error("cannot reopen alarm #{id}: alarm #{open} of {key} is open")]
    KeyBusy {
        /// The alarm to reopen.
        id: u64,
        /// Its key.
        key: AlarmKey,
        /// The open alarm of that key.
        open: u64,
    },
}

// ---------------------------------------------------------------------------------------------
// Outputs.
// ---------------------------------------------------------------------------------------------

/// Why a notification is sent.
#[cfg_attr(feature = "openapi", derive(utoipa::ToSchema))]
#[derive(Clone, Copy, Debug, PartialEq, Eq, Hash, Serialize, Deserialize)]
#[serde(rename_all = "snake_case")]
pub enum NotificationKind {
    /// The alarm's first message: a fault.
    Opened,
    /// Another check of the alarm became a fault.
    NewFault,
    /// A fault's status changed (warning → critical, …).
    FaultChanged,
    /// One fault cleared; others remain.
    FaultCleared,
    /// The last fault cleared: the alarm closed.
    Recovered,
    /// Still bad, `renotify` after the previous message.
    Renotify,
    /// A check started flapping.
    FlappingStarted,
    /// A check stopped flapping.
    FlappingStopped,
    /// The cut-off is reached: further notifications suppressed.
    CutOff,
    /// A maintenance ended and the fault is still there.
    MaintenanceEnded,
    /// A parent recovered and the fault is still there.
    ParentRecovered,
    /// Someone acknowledged the alarm (PagerDuty's `acknowledge`, Opsgenie's ack).
    Acked,
}

impl NotificationKind {
    /// The name: `opened`, `new_fault`, …
    pub fn as_str(self) -> &'static str {
        match self {
            Self::Opened => "opened",
            Self::NewFault => "new_fault",
            Self::FaultChanged => "fault_changed",
            Self::FaultCleared => "fault_cleared",
            Self::Recovered => "recovered",
            Self::Renotify => "renotify",
            Self::FlappingStarted => "flapping_started",
            Self::FlappingStopped => "flapping_stopped",
            Self::CutOff => "cut_off",
            Self::MaintenanceEnded => "maintenance_ended",
            Self::ParentRecovered => "parent_recovered",
            Self::Acked => "acked",
        }
    }

    /// Whether it tells of trouble, and so counts toward the cut-off.
    pub fn is_trouble(self) -> bool {
        !matches!(
            self,
            Self::FaultCleared
                | Self::Recovered
                | Self::FlappingStopped
                | Self::CutOff
                | Self::Acked
        )
    }
}

impl fmt::Display for NotificationKind {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        f.write_str(self.as_str())
    }
}

/// A notification to deliver: written to the outbox with the alarm change that caused it.
#[cfg_attr(feature = "openapi", derive(utoipa::ToSchema))]
#[derive(Clone, Debug, PartialEq, Eq, Serialize, Deserialize)]
pub struct Notification {
    /// The alarm's id.
    pub alarm: u64,
    /// The alarm's key.
    pub key: AlarmKey,
    /// Sequence number within the alarm (1, 2, …).
    pub seq: u64,
    /// Why.
    pub kind: NotificationKind,
    /// When (Unix ms).
    pub at_ms: i64,
    /// The check concerned.
    pub check: Option<CheckId>,
    /// Its status now (ok once cleared).
    pub status: Status,
    /// Its status before, when it changed.
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub previous: Option<Status>,
    /// The check's message (or [`CUT_OFF_MESSAGE`]).
    pub message: String,
    /// Contact ids to tell.
    pub contacts: Vec<String>,
    /// Whether the alarm is still open after this.
    pub open: bool,
    /// How many faults the alarm has after this.
    pub faults: usize,
}

/// What one step did.
#[derive(Clone, Debug, Default, PartialEq, Eq)]
pub struct Step {
    /// The alarm after the step (`None`: there was no alarm and none opened).
    pub alarm: Option<Alarm>,
    /// Whether the step opened the alarm (and used the id it was given).
    pub opened: bool,
    /// What to send, in order.
    pub notifications: Vec<Notification>,
}

// ---------------------------------------------------------------------------------------------
// The step functions.
// ---------------------------------------------------------------------------------------------

/// What a notification is about, before the filters.
struct Intent<'s> {
    kind: NotificationKind,
    check: Option<&'s CheckId>,
    status: Status,
    previous: Option<Status>,
    message: &'s str,
}

/// The filters after the holds (dependency, maintenance), which the callers apply first:
/// suppression/ack → flapping checks' changes → nobody told of trouble → cut-off → send →
/// record.
fn send(a: &mut Alarm, out: &mut Vec<Notification>, cx: &Context<'_>, i: &Intent<'_>) {
    if a.suppressed {
        return;
    }
    if a.ack.is_some() && a.is_open() {
        // Acked: only the closing message goes out.
        return;
    }
    if let Some(c) = i.check
        && a.flapping.contains(c)
        && !matches!(
            i.kind,
            NotificationKind::FlappingStarted | NotificationKind::FlappingStopped
        )
    {
        return;
    }
    if !i.kind.is_trouble() && a.seq == 0 {
        // Nobody was told of trouble: nobody is told it is over.
        return;
    }
    let mut kind = i.kind;
    let mut message = i.message;
    if kind.is_trouble() {
        if a.cut_off {
            a.record(cx.now_ms, EventKind::Dropped { kind });
            return;
        }
        if cx
            .policy
            .max_notifications
            .is_some_and(|max| a.notifications >= max)
        {
            a.cut_off = true;
            kind = NotificationKind::CutOff;
            message = CUT_OFF_MESSAGE;
        } else {
            a.notifications += 1;
        }
    }
    a.seq += 1;
    a.last_notified_ms = Some(cx.now_ms);
    a.record(
        cx.now_ms,
        EventKind::Notified {
            kind,
            seq: a.seq,
            contacts: cx.policy.contacts.len(),
        },
    );
    out.push(Notification {
        alarm: a.id,
        key: a.key.clone(),
        seq: a.seq,
        kind,
        at_ms: cx.now_ms,
        check: i.check.cloned(),
        status: i.status,
        previous: i.previous,
        message: message.to_owned(),
        contacts: cx.policy.contacts.clone(),
        open: a.is_open(),
        faults: a.faults.len(),
    });
}

/// Records the change of one check's hold, and says whether the fault was released.
fn set_hold(a: &mut Alarm, check: &CheckId, new: Option<Hold>, at_ms: i64) -> Option<Hold> {
    let f = a.faults.get_mut(check)?;
    if f.hold == new {
        return None;
    }
    let old = std::mem::replace(&mut f.hold, new.clone());
    match &old {
        Some(Hold::Maintenance) => a.record(
            at_ms,
            EventKind::MaintenanceEnded {
                check: check.clone(),
            },
        ),
        Some(Hold::Parent { parent }) => a.record(
            at_ms,
            EventKind::ParentUp {
                check: check.clone(),
                parent: parent.clone(),
            },
        ),
        None => {}
    }
    match &new {
        Some(Hold::Maintenance) => a.record(
            at_ms,
            EventKind::MaintenanceStarted {
                check: check.clone(),
            },
        ),
        Some(Hold::Parent { parent }) => a.record(
            at_ms,
            EventKind::ParentDown {
                check: check.clone(),
                parent: parent.clone(),
            },
        ),
        None => {}
    }
    if new.is_none() { old } else { None }
}

/// Recomputes every fault's hold from the context; a fault released with its check still bad
/// is notified now.
fn refresh_holds(a: &mut Alarm, out: &mut Vec<Notification>, cx: &Context<'_>) {
    let checks: Vec<CheckId> = a.faults.keys().cloned().collect();
    for check in checks {
        let hold = (cx.facts)(&check).hold();
        if let Some(old) = set_hold(a, &check, hold, cx.now_ms)
            && let Some(f) = a.faults.get(&check).cloned()
        {
            let kind = match old {
                Hold::Maintenance => NotificationKind::MaintenanceEnded,
                Hold::Parent { .. } => NotificationKind::ParentRecovered,
            };
            send(
                a,
                out,
                cx,
                &Intent {
                    kind,
                    check: Some(&check),
                    status: f.status,
                    previous: None,
                    message: &f.message,
                },
            );
        }
    }
}

/// Closes `a` by itself if nothing is left in it, sending the recovery.
fn close_if_empty(
    a: &mut Alarm,
    out: &mut Vec<Notification>,
    cx: &Context<'_>,
    check: &CheckId,
    kind: NotificationKind,
    from: Option<Status>,
    message: &str,
) -> bool {
    if !a.faults.is_empty() || !a.flapping.is_empty() {
        return false;
    }
    a.closed_ms = Some(cx.now_ms);
    a.record(cx.now_ms, EventKind::Closed { by: None });
    send(
        a,
        out,
        cx,
        &Intent {
            kind,
            check: Some(check),
            status: Status::Ok,
            previous: from,
            message,
        },
    );
    a.ack = None;
    true
}

/// Applies one transition of `check` to the open alarm of its key (`current`, `None` if there
/// is none). A failure with no open alarm opens one with id `next_id` (then
/// [`Step::opened`] is true); a recovery with no open alarm is dropped. Soft and recovering
/// transitions change nothing.
pub fn on_check(
    current: Option<&Alarm>,
    key: &AlarmKey,
    next_id: u64,
    check: &CheckId,
    transition: &Transition,
    message: &str,
    cx: &Context<'_>,
) -> Step {
    let current = current.filter(|a| a.is_open());
    let opens = match transition {
        Transition::Hard { to, .. } => to.is_bad(),
        Transition::FlappingStarted { .. } => true,
        _ => false,
    };
    let mut out = Vec::new();
    let (mut a, opened) = match current {
        Some(a) => (a.clone(), false),
        None if opens => (Alarm::new(next_id, key.clone(), cx.now_ms), true),
        None => {
            return Step::default();
        }
    };
    refresh_holds(&mut a, &mut out, cx);
    let now = cx.now_ms;
    match transition {
        Transition::Hard { to, .. } if to.is_bad() => {
            let hold = (cx.facts)(check).hold();
            match a.faults.get_mut(check) {
                Some(f) if f.status == *to => {
                    // Dedupe: the same fault again.
                    f.message = message.to_owned();
                }
                Some(f) => {
                    let from = f.status;
                    f.status = *to;
                    f.message = message.to_owned();
                    let held = f.hold.is_some();
                    a.record(
                        now,
                        EventKind::FaultChanged {
                            check: check.clone(),
                            from,
                            to: *to,
                        },
                    );
                    if !held {
                        send(
                            &mut a,
                            &mut out,
                            cx,
                            &Intent {
                                kind: NotificationKind::FaultChanged,
                                check: Some(check),
                                status: *to,
                                previous: Some(from),
                                message,
                            },
                        );
                    }
                }
                None => {
                    a.faults.insert(
                        check.clone(),
                        Fault {
                            status: *to,
                            since_ms: now,
                            message: message.to_owned(),
                            hold: None,
                        },
                    );
                    a.record(
                        now,
                        EventKind::FaultAdded {
                            check: check.clone(),
                            status: *to,
                            message: message.to_owned(),
                        },
                    );
                    set_hold(&mut a, check, hold.clone(), now);
                    if hold.is_none() {
                        let kind = if a.seq == 0 {
                            NotificationKind::Opened
                        } else {
                            NotificationKind::NewFault
                        };
                        send(
                            &mut a,
                            &mut out,
                            cx,
                            &Intent {
                                kind,
                                check: Some(check),
                                status: *to,
                                previous: None,
                                message,
                            },
                        );
                    }
                }
            }
        }
        Transition::Hard { .. } => {
            if let Some(f) = a.faults.remove(check) {
                a.record(
                    now,
                    EventKind::FaultCleared {
                        check: check.clone(),
                        from: f.status,
                    },
                );
                let closed = close_if_empty(
                    &mut a,
                    &mut out,
                    cx,
                    check,
                    NotificationKind::Recovered,
                    Some(f.status),
                    message,
                );
                if !closed && f.hold.is_none() {
                    send(
                        &mut a,
                        &mut out,
                        cx,
                        &Intent {
                            kind: NotificationKind::FaultCleared,
                            check: Some(check),
                            status: Status::Ok,
                            previous: Some(f.status),
                            message,
                        },
                    );
                }
            }
        }
        Transition::FlappingStarted { .. } => {
            if a.flapping.insert(check.clone()) {
                a.record(
                    now,
                    EventKind::FlappingStarted {
                        check: check.clone(),
                    },
                );
                if (cx.facts)(check).hold().is_none() {
                    let status = a.faults.get(check).map_or(Status::Ok, |f| f.status);
                    send(
                        &mut a,
                        &mut out,
                        cx,
                        &Intent {
                            kind: NotificationKind::FlappingStarted,
                            check: Some(check),
                            status,
                            previous: None,
                            message,
                        },
                    );
                }
            }
        }
        Transition::FlappingStopped { .. } => {
            if a.flapping.remove(check) {
                a.record(
                    now,
                    EventKind::FlappingStopped {
                        check: check.clone(),
                    },
                );
                let closed = close_if_empty(
                    &mut a,
                    &mut out,
                    cx,
                    check,
                    NotificationKind::FlappingStopped,
                    None,
                    message,
                );
                if !closed && (cx.facts)(check).hold().is_none() {
                    let status = a.faults.get(check).map_or(Status::Ok, |f| f.status);
                    send(
                        &mut a,
                        &mut out,
                        cx,
                        &Intent {
                            kind: NotificationKind::FlappingStopped,
                            check: Some(check),
                            status,
                            previous: None,
                            message,
                        },
                    );
                }
            }
        }
        Transition::Soft { .. }
        | Transition::SoftRecovered { .. }
        | Transition::Recovering { .. } => {}
    }
    Step {
        alarm: Some(a),
        opened,
        notifications: out,
    }
}

/// The order in which one state step's transitions are applied: a flapping start first (so the
/// change that started it is not sent as well), a flapping stop last (so its message tells the
/// status the check settled on).
pub fn ordered(transitions: &[Transition]) -> Vec<&Transition> {
    let rank = |t: &Transition| match t {
        Transition::FlappingStarted { .. } => 0,
        Transition::FlappingStopped { .. } => 2,
        _ => 1,
    };
    let mut v: Vec<&Transition> = transitions.iter().collect();
    v.sort_by_key(|t| rank(t));
    v
}

/// The periodic step of an open alarm: holds that ended (notified if the fault is still
/// there), ack expiry, and re-notification.
pub fn on_tick(alarm: &Alarm, cx: &Context<'_>) -> Step {
    if !alarm.is_open() {
        return Step {
            alarm: Some(alarm.clone()),
            ..Step::default()
        };
    }
    let mut a = alarm.clone();
    let mut out = Vec::new();
    refresh_holds(&mut a, &mut out, cx);
    if a.ack
        .as_ref()
        .and_then(|k| k.expires_ms)
        .is_some_and(|e| e <= cx.now_ms)
    {
        a.ack = None;
        a.record(cx.now_ms, EventKind::AckExpired);
    }
    if let Some(every) = cx.policy.renotify
        && !a.suppressed
        && a.ack.is_none()
        && !a.cut_off
    {
        let since = a.last_notified_ms.unwrap_or(a.opened_ms);
        let every = i64::try_from(every.as_millis()).unwrap_or(i64::MAX);
        if cx.now_ms.saturating_sub(since) >= every
            && let Some((check, f)) = a.worst().map(|(c, f)| (c.clone(), f.clone()))
        {
            send(
                &mut a,
                &mut out,
                cx,
                &Intent {
                    kind: NotificationKind::Renotify,
                    check: Some(&check),
                    status: f.status,
                    previous: None,
                    message: &f.message,
                },
            );
        }
    }
    Step {
        alarm: Some(a),
        opened: false,
        notifications: out,
    }
}

/// Applies an operator's action. Reopen needs a closed alarm (the caller checks that its key
/// has no other open alarm, as [`AlarmBook::act`] does); every other action needs an open
/// one. Ack, unack, suppress and unsuppress are idempotent; none sends a message.
pub fn on_action(alarm: &Alarm, action: &Action, now_ms: i64) -> Result<Step, AlarmError> {
    let mut a = alarm.clone();
    let id = a.id;
    match action {
        Action::Reopen { by } => {
            if a.is_open() {
                return Err(AlarmError::Open { id });
            }
            a.closed_ms = None;
            a.record(now_ms, EventKind::Reopened { by: by.clone() });
        }
        _ if !a.is_open() => return Err(AlarmError::Closed { id }),
        Action::Ack {
            by,
            comment,
            expires_ms,
        } => {
            a.ack = Some(Ack {
                by: by.clone(),
                comment: comment.clone(),
                at_ms: now_ms,
                expires_ms: *expires_ms,
            });
            a.record(
                now_ms,
                EventKind::Acked {
                    by: by.clone(),
                    comment: comment.clone(),
                    expires_ms: *expires_ms,
                },
            );
        }
        Action::Unack { by } => {
            if a.ack.take().is_some() {
                a.record(now_ms, EventKind::Unacked { by: by.clone() });
            }
        }
        Action::Close { by } => {
            a.closed_ms = Some(now_ms);
            a.ack = None;
            a.record(
                now_ms,
                EventKind::Closed {
                    by: Some(by.clone()),
                },
            );
        }
        Action::Suppress { by } => {
            if !a.suppressed {
                a.suppressed = true;
                a.record(now_ms, EventKind::Suppressed { by: by.clone() });
            }
        }
        Action::Unsuppress { by } => {
            if a.suppressed {
                a.suppressed = false;
                a.record(now_ms, EventKind::Unsuppressed { by: by.clone() });
            }
        }
    }
    Ok(Step {
        alarm: Some(a),
        opened: false,
        notifications: Vec::new(),
    })
}

/// [`on_action`], and for an ack of an alarm whose contacts were told of it (and that is not
/// suppressed) one message saying who took it: paging services close the loop with it
/// (PagerDuty's `acknowledge`), chat rooms see that someone is on it. It does not count toward
/// the cut-off.
pub fn on_action_notifying(
    alarm: &Alarm,
    action: &Action,
    cx: &Context<'_>,
) -> Result<Step, AlarmError> {
    let mut step = on_action(alarm, action, cx.now_ms)?;
    let (Action::Ack { by, comment, .. }, Some(a)) = (action, step.alarm.as_mut()) else {
        return Ok(step);
    };
    if a.suppressed || a.seq == 0 || !a.is_open() {
        return Ok(step);
    }
    let (check, status) = match a.worst() {
        Some((c, f)) => (Some(c.clone()), f.status),
        None => (None, Status::Unknown),
    };
    let message = match comment {
        Some(c) => format!("acknowledged by {by}: {c}"),
        None => format!("acknowledged by {by}"),
    };
    // Not a reminder of trouble: the renotify clock keeps counting from the last one.
    a.seq += 1;
    a.record(
        cx.now_ms,
        EventKind::Notified {
            kind: NotificationKind::Acked,
            seq: a.seq,
            contacts: cx.policy.contacts.len(),
        },
    );
    step.notifications.push(Notification {
        alarm: a.id,
        key: a.key.clone(),
        seq: a.seq,
        kind: NotificationKind::Acked,
        at_ms: cx.now_ms,
        check,
        status,
        previous: None,
        message,
        contacts: cx.policy.contacts.clone(),
        open: true,
        faults: a.faults.len(),
    });
    Ok(step)
}

// ---------------------------------------------------------------------------------------------
// The book.
// ---------------------------------------------------------------------------------------------

/// The alarms of one tenant: open ones by key, closed ones kept for a retention; hands out
/// short ids (#1, #2, …) that are never reused. Serialised as `{next_id, retention_ms,
/// alarms: [...]}`.
#[derive(Clone, Debug, PartialEq, Eq, Serialize, Deserialize)]
#[serde(from = "BookRepr", into = "BookRepr")]
pub struct AlarmBook {
    /// The next id to hand out.
    pub next_id: u64,
    /// Open alarms by key.
    open: BTreeMap<AlarmKey, Alarm>,
    /// Closed alarms by id.
    closed: BTreeMap<u64, Alarm>,
    /// How long closed alarms are kept.
    pub retention: Duration,
}

/// The serialised form of an [`AlarmBook`].
#[derive(Serialize, Deserialize)]
struct BookRepr {
    next_id: u64,
    retention_ms: u64,
    alarms: Vec<Alarm>,
}

impl From<AlarmBook> for BookRepr {
    fn from(b: AlarmBook) -> Self {
        let mut alarms: Vec<Alarm> = b.open.into_values().chain(b.closed.into_values()).collect();
        alarms.sort_by_key(|a| a.id);
        Self {
            next_id: b.next_id,
            retention_ms: u64::try_from(b.retention.as_millis()).unwrap_or(u64::MAX),
            alarms,
        }
    }
}

impl From<BookRepr> for AlarmBook {
    fn from(r: BookRepr) -> Self {
        let mut b = Self::restore(r.alarms, r.next_id);
        b.retention = Duration::from_millis(r.retention_ms);
        b
    }
}

impl Default for AlarmBook {
    fn default() -> Self {
        Self::new()
    }
}

impl AlarmBook {
    /// An empty book; closed alarms kept [`DEFAULT_RETENTION`].
    pub fn new() -> Self {
        Self {
            next_id: 1,
            open: BTreeMap::new(),
            closed: BTreeMap::new(),
            retention: DEFAULT_RETENTION,
        }
    }

    /// A book holding stored alarms. Ids continue after `next_id` and after every id seen. If
    /// two stored open alarms share a key, the newer is kept open and the older is closed.
    pub fn restore(alarms: impl IntoIterator<Item = Alarm>, next_id: u64) -> Self {
        let mut book = Self::new();
        book.next_id = next_id.max(1);
        let mut all: Vec<Alarm> = alarms.into_iter().collect();
        all.sort_by_key(|a| a.id);
        for mut a in all {
            book.next_id = book.next_id.max(a.id.saturating_add(1));
            if a.is_open() {
                if let Some(mut old) = book.open.remove(&a.key) {
                    old.closed_ms = Some(a.opened_ms);
                    book.closed.insert(old.id, old);
                }
                book.open.insert(a.key.clone(), a);
            } else {
                a.ack = None;
                book.closed.insert(a.id, a);
            }
        }
        book
    }

    /// Takes back a closed alarm read from the store (the book keeps only the open ones across
    /// a restart), so actions such as reopen can reach it. Ignored if the book knows the id or
    /// the alarm is open.
    pub fn remember_closed(&mut self, alarm: Alarm) {
        if !alarm.is_open() && self.get(alarm.id).is_none() {
            self.closed.insert(alarm.id, alarm);
        }
    }

    /// The open alarm of a key.
    pub fn open_alarm(&self, key: &AlarmKey) -> Option<&Alarm> {
        self.open.get(key)
    }

    /// An alarm by id, open or closed.
    pub fn get(&self, id: u64) -> Option<&Alarm> {
        self.closed
            .get(&id)
            .or_else(|| self.open.values().find(|a| a.id == id))
    }

    /// The open alarms, by key.
    pub fn open_alarms(&self) -> impl Iterator<Item = &Alarm> {
        self.open.values()
    }

    /// The closed alarms still kept, by id.
    pub fn closed_alarms(&self) -> impl Iterator<Item = &Alarm> {
        self.closed.values()
    }

    fn keep(&mut self, step: &Step) {
        let Some(a) = &step.alarm else { return };
        if step.opened {
            self.next_id = self.next_id.max(a.id.saturating_add(1));
        }
        if a.is_open() {
            self.closed.remove(&a.id);
            self.open.insert(a.key.clone(), a.clone());
        } else {
            if self.open.get(&a.key).is_some_and(|o| o.id == a.id) {
                self.open.remove(&a.key);
            }
            self.closed.insert(a.id, a.clone());
        }
    }

    /// Applies one state-engine transition of `check`, whose alarm has `key` (see
    /// [`on_check`]).
    pub fn on_check(
        &mut self,
        key: &AlarmKey,
        check: &CheckId,
        transition: &Transition,
        message: &str,
        cx: &Context<'_>,
    ) -> Step {
        let step = on_check(
            self.open.get(key),
            key,
            self.next_id,
            check,
            transition,
            message,
            cx,
        );
        self.keep(&step);
        step
    }

    /// Applies all the transitions of one state step, in [`ordered`] order; the notifications
    /// of all, in order, and the alarm as it is after the last.
    pub fn on_transitions(
        &mut self,
        key: &AlarmKey,
        check: &CheckId,
        transitions: &[Transition],
        message: &str,
        cx: &Context<'_>,
    ) -> Step {
        let mut all = Step::default();
        for t in ordered(transitions) {
            let step = self.on_check(key, check, t, message, cx);
            all.opened |= step.opened;
            all.notifications.extend(step.notifications);
            if step.alarm.is_some() {
                all.alarm = step.alarm;
            }
        }
        all
    }

    /// The periodic step of one open alarm (see [`on_tick`]).
    pub fn tick(&mut self, key: &AlarmKey, cx: &Context<'_>) -> Step {
        let Some(a) = self.open.get(key) else {
            return Step::default();
        };
        let step = on_tick(a, cx);
        self.keep(&step);
        step
    }

    /// An operator's action on alarm `id` (see [`on_action`]).
    pub fn act(&mut self, id: u64, action: &Action, now_ms: i64) -> Result<Step, AlarmError> {
        self.act_with(id, action, now_ms, None)
    }

    /// [`Self::act`], telling the alarm's contacts of an ack when `cx` is given (see
    /// [`on_action_notifying`]).
    pub fn act_notifying(
        &mut self,
        id: u64,
        action: &Action,
        cx: &Context<'_>,
    ) -> Result<Step, AlarmError> {
        self.act_with(id, action, cx.now_ms, Some(cx))
    }

    fn act_with(
        &mut self,
        id: u64,
        action: &Action,
        now_ms: i64,
        cx: Option<&Context<'_>>,
    ) -> Result<Step, AlarmError> {
        let a = self.get(id).ok_or(AlarmError::NotFound { id })?;
        if matches!(action, Action::Reopen { .. })
            && let Some(open) = self.open.get(&a.key)
            && open.id != id
        {
            return Err(AlarmError::KeyBusy {
                id,
                key: a.key.clone(),
                open: open.id,
            });
        }
        let step = match cx {
            Some(cx) => on_action_notifying(a, action, cx)?,
            None => on_action(a, action, now_ms)?,
        };
        self.keep(&step);
        Ok(step)
    }

    /// Forgets closed alarms older than the retention; returns their ids (for the store).
    pub fn prune(&mut self, now_ms: i64) -> Vec<u64> {
        let keep = i64::try_from(self.retention.as_millis()).unwrap_or(i64::MAX);
        let old: Vec<u64> = self
            .closed
            .values()
            .filter(|a| a.closed_ms.is_some_and(|c| now_ms.saturating_sub(c) > keep))
            .map(|a| a.id)
            .collect();
        for id in &old {
            self.closed.remove(id);
        }
        old
    }
}
