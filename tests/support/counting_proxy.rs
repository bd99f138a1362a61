//! An HTTP/1.1 reverse proxy for tests, on 127.0.0.1 in front of a real registry: it counts
//! the upload body bytes clients send (PATCH/PUT/POST to `/blobs/uploads/`), can hold a client
//! still once a number of bytes went through (so a test can kill it at a known point), and
//! either passes request bodies on as they arrive or, like nginx's default
//! `proxy_request_buffering on`, only once a request's body arrived whole.
//!
//! One request per connection (`Connection: close` upstream), which keeps it simple and is
//! what a client sees from many proxies anyway.
//!
//! Included by Rust integration tests with
//! `#[path = "../../../tests/support/counting_proxy.rs"] mod counting_proxy;`.
#![allow(dead_code)]

use std::io::{BufRead, BufReader, Read, Write};
use std::net::{Shutdown, TcpListener, TcpStream};
use std::sync::atomic::{AtomicBool, AtomicU64, Ordering};
use std::sync::Arc;
use std::time::Duration;

pub struct CountingProxy {
    pub port: u16,
    shared: Arc<Shared>,
}

struct Shared {
    upstream: u16,
    buffer_requests: bool,
    /// Upload body bytes read from clients.
    upload_bytes: AtomicU64,
    /// Once `upload_bytes` reaches this, clients are no longer read from.
    hold_at: AtomicU64,
    held: AtomicBool,
    /// Drop the held connection (both sides) without reading or forwarding more of it.
    cut: AtomicBool,
    stop: AtomicBool,
}

impl CountingProxy {
    pub fn start(upstream: u16, buffer_requests: bool) -> Self {
        let listener = TcpListener::bind("127.0.0.1:0").expect("proxy port");
        let port = listener.local_addr().unwrap().port();
        let shared = Arc::new(Shared {
            upstream,
            buffer_requests,
            upload_bytes: AtomicU64::new(0),
            hold_at: AtomicU64::new(u64::MAX),
            held: AtomicBool::new(false),
            cut: AtomicBool::new(false),
            stop: AtomicBool::new(false),
        });
        let accept = shared.clone();
        std::thread::spawn(move || {
            for stream in listener.incoming() {
                if accept.stop.load(Ordering::SeqCst) {
                    break;
                }
                let Ok(stream) = stream else { continue };
                let shared = accept.clone();
                std::thread::spawn(move || {
                    let _ = serve(stream, &shared);
                });
            }
        });
        CountingProxy { port, shared }
    }

    /// `127.0.0.1:PORT`, the registry part of references through the proxy.
    pub fn host(&self) -> String {
        format!("127.0.0.1:{}", self.port)
    }

    pub fn upload_bytes(&self) -> u64 {
        self.shared.upload_bytes.load(Ordering::SeqCst)
    }

    pub fn reset_count(&self) {
        self.shared.upload_bytes.store(0, Ordering::SeqCst);
    }

    /// Stop reading from clients once `bytes` upload bytes went through.
    pub fn hold_at(&self, bytes: u64) {
        self.shared.held.store(false, Ordering::SeqCst);
        self.shared.hold_at.store(bytes, Ordering::SeqCst);
    }

    /// Whether a client is being held.
    pub fn holding(&self) -> bool {
        self.shared.held.load(Ordering::SeqCst)
    }

    /// Breaks the held connection: what the client sent past the hold point is neither
    /// read nor forwarded, as when a network path fails mid-request.
    pub fn cut(&self) {
        self.shared.cut.store(true, Ordering::SeqCst);
        while self.shared.cut.load(Ordering::SeqCst) {
            std::thread::sleep(Duration::from_millis(2));
        }
    }

    pub fn release(&self) {
        self.shared.hold_at.store(u64::MAX, Ordering::SeqCst);
    }
}

impl Drop for CountingProxy {
    fn drop(&mut self) {
        self.release();
        self.shared.stop.store(true, Ordering::SeqCst);
        let _ = TcpStream::connect(("127.0.0.1", self.port));
    }
}

fn serve(client: TcpStream, shared: &Shared) -> std::io::Result<()> {
    client.set_read_timeout(Some(Duration::from_secs(60)))?;
    let mut reader = BufReader::new(client.try_clone()?);
    // A TLS ClientHello (clients try HTTPS first on loopback): this proxy speaks plain HTTP,
    // so hang up at once, as a plain-HTTP server's refusal would.
    if reader.fill_buf()?.first() == Some(&0x16) {
        return Ok(());
    }
    let mut head = Vec::new();
    loop {
        let mut line = Vec::new();
        if reader.read_until(b'\n', &mut line)? == 0 {
            return Ok(());
        }
        let end = line == b"\r\n";
        head.push(line);
        if end {
            break;
        }
    }
    let request_line = String::from_utf8_lossy(&head[0]).to_string();
    let mut parts = request_line.split_whitespace();
    let method = parts.next().unwrap_or("").to_string();
    let target = parts.next().unwrap_or("").to_string();
    let mut length = 0u64;
    let mut out_head = Vec::new();
    for line in &head {
        let text = String::from_utf8_lossy(line);
        let lower = text.to_ascii_lowercase();
        if let Some(value) = lower.strip_prefix("content-length:") {
            length = value.trim().parse().unwrap_or(0);
        }
        assert!(
            !lower.starts_with("transfer-encoding:"),
            "the counting proxy handles only Content-Length bodies: {text}"
        );
        if lower.starts_with("connection:") {
            continue;
        }
        if line == b"\r\n" {
            out_head.extend_from_slice(b"Connection: close\r\n");
        }
        out_head.extend_from_slice(line);
    }
    let counted =
        matches!(method.as_str(), "PATCH" | "PUT" | "POST") && target.contains("/blobs/uploads/");
    let mut upstream = TcpStream::connect(("127.0.0.1", shared.upstream))?;
    let mut body = Vec::new();
    if !shared.buffer_requests {
        upstream.write_all(&out_head)?;
    }
    let mut remaining = length;
    let mut piece = vec![0u8; 64 * 1024];
    while remaining > 0 {
        while counted
            && shared.upload_bytes.load(Ordering::SeqCst) >= shared.hold_at.load(Ordering::SeqCst)
        {
            shared.held.store(true, Ordering::SeqCst);
            if shared.cut.swap(false, Ordering::SeqCst) {
                let _ = upstream.shutdown(Shutdown::Both);
                let _ = reader.get_ref().shutdown(Shutdown::Both);
                return Ok(());
            }
            std::thread::sleep(Duration::from_millis(5));
        }
        let want = remaining.min(piece.len() as u64) as usize;
        let n = reader.read(&mut piece[..want])?;
        if n == 0 {
            // The client went away mid-body: a buffering proxy forwards nothing of it, a
            // streaming one has passed on what came.
            let _ = upstream.shutdown(Shutdown::Both);
            return Ok(());
        }
        if counted {
            shared.upload_bytes.fetch_add(n as u64, Ordering::SeqCst);
        }
        remaining -= n as u64;
        if shared.buffer_requests {
            body.extend_from_slice(&piece[..n]);
        } else {
            upstream.write_all(&piece[..n])?;
        }
    }
    if shared.buffer_requests {
        upstream.write_all(&out_head)?;
        upstream.write_all(&body)?;
    }
    let mut client = client;
    std::io::copy(&mut upstream, &mut client)?;
    let _ = client.shutdown(Shutdown::Both);
    Ok(())
}
