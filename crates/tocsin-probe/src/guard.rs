//! The address guard of tenants' checks: which addresses a probe may connect or send to, judged
//! on the resolved address at the moment of connecting, so that a name resolving to 127.0.0.1
//! (or rebinding to it between two runs, or between two redirect hops) is refused all the same.
//!
//! [`AddressGuard::Open`] allows everything (the operator's own checks). [`AddressGuard::PublicOnly`]
//! allows only globally routable unicast addresses: it refuses loopback, private (RFC 1918),
//! shared (CGNAT, RFC 6598), link-local, unspecified and "this network", multicast, broadcast,
//! documentation, benchmarking and reserved ranges, IPv6 unique-local and site-local, and every
//! IPv6 form that carries one of those IPv4 addresses (IPv4-mapped `::ffff:0:0/96`, NAT64
//! `64:ff9b::/96`, 6to4 `2002::/16`). Outside `2000::/3`, no IPv6 address is allowed.
//!
//! The check is a match on a `Copy` enum and a few bit tests: its cost per connect is nothing
//! next to the connect itself.

use std::fmt;
use std::net::{IpAddr, Ipv4Addr, Ipv6Addr};

/// Which addresses a probe may reach; checked on every resolved address before it is used.
#[derive(Clone, Copy, Debug, Default, PartialEq, Eq, Hash)]
pub enum AddressGuard {
    /// No restriction (the operator's checks).
    #[default]
    Open,
    /// Only globally routable unicast addresses (tenants' checks, unless the operator allows
    /// more).
    PublicOnly,
}

/// The kind of non-public address an [`AddressGuard`] refused.
#[derive(Clone, Copy, Debug, PartialEq, Eq, Hash)]
pub enum AddressClass {
    /// `0.0.0.0`, `::`.
    Unspecified,
    /// `0.0.0.0/8` other than `0.0.0.0` ("this network", RFC 1122).
    ThisNetwork,
    /// `127.0.0.0/8`, `::1`.
    Loopback,
    /// `10.0.0.0/8`, `172.16.0.0/12`, `192.168.0.0/16` (RFC 1918).
    Private,
    /// `100.64.0.0/10`, carrier-grade NAT (RFC 6598).
    Shared,
    /// `169.254.0.0/16`, `fe80::/10`.
    LinkLocal,
    /// `fc00::/7` (RFC 4193).
    UniqueLocal,
    /// `fec0::/10` (deprecated by RFC 3879).
    SiteLocal,
    /// `224.0.0.0/4`, `ff00::/8`.
    Multicast,
    /// `255.255.255.255`.
    Broadcast,
    /// `192.0.2.0/24`, `198.51.100.0/24`, `203.0.113.0/24`, `2001:db8::/32`, `3fff::/20`.
    Documentation,
    /// `198.18.0.0/15`, `2001:2::/48` (RFC 2544, RFC 5180).
    Benchmarking,
    /// Everything else that is not global unicast: `192.0.0.0/24`, `240.0.0.0/4`, and IPv6
    /// outside `2000::/3` (IPv4-compatible `::/96`, discard-only `100::/64`, local-use NAT64
    /// `64:ff9b:1::/48`, …).
    Reserved,
}

impl AddressClass {
    /// The words used in messages: `loopback`, `private`, `link-local`, …
    pub fn as_str(self) -> &'static str {
        match self {
            Self::Unspecified => "unspecified",
            Self::ThisNetwork => "this-network (0.0.0.0/8)",
            Self::Loopback => "loopback",
            Self::Private => "private",
            Self::Shared => "shared (CGNAT)",
            Self::LinkLocal => "link-local",
            Self::UniqueLocal => "unique-local",
            Self::SiteLocal => "site-local",
            Self::Multicast => "multicast",
            Self::Broadcast => "broadcast",
            Self::Documentation => "documentation",
            Self::Benchmarking => "benchmarking",
            Self::Reserved => "reserved",
        }
    }

    /// The class of `addr`, or `None` for a globally routable unicast address.
    pub fn of(addr: IpAddr) -> Option<Self> {
        match addr {
            IpAddr::V4(v4) => Self::of_v4(v4),
            IpAddr::V6(v6) => Self::of_v6(v6),
        }
    }

    fn of_v4(a: Ipv4Addr) -> Option<Self> {
        let o = a.octets();
        let class = match o {
            [0, 0, 0, 0] => Self::Unspecified,
            [0, ..] => Self::ThisNetwork,
            [127, ..] => Self::Loopback,
            [10, ..] | [172, 16..=31, ..] | [192, 168, ..] => Self::Private,
            [100, 64..=127, ..] => Self::Shared,
            [169, 254, ..] => Self::LinkLocal,
            [192, 0, 2, _] | [198, 51, 100, _] | [203, 0, 113, _] => Self::Documentation,
            [198, 18..=19, ..] => Self::Benchmarking,
            [192, 0, 0, _] => Self::Reserved,
            [224..=239, ..] => Self::Multicast,
            [255, 255, 255, 255] => Self::Broadcast,
            [240..=255, ..] => Self::Reserved,
            _ => return None,
        };
        Some(class)
    }

    fn of_v6(a: Ipv6Addr) -> Option<Self> {
        let s = a.segments();
        // Forms that carry an IPv4 address are judged by it.
        if let Some(v4) = a.to_ipv4_mapped() {
            return Self::of_v4(v4);
        }
        if s[..6] == [0x64, 0xff9b, 0, 0, 0, 0] {
            return Self::of_v4(embedded(s[6], s[7]));
        }
        if s[0] == 0x2002 {
            return Self::of_v4(embedded(s[1], s[2]));
        }
        let class = if a.is_unspecified() {
            Self::Unspecified
        } else if a.is_loopback() {
            Self::Loopback
        } else if s[0] & 0xfe00 == 0xfc00 {
            Self::UniqueLocal
        } else if s[0] & 0xffc0 == 0xfe80 {
            Self::LinkLocal
        } else if s[0] & 0xffc0 == 0xfec0 {
            Self::SiteLocal
        } else if s[0] & 0xff00 == 0xff00 {
            Self::Multicast
        } else if (s[0] == 0x2001 && s[1] == 0x0db8) || (s[0] == 0x3fff && s[1] & 0xf000 == 0) {
            Self::Documentation
        } else if s[0] == 0x2001 && s[1] == 0x0002 && s[2] == 0 {
            Self::Benchmarking
        } else if s[0] & 0xe000 != 0x2000 {
            Self::Reserved
        } else {
            return None;
        };
        Some(class)
    }
}

/// The IPv4 address in two IPv6 segments.
fn embedded(hi: u16, lo: u16) -> Ipv4Addr {
    let [a, b] = hi.to_be_bytes();
    let [c, d] = lo.to_be_bytes();
    Ipv4Addr::new(a, b, c, d)
}

impl fmt::Display for AddressClass {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        f.write_str(self.as_str())
    }
}

/// An address the guard does not allow, and why.
#[derive(Clone, Copy, Debug, PartialEq, Eq, thiserror::Error)]
#[error(
    "address {addr} refused: {class} addresses are not allowed for tenants' checks (the \
     operator's policy)"
)]
pub struct Refused {
    /// The address as resolved (an IPv4-mapped IPv6 address stays as it was).
    pub addr: IpAddr,
    /// Which kind of address it is.
    pub class: AddressClass,
}

impl AddressGuard {
    /// Whether a probe may connect or send to `addr`.
    pub fn check(&self, addr: IpAddr) -> Result<(), Refused> {
        match self {
            Self::Open => Ok(()),
            Self::PublicOnly => match AddressClass::of(addr) {
                None => Ok(()),
                Some(class) => Err(Refused { addr, class }),
            },
        }
    }

    /// The first of `addrs` this guard allows; if there is none, the refusal of the first one;
    /// `None` if `addrs` is empty.
    pub(crate) fn first_allowed(
        self,
        addrs: impl IntoIterator<Item = IpAddr>,
    ) -> Option<Result<IpAddr, Refused>> {
        let mut refused = None;
        for addr in addrs {
            match self.check(addr) {
                Ok(()) => return Some(Ok(addr)),
                Err(r) => {
                    refused.get_or_insert(r);
                }
            }
        }
        refused.map(Err)
    }
}

#[cfg(test)]
mod tests {
    use super::*;
    use AddressClass as C;

    fn ip(s: &str) -> IpAddr {
        s.parse().unwrap_or_else(|e| panic!("{s}: {e}"))
    }

    #[test]
    fn public_only_refuses_every_non_public_range() {
        let cases: &[(&str, Option<AddressClass>)] = &[
            // IPv4: unspecified and this network.
            ("0.0.0.0", Some(C::Unspecified)),
            ("0.1.2.3", Some(C::ThisNetwork)),
            ("0.255.255.255", Some(C::ThisNetwork)),
            // Loopback, the whole /8.
            ("127.0.0.1", Some(C::Loopback)),
            ("127.255.255.254", Some(C::Loopback)),
            // RFC 1918, edges included.
            ("10.0.0.0", Some(C::Private)),
            ("10.255.255.255", Some(C::Private)),
            ("172.16.0.1", Some(C::Private)),
            ("172.31.255.255", Some(C::Private)),
            ("172.15.255.255", None),
            ("172.32.0.0", None),
            ("192.168.0.1", Some(C::Private)),
            ("192.169.0.1", None),
            // CGNAT 100.64.0.0/10.
            ("100.64.0.1", Some(C::Shared)),
            ("100.127.255.255", Some(C::Shared)),
            ("100.63.255.255", None),
            ("100.128.0.0", None),
            // Link-local (cloud metadata lives here).
            ("169.254.169.254", Some(C::LinkLocal)),
            ("169.254.0.0", Some(C::LinkLocal)),
            ("169.253.255.255", None),
            // IETF protocol assignments, documentation, benchmarking.
            ("192.0.0.8", Some(C::Reserved)),
            ("192.0.2.1", Some(C::Documentation)),
            ("198.51.100.7", Some(C::Documentation)),
            ("203.0.113.200", Some(C::Documentation)),
            ("198.18.0.1", Some(C::Benchmarking)),
            ("198.19.255.255", Some(C::Benchmarking)),
            ("198.20.0.0", None),
            // Multicast, reserved, broadcast.
            ("224.0.0.1", Some(C::Multicast)),
            ("239.255.255.255", Some(C::Multicast)),
            ("240.0.0.1", Some(C::Reserved)),
            ("255.255.255.254", Some(C::Reserved)),
            ("255.255.255.255", Some(C::Broadcast)),
            // Public IPv4.
            ("1.1.1.1", None),
            ("8.8.8.8", None),
            ("93.184.215.14", None),
            ("223.255.255.255", None),
            // IPv6: unspecified, loopback.
            ("::", Some(C::Unspecified)),
            ("::1", Some(C::Loopback)),
            // Unique-local fc00::/7, link-local fe80::/10, site-local fec0::/10.
            ("fc00::1", Some(C::UniqueLocal)),
            ("fd12:3456:789a::1", Some(C::UniqueLocal)),
            ("fe80::1", Some(C::LinkLocal)),
            ("febf:ffff::1", Some(C::LinkLocal)),
            ("fec0::1", Some(C::SiteLocal)),
            // Multicast.
            ("ff02::1", Some(C::Multicast)),
            ("ff0e::101", Some(C::Multicast)),
            // Documentation, benchmarking.
            ("2001:db8::1", Some(C::Documentation)),
            ("3fff::1", Some(C::Documentation)),
            ("3fff:1000::1", None),
            ("2001:2::1", Some(C::Benchmarking)),
            ("2001:2:1::1", None),
            // Outside 2000::/3: IPv4-compatible, discard-only, local-use NAT64, unassigned.
            ("::127.0.0.1", Some(C::Reserved)),
            ("::8.8.8.8", Some(C::Reserved)),
            ("100::1", Some(C::Reserved)),
            ("64:ff9b:1::a00:1", Some(C::Reserved)),
            ("4000::1", Some(C::Reserved)),
            // Public IPv6.
            ("2606:4700:4700::1111", None),
            ("2a00:1450:4007:80e::200e", None),
            ("2001:4860:4860::8888", None),
        ];
        for &(addr, want) in cases {
            let addr = ip(addr);
            assert_eq!(AddressClass::of(addr), want, "{addr}");
            let got = AddressGuard::PublicOnly.check(addr);
            match want {
                None => assert_eq!(got, Ok(()), "{addr}"),
                Some(class) => assert_eq!(got, Err(Refused { addr, class }), "{addr}"),
            }
            assert_eq!(AddressGuard::Open.check(addr), Ok(()), "{addr}");
        }
    }

    #[test]
    fn ipv6_forms_of_ipv4_addresses_are_judged_by_the_ipv4_address() {
        let cases: &[(&str, Option<AddressClass>)] = &[
            // IPv4-mapped ::ffff:0:0/96, written both ways.
            ("::ffff:127.0.0.1", Some(C::Loopback)),
            ("::ffff:7f00:1", Some(C::Loopback)),
            ("::ffff:0.0.0.0", Some(C::Unspecified)),
            ("::ffff:10.1.2.3", Some(C::Private)),
            ("::ffff:172.16.0.1", Some(C::Private)),
            ("::ffff:192.168.1.1", Some(C::Private)),
            ("::ffff:100.64.0.1", Some(C::Shared)),
            ("::ffff:169.254.169.254", Some(C::LinkLocal)),
            ("::ffff:224.0.0.1", Some(C::Multicast)),
            ("::ffff:255.255.255.255", Some(C::Broadcast)),
            ("::ffff:192.0.2.1", Some(C::Documentation)),
            ("::ffff:8.8.8.8", None),
            // NAT64 well-known prefix 64:ff9b::/96.
            ("64:ff9b::127.0.0.1", Some(C::Loopback)),
            ("64:ff9b::a9fe:a9fe", Some(C::LinkLocal)),
            ("64:ff9b::10.0.0.1", Some(C::Private)),
            ("64:ff9b::8.8.8.8", None),
            // 6to4 2002:AABB:CCDD::/48 carries AA.BB.CC.DD.
            ("2002:7f00:1::1", Some(C::Loopback)),
            ("2002:c0a8:101::1", Some(C::Private)),
            ("2002:808:808::1", None),
        ];
        for &(addr, want) in cases {
            let addr = ip(addr);
            assert_eq!(AddressClass::of(addr), want, "{addr}");
            assert_eq!(
                AddressGuard::PublicOnly.check(addr).map_err(|r| r.class),
                want.map_or(Ok(()), Err),
                "{addr}"
            );
        }
    }

    #[test]
    fn the_refusal_names_the_address_and_its_class() {
        let cases = [
            (
                "127.0.0.1",
                "address 127.0.0.1 refused: loopback addresses are not allowed for tenants' \
                 checks (the operator's policy)",
            ),
            (
                "10.0.0.1",
                "address 10.0.0.1 refused: private addresses are not allowed for tenants' \
                 checks (the operator's policy)",
            ),
            (
                "::ffff:169.254.169.254",
                "address ::ffff:169.254.169.254 refused: link-local addresses are not allowed \
                 for tenants' checks (the operator's policy)",
            ),
            (
                "100.64.0.1",
                "address 100.64.0.1 refused: shared (CGNAT) addresses are not allowed for \
                 tenants' checks (the operator's policy)",
            ),
        ];
        for (addr, want) in cases {
            let refused = AddressGuard::PublicOnly.check(ip(addr)).unwrap_err();
            assert_eq!(refused.to_string(), want);
        }
    }

    #[test]
    fn the_first_allowed_address_is_chosen_and_otherwise_the_first_refusal() {
        let g = AddressGuard::PublicOnly;
        assert_eq!(g.first_allowed([]), None);
        assert_eq!(
            g.first_allowed([ip("127.0.0.1"), ip("8.8.8.8"), ip("1.1.1.1")]),
            Some(Ok(ip("8.8.8.8")))
        );
        assert_eq!(
            g.first_allowed([ip("::1"), ip("127.0.0.1")]),
            Some(Err(Refused {
                addr: ip("::1"),
                class: C::Loopback
            }))
        );
        assert_eq!(
            AddressGuard::Open.first_allowed([ip("::1"), ip("8.8.8.8")]),
            Some(Ok(ip("::1")))
        );
    }

    #[test]
    fn the_default_is_open() {
        assert_eq!(AddressGuard::default(), AddressGuard::Open);
    }
}
