//! Where the server listens: a Prometheus-style listen address (`--web.listen-address`), where
//! `:PORT` listens on every interface of both address families.

use tokio::net::TcpListener;

/// Where to listen, from a Prometheus-style listen address.
#[derive(Debug, Clone, PartialEq, Eq)]
pub enum ListenAddress {
    /// `:PORT`: every interface of both address families.
    EveryInterface(u16),
    /// Anything else, as `TcpListener::bind` takes it (`127.0.0.1:9871`, `[::1]:9871`,
    /// `localhost:9871`).
    Given(String),
}

impl ListenAddress {
    /// Reads `--web.listen-address`.
    pub fn parse(listen: &str) -> std::io::Result<ListenAddress> {
        match listen.strip_prefix(':') {
            Some(port) => port
                .parse()
                .map(ListenAddress::EveryInterface)
                .map_err(|_| {
                    std::io::Error::new(
                        std::io::ErrorKind::InvalidInput,
                        format!("{port:?} is not a port number (0 to 65535)"),
                    )
                }),
            None => Ok(ListenAddress::Given(listen.to_owned())),
        }
    }
}

/// Listens on a Prometheus-style address. `:PORT` binds `[::]:PORT` with `IPV6_V6ONLY` off, so
/// that IPv4 and IPv6 clients both get in (as Go's exporters do), or `0.0.0.0:PORT` when the
/// machine has no IPv6. Other addresses are bound as given.
pub async fn listen(listen: &str) -> std::io::Result<TcpListener> {
    match ListenAddress::parse(listen)? {
        ListenAddress::Given(address) => {
            // As `TcpListener::bind` does: the first address the name resolves to that binds.
            let mut last = None;
            for address in tokio::net::lookup_host(address).await? {
                match bind(address, false) {
                    Ok(listener) => return Ok(listener),
                    Err(e) => last = Some(e),
                }
            }
            Err(last.unwrap_or_else(|| {
                std::io::Error::new(
                    std::io::ErrorKind::InvalidInput,
                    "the address resolves to nothing",
                )
            }))
        }
        ListenAddress::EveryInterface(port) => {
            let every = std::net::SocketAddr::from((std::net::Ipv6Addr::UNSPECIFIED, port));
            match bind(every, true) {
                Ok(listener) => Ok(listener),
                Err(e) if ipv6_unavailable(&e) => {
                    tracing::info!(error = %e, "no IPv6 here; listening on IPv4 only");
                    bind((std::net::Ipv4Addr::UNSPECIFIED, port).into(), false)
                }
                Err(e) => Err(e),
            }
        }
    }
}

/// Connections the kernel keeps waiting to be accepted (capped by `net.core.somaxconn`): room
/// for a burst of a thousand, so that a scrape's connection is not dropped (and retried by its
/// client only a second later) while the server refuses a crowd.
const BACKLOG: i32 = 4096;

/// A listener on `address`; on `[::]`, with `dual_stack`, one that accepts IPv4 too (as
/// IPv4-mapped IPv6 addresses).
fn bind(address: std::net::SocketAddr, dual_stack: bool) -> std::io::Result<TcpListener> {
    use socket2::{Domain, Protocol, Socket, Type};
    let socket = Socket::new(
        Domain::for_address(address),
        Type::STREAM,
        Some(Protocol::TCP),
    )?;
    if dual_stack {
        socket.set_only_v6(false)?;
    }
    // As `TcpListener::bind` does: a restart may bind while old connections are in TIME_WAIT.
    #[cfg(unix)]
    socket.set_reuse_address(true)?;
    socket.set_nonblocking(true)?;
    socket.bind(&address.into())?;
    socket.listen(BACKLOG)?;
    TcpListener::from_std(socket.into())
}

/// Whether binding `[::]` failed because the machine has no IPv6 (rather than, say, because the
/// port is taken, which IPv4 would not mend).
fn ipv6_unavailable(e: &std::io::Error) -> bool {
    !matches!(
        e.kind(),
        std::io::ErrorKind::AddrInUse | std::io::ErrorKind::PermissionDenied
    )
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn listen_addresses_follow_prometheus_conventions() {
        let given = |a: &str| Some(ListenAddress::Given(a.to_owned()));
        let cases = [
            (":9871", Some(ListenAddress::EveryInterface(9871))),
            (":0", Some(ListenAddress::EveryInterface(0))),
            ("127.0.0.1:9871", given("127.0.0.1:9871")),
            ("0.0.0.0:9871", given("0.0.0.0:9871")),
            ("[::1]:9871", given("[::1]:9871")),
            ("[::]:9871", given("[::]:9871")),
            ("localhost:9871", given("localhost:9871")),
            (":http", None),
            (":65536", None),
            (":", None),
        ];
        for (listen, expected) in cases {
            assert_eq!(ListenAddress::parse(listen).ok(), expected, "{listen:?}");
        }
    }

    #[test]
    #[cfg(target_os = "linux")]
    fn only_a_missing_ipv6_falls_back_to_ipv4() {
        use std::io::{Error, ErrorKind};
        let cases = [
            (Error::from_raw_os_error(97), true), // EAFNOSUPPORT: no IPv6 in the kernel
            (Error::from_raw_os_error(99), true), // EADDRNOTAVAIL: IPv6 disabled
            (Error::from(ErrorKind::AddrInUse), false),
            (Error::from(ErrorKind::PermissionDenied), false),
        ];
        for (error, falls_back) in cases {
            assert_eq!(ipv6_unavailable(&error), falls_back, "{error}");
        }
    }
}
