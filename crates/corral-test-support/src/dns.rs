//! A tiny, slow DNS server on 127.0.0.1 and a blocking client for it.
//!
//! Shared by corral-blocking's tests, the `corral_blocking` bench and the `dns_storm`
//! example. Resolving through libc `getaddrinfo` cannot be pointed
//! at this server without root (that needs a private `/etc/resolv.conf`), so the storm
//! injects [`lookup`] into the resolver instead: it sends a real DNS query over UDP and
//! blocks its thread until the answer arrives, just as `getaddrinfo` does.
//!
//! The server answers every A query with one address in 127.1.0.0/16 derived from the
//! name (never contacted, only returned), answers names under `.invalid` with NXDOMAIN,
//! and sends each answer `delay` after the query arrived. Hand-built packets, no deps.

use std::io;
use std::net::{IpAddr, Ipv4Addr, SocketAddr, UdpSocket};
use std::sync::atomic::{AtomicBool, AtomicU16, AtomicU64, Ordering};
use std::sync::{mpsc, Arc};
use std::thread::JoinHandle;
use std::time::{Duration, Instant};

/// A DNS server on 127.0.0.1 that answers after a fixed delay. Stops when dropped.
#[derive(Debug)]
pub struct SlowDnsServer {
    addr: SocketAddr,
    queries: Arc<AtomicU64>,
    stop: Arc<AtomicBool>,
    threads: Vec<JoinHandle<()>>,
}

impl SlowDnsServer {
    /// Starts the server on an ephemeral loopback port.
    pub fn start(delay: Duration) -> io::Result<Self> {
        let socket = UdpSocket::bind("127.0.0.1:0")?;
        socket.set_read_timeout(Some(Duration::from_millis(20)))?;
        let addr = socket.local_addr()?;
        let sender = socket.try_clone()?;
        let queries = Arc::new(AtomicU64::new(0));
        let stop = Arc::new(AtomicBool::new(false));
        let (tx, rx) = mpsc::channel::<(Instant, Vec<u8>, SocketAddr)>();

        // Receiver: parse each query and hand its answer, due `delay` from now, to the
        // sender. The delay is constant, so due times arrive in order.
        let receiver = {
            let (queries, stop) = (queries.clone(), stop.clone());
            std::thread::Builder::new()
                .name("dns-server-rx".into())
                .spawn(move || {
                    let mut buf = [0u8; 512];
                    // Relaxed: `stop` is a flag; the join in `drop` is the edge that matters.
                    while !stop.load(Ordering::Relaxed) {
                        let (len, from) = match socket.recv_from(&mut buf) {
                            Ok(got) => got,
                            Err(_) => continue, // read timeout: check `stop`
                        };
                        // Relaxed: a counter read after the answers it counts arrived.
                        queries.fetch_add(1, Ordering::Relaxed);
                        if let Some(answer) = answer(&buf[..len]) {
                            if tx.send((Instant::now() + delay, answer, from)).is_err() {
                                break;
                            }
                        }
                    }
                })?
        };
        let sender = std::thread::Builder::new()
            .name("dns-server-tx".into())
            .spawn(move || {
                for (due, answer, to) in rx {
                    let now = Instant::now();
                    if due > now {
                        std::thread::sleep(due - now);
                    }
                    let _ = sender.send_to(&answer, to);
                }
            })?;
        Ok(SlowDnsServer {
            addr,
            queries,
            stop,
            threads: vec![receiver, sender],
        })
    }

    /// Where the server listens.
    pub fn addr(&self) -> SocketAddr {
        self.addr
    }

    /// How many queries it has received so far.
    pub fn queries(&self) -> u64 {
        // Relaxed: a statistic; callers read it after receiving the answers.
        self.queries.load(Ordering::Relaxed)
    }
}

impl Drop for SlowDnsServer {
    fn drop(&mut self) {
        // Relaxed: the receiver polls the flag; the joins below wait for it to see it.
        self.stop.store(true, Ordering::Relaxed);
        for thread in self.threads.drain(..) {
            let _ = thread.join();
        }
    }
}

/// The address the server gives `name`: 127.1.x.y from a hash of the name.
pub fn address_for(name: &str) -> Ipv4Addr {
    let hash = name
        .bytes()
        .fold(0u32, |h, b| h.wrapping_mul(31).wrapping_add(u32::from(b)));
    Ipv4Addr::new(127, 1, (hash >> 8) as u8, hash as u8)
}

/// Builds the answer to one query, or `None` for a packet that is not a query.
fn answer(query: &[u8]) -> Option<Vec<u8>> {
    if query.len() < 12 || query[2] & 0x80 != 0 {
        return None;
    }
    let (name, end) = read_name(query, 12)?;
    let question_end = end + 4; // QTYPE + QCLASS
    if query.len() < question_end {
        return None;
    }
    let qtype = u16::from_be_bytes([query[end], query[end + 1]]);
    let mut out = Vec::with_capacity(question_end + 16);
    out.extend_from_slice(&query[0..2]); // ID
    let rd = query[2] & 0x01;
    out.push(0x80 | 0x04 | rd); // QR, AA, RD copied
    let nxdomain = name.ends_with(".invalid") || name == "invalid";
    out.push(0x80 | if nxdomain { 3 } else { 0 }); // RA, RCODE
    out.extend_from_slice(&[0, 1]); // QDCOUNT
    let answers = u16::from(!nxdomain && qtype == 1);
    out.extend_from_slice(&answers.to_be_bytes()); // ANCOUNT
    out.extend_from_slice(&[0, 0, 0, 0]); // NSCOUNT, ARCOUNT
    out.extend_from_slice(&query[12..question_end]);
    if answers == 1 {
        out.extend_from_slice(&[0xC0, 0x0C]); // name: pointer to the question
        out.extend_from_slice(&[0, 1, 0, 1]); // TYPE A, CLASS IN
        out.extend_from_slice(&60u32.to_be_bytes()); // TTL
        out.extend_from_slice(&[0, 4]);
        out.extend_from_slice(&address_for(&name).octets());
    }
    Some(out)
}

/// Reads a (possibly compressed) name at `at`; returns it and the offset after it.
fn read_name(packet: &[u8], mut at: usize) -> Option<(String, usize)> {
    let mut labels: Vec<String> = Vec::new();
    let mut end = None;
    for _ in 0..128 {
        let len = *packet.get(at)? as usize;
        if len & 0xC0 == 0xC0 {
            let target = ((len & 0x3F) << 8) | *packet.get(at + 1)? as usize;
            end.get_or_insert(at + 2);
            at = target;
            continue;
        }
        if len == 0 {
            return Some((labels.join("."), end.unwrap_or(at + 1)));
        }
        let label = packet.get(at + 1..at + 1 + len)?;
        labels.push(String::from_utf8_lossy(label).to_ascii_lowercase());
        at += 1 + len;
    }
    None
}

/// Resolves `name` to its A records by asking the DNS server at `server` over UDP,
/// blocking the calling thread until the answer arrives (like `getaddrinfo`). Waits
/// 2 s per try and tries 3 times, as a stub resolver would.
///
/// Errors: `NotFound` for NXDOMAIN or no A record, `TimedOut` after the last try.
pub fn lookup(server: SocketAddr, name: &str) -> io::Result<Vec<IpAddr>> {
    static NEXT_ID: AtomicU16 = AtomicU16::new(1);
    // Relaxed: only uniqueness matters, no data is published through the id.
    let id = NEXT_ID.fetch_add(1, Ordering::Relaxed);
    let mut query = Vec::with_capacity(18 + name.len());
    query.extend_from_slice(&id.to_be_bytes());
    query.extend_from_slice(&[0x01, 0x00]); // RD
    query.extend_from_slice(&[0, 1, 0, 0, 0, 0, 0, 0]); // QDCOUNT = 1
    for label in name.trim_end_matches('.').split('.') {
        if label.is_empty() || label.len() > 63 {
            return Err(io::Error::new(io::ErrorKind::InvalidInput, "invalid name"));
        }
        query.push(label.len() as u8);
        query.extend_from_slice(label.as_bytes());
    }
    query.push(0);
    query.extend_from_slice(&[0, 1, 0, 1]); // QTYPE A, QCLASS IN

    let socket = UdpSocket::bind("127.0.0.1:0")?;
    socket.set_read_timeout(Some(Duration::from_secs(2)))?;
    let mut buf = [0u8; 512];
    for _ in 0..3 {
        socket.send_to(&query, server)?;
        loop {
            let (len, _) = match socket.recv_from(&mut buf) {
                Ok(got) => got,
                Err(err)
                    if matches!(
                        err.kind(),
                        io::ErrorKind::WouldBlock | io::ErrorKind::TimedOut
                    ) =>
                {
                    break; // this try timed out: send again
                }
                Err(err) => return Err(err),
            };
            if len < 12 || buf[0..2] != id.to_be_bytes() {
                continue; // a late answer to an earlier try, or junk
            }
            return parse_answer(&buf[..len], name);
        }
    }
    Err(io::Error::new(
        io::ErrorKind::TimedOut,
        format!("no answer for {name}"),
    ))
}

fn parse_answer(packet: &[u8], name: &str) -> io::Result<Vec<IpAddr>> {
    let bad = || io::Error::new(io::ErrorKind::InvalidData, "malformed dns answer");
    let not_found = || io::Error::new(io::ErrorKind::NotFound, format!("no such host: {name}"));
    if packet[3] & 0x0F == 3 {
        return Err(not_found());
    }
    let ancount = u16::from_be_bytes([packet[6], packet[7]]);
    let (_, mut at) = read_name(packet, 12).ok_or_else(bad)?;
    at += 4;
    let mut addrs = Vec::new();
    for _ in 0..ancount {
        let (_, end) = read_name(packet, at).ok_or_else(bad)?;
        let fixed = packet.get(end..end + 10).ok_or_else(bad)?;
        let rtype = u16::from_be_bytes([fixed[0], fixed[1]]);
        let rdlen = u16::from_be_bytes([fixed[8], fixed[9]]) as usize;
        let rdata = packet.get(end + 10..end + 10 + rdlen).ok_or_else(bad)?;
        if rtype == 1 && rdlen == 4 {
            addrs.push(IpAddr::V4(Ipv4Addr::new(
                rdata[0], rdata[1], rdata[2], rdata[3],
            )));
        }
        at = end + 10 + rdlen;
    }
    if addrs.is_empty() {
        return Err(not_found());
    }
    Ok(addrs)
}

#[cfg(all(test, not(corral_loom)))]
mod tests {
    use super::*;

    #[test]
    fn answers_a_names_with_their_address_and_invalid_names_with_nxdomain() {
        let server = SlowDnsServer::start(Duration::ZERO).unwrap();
        assert_eq!(
            lookup(server.addr(), "db.example.test").unwrap(),
            vec![IpAddr::V4(address_for("db.example.test"))]
        );
        let err = lookup(server.addr(), "nowhere.invalid").unwrap_err();
        assert_eq!(err.kind(), io::ErrorKind::NotFound);
        assert_eq!(server.queries(), 2);
        let err = lookup(server.addr(), "bad..name").unwrap_err();
        assert_eq!(err.kind(), io::ErrorKind::InvalidInput);
    }
}
