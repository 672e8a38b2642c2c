//! The guard in front of user-given endpoints. A user's URL is resolved before any
//! connection, through a resolver that tests control; it is refused when any
//! address is not globally routable (loopback only with the operator's opt-in);
//! and the call then connects to exactly the addresses that were checked, so a
//! second resolution (DNS rebinding) cannot send it elsewhere.

use std::fmt;
use std::future::Future;
use std::io;
use std::net::{IpAddr, Ipv4Addr, Ipv6Addr, SocketAddr, ToSocketAddrs};
use std::pin::Pin;

use reqwest::dns::{Addrs, Name, Resolve, Resolving};
use reqwest::Url;

/// What a resolution gives: the addresses of a host name.
pub type Resolution<'a> = Pin<Box<dyn Future<Output = io::Result<Vec<IpAddr>>> + Send + 'a>>;

/// Resolves host names. The system's resolver in production; tests give their own.
pub trait HostResolver: Send + Sync + fmt::Debug {
    /// The addresses of `host` (a DNS name, never an IP literal).
    fn resolve<'a>(&'a self, host: &'a str) -> Resolution<'a>;
}

/// The system's resolver (`getaddrinfo`), on a blocking thread.
#[derive(Debug, Default, Clone, Copy)]
pub struct SystemResolver;

impl HostResolver for SystemResolver {
    fn resolve<'a>(&'a self, host: &'a str) -> Resolution<'a> {
        let host = host.to_owned();
        Box::pin(async move {
            tokio::task::spawn_blocking(move || {
                (host.as_str(), 0)
                    .to_socket_addrs()
                    .map(|addrs| addrs.map(|a| a.ip()).collect())
            })
            .await
            .map_err(io::Error::other)?
        })
    }
}

/// Where an address leads, as far as the guard cares.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub enum AddressClass {
    /// Globally routable unicast: allowed.
    Global,
    /// This machine (127/8, ::1): allowed only with the operator's opt-in.
    Loopback,
    /// Private networks (10/8, 172.16/12, 192.168/16, fc00::/7, fec0::/10).
    Private,
    /// Link-local (169.254/16, where the instance metadata service lives; fe80::/10).
    LinkLocal,
    /// Carrier-grade NAT space (100.64/10).
    SharedAddressSpace,
    /// Multicast (224/4, ff00::/8).
    Multicast,
    /// Unspecified or "this network" (0/8, ::), which connects to this machine.
    Unspecified,
    /// The limited broadcast address.
    Broadcast,
    /// Documentation ranges (192.0.2/24, 198.51.100/24, 203.0.113/24, 2001:db8::/32, 3fff::/20).
    Documentation,
    /// Benchmarking (198.18/15).
    Benchmarking,
    /// Reserved or special-purpose otherwise (240/4, 192.0.0/24, 2001::/23, ...).
    Reserved,
}

impl AddressClass {
    /// Whether this is the loopback class.
    pub fn is_loopback(self) -> bool {
        self == Self::Loopback
    }

    /// The class in words, for the refusal.
    pub fn describe(self) -> &'static str {
        match self {
            Self::Global => "a public address",
            Self::Loopback => "a loopback address",
            Self::Private => "a private network address",
            Self::LinkLocal => "a link-local address",
            Self::SharedAddressSpace => "a carrier-grade NAT address",
            Self::Multicast => "a multicast address",
            Self::Unspecified => "an unspecified address",
            Self::Broadcast => "the broadcast address",
            Self::Documentation => "a documentation address",
            Self::Benchmarking => "a benchmarking address",
            Self::Reserved => "a reserved address",
        }
    }
}

fn classify_v4(ip: Ipv4Addr) -> AddressClass {
    let [a, b, c, _] = ip.octets();
    match (a, b, c) {
        _ if ip == Ipv4Addr::BROADCAST => AddressClass::Broadcast,
        (0, _, _) => AddressClass::Unspecified,
        (127, _, _) => AddressClass::Loopback,
        (10, _, _) | (192, 168, _) => AddressClass::Private,
        (172, 16..=31, _) => AddressClass::Private,
        (100, 64..=127, _) => AddressClass::SharedAddressSpace,
        (169, 254, _) => AddressClass::LinkLocal,
        (192, 0, 2) | (198, 51, 100) | (203, 0, 113) => AddressClass::Documentation,
        (198, 18..=19, _) => AddressClass::Benchmarking,
        // IETF protocol assignments and the deprecated 6to4 relay anycast.
        (192, 0, 0) | (192, 88, 99) => AddressClass::Reserved,
        (224..=239, _, _) => AddressClass::Multicast,
        (240..=255, _, _) => AddressClass::Reserved,
        _ => AddressClass::Global,
    }
}

fn embedded_v4(high: u16, low: u16) -> Ipv4Addr {
    let [a, b] = high.to_be_bytes();
    let [c, d] = low.to_be_bytes();
    Ipv4Addr::new(a, b, c, d)
}

fn classify_v6(ip: Ipv6Addr) -> AddressClass {
    if ip.is_unspecified() {
        return AddressClass::Unspecified;
    }
    if ip.is_loopback() {
        return AddressClass::Loopback;
    }
    let s = ip.segments();
    // Forms that carry an IPv4 address lead where that address leads.
    let last_v4 = embedded_v4(s[6], s[7]);
    match s {
        // ::ffff:a.b.c.d (mapped), ::a.b.c.d (compatible), ::ffff:0:a.b.c.d (translated)
        [0, 0, 0, 0, 0, 0xffff, _, _]
        | [0, 0, 0, 0, 0, 0, _, _]
        | [0, 0, 0, 0, 0xffff, 0, _, _] => classify_v4(last_v4),
        // NAT64 well-known prefix 64:ff9b::/96 translates to the embedded address.
        [0x64, 0xff9b, 0, 0, 0, 0, _, _] => classify_v4(last_v4),
        // 6to4 2002:a.b.c.d::/48 tunnels to the embedded address.
        [0x2002, high, low, ..] => classify_v4(embedded_v4(high, low)),
        [0x2001, 0x0db8, ..] => AddressClass::Documentation,
        [0x3fff, second, ..] if second < 0x1000 => AddressClass::Documentation,
        // Local-use NAT64, discard-only, IETF protocol assignments (incl. Teredo), SRv6.
        [0x64, 0xff9b, 1, ..] | [0x100, 0, 0, 0, ..] | [0x5f00, ..] => AddressClass::Reserved,
        [0x2001, second, ..] if second < 0x200 => AddressClass::Reserved,
        [first, ..] if first & 0xfe00 == 0xfc00 => AddressClass::Private,
        [first, ..] if first & 0xffc0 == 0xfe80 => AddressClass::LinkLocal,
        [first, ..] if first & 0xffc0 == 0xfec0 => AddressClass::Private,
        [first, ..] if first & 0xff00 == 0xff00 => AddressClass::Multicast,
        // Only 2000::/3 is allocated as global unicast.
        [first, ..] if first & 0xe000 == 0x2000 => AddressClass::Global,
        _ => AddressClass::Reserved,
    }
}

/// Where `ip` leads.
pub fn classify(ip: IpAddr) -> AddressClass {
    match ip {
        IpAddr::V4(v4) => classify_v4(v4),
        IpAddr::V6(v6) => classify_v6(v6),
    }
}

/// Why a user-given URL may not be called.
#[derive(Debug, Clone, PartialEq, Eq)]
pub enum GuardError {
    /// An address of the host is of a class the guard refuses.
    Refused(AddressClass),
    /// The URL is http but some address is not loopback.
    PlainHttpBeyondLoopback,
    /// The host name did not resolve (or to nothing).
    Unresolvable,
}

/// A URL whose host was resolved and found safe, with the addresses to use.
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct CheckedTarget {
    host: String,
    addrs: Vec<SocketAddr>,
}

impl CheckedTarget {
    /// The addresses the call may connect to.
    pub fn addrs(&self) -> &[SocketAddr] {
        &self.addrs
    }
}

/// Resolves `url`'s host through `resolver` (IP literals are taken as they are)
/// and checks every address. Decided before any connection.
pub async fn check(
    url: &Url,
    allow_loopback: bool,
    resolver: &dyn HostResolver,
) -> Result<CheckedTarget, GuardError> {
    let Some(host) = url.host_str().filter(|h| !h.is_empty()) else {
        return Err(GuardError::Unresolvable);
    };
    // The URL parser has already normalised IP literals (`0x7f.1` is `127.0.0.1`,
    // IPv6 in brackets), so a literal is recognised here and never resolved.
    let literal = host
        .trim_start_matches('[')
        .trim_end_matches(']')
        .parse::<IpAddr>();
    let ips = match literal {
        Ok(ip) => vec![ip],
        Err(_) => resolver
            .resolve(host)
            .await
            .map_err(|_| GuardError::Unresolvable)?,
    };
    let host = host.to_ascii_lowercase();
    if ips.is_empty() {
        return Err(GuardError::Unresolvable);
    }
    for ip in &ips {
        match classify(*ip) {
            AddressClass::Global => {}
            AddressClass::Loopback if allow_loopback => {}
            class => return Err(GuardError::Refused(class)),
        }
    }
    if url.scheme() == "http" && !ips.iter().all(|ip| classify(*ip).is_loopback()) {
        return Err(GuardError::PlainHttpBeyondLoopback);
    }
    let port = url.port_or_known_default().unwrap_or(443);
    let addrs = ips
        .into_iter()
        .map(|ip| SocketAddr::new(ip, port))
        .collect();
    Ok(CheckedTarget { host, addrs })
}

/// The client's resolver for a checked target: the checked addresses for its host
/// and nothing for any other name.
#[derive(Debug)]
struct Pinned(CheckedTarget);

impl Resolve for Pinned {
    fn resolve(&self, name: Name) -> Resolving {
        let result = if name.as_str().eq_ignore_ascii_case(&self.0.host) {
            Ok(Box::new(self.0.addrs.clone().into_iter()) as Addrs)
        } else {
            Err("only the checked host may be called".into())
        };
        Box::pin(std::future::ready(result))
    }
}

/// A client that reaches `target` at its checked addresses only: its own resolver
/// answers with them, no proxy stands between, redirects stay off (the builder's).
pub fn pinned_client(
    builder: reqwest::ClientBuilder,
    target: CheckedTarget,
) -> reqwest::Result<reqwest::Client> {
    builder
        .no_proxy()
        .redirect(reqwest::redirect::Policy::none())
        .dns_resolver(Pinned(target))
        .build()
}

#[cfg(test)]
mod tests;
