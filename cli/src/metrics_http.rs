//! The node daemon's Prometheus endpoint (`--metrics-listen ADDR`, or
//! `metrics_listen` in rtr.toml): `GET /metrics` answers the node's
//! metrics in the text exposition format.
//!
//! A small blocking HTTP/1.1 responder on a thread of its own, one
//! connection at a time, each closed after its answer: a scraper asks once
//! every few seconds, so nothing more is needed, and no async runtime or web
//! framework comes into the node. Every read and write is bounded
//! ([`IO_WAIT`]), so a client that stalls holds the endpoint up for at most
//! that long; the request is read up to [`MAX_REQUEST`] bytes.

use std::io::{Read, Write};
use std::net::{TcpListener, TcpStream};
use std::sync::Arc;
use std::time::Duration;

use rtr_core::protocol::admin::{AdminReply, AdminRequest};
use rtr_core::runtime::EmbeddedNode;

/// Bound on each read and write of one connection.
const IO_WAIT: Duration = Duration::from_secs(5);
/// The request line and headers, at most.
const MAX_REQUEST: usize = 16 * 1024;

/// Serve `listener` on a thread of its own until the process ends.
pub fn spawn(listener: TcpListener, node: Arc<EmbeddedNode>) -> std::io::Result<()> {
    std::thread::Builder::new()
        .name("rtr-metrics-http".into())
        .spawn(move || {
            for conn in listener.incoming() {
                match conn {
                    Ok(s) => {
                        if let Err(e) = answer(s, &node) {
                            tracing::debug!(target: "rtr::daemon", "metrics endpoint: {e}");
                        }
                    }
                    Err(e) => tracing::warn!(target: "rtr::daemon", "metrics endpoint: accept failed: {e}"),
                }
            }
        })
        .map(drop)
}

/// Read one request (its head) and answer it.
fn answer(mut s: TcpStream, node: &EmbeddedNode) -> std::io::Result<()> {
    s.set_read_timeout(Some(IO_WAIT))?;
    s.set_write_timeout(Some(IO_WAIT))?;
    let mut head = Vec::new();
    let mut buf = [0u8; 2048];
    while !head.windows(4).any(|w| w == b"\r\n\r\n") && !head.windows(2).any(|w| w == b"\n\n") {
        let n = s.read(&mut buf)?;
        if n == 0 {
            break;
        }
        head.extend_from_slice(&buf[..n]);
        if head.len() > MAX_REQUEST {
            return respond(&mut s, "431 Request Header Fields Too Large", "text/plain", "request too large\n", true);
        }
    }
    let text = String::from_utf8_lossy(&head);
    let (status, body) = route(text.lines().next().unwrap_or(""), || metrics_text(node));
    let head_only = text.starts_with("HEAD ");
    respond(&mut s, status, CONTENT_TYPE, &body, !head_only)
}

/// What Prometheus expects for the text format.
const CONTENT_TYPE: &str = "text/plain; version=0.0.4; charset=utf-8";

/// The status and body for a request line; `metrics` makes the body of
/// `/metrics` (only called for it).
fn route(request_line: &str, metrics: impl FnOnce() -> Result<String, String>) -> (&'static str, String) {
    let mut parts = request_line.split_whitespace();
    let (method, target) = (parts.next().unwrap_or(""), parts.next().unwrap_or(""));
    let path = target.split('?').next().unwrap_or("");
    if method != "GET" && method != "HEAD" {
        return ("405 Method Not Allowed", "only GET and HEAD\n".into());
    }
    match path {
        "/metrics" => match metrics() {
            Ok(body) => ("200 OK", body),
            Err(e) => ("503 Service Unavailable", format!("{e}\n")),
        },
        "/" => ("200 OK", "rtr node: metrics at /metrics\n".into()),
        _ => ("404 Not Found", "not found: the metrics are at /metrics\n".into()),
    }
}

fn metrics_text(node: &EmbeddedNode) -> Result<String, String> {
    match node.admin(AdminRequest::ShowMetrics) {
        AdminReply::Metrics(m) => Ok(crate::metrics_view::prometheus(&m)),
        AdminReply::Failed(e) => Err(format!("%RTR-E-{}, {e}", e.code())),
        other => Err(format!("unexpected answer from the node: {other:?}")),
    }
}

fn respond(s: &mut TcpStream, status: &str, kind: &str, body: &str, with_body: bool) -> std::io::Result<()> {
    let mut out = format!(
        "HTTP/1.1 {status}\r\nContent-Type: {kind}\r\nContent-Length: {}\r\nConnection: close\r\n\r\n",
        body.len()
    )
    .into_bytes();
    if with_body {
        out.extend_from_slice(body.as_bytes());
    }
    s.write_all(&out)?;
    s.flush()
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn routes() {
        let ok = || Ok("m 1\n".to_string());
        assert_eq!(route("GET /metrics HTTP/1.1", ok), ("200 OK", "m 1\n".to_string()));
        assert_eq!(route("GET /metrics?x=1 HTTP/1.0", ok).0, "200 OK");
        assert_eq!(route("HEAD /metrics HTTP/1.1", ok).0, "200 OK");
        assert_eq!(route("GET / HTTP/1.1", ok).0, "200 OK");
        assert_eq!(route("GET /other HTTP/1.1", ok).0, "404 Not Found");
        assert_eq!(route("POST /metrics HTTP/1.1", ok).0, "405 Method Not Allowed");
        assert_eq!(route("", ok).0, "405 Method Not Allowed");
        let down = || Err("%RTR-F-NODEUNAVAIL, gone".to_string());
        assert_eq!(route("GET /metrics HTTP/1.1", down).0, "503 Service Unavailable");
    }
}
