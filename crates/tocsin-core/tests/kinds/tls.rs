//! Configuration errors of the `tls` kind, placed in their files.

use tocsin_core::ProbeSpec;
use tocsin_core::kinds::tls::{DaysLeft, StartTls};

use crate::common::{assert_error, errors, load};

#[test]
fn a_tls_check_loads_with_its_defaults() {
    let checks = load("checks:\n  - id: cert\n    tls: { host: example.com }\n");
    let ProbeSpec::Tls(t) = &checks[0].probe else {
        panic!("{:?}", checks[0].probe)
    };
    assert_eq!(t.port(), 443);
    assert_eq!(t.name(), "example.com");
    assert!(t.verify);
    assert_eq!(
        t.days_left,
        DaysLeft {
            warning: 30,
            critical: 7
        }
    );
    assert_eq!(checks[0].host.as_deref(), Some("example.com"));

    let checks = load(
        "checks:\n  - id: mail\n    tls:\n      host: mail.example.com\n      starttls: smtp\n      \
         server_name: smtp.example.com\n      days_left: { warning: 21 }\n",
    );
    let ProbeSpec::Tls(t) = &checks[0].probe else {
        panic!("{:?}", checks[0].probe)
    };
    assert_eq!(t.starttls, Some(StartTls::Smtp));
    assert_eq!(t.port(), 25);
    assert_eq!(t.name(), "smtp.example.com");
    assert_eq!((t.days_left.warning, t.days_left.critical), (21, 7));
}

#[test]
fn bad_tls_fields_are_placed() {
    assert_error(
        "checks:\n  - id: a\n    tls: { host: '' }\n",
        "t.yml:3:18: checks[0].tls.host",
        "must not be empty",
    );
    assert_error(
        "checks:\n  - id: a\n    tls:\n      host: example.com:443\n",
        "t.yml:4:13: checks[0].tls.host",
        "give the port in tls.port",
    );
    assert_error(
        "checks:\n  - id: a\n    tls:\n      host: https://example.com/\n",
        "t.yml:4:13: checks[0].tls.host",
        "not a URL",
    );
    assert_error(
        "checks:\n  - id: a\n    tls: { host: example.com, port: 0 }\n",
        "t.yml:3:37: checks[0].tls.port",
        "between 1 and 65535",
    );
    assert_error(
        "checks:\n  - id: a\n    tls: { host: example.com, port: 70000 }\n",
        "t.yml:3:37: checks[0].tls.port",
        "70000",
    );
    assert_error(
        "checks:\n  - id: a\n    tls: { host: h, server_name: 'not a name' }\n",
        "t.yml:3:34: checks[0].tls.server_name",
        "invalid server name",
    );
    assert_error(
        "checks:\n  - id: a\n    tls:\n      host: h\n      days_left: { warning: 5, critical: 10 }\n",
        "t.yml:5:18: checks[0].tls.days_left",
        "critical 10 is above warning 5",
    );
    assert_error(
        "checks:\n  - id: a\n    tls:\n      host: h\n      starttls: pop3\n",
        "t.yml:5:17: checks[0].tls.starttls",
        "smtp, imap, postgres",
    );
    assert_error(
        "checks:\n  - id: a\n    tls:\n      host: h\n      days_left: { warn: 5 }\n",
        "t.yml:5",
        "warn",
    );
    assert_error(
        "checks:\n  - id: a\n    tls: { host: h, ca_file: '' }\n",
        "t.yml:3:30: checks[0].tls.ca_file",
        "must not be empty",
    );
}

#[test]
fn every_tls_error_of_a_check_is_reported() {
    let e = errors(
        "checks:\n  - id: a\n    tls:\n      host: ''\n      port: 0\n      server_name: 'a b'\n",
    );
    assert_eq!(e.len(), 3, "{e:#?}");
    assert!(e[0].starts_with("t.yml:4:13: checks[0].tls.host"), "{e:#?}");
    assert!(e[1].starts_with("t.yml:5:13: checks[0].tls.port"), "{e:#?}");
    assert!(
        e[2].starts_with("t.yml:6:20: checks[0].tls.server_name"),
        "{e:#?}"
    );
}
