//! The email channel against a real SMTP server: aiosmtpd (Debian's python3-aiosmtpd) run by
//! the testkit's `smtp_server.py` with the system Python, for plain SMTP, STARTTLS, implicit TLS and AUTH.
//!
//! Without aiosmtpd the tests skip with a message — except under CI (`CI` set), where they fail.

use tocsin_core::directory::{Contact, ContactKind};
use tocsin_notify::{Defaults, Delivered, DeliveryError, MessageKind, build, email::EmailSettings};
use tocsin_testkit::{SmtpServer, TestPki, refused_addr};

use crate::common::{contact, message};

/// Starts an SMTP server (see [`SmtpServer::start`]); `None` when aiosmtpd is missing.
fn smtp(pki: Option<&TestPki>, args: &[&str]) -> Option<SmtpServer> {
    SmtpServer::start(pki, args)
}

/// The SMTP server as a contact.
trait Mailer {
    fn mailer(&self, to: &str, settings: serde_json::Value) -> Contact;
}

impl Mailer for SmtpServer {
    fn mailer(&self, to: &str, settings: serde_json::Value) -> Contact {
        let mut s = serde_json::json!({
            "host": "localhost",
            "port": self.port(),
            "from": "Tocsin <tocsin@example.com>",
        });
        if let (Some(s), serde_json::Value::Object(extra)) = (s.as_object_mut(), settings) {
            s.extend(extra);
        }
        contact(ContactKind::Email, Some(to), None, s)
    }
}

/// A server whose certificate comes from a fresh test PKI (`args` say `--starttls` or
/// `--implicit-tls`), with the PKI; `None` when aiosmtpd is missing (outside CI).
fn tls_smtp(args: &[&str]) -> Option<(TestPki, SmtpServer)> {
    tocsin_testkit::init();
    let pki = TestPki::new().unwrap();
    let server = smtp(Some(&pki), args)?;
    Some((pki, server))
}

/// Builds `c`'s channel with the default server settings and sends it the sample message.
async fn send(c: &Contact) -> Result<Delivered, DeliveryError> {
    build(c, &Defaults::default())
        .unwrap()
        .send(&message())
        .await
}

/// The value of header `name` in a raw message (first occurrence, unfolded).
fn header(raw: &str, name: &str) -> Option<String> {
    let mut lines = raw.split("\r\n").peekable();
    while let Some(line) = lines.next() {
        if line.is_empty() {
            return None;
        }
        if let Some((n, v)) = line.split_once(':')
            && n.eq_ignore_ascii_case(name)
        {
            let mut v = v.trim().to_owned();
            while let Some(next) = lines.peek().filter(|l| l.starts_with([' ', '\t'])) {
                v.push(' ');
                v.push_str(next.trim());
                lines.next();
            }
            return Some(v);
        }
    }
    None
}

#[tokio::test]
async fn plain_delivery() {
    let Some(server) = smtp(None, &[]) else {
        return;
    };
    let c = server.mailer("ops@example.com", serde_json::json!({"tls": "none"}));
    let n = build(&c, &Defaults::default()).unwrap();
    let done = n.send(&message()).await.unwrap();
    assert!(
        done.detail.starts_with("250 2.0.0 OK queued as 1"),
        "{}",
        done.detail
    );

    let got = server.messages();
    assert_eq!(got.len(), 1);
    let raw = &got[0];
    assert_eq!(
        header(raw, "X-Envelope-From").unwrap(),
        "tocsin@example.com"
    );
    assert_eq!(header(raw, "X-Envelope-To").unwrap(), "ops@example.com");
    assert_eq!(header(raw, "X-Tls").unwrap(), "no");
    assert_eq!(
        header(raw, "Subject").unwrap(),
        "[Alarm: NEW, check=web] acme#42"
    );
    assert_eq!(header(raw, "From").unwrap(), "Tocsin <tocsin@example.com>");
    assert_eq!(header(raw, "To").unwrap(), "ops@example.com");
    assert_eq!(
        header(raw, "Message-ID").unwrap(),
        "<tocsin.acme.42.1@example.com>"
    );
    assert_eq!(header(raw, "In-Reply-To"), None);
    assert!(
        header(raw, "Content-Type")
            .unwrap()
            .starts_with("text/plain")
    );
    assert!(
        raw.contains("Web front (web) is CRITICAL (was ok): expected status 200, got 503"),
        "{raw}"
    );
}

#[tokio::test]
async fn threading_across_new_update_closed() {
    let Some(server) = smtp(None, &[]) else {
        return;
    };
    let c = server.mailer("ops@example.com", serde_json::json!({"tls": "none"}));
    let n = build(&c, &Defaults::default()).unwrap();
    let mut m = message();
    m.alarm_key = tocsin_notify::AlarmKey::Group("db".into());
    for (seq, kind) in [
        (1, MessageKind::Opened),
        (2, MessageKind::NewFault),
        (3, MessageKind::Closed),
    ] {
        m.sequence = seq;
        m.kind = kind;
        n.send(&m).await.unwrap();
    }
    let got = server.messages();
    assert_eq!(got.len(), 3);
    let subjects: Vec<String> = got.iter().map(|r| header(r, "Subject").unwrap()).collect();
    assert_eq!(
        subjects,
        [
            "[Alarm: NEW, group=db] acme#42",
            "Re: [Alarm: NEW, group=db] acme#42",
            "Re: [Alarm: CLOSED, group=db] acme#42",
        ]
    );
    let root = "<tocsin.acme.42.1@example.com>";
    assert_eq!(header(&got[0], "Message-ID").unwrap(), root);
    for (i, raw) in got.iter().enumerate().skip(1) {
        assert_eq!(
            header(raw, "Message-ID").unwrap(),
            format!("<tocsin.acme.42.{}@example.com>", i + 1)
        );
        assert_eq!(header(raw, "In-Reply-To").unwrap(), root);
        assert_eq!(header(raw, "References").unwrap(), root);
    }
    assert!(got[2].contains("alarm is closed"), "{}", got[2]);
}

#[tokio::test]
async fn starttls_with_the_test_ca() {
    let Some((pki, server)) = tls_smtp(&["--starttls"]) else {
        return;
    };
    let c = server.mailer(
        "ops@example.com",
        serde_json::json!({"tls": "starttls", "ca_file": pki.ca_file()}),
    );
    send(&c).await.unwrap();
    let got = server.messages();
    assert_eq!(header(&got[0], "X-Tls").unwrap(), "yes");

    // Without the CA the certificate is untrusted: a configuration error.
    let c = server.mailer("ops@example.com", serde_json::json!({"tls": "starttls"}));
    let e = send(&c).await.unwrap_err();
    assert!(!e.retryable, "{e}");
    assert!(e.reason.contains("UnknownIssuer"), "{e}");
    // Plain SMTP against a server that requires STARTTLS: refused (530), permanent.
    let c = server.mailer("ops@example.com", serde_json::json!({"tls": "none"}));
    let e = send(&c).await.unwrap_err();
    assert!(!e.retryable && e.reason.contains("530"), "{e}");
    assert_eq!(server.messages().len(), 1);
}

#[tokio::test]
async fn implicit_tls() {
    let Some((pki, server)) = tls_smtp(&["--implicit-tls"]) else {
        return;
    };
    let c = server.mailer(
        "ops@example.com",
        serde_json::json!({"tls": "tls", "ca_file": pki.ca_file()}),
    );
    send(&c).await.unwrap();
    assert_eq!(header(&server.messages()[0], "X-Tls").unwrap(), "yes");
}

#[tokio::test]
async fn auth_success_and_failure() {
    let Some((pki, server)) = tls_smtp(&["--starttls", "--auth", "alice:c0rrect"]) else {
        return;
    };
    let ca = pki.ca_file();
    let c = server.mailer(
        "ops@example.com",
        serde_json::json!({"tls": "starttls", "ca_file": ca, "username": "alice", "password": "c0rrect"}),
    );
    send(&c).await.unwrap();
    assert_eq!(
        header(&server.messages()[0], "X-Auth-Login").unwrap(),
        "alice"
    );

    let c = server.mailer(
        "ops@example.com",
        serde_json::json!({"tls": "starttls", "ca_file": ca, "username": "alice", "password": "wr0ng-pw"}),
    );
    let n = build(&c, &Defaults::default()).unwrap();
    assert!(!format!("{n:?}").contains("wr0ng-pw"));
    let e = n.send(&message()).await.unwrap_err();
    assert!(!e.retryable, "{e}");
    assert!(e.reason.contains("535"), "{e}");
    assert!(!e.reason.contains("wr0ng-pw"), "{e}");

    // Without credentials the server refuses the mail (530 authentication required).
    let c = server.mailer(
        "ops@example.com",
        serde_json::json!({"tls": "starttls", "ca_file": ca}),
    );
    let e = send(&c).await.unwrap_err();
    assert!(!e.retryable, "{e}");
    assert_eq!(server.messages().len(), 1);
}

#[tokio::test]
async fn recipients_rejected_transiently_or_permanently() {
    let Some(server) = smtp(None, &[]) else {
        return;
    };
    let send_to = |to: &str| {
        let c = server.mailer(to, serde_json::json!({"tls": "none"}));
        async move { send(&c).await }
    };
    let e = send_to("busy@example.com").await.unwrap_err();
    assert!(e.retryable && e.reason.contains("451"), "{e}");
    let e = send_to("nobody@example.com").await.unwrap_err();
    assert!(!e.retryable && e.reason.contains("550"), "{e}");
    assert!(server.messages().is_empty());
}

#[tokio::test]
async fn refused_connection_is_retryable() {
    let addr = refused_addr().unwrap();
    let c = contact(
        ContactKind::Email,
        Some("ops@example.com"),
        None,
        serde_json::json!({"host": "127.0.0.1", "port": addr.port(), "tls": "none", "from": "t@example.com", "timeout": "2s"}),
    );
    let e = send(&c).await.unwrap_err();
    assert!(e.retryable, "{e}");
    assert!(
        e.reason
            .starts_with(&format!("SMTP 127.0.0.1:{}", addr.port())),
        "{e}"
    );
}

#[tokio::test]
async fn server_defaults_and_subject_override() {
    let Some(server) = smtp(None, &[]) else {
        return;
    };
    let defaults = Defaults {
        email: EmailSettings {
            host: Some("127.0.0.1".into()),
            port: Some(server.port()),
            tls: Some(tocsin_notify::email::TlsMode::None),
            from: Some("alerts@tocsin.example".into()),
            ..EmailSettings::default()
        },
        ..Defaults::default()
    };
    let c = contact(
        ContactKind::Email,
        Some("a@example.com, B <b@example.com>"),
        None,
        serde_json::json!({"subject": "{{ status | upper }}: {{ check.name }}", "body": "{{ message }}"}),
    );
    build(&c, &defaults)
        .unwrap()
        .send(&message())
        .await
        .unwrap();
    let raw = &server.messages()[0];
    assert_eq!(header(raw, "Subject").unwrap(), "CRITICAL: Web front");
    assert_eq!(
        header(raw, "X-Envelope-To").unwrap(),
        "a@example.com, b@example.com"
    );
    assert_eq!(
        header(raw, "Message-ID").unwrap(),
        "<tocsin.acme.42.1@tocsin.example>"
    );
    assert!(
        raw.trim_end()
            .ends_with("\r\n\r\nexpected status 200, got 503"),
        "{raw:?}"
    );
}

#[test]
fn build_errors() {
    let d = Defaults::default();
    let err = |to: Option<&str>, s: serde_json::Value| match build(
        &contact(ContactKind::Email, to, None, s),
        &d,
    ) {
        Err(e) => e.to_string(),
        Ok(n) => panic!("built {n:?}"),
    };
    let full = |extra: serde_json::Value| {
        let mut s = serde_json::json!({"host": "h", "from": "t@example.com"});
        if let (Some(s), serde_json::Value::Object(e)) = (s.as_object_mut(), extra) {
            s.extend(e);
        }
        s
    };
    assert_eq!(
        err(None, full(serde_json::json!({}))),
        "contact \"ops\": to: required for an email contact"
    );
    assert!(
        err(Some("not an address"), full(serde_json::json!({})))
            .contains("to: \"not an address\" is not an address list")
    );
    assert!(
        err(Some("a@b.c"), serde_json::json!({"host": "h"})).contains("settings.from: required")
    );
    assert!(
        err(Some("a@b.c"), serde_json::json!({"from": "t@example.com"}))
            .contains("settings.host: required")
    );
    assert!(
        err(Some("a@b.c"), full(serde_json::json!({"username": "u"})))
            .contains("settings.password: required with username")
    );
    let e = err(Some("a@b.c"), full(serde_json::json!({"tls": "ssl"})));
    assert!(e.contains("unknown variant"), "{e}");
    let e = err(Some("a@b.c"), full(serde_json::json!({"subject": "{{ x "})));
    assert!(
        e.starts_with("contact \"ops\": settings.subject line 1: syntax error"),
        "{e}"
    );
    assert!(
        err(
            Some("a@b.c"),
            full(serde_json::json!({"ca_file": "/nonexistent/ca.pem"}))
        )
        .contains("settings.ca_file: /nonexistent/ca.pem")
    );
}
