//! `net`, the outbound network policy both action kinds ask (Send API Request and a Run
//! Code guest's HTTP): the SSRF guard, which network addresses an outbound request may
//! reach, checked on the address actually connected to. It owns the address rules and
//! the filtering resolver; it never opens a connection itself and never lets a forbidden
//! address through unless the [`NetworkPolicy`] names it — and never lets a cloud
//! metadata or credential endpoint through at all.
//!
//! Forbidden by default: loopback, private (RFC 1918), link-local, CGNAT (100.64/10),
//! multicast, broadcast, unspecified, reserved, documentation and benchmarking ranges,
//! IPv6 ULA, link-local, site-local and discard ranges, cloud metadata addresses, and
//! every IPv6 form that embeds a forbidden IPv4 address (IPv4-mapped `::ffff:0:0/96`,
//! IPv4-translated `::ffff:0:0:0/96`, IPv4-compatible `::/96`, NAT64 `64:ff9b::/96`, 6to4
//! `2002::/16`, Teredo `2001::/32`; and, for the addresses no setting opens, local-use
//! NAT64 `64:ff9b:1::/48` in every RFC 6052 layout and ISATAP interface identifiers).
//!
//! Closed under every setting: the known cloud metadata and credential endpoints of
//! [`METADATA_ENDPOINTS`] (each cited), the names of [`METADATA_HOSTS`], and the whole
//! link-local ranges `169.254.0.0/16` and `fe80::/10`, where clouds put such services.

use std::net::{IpAddr, Ipv4Addr, Ipv6Addr, SocketAddr};
use std::sync::Arc;

use ipnet::IpNet;

use crate::error::{Error, Result};

/// Which otherwise-forbidden networks outbound requests may reach.
///
/// The default is closed. `HUSH_ALLOW_PRIVATE_NETWORKS=1` opens every forbidden range
/// except link-local ones; `HUSH_ALLOWED_NETWORKS` (comma-separated CIDRs, e.g.
/// `127.0.0.1/32,10.1.0.0/16`) opens exactly the listed networks. Neither ever opens a
/// cloud metadata or credential endpoint, or link-local `169.254.0.0/16` and `fe80::/10`
/// ([`Reason::never_allowed`]): a listed network that covers one stays closed there.
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

    /// Opens every private range (link-local ranges and metadata endpoints stay closed).
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
        if !reason.never_allowed() {
            if self.allowed.iter().any(|net| net.contains(&canonical(ip))) {
                return Ok(());
            }
            if self.allow_private {
                return Ok(());
            }
        }
        let shown = canonical(ip).to_string();
        let what = if host.trim_matches(['[', ']']) == ip.to_string() || host == shown {
            format!("{ip}")
        } else {
            format!("{host} resolves to {ip}, which")
        };
        let remedy = if reason.never_allowed() {
            "no setting allows it"
        } else {
            "set HUSH_ALLOWED_NETWORKS to allow it"
        };
        Err(Error::denied(format!(
            "refused to connect to {host}: {what} is {} ({remedy})",
            reason.text()
        )))
    }
}

/// Refuses a host name that is a cloud metadata service's own name ([`METADATA_HOSTS`]),
/// whatever it resolves to, under every policy.
///
/// # Errors
/// [`Denied`](crate::error::ErrorKind::Denied) naming the host.
pub fn check_host_name(host: &str) -> Result<()> {
    let name = host.trim_end_matches('.').to_ascii_lowercase();
    match METADATA_HOSTS.iter().find(|(n, _, _)| *n == name) {
        Some((_, what, _)) => Err(Error::denied(format!(
            "refused to connect to {host}: it is the {what} (no setting allows it)"
        ))),
        None => Ok(()),
    }
}

/// A network written as a constant.
#[derive(Clone, Copy, Debug, PartialEq, Eq)]
pub enum Net {
    /// An IPv4 network and its prefix length.
    V4([u8; 4], u32),
    /// An IPv6 network and its prefix length.
    V6(Ipv6Addr, u32),
}

/// A known cloud metadata or credential endpoint: what it is and where that is written.
#[derive(Clone, Copy, Debug)]
pub struct MetadataEndpoint {
    /// The address (or the provider's reserved network).
    pub net: Net,
    /// Whose endpoint, and what it hands out.
    pub what: &'static str,
    /// The provider's documentation that names the address.
    pub source: &'static str,
}

/// Every known cloud metadata and credential endpoint. Closed under every policy, in every
/// spelling (IPv4-mapped, IPv4-compatible, NAT64, 6to4, Teredo). Most of them also lie in
/// link-local `169.254.0.0/16`, which no setting opens either; they are listed to be
/// named in refusals and so that the list is the reference. (A Kubernetes API server is
/// not here: it sits on a private or public address of the cluster and the ordinary rules
/// apply. Azure Arc's local identity endpoint, `localhost:40342`, is loopback: closed by
/// default, opened with the rest of loopback by `HUSH_ALLOW_PRIVATE_NETWORKS`.)
pub const METADATA_ENDPOINTS: &[MetadataEndpoint] = &[
    MetadataEndpoint {
        net: Net::V4([169, 254, 169, 254], 32),
        what: "instance metadata and credentials of AWS EC2, Azure, Google Cloud, Oracle Cloud, \
               OpenStack, DigitalOcean, Hetzner, Huawei Cloud, IBM Cloud, Linode and others",
        source: "https://docs.aws.amazon.com/AWSEC2/latest/UserGuide/instancedata-data-retrieval.html \
                 https://learn.microsoft.com/azure/virtual-machines/instance-metadata-service \
                 https://cloud.google.com/compute/docs/metadata/querying-metadata \
                 https://docs.oracle.com/iaas/Content/Compute/Tasks/gettingmetadata.htm \
                 https://docs.openstack.org/nova/latest/user/metadata.html \
                 https://docs.digitalocean.com/reference/api/metadata/ \
                 https://docs.hetzner.cloud/#server-metadata \
                 https://support.huaweicloud.com/intl/en-us/usermanual-ecs/ecs_03_0166.html",
    },
    MetadataEndpoint {
        net: Net::V6(Ipv6Addr::new(0xfd00, 0xec2, 0, 0, 0, 0, 0, 0x254), 128),
        what: "AWS EC2 instance metadata (IPv6)",
        source: "https://docs.aws.amazon.com/AWSEC2/latest/UserGuide/instancedata-data-retrieval.html",
    },
    MetadataEndpoint {
        net: Net::V4([169, 254, 170, 2], 32),
        what: "AWS ECS task metadata and task role credentials",
        source: "https://docs.aws.amazon.com/AmazonECS/latest/developerguide/task-iam-roles.html",
    },
    MetadataEndpoint {
        net: Net::V4([169, 254, 170, 23], 32),
        what: "AWS EKS Pod Identity agent credentials",
        source: "https://docs.aws.amazon.com/eks/latest/userguide/pod-id-how-it-works.html",
    },
    MetadataEndpoint {
        net: Net::V6(Ipv6Addr::new(0xfd00, 0xec2, 0, 0, 0, 0, 0, 0x23), 128),
        what: "AWS EKS Pod Identity agent credentials (IPv6)",
        source: "https://docs.aws.amazon.com/eks/latest/userguide/pod-id-how-it-works.html",
    },
    MetadataEndpoint {
        net: Net::V6(Ipv6Addr::new(0xfd00, 0xec2, 0, 0, 0, 0, 0, 0), 32),
        what: "AWS instance services (metadata, Pod Identity, DNS, time)",
        source: "https://docs.aws.amazon.com/AWSEC2/latest/UserGuide/configuring-instance-metadata-service.html",
    },
    MetadataEndpoint {
        net: Net::V4([168, 63, 129, 16], 32),
        what: "Azure WireServer (guest agent, extension settings and certificates, health \
               probes; every port)",
        source: "https://learn.microsoft.com/azure/virtual-network/what-is-ip-address-168-63-129-16",
    },
    MetadataEndpoint {
        net: Net::V6(Ipv6Addr::new(0xfd20, 0xce, 0, 0, 0, 0, 0, 0x254), 128),
        what: "Google Cloud metadata server (IPv6)",
        source: "https://cloud.google.com/compute/docs/metadata/querying-metadata",
    },
    MetadataEndpoint {
        net: Net::V4([100, 100, 100, 200], 32),
        what: "Alibaba Cloud ECS instance metadata and RAM role credentials",
        source: "https://www.alibabacloud.com/help/en/ecs/user-guide/view-instance-metadata",
    },
    MetadataEndpoint {
        net: Net::V4([192, 0, 0, 192], 32),
        what: "Oracle Cloud instance metadata (legacy address)",
        source: "https://github.com/swisskyrepo/PayloadsAllTheThings/blob/master/Server%20Side%20Request%20Forgery/SSRF-Cloud-Instances.md",
    },
    MetadataEndpoint {
        net: Net::V4([169, 254, 0, 23], 32),
        what: "Tencent Cloud instance metadata (metadata.tencentyun.com)",
        source: "https://www.tencentcloud.com/document/product/213/4934",
    },
    MetadataEndpoint {
        net: Net::V6(Ipv6Addr::new(0xfe80, 0, 0, 0, 0, 0, 0xa9fe, 0xa9fe), 128),
        what: "OpenStack metadata service (IPv6)",
        source: "https://docs.openstack.org/neutron/latest/admin/config-ipv6.html",
    },
];

/// Host names of cloud metadata services, refused whatever they resolve to: the name,
/// whose service it is, and where that is written.
pub const METADATA_HOSTS: &[(&str, &str, &str)] = &[
    (
        "metadata.google.internal",
        "Google Cloud metadata server",
        "https://cloud.google.com/compute/docs/metadata/querying-metadata",
    ),
    (
        "metadata",
        "Google Cloud metadata server",
        "https://cloud.google.com/compute/docs/metadata/querying-metadata",
    ),
    (
        "metadata.goog",
        "Google Cloud metadata server",
        "https://cloud.google.com/compute/docs/metadata/querying-metadata",
    ),
    (
        "metadata.tencentyun.com",
        "Tencent Cloud metadata service",
        "https://www.tencentcloud.com/document/product/213/4934",
    ),
    (
        "instance-data",
        "AWS EC2 instance metadata service",
        "https://docs.aws.amazon.com/AWSEC2/latest/UserGuide/instancedata-data-retrieval.html",
    ),
    (
        "instance-data.ec2.internal",
        "AWS EC2 instance metadata service",
        "https://docs.aws.amazon.com/AWSEC2/latest/UserGuide/instancedata-data-retrieval.html",
    ),
];

fn metadata_endpoint(ip: IpAddr) -> Option<&'static MetadataEndpoint> {
    METADATA_ENDPOINTS.iter().find(|e| match (e.net, ip) {
        (Net::V4(net, prefix), IpAddr::V4(v4)) => in4(u32::from(v4), net, prefix),
        (Net::V6(net, prefix), IpAddr::V6(v6)) => in6(u128::from(v6), net, prefix),
        _ => false,
    })
}

/// Why an address is forbidden.
#[derive(Clone, Copy, Debug, PartialEq, Eq)]
pub enum Reason {
    /// 127.0.0.0/8, ::1.
    Loopback,
    /// RFC 1918 networks; local-use NAT64 64:ff9b:1::/48.
    Private,
    /// 169.254.0.0/16, fe80::/10 (never allowed).
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
    /// A cloud metadata or credential endpoint of [`METADATA_ENDPOINTS`] (never allowed).
    Metadata,
}

impl Reason {
    /// Whether no setting opens the address: metadata endpoints and link-local ranges,
    /// where clouds serve credentials to whoever asks from the machine.
    pub fn never_allowed(self) -> bool {
        matches!(self, Reason::Metadata | Reason::LinkLocal)
    }

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
            Reason::Metadata => "a cloud metadata or credential endpoint",
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
    if metadata_endpoint(IpAddr::V4(ip)).is_some() {
        return Some(Reason::Metadata);
    }
    let n = u32::from(ip);
    const TABLE: &[([u8; 4], u32, Reason)] = &[
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
        || in6(n, Ipv6Addr::new(0, 0, 0, 0, 0xffff, 0, 0, 0), 96)
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
    // Teredo (RFC 4380): the server's IPv4 address in bits 32..64, the client's inverted
    // in the low 32 bits. Either one forbidden makes the address forbidden.
    if in6(n, Ipv6Addr::new(0x2001, 0, 0, 0, 0, 0, 0, 0), 32) {
        let client = Ipv4Addr::from(!((n & 0xffff_ffff) as u32));
        let server = Ipv4Addr::from(((n >> 64) & 0xffff_ffff) as u32);
        return forbidden_v4(client).or_else(|| forbidden_v4(server));
    }
    // Local-use NAT64 (RFC 8215) is private, but what it reaches may never be: the IPv4
    // address sits where RFC 6052 puts it for the operator's prefix length (/48 to /96).
    if in6(n, Ipv6Addr::new(0x64, 0xff9b, 1, 0, 0, 0, 0, 0), 48)
        && let Some(reason) = rfc6052_candidates(n)
            .into_iter()
            .filter_map(forbidden_v4)
            .find(|r| r.never_allowed())
    {
        return Some(reason);
    }
    // An ISATAP interface identifier (`::0:5efe:a.b.c.d`, `::200:5efe:a.b.c.d`) under any
    // prefix is relayed to the IPv4 address it embeds.
    if matches!((n >> 32) & 0xfdff_ffff, 0x0000_5efe)
        && let Some(reason) = forbidden_v4(low32).filter(|r| r.never_allowed())
    {
        return Some(reason);
    }
    if metadata_endpoint(IpAddr::V6(ip)).is_some() {
        return Some(Reason::Metadata);
    }
    let table: [(Ipv6Addr, u32, Reason); 7] = [
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

/// The IPv4 addresses an RFC 6052 address of prefix length 48, 56, 64 or 96 embeds (the
/// octet of bits 64..72 is skipped).
fn rfc6052_candidates(n: u128) -> [Ipv4Addr; 4] {
    let byte = |i: u32| ((n >> (120 - 8 * i)) & 0xff) as u8;
    let at = |idx: [u32; 4]| Ipv4Addr::new(byte(idx[0]), byte(idx[1]), byte(idx[2]), byte(idx[3]));
    [
        at([6, 7, 9, 10]),
        at([7, 9, 10, 11]),
        at([9, 10, 11, 12]),
        at([12, 13, 14, 15]),
    ]
}

/// Why `ip` is forbidden by default, or `None` for a public address.
pub fn forbidden(ip: IpAddr) -> Option<Reason> {
    match ip {
        IpAddr::V4(v4) => forbidden_v4(v4),
        IpAddr::V6(v6) => forbidden_v6(v6),
    }
}

/// Checks a URL's host when it is an IP literal (reqwest connects to those without
/// asking the resolver), and refuses a metadata service's host name. Other host names are
/// checked by [`GuardedResolver`] on the resolved addresses. The `url` crate has already normalized odd IPv4 forms (`2130706433`,
/// `0x7f.1`) to dotted quads.
///
/// # Errors
/// [`Denied`](crate::error::ErrorKind::Denied) as [`NetworkPolicy::check`].
pub fn check_url(policy: &NetworkPolicy, url: &url::Url) -> Result<()> {
    match url.host() {
        Some(url::Host::Ipv4(ip)) => policy.check(&ip.to_string(), IpAddr::V4(ip)),
        Some(url::Host::Ipv6(ip)) => policy.check(&format!("[{ip}]"), IpAddr::V6(ip)),
        Some(url::Host::Domain(name)) => check_host_name(name),
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
        check_host_name(host).map_err(Refused)?;
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

    /// Every spelling of `v4` that reaches it: itself, IPv4-mapped, IPv4-compatible,
    /// NAT64 (well-known and local-use), 6to4 and Teredo (client and server).
    fn spellings(v4: Ipv4Addr) -> Vec<IpAddr> {
        let n = u32::from(v4);
        let (hi, lo) = ((n >> 16) as u16, n as u16);
        vec![
            IpAddr::V4(v4),
            IpAddr::V6(v4.to_ipv6_mapped()),
            IpAddr::V6(Ipv6Addr::new(0, 0, 0, 0, 0, 0, hi, lo)),
            IpAddr::V6(Ipv6Addr::new(0x64, 0xff9b, 0, 0, 0, 0, hi, lo)),
            IpAddr::V6(Ipv6Addr::new(0x64, 0xff9b, 1, 0, 0, 0, hi, lo)),
            IpAddr::V6(Ipv6Addr::new(0x2002, hi, lo, 0, 0, 0, 0, 1)),
            IpAddr::V6(Ipv6Addr::new(
                0x2001, 0, 0x4136, 0xe378, 0x8000, 0x63bf, !hi, !lo,
            )),
            IpAddr::V6(Ipv6Addr::new(
                0x2001, 0, hi, lo, 0x8000, 0x63bf, 0xf7f7, 0xf7f7,
            )),
            IpAddr::V6(Ipv6Addr::new(0, 0, 0, 0, 0xffff, 0, hi, lo)),
            IpAddr::V6(Ipv6Addr::new(0x2600, 0x1f18, 0, 0, 0, 0x5efe, hi, lo)),
            IpAddr::V6(Ipv6Addr::new(0x2600, 0x1f18, 0, 0, 0x200, 0x5efe, hi, lo)),
        ]
        .into_iter()
        .chain([48, 56, 64].map(|len| IpAddr::V6(local_nat64(v4, len))))
        .collect()
    }

    /// `v4` in the local-use NAT64 prefix `64:ff9b:1::/len`, laid out as RFC 6052 says.
    fn local_nat64(v4: Ipv4Addr, len: usize) -> Ipv6Addr {
        let mut bytes = Ipv6Addr::new(0x64, 0xff9b, 1, 0, 0, 0, 0, 0).octets();
        let mut at = len / 8;
        for b in v4.octets() {
            if at == 8 {
                at += 1; // bits 64..72 stay zero
            }
            bytes[at] = b;
            at += 1;
        }
        Ipv6Addr::from(bytes)
    }

    /// Every policy there is, from closed to everything opened at once.
    fn every_policy() -> Vec<(&'static str, NetworkPolicy)> {
        let everything: Vec<IpNet> = vec!["0.0.0.0/0".parse().unwrap(), "::/0".parse().unwrap()];
        vec![
            ("closed", NetworkPolicy::closed()),
            (
                "HUSH_ALLOW_PRIVATE_NETWORKS=1",
                NetworkPolicy::from_lookup(|n| {
                    (n == "HUSH_ALLOW_PRIVATE_NETWORKS").then(|| "1".into())
                })
                .unwrap(),
            ),
            (
                "HUSH_ALLOWED_NETWORKS=0.0.0.0/0,::/0",
                NetworkPolicy::allowing(everything.clone()),
            ),
            (
                "both",
                NetworkPolicy::allowing(everything).private_networks_allowed(),
            ),
        ]
    }

    #[test]
    fn every_cloud_metadata_endpoint_is_refused_in_every_spelling_under_every_policy() {
        let v4: Vec<Ipv4Addr> = [
            "169.254.169.254", // AWS, Azure, GCP, Oracle, OpenStack, DO, Hetzner, Huawei
            "169.254.170.2",   // AWS ECS task credentials
            "169.254.170.23",  // AWS EKS Pod Identity
            "168.63.129.16",   // Azure WireServer
            "100.100.100.200", // Alibaba Cloud
            "192.0.0.192",     // Oracle Cloud (legacy)
            "169.254.0.23",    // Tencent Cloud
        ]
        .iter()
        .map(|s| s.parse().unwrap())
        .collect();
        let mut cases: Vec<IpAddr> = v4.iter().flat_map(|a| spellings(*a)).collect();
        for v6 in [
            "fd00:ec2::254",
            "fd00:ec2::23",
            "fd00:ec2::253",
            "fd20:ce::254",
            "fe80::a9fe:a9fe",
        ] {
            cases.push(ip(v6));
        }
        for (name, policy) in every_policy() {
            for addr in &cases {
                assert_eq!(
                    forbidden(*addr),
                    Some(Reason::Metadata),
                    "{addr} is not classified as metadata"
                );
                let err = policy
                    .check(&addr.to_string(), *addr)
                    .expect_err(&format!("{addr} allowed under {name}"));
                assert_eq!(err.kind(), crate::error::ErrorKind::Denied);
                assert!(
                    err.message()
                        .contains("cloud metadata or credential endpoint")
                        && err.message().contains("no setting allows it"),
                    "{addr} under {name}: {err:?}"
                );
            }
        }
        // Each listed endpoint is refused by its own entry too (the table is the reference).
        for e in METADATA_ENDPOINTS {
            let addr = match e.net {
                Net::V4(a, _) => IpAddr::V4(Ipv4Addr::from(a)),
                Net::V6(a, _) => IpAddr::V6(a),
            };
            assert_eq!(forbidden(addr), Some(Reason::Metadata), "{}", e.what);
            assert!(e.source.starts_with("https://"), "{}", e.what);
        }
    }

    #[test]
    fn link_local_stays_closed_under_every_policy() {
        let mut cases = spellings("169.254.1.1".parse().unwrap());
        cases.extend(spellings("169.254.169.253".parse().unwrap()));
        cases.push(ip("fe80::1"));
        cases.push(ip("fe80::5efe:a9fe:101"));
        for (name, policy) in every_policy() {
            for addr in &cases {
                let err = policy
                    .check(&addr.to_string(), *addr)
                    .expect_err(&format!("{addr} allowed under {name}"));
                assert!(
                    err.message().contains("link-local"),
                    "{addr} under {name}: {err:?}"
                );
            }
        }
        // The same policies still open what they name.
        let open = NetworkPolicy::closed().private_networks_allowed();
        for addr in [
            "10.0.0.1",
            "127.0.0.1",
            "192.0.0.8",
            "100.64.0.1",
            "fd12::1",
        ] {
            open.check(addr, ip(addr)).unwrap();
        }
        NetworkPolicy::allowing(["0.0.0.0/0".parse().unwrap()])
            .check("10.0.0.1", ip("10.0.0.1"))
            .unwrap();
    }

    #[test]
    fn odd_ipv4_spellings_of_metadata_endpoints_in_urls_are_refused_under_every_policy() {
        for text in [
            "http://169.254.169.254/latest/meta-data/",
            "http://2852039166/",
            "http://0xa9.0xfe.0xa9.0xfe/",
            "http://0251.0376.0251.0376/",
            "http://169.254.43518/",
            "http://169.254.170.2/v2/credentials/",
            "http://2852039170/",
            "http://169.254.170.23/v1/credentials",
            "http://[fd00:ec2::23]/v1/credentials",
            "http://168.63.129.16/machine?comp=goalstate",
            "http://168.63.129.16:32526/vmSettings",
            "http://0xa83f8110/",
            "http://[::ffff:a83f:8110]/",
            "http://[64:ff9b::a9fe:aa02]/",
            "http://[2002:a9fe:aa17::]/",
            "http://100.100.100.200/latest/meta-data/",
            "http://192.0.0.192/latest/",
            "http://metadata.google.internal/computeMetadata/v1/",
            "http://METADATA.google.internal./computeMetadata/v1/",
            "http://metadata/computeMetadata/v1/",
            "http://metadata.tencentyun.com/latest/meta-data/",
            "http://instance-data/latest/meta-data/",
        ] {
            let url = url::Url::parse(text).unwrap();
            for (name, policy) in every_policy() {
                let err =
                    check_url(&policy, &url).expect_err(&format!("{text} allowed under {name}"));
                assert_eq!(err.kind(), crate::error::ErrorKind::Denied, "{text}");
                assert!(
                    err.message().contains("no setting allows it"),
                    "{text} under {name}: {err:?}"
                );
            }
        }
    }

    #[tokio::test]
    async fn the_resolver_refuses_metadata_host_names_before_resolving() {
        let open = NetworkPolicy::allowing(["0.0.0.0/0".parse().unwrap(), "::/0".parse().unwrap()])
            .private_networks_allowed();
        for host in [
            "metadata.google.internal",
            "metadata.tencentyun.com",
            "metadata",
        ] {
            let err = GuardedResolver::resolve_checked(&open, host)
                .await
                .unwrap_err();
            let refused = err
                .downcast_ref::<Refused>()
                .expect("a refusal, not a lookup failure");
            assert!(refused.0.message().contains("metadata"), "{refused}");
        }
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
