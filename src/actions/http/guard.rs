//! The SSRF guard: which network addresses an outbound request may reach, checked on the
//! address actually connected to. It owns the address rules and the filtering resolver;
//! it never opens a connection itself and never lets a forbidden address through
//! unless the [`NetworkPolicy`] names it.
//!
//! Forbidden by default: loopback, private (RFC 1918), link-local, CGNAT (100.64/10),
//! multicast, broadcast, unspecified, reserved, documentation and benchmarking ranges,
//! IPv6 ULA, link-local, site-local and discard ranges, cloud metadata addresses, and
//! every IPv6 form that embeds a forbidden IPv4 address (IPv4-mapped `::ffff:0:0/96`,
//! IPv4-compatible `::/96`, NAT64 `64:ff9b::/96`, 6to4 `2002::/16`).

use std::net::{IpAddr, Ipv4Addr, Ipv6Addr, SocketAddr};
use std::sync::Arc;

use ipnet::IpNet;

use crate::error::{Error, Result};

/// Which otherwise-forbidden networks outbound requests may reach.
///
/// The default is closed. `HUSH_ALLOW_PRIVATE_NETWORKS=1` opens every forbidden range
/// except cloud metadata addresses; `HUSH_ALLOWED_NETWORKS` (comma-separated CIDRs, e.g.
/// `127.0.0.1/32,10.1.0.0/16`) opens exactly the listed networks, metadata included.
#[derive(Clone, Debug, Default, PartialEq, Eq)]
pub struct NetworkPolicy {
    allow_private: bool,
    allowed: Vec<IpNet>,
}

impl NetworkPolicy {
    /// Every forbidden address refused (the default).
    pub fn closed() -> Self {
        Self::default()
    }

    /// Opens exactly `networks` (e.g. `127.0.0.1/32` for a local test target).
    pub fn allowing(networks: impl IntoIterator<Item = IpNet>) -> Self {
        NetworkPolicy {
            allow_private: false,
            allowed: networks.into_iter().collect(),
        }
    }

    /// Opens every private range (metadata addresses stay closed unless listed).
    pub fn private_networks_allowed(mut self) -> Self {
        self.allow_private = true;
        self
    }

    /// Reads `HUSH_ALLOW_PRIVATE_NETWORKS` and `HUSH_ALLOWED_NETWORKS` from the process
    /// environment.
    ///
    /// # Errors
    /// [`Invalid`](crate::error::ErrorKind::Invalid) naming the variable when a value
    /// does not parse.
    pub fn from_env() -> Result<Self> {
        Self::from_lookup(|name| std::env::var(name).ok())
    }

    /// As [`Self::from_env`], through `var` (for tests).
    ///
    /// # Errors
    /// As [`Self::from_env`].
    pub fn from_lookup(var: impl Fn(&str) -> Option<String>) -> Result<Self> {
        let allow_private = match var("HUSH_ALLOW_PRIVATE_NETWORKS").as_deref().map(str::trim) {
            None | Some("" | "0" | "false") => false,
            Some("1" | "true") => true,
            Some(other) => {
                return Err(Error::invalid(
                    "HUSH_ALLOW_PRIVATE_NETWORKS",
                    format!("{other:?} is not 1, true, 0 or false"),
                ));
            }
        };
        let mut allowed = Vec::new();
        for part in var("HUSH_ALLOWED_NETWORKS")
            .unwrap_or_default()
            .split(',')
            .map(str::trim)
            .filter(|p| !p.is_empty())
        {
            let net = part
                .parse::<IpNet>()
                .or_else(|_| part.parse::<IpAddr>().map(IpNet::from))
                .map_err(|_| {
                    Error::invalid(
                        "HUSH_ALLOWED_NETWORKS",
                        format!("{part:?} is not a CIDR network such as 127.0.0.1/32"),
                    )
                })?;
            allowed.push(net);
        }
        Ok(NetworkPolicy {
            allow_private,
            allowed,
        })
    }

    /// Whether a connection to `ip` is allowed.
    ///
    /// # Errors
    /// [`Denied`](crate::error::ErrorKind::Denied) naming `host` and why, e.g.
    /// "127.0.0.1 is a loopback address".
    pub fn check(&self, host: &str, ip: IpAddr) -> Result<()> {
        let Some(reason) = forbidden(ip) else {
            return Ok(());
        };
        if self.allowed.iter().any(|net| net.contains(&canonical(ip))) {
            return Ok(());
        }
        if self.allow_private && reason != Reason::Metadata {
            return Ok(());
        }
        let shown = canonical(ip).to_string();
        let what = if host.trim_matches(['[', ']']) == ip.to_string() || host == shown {
            format!("{ip}")
        } else {
            format!("{host} resolves to {ip}, which")
        };
        Err(Error::denied(format!(
            "refused to connect to {host}: {what} is {} (set HUSH_ALLOWED_NETWORKS to allow it)",
            reason.text()
        )))
    }
}

/// Why an address is forbidden.
#[derive(Clone, Copy, Debug, PartialEq, Eq)]
pub enum Reason {
    /// 127.0.0.0/8, ::1.
    Loopback,
    /// RFC 1918 networks; local-use NAT64 64:ff9b:1::/48.
    Private,
    /// 169.254.0.0/16, fe80::/10.
    LinkLocal,
    /// Carrier-grade NAT, 100.64.0.0/10.
    SharedCgnat,
    /// 224.0.0.0/4, ff00::/8.
    Multicast,
    /// 255.255.255.255.
    Broadcast,
    /// 0.0.0.0, ::.
    Unspecified,
    /// 0.0.0.0/8, 192.0.0.0/24, 240.0.0.0/4, fec0::/10, 100::/64.
    Reserved,
    /// 192.0.2.0/24, 198.51.100.0/24, 203.0.113.0/24, 2001:db8::/32.
    Documentation,
    /// 198.18.0.0/15.
    Benchmarking,
    /// IPv6 unique local, fc00::/7.
    UniqueLocal,
    /// Cloud metadata: 169.254.169.254, 100.100.100.200, fd00:ec2::254.
    Metadata,
}

impl Reason {
    /// "a loopback address" and so on.
    pub fn text(self) -> &'static str {
        match self {
            Reason::Loopback => "a loopback address",
            Reason::Private => "a private network address",
            Reason::LinkLocal => "a link-local address",
            Reason::SharedCgnat => "a carrier-grade NAT (shared) address",
            Reason::Multicast => "a multicast address",
            Reason::Broadcast => "the broadcast address",
            Reason::Unspecified => "an unspecified address",
            Reason::Reserved => "a reserved address",
            Reason::Documentation => "a documentation address",
            Reason::Benchmarking => "a benchmarking address",
            Reason::UniqueLocal => "an IPv6 unique local address",
            Reason::Metadata => "a cloud metadata address",
        }
    }
}

/// `ip` with an IPv4-mapped IPv6 address turned into the IPv4 address it maps.
fn canonical(ip: IpAddr) -> IpAddr {
    match ip {
        IpAddr::V6(v6) => v6.to_ipv4_mapped().map_or(ip, IpAddr::V4),
        v4 => v4,
    }
}

fn in4(ip: u32, net: [u8; 4], prefix: u32) -> bool {
    let mask = if prefix == 0 {
        0
    } else {
        u32::MAX << (32 - prefix)
    };
    ip & mask == u32::from_be_bytes(net) & mask
}

fn in6(ip: u128, net: Ipv6Addr, prefix: u32) -> bool {
    let mask = if prefix == 0 {
        0
    } else {
        u128::MAX << (128 - prefix)
    };
    ip & mask == u128::from(net) & mask
}

fn forbidden_v4(ip: Ipv4Addr) -> Option<Reason> {
    let n = u32::from(ip);
    const TABLE: &[([u8; 4], u32, Reason)] = &[
        ([169, 254, 169, 254], 32, Reason::Metadata),
        ([100, 100, 100, 200], 32, Reason::Metadata),
        ([0, 0, 0, 0], 32, Reason::Unspecified),
        ([255, 255, 255, 255], 32, Reason::Broadcast),
        ([0, 0, 0, 0], 8, Reason::Reserved),
        ([10, 0, 0, 0], 8, Reason::Private),
        ([100, 64, 0, 0], 10, Reason::SharedCgnat),
        ([127, 0, 0, 0], 8, Reason::Loopback),
        ([169, 254, 0, 0], 16, Reason::LinkLocal),
        ([172, 16, 0, 0], 12, Reason::Private),
        ([192, 0, 0, 0], 24, Reason::Reserved),
        ([192, 0, 2, 0], 24, Reason::Documentation),
        ([192, 168, 0, 0], 16, Reason::Private),
        ([198, 18, 0, 0], 15, Reason::Benchmarking),
        ([198, 51, 100, 0], 24, Reason::Documentation),
        ([203, 0, 113, 0], 24, Reason::Documentation),
        ([224, 0, 0, 0], 4, Reason::Multicast),
        ([240, 0, 0, 0], 4, Reason::Reserved),
    ];
    TABLE
        .iter()
        .find(|(net, prefix, _)| in4(n, *net, *prefix))
        .map(|(_, _, reason)| *reason)
}

fn forbidden_v6(ip: Ipv6Addr) -> Option<Reason> {
    let n = u128::from(ip);
    if n == 0 {
        return Some(Reason::Unspecified);
    }
    if n == 1 {
        return Some(Reason::Loopback);
    }
    // Forms that embed an IPv4 address in their low (or, for 6to4, high) bits.
    let low32 = Ipv4Addr::from((n & 0xffff_ffff) as u32);
    let embedded = if in6(n, Ipv6Addr::new(0, 0, 0, 0, 0, 0xffff, 0, 0), 96)
        || in6(n, Ipv6Addr::UNSPECIFIED, 96)
        || in6(n, Ipv6Addr::new(0x64, 0xff9b, 0, 0, 0, 0, 0, 0), 96)
    {
        Some(low32)
    } else if in6(n, Ipv6Addr::new(0x2002, 0, 0, 0, 0, 0, 0, 0), 16) {
        Some(Ipv4Addr::from(((n >> 80) & 0xffff_ffff) as u32))
    } else {
        None
    };
    if let Some(v4) = embedded {
        return forbidden_v4(v4);
    }
    let table: [(Ipv6Addr, u32, Reason); 8] = [
        (
            Ipv6Addr::new(0xfd00, 0xec2, 0, 0, 0, 0, 0, 0x254),
            128,
            Reason::Metadata,
        ),
        (
            Ipv6Addr::new(0x64, 0xff9b, 1, 0, 0, 0, 0, 0),
            48,
            Reason::Private,
        ),
        (
            Ipv6Addr::new(0x100, 0, 0, 0, 0, 0, 0, 0),
            64,
            Reason::Reserved,
        ),
        (
            Ipv6Addr::new(0x2001, 0xdb8, 0, 0, 0, 0, 0, 0),
            32,
            Reason::Documentation,
        ),
        (
            Ipv6Addr::new(0xfc00, 0, 0, 0, 0, 0, 0, 0),
            7,
            Reason::UniqueLocal,
        ),
        (
            Ipv6Addr::new(0xfe80, 0, 0, 0, 0, 0, 0, 0),
            10,
            Reason::LinkLocal,
        ),
        (
            Ipv6Addr::new(0xfec0, 0, 0, 0, 0, 0, 0, 0),
            10,
            Reason::Reserved,
        ),
        (
            Ipv6Addr::new(0xff00, 0, 0, 0, 0, 0, 0, 0),
            8,
            Reason::Multicast,
        ),
    ];
    table
        .iter()
        .find(|(net, prefix, _)| in6(n, *net, *prefix))
        .map(|(_, _, reason)| *reason)
}

/// Why `ip` is forbidden by default, or `None` for a public address.
pub fn forbidden(ip: IpAddr) -> Option<Reason> {
    match ip {
        IpAddr::V4(v4) => forbidden_v4(v4),
        IpAddr::V6(v6) => forbidden_v6(v6),
    }
}

/// Checks a URL's host when it is an IP literal (reqwest connects to those without
/// asking the resolver). Host names are checked by [`GuardedResolver`] on the resolved
/// addresses. The `url` crate has already normalized odd IPv4 forms (`2130706433`,
/// `0x7f.1`) to dotted quads.
///
/// # Errors
/// [`Denied`](crate::error::ErrorKind::Denied) as [`NetworkPolicy::check`].
pub fn check_url(policy: &NetworkPolicy, url: &url::Url) -> Result<()> {
    match url.host() {
        Some(url::Host::Ipv4(ip)) => policy.check(&ip.to_string(), IpAddr::V4(ip)),
        Some(url::Host::Ipv6(ip)) => policy.check(&format!("[{ip}]"), IpAddr::V6(ip)),
        Some(url::Host::Domain(_)) => Ok(()),
        None => Err(Error::invalid("url", "it has no host")),
    }
}

/// A refusal by the resolver, found again in reqwest's error chain by the sender.
#[derive(Debug)]
pub struct Refused(pub Error);

impl std::fmt::Display for Refused {
    fn fmt(&self, f: &mut std::fmt::Formatter<'_>) -> std::fmt::Result {
        f.write_str(self.0.message())
    }
}

impl std::error::Error for Refused {}

/// A name that did not resolve, found again in reqwest's error chain by the sender.
#[derive(Debug)]
pub struct Unresolved(pub String);

impl std::fmt::Display for Unresolved {
    fn fmt(&self, f: &mut std::fmt::Formatter<'_>) -> std::fmt::Result {
        write!(f, "could not resolve host {}", self.0)
    }
}

impl std::error::Error for Unresolved {}

/// A reqwest resolver that resolves with tokio and refuses a name when any of its
/// addresses is forbidden by the policy, so the connection is only ever made to an
/// address that was checked.
#[derive(Clone, Debug)]
pub struct GuardedResolver {
    policy: Arc<NetworkPolicy>,
}

impl GuardedResolver {
    /// A resolver enforcing `policy`.
    pub fn new(policy: Arc<NetworkPolicy>) -> Self {
        GuardedResolver { policy }
    }

    /// Resolves `host` and checks every address.
    ///
    /// # Errors
    /// [`Refused`] when an address is forbidden, [`Unresolved`] when the name does not
    /// resolve.
    pub async fn resolve_checked(
        policy: &NetworkPolicy,
        host: &str,
    ) -> std::result::Result<Vec<SocketAddr>, Box<dyn std::error::Error + Send + Sync>> {
        let addrs: Vec<SocketAddr> = match tokio::net::lookup_host((host, 0)).await {
            Ok(addrs) => addrs.collect(),
            Err(_) => return Err(Box::new(Unresolved(host.to_owned()))),
        };
        if addrs.is_empty() {
            return Err(Box::new(Unresolved(host.to_owned())));
        }
        for addr in &addrs {
            policy.check(host, addr.ip()).map_err(Refused)?;
        }
        Ok(addrs)
    }
}

impl reqwest::dns::Resolve for GuardedResolver {
    fn resolve(&self, name: reqwest::dns::Name) -> reqwest::dns::Resolving {
        let policy = Arc::clone(&self.policy);
        let host = name.as_str().to_owned();
        Box::pin(async move {
            let addrs = Self::resolve_checked(&policy, &host).await?;
            Ok(Box::new(addrs.into_iter()) as reqwest::dns::Addrs)
        })
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    fn ip(s: &str) -> IpAddr {
        s.parse().unwrap()
    }

    #[test]
    fn forbidden_addresses_are_classified() {
        let cases = [
            ("127.0.0.1", Reason::Loopback),
            ("127.255.0.9", Reason::Loopback),
            ("10.1.2.3", Reason::Private),
            ("172.16.0.1", Reason::Private),
            ("172.31.255.255", Reason::Private),
            ("192.168.1.1", Reason::Private),
            ("169.254.1.1", Reason::LinkLocal),
            ("169.254.169.254", Reason::Metadata),
            ("100.100.100.200", Reason::Metadata),
            ("100.64.0.1", Reason::SharedCgnat),
            ("100.127.255.255", Reason::SharedCgnat),
            ("224.0.0.1", Reason::Multicast),
            ("255.255.255.255", Reason::Broadcast),
            ("0.0.0.0", Reason::Unspecified),
            ("0.1.2.3", Reason::Reserved),
            ("240.0.0.1", Reason::Reserved),
            ("192.0.2.5", Reason::Documentation),
            ("198.51.100.5", Reason::Documentation),
            ("203.0.113.5", Reason::Documentation),
            ("198.18.0.1", Reason::Benchmarking),
            ("198.19.255.1", Reason::Benchmarking),
            ("::1", Reason::Loopback),
            ("::", Reason::Unspecified),
            ("::ffff:127.0.0.1", Reason::Loopback),
            ("::ffff:10.0.0.1", Reason::Private),
            ("::ffff:169.254.169.254", Reason::Metadata),
            ("::127.0.0.1", Reason::Loopback),
            ("::192.168.0.1", Reason::Private),
            ("64:ff9b::127.0.0.1", Reason::Loopback),
            ("64:ff9b::a9fe:a9fe", Reason::Metadata),
            ("2002:7f00:1::", Reason::Loopback),
            ("fc00::1", Reason::UniqueLocal),
            ("fd12:3456::1", Reason::UniqueLocal),
            ("fd00:ec2::254", Reason::Metadata),
            ("fe80::1", Reason::LinkLocal),
            ("ff02::1", Reason::Multicast),
            ("2001:db8::1", Reason::Documentation),
        ];
        for (addr, want) in cases {
            assert_eq!(forbidden(ip(addr)), Some(want), "{addr}");
        }
    }

    #[test]
    fn public_addresses_pass() {
        for addr in [
            "8.8.8.8",
            "1.1.1.1",
            "172.32.0.1",
            "100.128.0.1",
            "198.20.0.1",
            "2606:4700::1111",
            "::ffff:8.8.8.8",
            "64:ff9b::808:808",
        ] {
            assert_eq!(forbidden(ip(addr)), None, "{addr}");
            NetworkPolicy::closed().check(addr, ip(addr)).unwrap();
        }
    }

    #[test]
    fn refusals_name_the_host_and_why() {
        let err = NetworkPolicy::closed()
            .check("127.0.0.1", ip("127.0.0.1"))
            .unwrap_err();
        assert_eq!(err.kind(), crate::error::ErrorKind::Denied);
        assert!(
            err.message().contains("127.0.0.1 is a loopback address"),
            "{err:?}"
        );
        let err = NetworkPolicy::closed()
            .check("localhost", ip("127.0.0.1"))
            .unwrap_err();
        assert!(
            err.message()
                .contains("localhost resolves to 127.0.0.1, which is a loopback address"),
            "{err:?}"
        );
    }

    #[test]
    fn the_url_parser_normalizes_odd_ipv4_forms_and_they_are_checked() {
        for (text, host) in [
            ("http://2130706433/", "127.0.0.1"),
            ("http://0x7f.1/", "127.0.0.1"),
            ("http://0177.0.0.1/", "127.0.0.1"),
            ("http://127.1/", "127.0.0.1"),
            ("http://[::ffff:127.0.0.1]/", "[::ffff:7f00:1]"),
            ("http://169.254.169.254/", "169.254.169.254"),
        ] {
            let url = url::Url::parse(text).unwrap();
            assert_eq!(url.host_str(), Some(host), "{text}");
            let err = check_url(&NetworkPolicy::closed(), &url).unwrap_err();
            assert_eq!(err.kind(), crate::error::ErrorKind::Denied, "{text}");
        }
        check_url(
            &NetworkPolicy::closed(),
            &url::Url::parse("http://example.com/").unwrap(),
        )
        .unwrap();
    }

    #[test]
    fn policy_opens_exactly_what_it_lists() {
        let p = NetworkPolicy::from_lookup(|name| {
            (name == "HUSH_ALLOWED_NETWORKS").then(|| "127.0.0.1/32, 10.1.0.0/16".into())
        })
        .unwrap();
        p.check("127.0.0.1", ip("127.0.0.1")).unwrap();
        p.check("x", ip("::ffff:127.0.0.1")).unwrap();
        p.check("10.1.2.3", ip("10.1.2.3")).unwrap();
        assert!(p.check("127.0.0.2", ip("127.0.0.2")).is_err());
        assert!(p.check("10.2.0.1", ip("10.2.0.1")).is_err());
        assert!(p.check("::1", ip("::1")).is_err());

        let open = NetworkPolicy::from_lookup(|name| {
            (name == "HUSH_ALLOW_PRIVATE_NETWORKS").then(|| "1".into())
        })
        .unwrap();
        open.check("10.0.0.1", ip("10.0.0.1")).unwrap();
        open.check("::1", ip("::1")).unwrap();
        let err = open
            .check("169.254.169.254", ip("169.254.169.254"))
            .unwrap_err();
        assert!(err.message().contains("cloud metadata"), "{err:?}");

        for (name, value) in [
            ("HUSH_ALLOWED_NETWORKS", "not-a-net"),
            ("HUSH_ALLOW_PRIVATE_NETWORKS", "yes please"),
        ] {
            let err =
                NetworkPolicy::from_lookup(|n| (n == name).then(|| value.into())).unwrap_err();
            assert!(
                err.message().starts_with(&format!("invalid {name}")),
                "{err:?}"
            );
        }
        assert_eq!(
            NetworkPolicy::from_lookup(|_| None).unwrap(),
            NetworkPolicy::closed()
        );
    }

    #[tokio::test]
    async fn the_resolver_refuses_names_that_resolve_to_forbidden_addresses() {
        let err = GuardedResolver::resolve_checked(&NetworkPolicy::closed(), "localhost")
            .await
            .unwrap_err();
        let refused = err.downcast_ref::<Refused>().expect("a refusal");
        assert!(
            refused.0.message().contains("localhost resolves to"),
            "{refused}"
        );
        let open =
            NetworkPolicy::allowing(["127.0.0.1/32".parse().unwrap(), "::1/128".parse().unwrap()]);
        let addrs = GuardedResolver::resolve_checked(&open, "localhost")
            .await
            .unwrap();
        assert!(!addrs.is_empty());
    }
}
