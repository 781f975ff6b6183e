//! A webhook receiver on 127.0.0.1: a small HTTP/1.1 server that answers
//! each request with the next scripted answer (or hangs, to time out the
//! sender), records what it received, and counts connections; and an
//! independent Standard Webhooks signature check (HMAC-SHA256 here, not
//! the application's code).

use std::sync::{Arc, Mutex};
use std::time::Duration;

use base64::Engine;
use base64::engine::general_purpose::STANDARD;
use hmac::{Hmac, Mac};
use sha2::Sha256;
use tokio::io::{AsyncReadExt, AsyncWriteExt};
use tokio::net::TcpListener;

/// One scripted answer.
#[derive(Debug, Clone)]
pub enum Answer {
    /// Status, extra header lines (`Name: value`), body.
    Status(u16, Vec<String>, String),
    /// Keep the connection open without answering for this long.
    Hang(Duration),
}

pub fn ok() -> Answer {
    Answer::Status(200, Vec::new(), "thanks".into())
}

pub fn status(code: u16) -> Answer {
    Answer::Status(code, Vec::new(), format!("status {code}"))
}

/// A received request.
#[derive(Debug, Clone)]
pub struct Received {
    pub path: String,
    pub headers: Vec<(String, String)>,
    pub body: String,
}

impl Received {
    pub fn header(&self, name: &str) -> Option<&str> {
        self.headers
            .iter()
            .find(|(n, _)| n.eq_ignore_ascii_case(name))
            .map(|(_, v)| v.as_str())
    }
}

#[derive(Debug, Default)]
struct State {
    script: Vec<Answer>,
    received: Vec<Received>,
    connections: usize,
}

/// The receiver; answers 200 once the script is used up.
#[derive(Debug, Clone)]
pub struct Receiver {
    pub port: u16,
    state: Arc<Mutex<State>>,
}

impl Receiver {
    pub async fn start(script: Vec<Answer>) -> Self {
        let listener = TcpListener::bind("127.0.0.1:0").await.expect("bind");
        let port = listener.local_addr().expect("addr").port();
        let state = Arc::new(Mutex::new(State {
            script,
            ..State::default()
        }));
        let shared = state.clone();
        tokio::spawn(async move {
            loop {
                let Ok((mut socket, _)) = listener.accept().await else {
                    return;
                };
                shared.lock().unwrap().connections += 1;
                let shared = shared.clone();
                tokio::spawn(async move {
                    let Some(received) = read_request(&mut socket).await else {
                        return;
                    };
                    let answer = {
                        let mut s = shared.lock().unwrap();
                        s.received.push(received);
                        if s.script.is_empty() {
                            ok()
                        } else {
                            s.script.remove(0)
                        }
                    };
                    match answer {
                        Answer::Hang(d) => tokio::time::sleep(d).await,
                        Answer::Status(code, headers, body) => {
                            let mut head = format!(
                                "HTTP/1.1 {code} X\r\nContent-Length: {}\r\nConnection: close\r\n",
                                body.len()
                            );
                            for h in headers {
                                head.push_str(&h);
                                head.push_str("\r\n");
                            }
                            head.push_str("\r\n");
                            let _ = socket.write_all(head.as_bytes()).await;
                            let _ = socket.write_all(body.as_bytes()).await;
                            let _ = socket.shutdown().await;
                        }
                    }
                });
            }
        });
        Self { port, state }
    }

    pub fn url(&self, path: &str) -> String {
        format!("http://127.0.0.1:{}{path}", self.port)
    }

    pub fn received(&self) -> Vec<Received> {
        self.state.lock().unwrap().received.clone()
    }

    pub fn connections(&self) -> usize {
        self.state.lock().unwrap().connections
    }

    /// Waits (up to 20 s) until `n` requests came; returns them.
    pub async fn wait_for(&self, n: usize) -> Vec<Received> {
        for _ in 0..400 {
            let got = self.received();
            if got.len() >= n {
                return got;
            }
            tokio::time::sleep(Duration::from_millis(50)).await;
        }
        panic!("expected {n} requests, got {:?}", self.received());
    }
}

async fn read_request(socket: &mut tokio::net::TcpStream) -> Option<Received> {
    let mut buf = Vec::new();
    let mut chunk = [0u8; 4096];
    let head_end = loop {
        let n = socket.read(&mut chunk).await.ok()?;
        if n == 0 {
            return None;
        }
        buf.extend_from_slice(&chunk[..n]);
        if let Some(i) = buf.windows(4).position(|w| w == b"\r\n\r\n") {
            break i;
        }
    };
    let head = String::from_utf8_lossy(&buf[..head_end]).to_string();
    let mut lines = head.split("\r\n");
    let path = lines.next()?.split(' ').nth(1)?.to_string();
    let headers: Vec<(String, String)> = lines
        .filter_map(|l| l.split_once(':'))
        .map(|(n, v)| (n.trim().to_string(), v.trim().to_string()))
        .collect();
    let length: usize = headers
        .iter()
        .find(|(n, _)| n.eq_ignore_ascii_case("content-length"))
        .and_then(|(_, v)| v.parse().ok())
        .unwrap_or(0);
    let mut body = buf[head_end + 4..].to_vec();
    while body.len() < length {
        let n = socket.read(&mut chunk).await.ok()?;
        if n == 0 {
            break;
        }
        body.extend_from_slice(&chunk[..n]);
    }
    Some(Received {
        path,
        headers,
        body: String::from_utf8_lossy(&body).to_string(),
    })
}

/// The Standard Webhooks signature of a message, computed here: `v1,` +
/// base64(HMAC-SHA256(base64-decoded secret after `whsec_`, "id.ts.body")).
pub fn expected_signature(secret: &str, id: &str, timestamp: &str, body: &str) -> String {
    let key = STANDARD
        .decode(secret.strip_prefix("whsec_").expect("whsec_ prefix"))
        .expect("base64 secret");
    let mut mac = Hmac::<Sha256>::new_from_slice(&key).unwrap();
    mac.update(format!("{id}.{timestamp}.{body}").as_bytes());
    format!("v1,{}", STANDARD.encode(mac.finalize().into_bytes()))
}

/// Whether a received request carries a valid signature made with `secret`
/// (among the space-separated ones), with a fresh timestamp.
pub fn signed_with(r: &Received, secret: &str) -> bool {
    let id = r.header("webhook-id").expect("webhook-id");
    let ts = r.header("webhook-timestamp").expect("webhook-timestamp");
    let sent: i64 = ts.parse().expect("numeric timestamp");
    let now = chrono::Utc::now().timestamp();
    assert!((now - sent).abs() < 300, "timestamp {sent} is not fresh");
    let want = expected_signature(secret, id, ts, &r.body);
    r.header("webhook-signature")
        .expect("webhook-signature")
        .split(' ')
        .any(|s| s == want)
}

/// The app with its own webhook worker polling fast, deliveries to
/// 127.0.0.1 allowed, and cheap sign-ups (many accounts per test).
pub async fn delivering_app(backend: crate::helpers::Backend) -> crate::helpers::TestApp {
    crate::helpers::spawn_app_with(backend, |s| {
        s.auth.argon2_memory_kib = 64;
        s.auth.argon2_iterations = 1;
        s.rate_limit.register_per_hour = 10_000;
        s.rate_limit.login_per_minute = 10_000;
        s.webhooks.allowed_insecure_hosts = vec!["127.0.0.1".into()];
        s.webhooks.poll_interval_ms = 20;
    })
    .await
    .expect("app")
}
