//! Table tests of the alarm engine: each scenario is a list of (time, input, expected
//! notifications) rows run against an [`AlarmBook`], with the facts (maintenance, parents down)
//! kept by a small world that plays the engine's part.

use std::collections::{BTreeMap, BTreeSet};
use std::time::Duration;

use tocsin_core::alarm::{
    Action, Alarm, AlarmBook, AlarmError, AlarmKey, CheckFacts, Context, Hold, NotificationKind,
    NotifyPolicy, Step,
};
use tocsin_core::{CheckId, Status, Transition};

use Status::{Critical as C, Ok as O, Warning as W};

const MIN: i64 = 60;

/// One input of a scenario.
#[derive(Clone, Debug)]
enum Op {
    /// A hard transition of a check to this status (ok = recovery).
    Hard(&'static str, Status),
    /// The state engine's transitions of one step, applied together.
    Many(&'static str, Vec<Transition>),
    FlapOn(&'static str),
    FlapOff(&'static str),
    Tick,
    /// A maintenance window starts (true) or ends (false) for a check.
    Maint(&'static str, bool),
    Act(u64, Action),
}

struct World {
    book: AlarmBook,
    policy: NotifyPolicy,
    groups: BTreeMap<&'static str, &'static str>,
    parents: BTreeMap<&'static str, Vec<&'static str>>,
    hard: BTreeMap<String, Status>,
    maint: BTreeSet<String>,
}

fn id(s: &str) -> CheckId {
    CheckId::new(s).unwrap()
}

impl World {
    fn new(policy: NotifyPolicy) -> Self {
        Self {
            book: AlarmBook::new(),
            policy,
            groups: BTreeMap::new(),
            parents: BTreeMap::new(),
            hard: BTreeMap::new(),
            maint: BTreeSet::new(),
        }
    }

    fn key(&self, check: &str) -> AlarmKey {
        let groups: Vec<&str> = self.groups.get(check).into_iter().copied().collect();
        AlarmKey::of(&id(check), &groups)
    }

    fn facts(&self, c: &CheckId) -> CheckFacts {
        CheckFacts {
            in_maintenance: self.maint.contains(c.as_str()),
            parents_down: self
                .parents
                .get(c.as_str())
                .into_iter()
                .flatten()
                .filter(|p| self.hard.get(**p).is_some_and(|s| s.is_bad()))
                .map(|p| id(p))
                .collect(),
        }
    }

    /// Applies one op at `t` seconds; the notifications as `#id kind check status` lines.
    fn apply(&mut self, t: i64, op: &Op) -> Result<String, AlarmError> {
        let facts_of = |c: &CheckId| self.facts(c);
        let policy = self.policy.clone();
        let cx = Context {
            now_ms: t * 1000,
            policy: &policy,
            facts: &facts_of,
        };
        let mut book = self.book.clone();
        let mut hard = self.hard.clone();
        let step: Step = match op {
            Op::Hard(c, to) => {
                let from = hard.get(*c).copied().unwrap_or(O);
                hard.insert((*c).to_owned(), *to);
                let tr = Transition::Hard { from, to: *to };
                book.on_check(&self.key(c), &id(c), &tr, &format!("{c} is {to}"), &cx)
            }
            Op::Many(c, trs) => {
                for tr in trs {
                    if let Transition::Hard { to, .. } = tr {
                        hard.insert((*c).to_owned(), *to);
                    }
                }
                book.on_transitions(&self.key(c), &id(c), trs, "many", &cx)
            }
            Op::FlapOn(c) => book.on_check(
                &self.key(c),
                &id(c),
                &Transition::FlappingStarted { percent: 40.0 },
                "flapping",
                &cx,
            ),
            Op::FlapOff(c) => book.on_check(
                &self.key(c),
                &id(c),
                &Transition::FlappingStopped { percent: 10.0 },
                "steady",
                &cx,
            ),
            Op::Tick => {
                let keys: Vec<AlarmKey> = book.open_alarms().map(|a| a.key.clone()).collect();
                let mut all = Step::default();
                for k in keys {
                    all.notifications.extend(book.tick(&k, &cx).notifications);
                }
                all
            }
            Op::Maint(..) => Step::default(),
            Op::Act(n, action) => book.act_notifying(*n, action, &cx)?,
        };
        if let Op::Maint(c, on) = op {
            if *on {
                self.maint.insert((*c).to_owned());
            } else {
                self.maint.remove(*c);
            }
        }
        self.book = book;
        self.hard = hard;
        Ok(step
            .notifications
            .iter()
            .map(|n| {
                assert_eq!(n.contacts, self.policy.contacts);
                format!(
                    "#{} {} {} {}",
                    n.alarm,
                    n.kind,
                    n.check.as_ref().map_or("-", CheckId::as_str),
                    n.status
                )
            })
            .collect::<Vec<_>>()
            .join("; "))
    }

    /// Runs rows of (seconds, op, expected notifications).
    fn run(&mut self, rows: &[(i64, Op, &str)]) {
        for (i, (t, op, want)) in rows.iter().enumerate() {
            let got = self
                .apply(*t, op)
                .unwrap_or_else(|e| panic!("row {i} ({op:?}): {e}"));
            assert_eq!(got, *want, "row {i} at {t}s: {op:?}");
        }
    }

    fn alarm(&self, n: u64) -> &Alarm {
        self.book.get(n).unwrap()
    }
}

fn policy(renotify_min: Option<u64>, max: Option<u32>) -> NotifyPolicy {
    NotifyPolicy {
        contacts: vec!["ops".into(), "pager".into()],
        renotify: renotify_min.map(|m| Duration::from_secs(m * 60)),
        max_notifications: max,
    }
}

fn by(who: &str) -> String {
    who.to_owned()
}

/// The names of an alarm's timeline events, oldest first: `opened`, `fault_added`, …
fn event_kinds(a: &Alarm) -> Vec<String> {
    a.events
        .iter()
        .map(|e| {
            serde_json::to_value(&e.what).unwrap()["event"]
                .as_str()
                .unwrap()
                .to_owned()
        })
        .collect()
}

#[test]
fn an_alarm_opens_on_a_hard_failure_and_closes_on_recovery() {
    let mut w = World::new(policy(None, None));
    w.run(&[
        (0, Op::Hard("web", C), "#1 opened web critical"),
        // The same hard status again is not sent again (dedupe).
        (10, Op::Hard("web", C), ""),
        (20, Op::Hard("web", W), "#1 fault_changed web warning"),
        (30, Op::Hard("web", O), "#1 recovered web ok"),
        // A recovery with no open alarm is dropped (Amon).
        (40, Op::Hard("web", O), ""),
        (50, Op::Hard("web", C), "#2 opened web critical"),
    ]);
    let first = w.alarm(1);
    assert!(!first.is_open());
    assert_eq!(first.closed_ms, Some(30_000));
    assert!(first.faults.is_empty());
    assert_eq!(first.notifications, 2, "the recovery does not count");
    assert_eq!(first.seq, 3);
    assert_eq!(first.last_event_ms(), 30_000);
    assert_eq!(
        event_kinds(first),
        [
            "opened",
            "fault_added",
            "notified",
            "fault_changed",
            "notified",
            "fault_cleared",
            "closed",
            "notified"
        ]
    );
    let second = w.book.open_alarm(&w.key("web")).unwrap();
    assert_eq!(second.id, 2);
    assert_eq!(second.faults[&id("web")].status, C);
}

#[test]
fn soft_and_recovering_transitions_change_nothing() {
    let mut w = World::new(policy(None, None));
    let soft = vec![Transition::Soft {
        status: C,
        attempt: 1,
        of: 3,
    }];
    w.run(&[(0, Op::Many("web", soft), "")]);
    assert_eq!(w.book.open_alarms().count(), 0);
    assert_eq!(w.book.next_id, 1, "no id is used");
}

#[test]
fn a_group_shares_one_alarm_and_its_faults() {
    let mut w = World::new(policy(None, None));
    w.groups.insert("api", "shop");
    w.groups.insert("db", "shop");
    w.run(&[
        (0, Op::Hard("api", C), "#1 opened api critical"),
        (10, Op::Hard("db", W), "#1 new_fault db warning"),
        (20, Op::Hard("api", O), "#1 fault_cleared api ok"),
        (30, Op::Hard("db", O), "#1 recovered db ok"),
        (40, Op::Hard("other", C), "#2 opened other critical"),
    ]);
    assert_eq!(w.alarm(1).key, AlarmKey::Group("shop".into()));
    assert_eq!(w.alarm(2).key, AlarmKey::Check(id("other")));
}

#[test]
fn the_key_is_the_first_group() {
    assert_eq!(
        AlarmKey::of(&id("a"), &["zeta", "alpha"]),
        AlarmKey::Group("alpha".into())
    );
    assert_eq!(AlarmKey::of(&id("a"), &[]), AlarmKey::Check(id("a")));
}

#[test]
fn renotify_while_open_then_the_cut_off() {
    let mut w = World::new(policy(Some(10), Some(3)));
    w.run(&[
        (0, Op::Hard("web", C), "#1 opened web critical"),
        (5 * MIN, Op::Tick, ""),
        (10 * MIN, Op::Tick, "#1 renotify web critical"),
        (15 * MIN, Op::Tick, ""),
        (20 * MIN, Op::Tick, "#1 renotify web critical"),
        // The fourth would-be message is the final one.
        (30 * MIN, Op::Tick, "#1 cut_off web critical"),
        (40 * MIN, Op::Tick, ""),
        (41 * MIN, Op::Hard("web", W), ""),
        // Recoveries are never cut off.
        (50 * MIN, Op::Hard("web", O), "#1 recovered web ok"),
    ]);
    let a = w.alarm(1);
    assert!(a.cut_off);
    assert_eq!(a.notifications, 3);
}

#[test]
fn the_cut_off_message_says_so() {
    let mut w = World::new(policy(Some(1), Some(1)));
    w.run(&[(0, Op::Hard("web", C), "#1 opened web critical")]);
    let cx_policy = w.policy.clone();
    let facts = |_: &CheckId| CheckFacts::default();
    let cx = Context {
        now_ms: 60_000,
        policy: &cx_policy,
        facts: &facts,
    };
    let step = w.book.tick(&w.key("web"), &cx);
    assert_eq!(step.notifications.len(), 1);
    let n = &step.notifications[0];
    assert_eq!(n.kind, NotificationKind::CutOff);
    assert_eq!(n.message, "further notifications suppressed");
    assert_eq!((n.alarm, n.seq), (1, 2));
    assert!(n.open);
    assert_eq!(n.faults, 1);
}

#[test]
fn no_renotify_without_renotify() {
    let mut w = World::new(policy(None, None));
    w.run(&[
        (0, Op::Hard("web", C), "#1 opened web critical"),
        (1000 * MIN, Op::Tick, ""),
    ]);
}

#[test]
fn an_ack_stops_everything_but_the_recovery() {
    let mut w = World::new(policy(Some(10), None));
    w.groups.insert("a", "g");
    w.groups.insert("b", "g");
    let ack = Action::Ack {
        by: by("ann"),
        comment: Some("on it".into()),
        expires_ms: None,
    };
    w.run(&[
        (0, Op::Hard("a", C), "#1 opened a critical"),
        (MIN, Op::Act(1, ack), "#1 acked a critical"),
        (20 * MIN, Op::Tick, ""),
        (21 * MIN, Op::Hard("a", W), ""),
        (22 * MIN, Op::Hard("b", C), ""),
        (23 * MIN, Op::Hard("b", O), ""),
        (24 * MIN, Op::Hard("a", O), "#1 recovered a ok"),
    ]);
    let a = w.alarm(1);
    assert_eq!(a.ack, None, "the ack ends with the alarm");
}

#[test]
fn an_ack_that_expires_lets_renotify_resume() {
    let mut w = World::new(policy(Some(10), None));
    let ack = Action::Ack {
        by: by("ann"),
        comment: None,
        expires_ms: Some(30 * MIN * 1000),
    };
    w.run(&[
        (0, Op::Hard("web", C), "#1 opened web critical"),
        (MIN, Op::Act(1, ack.clone()), "#1 acked web critical"),
        (29 * MIN, Op::Tick, ""),
        (30 * MIN, Op::Tick, "#1 renotify web critical"),
        (35 * MIN, Op::Act(1, ack), "#1 acked web critical"),
        (36 * MIN, Op::Act(1, Action::Unack { by: by("bob") }), ""),
        (40 * MIN, Op::Tick, "#1 renotify web critical"),
    ]);
    let mut kinds = event_kinds(w.alarm(1));
    kinds.retain(|k| k.contains("ack"));
    assert_eq!(kinds, ["acked", "ack_expired", "acked", "unacked"]);
}

#[test]
fn maintenance_holds_notifications_and_its_end_sends_what_is_left() {
    let mut w = World::new(policy(Some(10), None));
    w.run(&[
        (0, Op::Maint("web", true), ""),
        (MIN, Op::Hard("web", C), ""),
        (20 * MIN, Op::Tick, ""),
        (21 * MIN, Op::Hard("web", W), ""),
        (30 * MIN, Op::Maint("web", false), ""),
        (31 * MIN, Op::Tick, "#1 maintenance_ended web warning"),
        (35 * MIN, Op::Tick, ""),
        (41 * MIN, Op::Tick, "#1 renotify web warning"),
    ]);
    let a = w.alarm(1);
    assert!(!a.in_maintenance());
    assert_eq!(a.faults[&id("web")].hold, None);
}

#[test]
fn an_alarm_in_maintenance_is_marked_and_closes_silently() {
    let mut w = World::new(policy(Some(10), None));
    w.run(&[
        (0, Op::Maint("web", true), ""),
        (MIN, Op::Hard("web", C), ""),
    ]);
    let a = w.book.open_alarm(&w.key("web")).unwrap();
    assert!(a.in_maintenance());
    assert_eq!(a.held(), Some(&Hold::Maintenance));
    // Nobody was told of the trouble, so nobody is told it is over.
    w.run(&[(2 * MIN, Op::Hard("web", O), "")]);
    assert!(!w.alarm(1).is_open());
}

#[test]
fn maintenance_starting_on_an_open_alarm_stops_renotify() {
    let mut w = World::new(policy(Some(10), None));
    w.run(&[
        (0, Op::Hard("web", C), "#1 opened web critical"),
        (MIN, Op::Maint("web", true), ""),
        (20 * MIN, Op::Tick, ""),
        // Told before the window: the recovery is sent even in maintenance.
        (21 * MIN, Op::Hard("web", O), "#1 recovered web ok"),
    ]);
}

#[test]
fn a_child_is_held_while_its_parent_is_down() {
    let mut w = World::new(policy(None, None));
    w.parents.insert("web", vec!["db"]);
    w.run(&[
        (0, Op::Hard("db", C), "#1 opened db critical"),
        (10, Op::Hard("web", C), ""),
    ]);
    let child = w.book.open_alarm(&w.key("web")).unwrap();
    assert_eq!(child.held(), Some(&Hold::Parent { parent: id("db") }));
    assert_eq!(
        child.held().unwrap().to_string(),
        "suppressed: parent db is down"
    );
    w.run(&[
        (20, Op::Hard("db", O), "#1 recovered db ok"),
        // The child is still bad when the parent recovers: it is notified then.
        (30, Op::Tick, "#2 parent_recovered web critical"),
        (40, Op::Hard("web", O), "#2 recovered web ok"),
    ]);
}

#[test]
fn a_child_that_recovers_before_its_parent_is_never_sent() {
    let mut w = World::new(policy(None, None));
    w.parents.insert("web", vec!["db"]);
    w.run(&[
        (0, Op::Hard("db", C), "#1 opened db critical"),
        (10, Op::Hard("web", C), ""),
        (20, Op::Hard("web", O), ""),
        (30, Op::Hard("db", O), "#1 recovered db ok"),
        (40, Op::Tick, ""),
    ]);
    assert!(!w.alarm(2).is_open());
}

#[test]
fn dependency_comes_before_maintenance() {
    let mut w = World::new(policy(None, None));
    w.parents.insert("web", vec!["db"]);
    w.run(&[
        (0, Op::Maint("web", true), ""),
        (1, Op::Hard("db", C), "#1 opened db critical"),
        (2, Op::Hard("web", C), ""),
    ]);
    assert_eq!(
        w.book.open_alarm(&w.key("web")).unwrap().held(),
        Some(&Hold::Parent { parent: id("db") })
    );
    w.run(&[
        (3, Op::Hard("db", O), "#1 recovered db ok"),
        // The parent is back but the window is still open: still held, now by maintenance.
        (4, Op::Tick, ""),
    ]);
    assert!(w.book.open_alarm(&w.key("web")).unwrap().in_maintenance());
    w.run(&[
        (5, Op::Maint("web", false), ""),
        (6, Op::Tick, "#2 maintenance_ended web critical"),
    ]);
}

#[test]
fn flapping_sends_one_message_when_it_starts_and_one_when_it_stops() {
    let mut w = World::new(policy(Some(10), None));
    w.run(&[
        (0, Op::Hard("web", C), "#1 opened web critical"),
        (MIN, Op::FlapOn("web"), "#1 flapping_started web critical"),
        (2 * MIN, Op::Hard("web", O), ""),
        (3 * MIN, Op::Hard("web", C), ""),
        (4 * MIN, Op::Hard("web", W), ""),
        (30 * MIN, Op::Tick, ""),
        (
            31 * MIN,
            Op::FlapOff("web"),
            "#1 flapping_stopped web warning",
        ),
        (42 * MIN, Op::Tick, "#1 renotify web warning"),
        (43 * MIN, Op::Hard("web", O), "#1 recovered web ok"),
    ]);
}

#[test]
fn flapping_opens_an_alarm_that_closes_when_it_stops() {
    let mut w = World::new(policy(None, None));
    w.run(&[
        (0, Op::FlapOn("web"), "#1 flapping_started web ok"),
        (10, Op::Hard("web", C), ""),
        (20, Op::Hard("web", O), ""),
        (30, Op::FlapOff("web"), "#1 flapping_stopped web ok"),
    ]);
    assert!(!w.alarm(1).is_open());
}

#[test]
fn a_flapping_start_in_the_same_step_hides_the_change_that_caused_it() {
    let mut w = World::new(policy(None, None));
    w.run(&[(
        0,
        Op::Many(
            "web",
            vec![
                Transition::Hard { from: O, to: C },
                Transition::FlappingStarted { percent: 35.0 },
            ],
        ),
        "#1 flapping_started web ok",
    )]);
    let a = w.alarm(1);
    assert!(a.faults.contains_key(&id("web")), "the fault is recorded");
    w.run(&[(
        10,
        Op::Many(
            "web",
            vec![
                Transition::FlappingStopped { percent: 20.0 },
                Transition::Hard { from: C, to: W },
            ],
        ),
        "#1 flapping_stopped web warning",
    )]);
}

#[test]
fn a_suppressed_alarm_sends_nothing() {
    let mut w = World::new(policy(Some(10), None));
    w.run(&[
        (0, Op::Hard("web", C), "#1 opened web critical"),
        (MIN, Op::Act(1, Action::Suppress { by: by("ann") }), ""),
        (20 * MIN, Op::Tick, ""),
        (21 * MIN, Op::Hard("web", W), ""),
        (
            22 * MIN,
            Op::Act(1, Action::Unsuppress { by: by("ann") }),
            "",
        ),
        (23 * MIN, Op::Tick, "#1 renotify web warning"),
        (24 * MIN, Op::Act(1, Action::Suppress { by: by("ann") }), ""),
        (25 * MIN, Op::Hard("web", O), ""),
    ]);
    assert!(!w.alarm(1).is_open());
}

#[test]
fn close_and_reopen_by_hand() {
    let mut w = World::new(policy(None, None));
    w.run(&[
        (0, Op::Hard("web", C), "#1 opened web critical"),
        (10, Op::Act(1, Action::Close { by: by("ann") }), ""),
        // No open alarm: the recovery is dropped.
        (20, Op::Hard("web", O), ""),
        (30, Op::Act(1, Action::Reopen { by: by("ann") }), ""),
    ]);
    let a = w.alarm(1);
    assert!(a.is_open());
    assert_eq!(a.opened_ms, 0, "reopen keeps the opening time");
    assert_eq!(a.faults.len(), 1, "and the faults it had");
    w.run(&[
        (40, Op::Act(1, Action::Close { by: by("ann") }), ""),
        (50, Op::Hard("web", C), "#2 opened web critical"),
    ]);
    let errors = [
        (
            1,
            Action::Reopen { by: by("x") },
            "cannot reopen alarm #1: alarm #2 of check web is open",
        ),
        (2, Action::Reopen { by: by("x") }, "alarm #2 is open"),
        (1, Action::Suppress { by: by("x") }, "alarm #1 is closed"),
        (9, Action::Unack { by: by("x") }, "no alarm #9"),
    ];
    for (n, action, want) in errors {
        let e = w.apply(60, &Op::Act(n, action)).unwrap_err();
        assert_eq!(e.to_string(), want);
    }
}

#[test]
fn closed_alarms_are_kept_for_the_retention_and_ids_never_come_back() {
    let mut w = World::new(policy(None, None));
    w.run(&[
        (0, Op::Hard("web", C), "#1 opened web critical"),
        (10, Op::Hard("web", O), "#1 recovered web ok"),
    ]);
    let day = 24 * 3600 * 1000;
    assert!(w.book.prune(10_000 + 30 * day).is_empty());
    assert_eq!(w.book.prune(10_001 + 30 * day), [1]);
    assert!(w.book.get(1).is_none());
    w.run(&[(20, Op::Hard("web", C), "#2 opened web critical")]);
}

#[test]
fn alarms_and_books_survive_json() {
    let mut w = World::new(policy(Some(10), Some(2)));
    w.parents.insert("web", vec!["db"]);
    w.run(&[
        (0, Op::Hard("db", C), "#1 opened db critical"),
        (1, Op::Hard("web", C), ""),
        (
            2,
            Op::Act(
                1,
                Action::Ack {
                    by: by("ann"),
                    comment: Some("looking".into()),
                    expires_ms: Some(99_000),
                },
            ),
            "#1 acked db critical",
        ),
        (3, Op::FlapOn("db"), ""),
    ]);
    for a in w.book.open_alarms() {
        let json = serde_json::to_string(a).unwrap();
        let back: Alarm = serde_json::from_str(&json).unwrap();
        assert_eq!(&back, a);
    }
    let json = serde_json::to_string(&w.book).unwrap();
    let back: AlarmBook = serde_json::from_str(&json).unwrap();
    assert_eq!(back, w.book);
    // Restoring from stored alarms continues the ids.
    let stored: Vec<Alarm> = w.book.open_alarms().cloned().collect();
    let restored = AlarmBook::restore(stored, 1);
    assert_eq!(restored.next_id, 3);
    assert_eq!(restored.open_alarms().count(), 2);
}

#[test]
fn notify_policy_comes_from_the_alert_policy_or_the_group() {
    let alert = tocsin_core::AlertPolicy {
        notify: vec!["ops".into()],
        renotify: Some(Duration::from_secs(1800)),
        max_notifications: Some(3),
        ..Default::default()
    };
    let p = NotifyPolicy::of_check(&alert);
    assert_eq!(p.contacts, ["ops"]);
    assert_eq!(p.renotify, Some(Duration::from_secs(1800)));
    assert_eq!(p.max_notifications, Some(3));
    let g = NotifyPolicy::of_group(&["dba".to_owned()], &alert);
    assert_eq!(g.contacts, ["dba"]);
    assert_eq!(g.max_notifications, Some(3));
}

#[test]
fn the_timeline_is_bounded() {
    let mut w = World::new(policy(None, None));
    w.run(&[(0, Op::Hard("web", C), "#1 opened web critical")]);
    for i in 0..600 {
        let to = if i % 2 == 0 { W } else { C };
        w.apply(i + 1, &Op::Hard("web", to)).unwrap();
    }
    let a = w.alarm(1);
    assert_eq!(a.events.len(), tocsin_core::alarm::MAX_EVENTS);
    assert!(a.events_dropped > 0);
    assert_eq!(event_kinds(a)[0], "opened");
    assert_eq!(a.last_event_ms(), 600_000, "the latest event is kept");
}

#[test]
fn an_ack_is_told_only_to_contacts_that_heard_of_the_alarm() {
    let ack = |who: &str| Action::Ack {
        by: by(who),
        comment: None,
        expires_ms: None,
    };
    let mut w = World::new(policy(None, None));
    w.run(&[
        (0, Op::Hard("web", C), "#1 opened web critical"),
        (1, Op::Act(1, Action::Suppress { by: by("bob") }), ""),
        (2, Op::Act(1, ack("ann")), ""),
        (3, Op::Act(1, Action::Unsuppress { by: by("bob") }), ""),
        (4, Op::Act(1, ack("ann")), "#1 acked web critical"),
    ]);
}
