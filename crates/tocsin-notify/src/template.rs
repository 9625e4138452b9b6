//! Notification templates: minijinja with a fuel limit, one default per channel and place
//! (email subject and body, webhook body), overridable per contact in `settings`.
//!
//! Decisions:
//! - **Lenient undefined values** (minijinja's default): printing a missing value gives an empty
//!   string, so `{{ extracted.version }}` works for results that did not extract it — a missing
//!   value must not stop an alarm from going out. Attribute access on something undefined
//!   (`{{ chek.name }}`, a typo) is an error, and [`validate_templates`] catches it at load
//!   time by rendering every template against [`Message::sample`].
//! - **No auto-escaping**: output is used as is. In JSON bodies, write `{{ message | tojson }}`.
//! - **Fuel** ([`FUEL`]) bounds the work of one rendering, so a runaway loop fails instead of
//!   spinning; the output is also capped at [`MAX_OUTPUT`] bytes.
//! - If a contact's template fails at send time anyway, the channel renders its default
//!   template instead and reports the error in [`crate::Delivered::template_fallback`].

use std::fmt;

use minijinja::{Environment, UndefinedBehavior, Value};
use tocsin_core::directory::{Contact, ContactKind};

use crate::Message;

/// Fuel for one rendering (minijinja instructions); the defaults use well under 1,000.
pub const FUEL: u64 = 50_000;

/// The largest rendered output accepted, in bytes.
pub const MAX_OUTPUT: usize = 256 * 1024;

/// Where a template is used.
#[derive(Clone, Copy, Debug, PartialEq, Eq, Hash)]
pub enum Place {
    /// An email's subject, or a chat or paging channel's title (`settings.subject`).
    Subject,
    /// An email's text body, a webhook's request body, or a chat or paging channel's text
    /// (`settings.body`).
    Body,
}

impl Place {
    /// The setting that overrides it: `subject`, `body`.
    pub fn setting(self) -> &'static str {
        match self {
            Self::Subject => "subject",
            Self::Body => "body",
        }
    }
}

impl fmt::Display for Place {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        write!(f, "settings.{}", self.setting())
    }
}

/// A template that does not compile or render.
#[derive(Clone, Debug, PartialEq, Eq, thiserror::Error)]
#[error("contact {contact:?}: {place}{}: {reason}", line.map(|l| format!(" line {l}")).unwrap_or_default())]
pub struct TemplateError {
    /// The contact's id.
    pub contact: String,
    /// Which template.
    pub place: Place,
    /// The line in the template, when known.
    pub line: Option<usize>,
    /// What is wrong, one line.
    pub reason: String,
}

/// Amon's threaded subject: `[Alarm: NEW, check=web] acme#42`, `Re: ` from the second message of
/// an alarm on, `CLOSED` on the message that closes it.
pub const EMAIL_SUBJECT: &str = "{% if alarm.sequence > 1 %}Re: {% endif %}[Alarm: \
{{ 'CLOSED' if alarm.closed else 'NEW' }}, {{ alarm.key }}] {{ tenant }}#{{ alarm.id }}";

/// The default email body (plain text).
pub const EMAIL_BODY: &str = "\
{{ check.name }} ({{ check.id }}) is {{ status | upper }}\
{% if previous_status %} (was {{ previous_status }}){% endif %}: {{ message }}

Alarm: {{ tenant }}#{{ alarm.id }} ({{ alarm.kind | replace('_', ' ') }}; alarm is \
{{ 'closed' if alarm.closed else 'open' }})
Time: {{ time }}
{% if dashboard_url %}Dashboard: {{ dashboard_url }}
{% endif %}{% if metrics %}
Metrics:
{% for name, m in metrics | items %}  {{ name }}: {{ m.value }}{{ m.unit }}
{% endfor %}{% endif %}{% if extracted %}
Extracted values:
{% for name, v in extracted | items %}  {{ name }}: {{ v }}
{% endfor %}{% endif %}{% if timings_ms %}
Timings (ms):{% for name, ms in timings_ms | items %} {{ name }}={{ ms }}{% endfor %}
{% endif %}
-- 
Tocsin
";

/// The default title of chat-like channels (Slack, Teams, PagerDuty's summary, …): one line.
pub const CHAT_SUBJECT: &str = "[{{ status | upper }}] {{ check.name }}\
{% if alarm.kind != 'opened' %} ({{ alarm.kind | replace('_', ' ') }}){% endif %}";

/// The default text of chat-like channels: the message, the alarm and the link.
pub const CHAT_BODY: &str = "\
{{ check.name }} ({{ check.id }}) is {{ status | upper }}\
{% if previous_status %} (was {{ previous_status }}){% endif %}: {{ message }}
Alarm {{ tenant }}#{{ alarm.id }} is {{ 'closed' if alarm.closed else 'open' }}\
{% if dashboard_url %}: {{ dashboard_url }}{% endif %}";

/// A contact's compiled templates.
#[derive(Debug)]
pub(crate) struct Templates {
    contact: String,
    env: Environment<'static>,
    /// Places with a contact template (the rest use the default).
    overridden: Vec<Place>,
}

fn env() -> Environment<'static> {
    let mut env = Environment::new();
    env.set_fuel(Some(FUEL));
    env.set_undefined_behavior(UndefinedBehavior::Lenient);
    env.set_auto_escape_callback(|_| minijinja::AutoEscape::None);
    env
}

fn name(place: Place, default: bool) -> &'static str {
    match (place, default) {
        (Place::Subject, false) => "subject",
        (Place::Body, false) => "body",
        (Place::Subject, true) => "default.subject",
        (Place::Body, true) => "default.body",
    }
}

impl Templates {
    /// Compiles `defaults` (place → source) and the contact's overrides for the same places.
    pub(crate) fn compile(
        contact: &Contact,
        defaults: &[(Place, &'static str)],
        overridable: &[Place],
    ) -> Result<Self, TemplateError> {
        let mut env = env();
        let mut overridden = Vec::new();
        for &(place, source) in defaults {
            env.add_template_owned(name(place, true), source)
                .map_err(|e| error(&contact.id, place, &e))?;
        }
        for &place in overridable {
            match contact.settings.get(place.setting()) {
                None => {}
                Some(serde_json::Value::String(source)) => {
                    env.add_template_owned(name(place, false), source.clone())
                        .map_err(|e| error(&contact.id, place, &e))?;
                    overridden.push(place);
                }
                Some(_) => {
                    return Err(TemplateError {
                        contact: contact.id.clone(),
                        place,
                        line: None,
                        reason: "must be a string".into(),
                    });
                }
            }
        }
        Ok(Self {
            contact: contact.id.clone(),
            env,
            overridden,
        })
    }

    /// Whether the contact has its own template for `place`.
    pub(crate) fn has(&self, place: Place) -> bool {
        self.overridden.contains(&place)
    }

    /// Renders the contact's template for `place` (which must exist, see [`Self::has`]).
    pub(crate) fn render(&self, place: Place, ctx: &Value) -> Result<String, TemplateError> {
        self.render_named(place, name(place, false), ctx)
    }

    /// Renders the default template for `place`.
    pub(crate) fn render_default(
        &self,
        place: Place,
        ctx: &Value,
    ) -> Result<String, TemplateError> {
        self.render_named(place, name(place, true), ctx)
    }

    /// Renders the contact's template, or the default when it has none or when it fails (the
    /// error is then returned beside the output).
    pub(crate) fn render_or_default(
        &self,
        place: Place,
        ctx: &Value,
    ) -> Result<(String, Option<TemplateError>), TemplateError> {
        if !self.has(place) {
            return self.render_default(place, ctx).map(|s| (s, None));
        }
        match self.render(place, ctx) {
            Ok(s) => Ok((s, None)),
            Err(e) => {
                tracing::warn!(contact = %self.contact, error = %e, "template failed; using the default");
                self.render_default(place, ctx).map(|s| (s, Some(e)))
            }
        }
    }

    fn render_named(&self, place: Place, name: &str, ctx: &Value) -> Result<String, TemplateError> {
        let out = self
            .env
            .get_template(name)
            .and_then(|t| t.render(ctx))
            .map_err(|e| error(&self.contact, place, &e))?;
        if out.len() > MAX_OUTPUT {
            return Err(TemplateError {
                contact: self.contact.clone(),
                place,
                line: None,
                reason: format!("output is {} bytes, more than {MAX_OUTPUT}", out.len()),
            });
        }
        Ok(out)
    }
}

/// The template context of a message: its [`Message::document`].
pub(crate) fn context(m: &Message) -> Value {
    Value::from(minijinja::value::Serde(m.document()))
}

fn error(contact: &str, place: Place, e: &minijinja::Error) -> TemplateError {
    let reason = match e.detail() {
        Some(d) => format!("{}: {d}", e.kind()),
        None => e.kind().to_string(),
    };
    TemplateError {
        contact: contact.to_owned(),
        place,
        line: e.line(),
        reason: crate::one_line(&reason),
    }
}

/// The templates a contact of `kind` may override, with the channel defaults.
pub(crate) fn for_kind(kind: ContactKind) -> (&'static [(Place, &'static str)], &'static [Place]) {
    match kind {
        ContactKind::Email => (
            &[(Place::Subject, EMAIL_SUBJECT), (Place::Body, EMAIL_BODY)],
            &[Place::Subject, Place::Body],
        ),
        ContactKind::Webhook => (&[], &[Place::Body]),
        // Metrics carry numbers and events the message document, not text.
        ContactKind::Cloudwatch | ContactKind::Eventbridge => (&[], &[]),
        // Every other channel shows a title and a text.
        _ => (
            &[(Place::Subject, CHAT_SUBJECT), (Place::Body, CHAT_BODY)],
            &[Place::Subject, Place::Body],
        ),
    }
}

/// Checks a contact's templates at configuration-load time, without sending anything: compiles
/// them and renders each against [`Message::sample`]. Pure: no I/O.
pub fn validate_templates(contact: &Contact) -> Result<(), TemplateError> {
    compile_checked(contact).map(drop)
}

/// The templates of `contact`'s channel, compiled and checked as [`validate_templates`] does.
pub(crate) fn compile_checked(contact: &Contact) -> Result<Templates, TemplateError> {
    let (defaults, overridable) = for_kind(contact.kind);
    let t = Templates::compile(contact, defaults, overridable)?;
    let ctx = context(&Message::sample());
    for &place in &t.overridden {
        let out = t.render(place, &ctx)?;
        if place == Place::Subject && out.contains('\n') {
            return Err(TemplateError {
                contact: contact.id.clone(),
                place,
                line: None,
                reason: "a subject must be one line".into(),
            });
        }
    }
    Ok(t)
}

#[cfg(test)]
mod tests {
    use std::collections::BTreeMap;

    use tocsin_core::check::{Origin, Secret};
    use tocsin_core::directory::Settings;

    use super::*;
    use crate::MessageKind;

    fn contact(kind: ContactKind, settings: serde_json::Value) -> Contact {
        let map: BTreeMap<String, serde_json::Value> =
            serde_json::from_value(settings).unwrap_or_default();
        Contact {
            id: "ops".into(),
            name: "Ops".into(),
            kind,
            to: Some("ops@example.com".into()),
            url: Some(Secret::new("http://127.0.0.1:1/hook")),
            settings: Settings::from(map),
            rate_limit: None,
            origin: Origin::default(),
        }
    }

    fn render(c: &Contact, place: Place, m: &Message) -> String {
        let (d, o) = for_kind(c.kind);
        let t = Templates::compile(c, d, o).unwrap();
        t.render_or_default(place, &context(m)).unwrap().0
    }

    #[test]
    fn amon_subjects() {
        let c = contact(ContactKind::Email, serde_json::json!({}));
        let mut m = Message::sample();
        assert_eq!(
            render(&c, Place::Subject, &m),
            "[Alarm: NEW, check=web] acme#42"
        );
        m.sequence = 2;
        m.kind = MessageKind::NewFault;
        m.alarm_key = crate::AlarmKey::Group("db".into());
        assert_eq!(
            render(&c, Place::Subject, &m),
            "Re: [Alarm: NEW, group=db] acme#42"
        );
        m.sequence = 3;
        m.kind = MessageKind::Closed;
        assert_eq!(
            render(&c, Place::Subject, &m),
            "Re: [Alarm: CLOSED, group=db] acme#42"
        );
    }

    #[test]
    fn default_body_mentions_everything() {
        let c = contact(ContactKind::Email, serde_json::json!({}));
        let body = render(&c, Place::Body, &Message::sample());
        for want in [
            "Web front (web) is CRITICAL (was ok): expected status 200, got 503",
            "Alarm: acme#42 (opened; alarm is open)",
            "Dashboard: https://tocsin.example/alarms/acme/42",
            "response_time: 0.25s",
            "version: 1.2.3",
            "total=250.0",
        ] {
            assert!(body.contains(want), "{want:?} not in:\n{body}");
        }
    }

    #[test]
    fn overrides_and_lenient_missing_values() {
        let c = contact(
            ContactKind::Email,
            serde_json::json!({"subject": "{{ check.id }} {{ extracted.nope }}!"}),
        );
        assert_eq!(render(&c, Place::Subject, &Message::sample()), "web !");
        assert!(validate_templates(&c).is_ok());
    }

    #[test]
    fn errors_name_contact_place_and_line() {
        let c = contact(
            ContactKind::Email,
            serde_json::json!({"body": "ok\n{% if %}"}),
        );
        let e = validate_templates(&c).unwrap_err();
        assert_eq!(e.place, Place::Body);
        assert_eq!(e.line, Some(2));
        assert!(
            e.to_string()
                .starts_with("contact \"ops\": settings.body line 2: syntax error"),
            "{e}"
        );

        let c = contact(
            ContactKind::Webhook,
            serde_json::json!({"body": "{{ chek.name }}"}),
        );
        let e = validate_templates(&c).unwrap_err();
        assert!(e.reason.contains("undefined"), "{e}");

        let c = contact(ContactKind::Email, serde_json::json!({"subject": 3}));
        assert_eq!(
            validate_templates(&c).unwrap_err().reason,
            "must be a string"
        );

        let c = contact(ContactKind::Email, serde_json::json!({"subject": "a\nb"}));
        assert!(
            validate_templates(&c)
                .unwrap_err()
                .reason
                .contains("one line")
        );
    }

    #[test]
    fn documented_examples_render() {
        // docs/notifications.md
        let c = contact(
            ContactKind::Webhook,
            serde_json::json!({"body": "{\"text\": {{ (\"[\" ~ status | upper ~ \"] \" ~ check.name ~ \": \" ~ message) | tojson }}}\n"}),
        );
        assert!(validate_templates(&c).is_ok());
        let out = render(&c, Place::Body, &Message::sample());
        assert_eq!(
            out,
            r#"{"text": "[CRITICAL] Web front: expected status 200, got 503"}"#
        );
        let c = contact(
            ContactKind::Email,
            serde_json::json!({"subject": "{{ status | upper }}: {{ check.name }} ({{ tenant }}#{{ alarm.id }})"}),
        );
        assert_eq!(
            render(&c, Place::Subject, &Message::sample()),
            "CRITICAL: Web front (acme#42)"
        );
    }

    #[test]
    fn chat_defaults() {
        let c = contact(ContactKind::Slack, serde_json::json!({}));
        let mut m = Message::sample();
        assert_eq!(render(&c, Place::Subject, &m), "[CRITICAL] Web front");
        assert_eq!(
            render(&c, Place::Body, &m),
            "Web front (web) is CRITICAL (was ok): expected status 200, got 503\n\
             Alarm acme#42 is open: https://tocsin.example/alarms/acme/42"
        );
        m.kind = MessageKind::Closed;
        m.status = tocsin_core::Status::Ok;
        assert_eq!(render(&c, Place::Subject, &m), "[OK] Web front (closed)");
    }

    #[test]
    fn fuel_stops_runaway_templates() {
        let c = contact(
            ContactKind::Webhook,
            serde_json::json!({"body": "{% for i in range(10000) %}{% for j in range(10000) %}x{% endfor %}{% endfor %}"}),
        );
        let e = validate_templates(&c).unwrap_err();
        assert!(e.reason.contains("fuel"), "{e}");
    }

    #[test]
    fn failing_override_falls_back_to_default() {
        let c = contact(
            ContactKind::Email,
            serde_json::json!({"subject": "{{ extracted.a.b }}"}),
        );
        let (d, o) = for_kind(c.kind);
        let t = Templates::compile(&c, d, o).unwrap();
        let (s, e) = t
            .render_or_default(Place::Subject, &context(&Message::sample()))
            .unwrap();
        assert_eq!(s, "[Alarm: NEW, check=web] acme#42");
        assert!(e.is_some());
    }
}
