//! [`ToHostPort`]: the `tokio::net::lookup_host`-style inputs (`"host:port"`,
//! `(host, port)`, socket addresses).

use std::io;
use std::net::{IpAddr, Ipv4Addr, Ipv6Addr, SocketAddr, SocketAddrV4, SocketAddrV6, ToSocketAddrs};

/// The socket address of `host` and `port` when `host` is an IP literal, which needs
/// no lookup: `"127.0.0.1"`, `"::1"`, `"[::1]"`, or an IPv6 literal with a numeric zone
/// (`"fe80::1%2"`, `"[fe80::1%2]"`), whose zone is the scope id, as std's
/// `SocketAddrV6` parser reads `"[fe80::1%2]:80"`. A zone given by interface name
/// (`"fe80::1%eth0"`) is not a literal here.
pub(super) fn literal(host: &str, port: u16) -> Option<SocketAddr> {
    let host = host
        .strip_prefix('[')
        .and_then(|h| h.strip_suffix(']'))
        .unwrap_or(host);
    if let Ok(ip) = host.parse::<IpAddr>() {
        return Some(SocketAddr::new(ip, port));
    }
    let (ip, zone) = host.split_once('%')?;
    let ip = ip.parse::<Ipv6Addr>().ok()?;
    let scope_id = zone.parse::<u32>().ok()?;
    Some(SocketAddr::V6(SocketAddrV6::new(ip, port, 0, scope_id)))
}

/// `host` without its brackets when it is an IPv6 literal with a zone given by
/// interface name (`"fe80::1%eth0"`, `"[fe80::1%eth0]"`): not a name to look up, but
/// its zone needs the OS to map the interface name to an index ([`scoped`]).
pub(super) fn named_zone(host: &str) -> Option<&str> {
    let host = host
        .strip_prefix('[')
        .and_then(|h| h.strip_suffix(']'))
        .unwrap_or(host);
    let (ip, zone) = host.split_once('%')?;
    let named = !zone.is_empty() && zone.parse::<u32>().is_err();
    (named && ip.parse::<Ipv6Addr>().is_ok()).then_some(host)
}

/// The address and scope id of a [`named_zone`] literal, through std's
/// `ToSocketAddrs` (libc `getaddrinfo`, which maps the interface name to its index
/// without a DNS query), as `tokio::net::lookup_host` gets them.
///
/// # Blocking
///
/// Blocks on `getaddrinfo`; the resolver runs it on its pool.
pub(super) fn scoped(host: &str) -> io::Result<(Vec<IpAddr>, u32)> {
    for addr in (host, 0).to_socket_addrs()? {
        if let SocketAddr::V6(v6) = addr {
            return Ok((vec![IpAddr::V6(*v6.ip())], v6.scope_id()));
        }
    }
    Ok((Vec::new(), 0))
}

/// What a lookup is for: a name (or IP literal) and a port.
#[derive(Debug, Clone, Copy)]
pub enum Target<'a> {
    /// An address that needs no lookup.
    Addr(SocketAddr),
    /// A host (name or IP literal, `[v6]` allowed) and a port.
    HostPort(&'a str, u16),
}

/// Inputs [`lookup_host`](crate::lookup_host) and
/// [`Resolver::lookup`](crate::Resolver::lookup) accept: the same shapes as
/// `tokio::net::lookup_host`'s `ToSocketAddrs`, so replacing the import is the migration.
///
/// Implemented for `"host:port"` strings (`&str`, `String`; `"[::1]:443"` for IPv6
/// literals), `(host, port)` tuples (`(&str, u16)`, `(String, u16)`), [`SocketAddr`],
/// [`SocketAddrV4`], [`SocketAddrV6`], `(IpAddr, u16)`, `(Ipv4Addr, u16)`,
/// `(Ipv6Addr, u16)`, and references to any of these. Sealed: it cannot be implemented
/// outside this crate.
pub trait ToHostPort: sealed::Sealed {
    /// The host and port, or `Err` with the input when it is not `"host:port"`.
    #[doc(hidden)]
    fn to_target(&self) -> Result<Target<'_>, String>;
}

mod sealed {
    pub trait Sealed {}
}

impl sealed::Sealed for str {}
impl ToHostPort for str {
    fn to_target(&self) -> Result<Target<'_>, String> {
        // As std and tokio: a socket address literal first, then "host:port" split at
        // the last colon.
        if let Ok(addr) = self.parse::<SocketAddr>() {
            return Ok(Target::Addr(addr));
        }
        let (host, port) = self.rsplit_once(':').ok_or_else(|| self.to_owned())?;
        let port = port.parse::<u16>().map_err(|_| self.to_owned())?;
        Ok(Target::HostPort(host, port))
    }
}

impl sealed::Sealed for String {}
impl ToHostPort for String {
    fn to_target(&self) -> Result<Target<'_>, String> {
        self.as_str().to_target()
    }
}

impl sealed::Sealed for (&str, u16) {}
impl ToHostPort for (&str, u16) {
    fn to_target(&self) -> Result<Target<'_>, String> {
        Ok(Target::HostPort(self.0, self.1))
    }
}

impl sealed::Sealed for (String, u16) {}
impl ToHostPort for (String, u16) {
    fn to_target(&self) -> Result<Target<'_>, String> {
        Ok(Target::HostPort(&self.0, self.1))
    }
}

macro_rules! addr_targets {
    ($($ty:ty => |$v:ident| $addr:expr;)*) => {$(
        impl sealed::Sealed for $ty {}
        impl ToHostPort for $ty {
            fn to_target(&self) -> Result<Target<'_>, String> {
                let $v = self;
                Ok(Target::Addr($addr))
            }
        }
    )*};
}

addr_targets! {
    SocketAddr => |a| *a;
    SocketAddrV4 => |a| SocketAddr::V4(*a);
    SocketAddrV6 => |a| SocketAddr::V6(*a);
    (IpAddr, u16) => |a| SocketAddr::new(a.0, a.1);
    (Ipv4Addr, u16) => |a| SocketAddr::new(IpAddr::V4(a.0), a.1);
    (Ipv6Addr, u16) => |a| SocketAddr::new(IpAddr::V6(a.0), a.1);
}

impl<T: ToHostPort + ?Sized> sealed::Sealed for &T {}
impl<T: ToHostPort + ?Sized> ToHostPort for &T {
    fn to_target(&self) -> Result<Target<'_>, String> {
        (**self).to_target()
    }
}
