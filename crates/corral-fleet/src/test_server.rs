//! A throwaway `redis-server` on a free loopback port, for this crate's tests, the
//! bench and the tour. Not part of the API (hidden from the docs).

use std::io::{Read as _, Write as _};
use std::net::{TcpListener, TcpStream};
use std::process::{Child, Command, Stdio};
use std::time::{Duration, Instant};

/// A `redis-server` child process (no persistence), killed on drop.
#[derive(Debug)]
pub struct RedisServer {
    child: Option<Child>,
    port: u16,
}

impl RedisServer {
    /// Starts `redis-server` on a free 127.0.0.1 port and waits until it answers.
    ///
    /// # Errors
    ///
    /// A clear message if `redis-server` is not installed or does not come up.
    pub fn start() -> Result<RedisServer, String> {
        // Another process may take the free port before the server binds it; then the
        // server exits and we try another port.
        let mut last = String::new();
        for _ in 0..5 {
            let mut server = RedisServer {
                child: None,
                port: free_port()?,
            };
            match server.spawn() {
                Ok(()) => return Ok(server),
                Err(err) => last = err,
            }
        }
        Err(last)
    }

    /// Whether `redis-server` is on `PATH`.
    pub fn available() -> bool {
        Command::new("redis-server")
            .arg("--version")
            .stdout(Stdio::null())
            .stderr(Stdio::null())
            .status()
            .is_ok_and(|s| s.success())
    }

    fn spawn(&mut self) -> Result<(), String> {
        let child = Command::new("redis-server")
            .args(["--port", &self.port.to_string()])
            .args(["--bind", "127.0.0.1", "--save", "", "--appendonly", "no"])
            .args(["--daemonize", "no", "--loglevel", "warning"])
            .stdin(Stdio::null())
            .stdout(Stdio::null())
            .stderr(Stdio::null())
            .spawn()
            .map_err(|e| {
                format!(
                    "cannot start redis-server ({e}); install it (Debian: apt-get install -y redis-server)"
                )
            })?;
        let pid = child.id();
        self.child = Some(child);
        let start = Instant::now();
        while start.elapsed() < Duration::from_secs(10) {
            if let Some(Ok(Some(status))) = self.child.as_mut().map(Child::try_wait) {
                self.child = None;
                return Err(format!(
                    "redis-server on port {} exited at start ({status})",
                    self.port
                ));
            }
            // Answering, and it is ours (not another test's server on a reused port).
            if self.ping()
                && self
                    .command("INFO server")
                    .is_ok_and(|info| info.contains(&format!("process_id:{pid}\r\n")))
            {
                return Ok(());
            }
            std::thread::sleep(Duration::from_millis(10));
        }
        self.stop();
        Err(format!(
            "redis-server on port {} did not answer PING within 10 s",
            self.port
        ))
    }

    fn ping(&self) -> bool {
        let Ok(mut s) = TcpStream::connect(("127.0.0.1", self.port)) else {
            return false;
        };
        let _ = s.set_read_timeout(Some(Duration::from_millis(500)));
        let mut buf = [0u8; 7];
        s.write_all(b"PING\r\n").is_ok() && s.read_exact(&mut buf).is_ok() && &buf == b"+PONG\r\n"
    }

    /// `redis://127.0.0.1:<port>/`.
    pub fn url(&self) -> String {
        format!("redis://127.0.0.1:{}/", self.port)
    }

    /// The port.
    pub fn port(&self) -> u16 {
        self.port
    }

    /// Kills the server (SIGKILL: it loses everything) without starting it again.
    pub fn stop(&mut self) {
        if let Some(mut child) = self.child.take() {
            let _ = child.kill();
            let _ = child.wait();
        }
    }

    /// Kills the server and starts a fresh one on the same port: every key is gone.
    ///
    /// # Errors
    ///
    /// As [`start`](Self::start).
    pub fn restart(&mut self) -> Result<(), String> {
        self.stop();
        self.spawn()
    }

    /// Sends one command in Redis's inline form and returns the raw reply.
    ///
    /// # Errors
    ///
    /// An I/O error's message.
    pub fn command(&self, line: &str) -> Result<String, String> {
        let mut s = TcpStream::connect(("127.0.0.1", self.port)).map_err(|e| e.to_string())?;
        s.set_read_timeout(Some(Duration::from_secs(2)))
            .map_err(|e| e.to_string())?;
        s.write_all(format!("{line}\r\n").as_bytes())
            .map_err(|e| e.to_string())?;
        // A reply is one line, or a bulk string: `$<len>\r\n<len bytes>\r\n`.
        let mut out = Vec::new();
        let mut buf = [0u8; 4096];
        loop {
            let n = s.read(&mut buf).map_err(|e| e.to_string())?;
            if n == 0 {
                break;
            }
            out.extend_from_slice(&buf[..n]);
            let Some(eol) = out.windows(2).position(|w| w == b"\r\n") else {
                continue;
            };
            let want = match out.strip_prefix(b"$") {
                Some(rest) => {
                    let len: usize = String::from_utf8_lossy(&rest[..eol - 1])
                        .parse()
                        .unwrap_or(0);
                    eol + 2 + len + 2
                }
                None => eol + 2,
            };
            if out.len() >= want {
                break;
            }
        }
        Ok(String::from_utf8_lossy(&out).into_owned())
    }

    /// The server's `total_commands_processed` (from `INFO stats`), for counting round
    /// trips. The `INFO` call itself is one command.
    ///
    /// # Errors
    ///
    /// An I/O error's message, or a reply without the field.
    pub fn commands_processed(&self) -> Result<u64, String> {
        let info = self.command("INFO stats")?;
        info.lines()
            .find_map(|l| l.strip_prefix("total_commands_processed:"))
            .and_then(|v| v.trim().parse().ok())
            .ok_or_else(|| "no total_commands_processed in INFO stats".to_owned())
    }
}

impl Drop for RedisServer {
    fn drop(&mut self) {
        self.stop();
    }
}

fn free_port() -> Result<u16, String> {
    let listener = TcpListener::bind("127.0.0.1:0").map_err(|e| e.to_string())?;
    let port = listener.local_addr().map_err(|e| e.to_string())?.port();
    drop(listener);
    Ok(port)
}
