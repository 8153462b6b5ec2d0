//! A TCP relay in front of an etcd member that can lose answers: requests
//! still reach etcd (which applies them), the answers are thrown away and
//! the client's connection closed, as when a member dies or a timeout fires
//! just after etcd committed.

use std::io::{ErrorKind, Read, Write};
use std::net::{Shutdown, TcpListener, TcpStream};
use std::sync::atomic::{AtomicBool, Ordering};
use std::sync::Arc;
use std::thread::JoinHandle;
use std::time::Duration;

pub struct LossyProxy {
    url: String,
    lose_answers: Arc<AtomicBool>,
    stop: Arc<AtomicBool>,
    accept: Option<JoinHandle<()>>,
}

impl LossyProxy {
    /// Relay to `upstream` ("http://127.0.0.1:PORT").
    pub fn start(upstream: &str) -> LossyProxy {
        let upstream = upstream.trim_start_matches("http://").to_string();
        let listener = TcpListener::bind("127.0.0.1:0").unwrap();
        listener.set_nonblocking(true).unwrap();
        let url = format!("http://{}", listener.local_addr().unwrap());
        let lose_answers = Arc::new(AtomicBool::new(false));
        let stop = Arc::new(AtomicBool::new(false));
        let (lose, halt) = (lose_answers.clone(), stop.clone());
        let accept = std::thread::spawn(move || {
            while !halt.load(Ordering::SeqCst) {
                match listener.accept() {
                    Ok((client, _)) => {
                        let Ok(server) = TcpStream::connect(&upstream) else { continue };
                        relay(client, server, lose.clone(), halt.clone());
                    }
                    Err(e) if e.kind() == ErrorKind::WouldBlock => std::thread::sleep(Duration::from_millis(10)),
                    Err(_) => return,
                }
            }
        });
        LossyProxy { url, lose_answers, stop, accept: Some(accept) }
    }

    pub fn url(&self) -> String {
        self.url.clone()
    }

    /// From now on, throw answers away (true) or pass them on (false).
    pub fn lose_answers(&self, lose: bool) {
        self.lose_answers.store(lose, Ordering::SeqCst);
    }
}

impl Drop for LossyProxy {
    fn drop(&mut self) {
        self.stop.store(true, Ordering::SeqCst);
        if let Some(t) = self.accept.take() {
            let _ = t.join();
        }
    }
}

/// Copy both ways on two threads that end when either side closes or the
/// proxy stops (reads wake up every 100 ms to look).
fn relay(client: TcpStream, server: TcpStream, lose: Arc<AtomicBool>, stop: Arc<AtomicBool>) {
    for s in [&client, &server] {
        s.set_nonblocking(false).unwrap();
        s.set_read_timeout(Some(Duration::from_millis(100))).unwrap();
    }
    let (c2, s2) = (client.try_clone().unwrap(), server.try_clone().unwrap());
    let halt = stop.clone();
    std::thread::spawn(move || pump(client, server, &halt, None));
    std::thread::spawn(move || pump(s2, c2, &stop, Some(&lose)));
}

fn pump(mut from: TcpStream, mut to: TcpStream, stop: &AtomicBool, lose: Option<&AtomicBool>) {
    let mut buf = [0u8; 16 * 1024];
    while !stop.load(Ordering::SeqCst) {
        match from.read(&mut buf) {
            Ok(0) => break,
            Ok(n) => {
                if lose.is_some_and(|l| l.load(Ordering::SeqCst)) {
                    break;
                }
                if to.write_all(&buf[..n]).is_err() {
                    break;
                }
            }
            Err(e) if matches!(e.kind(), ErrorKind::WouldBlock | ErrorKind::TimedOut | ErrorKind::Interrupted) => {}
            Err(_) => break,
        }
    }
    let _ = from.shutdown(Shutdown::Both);
    let _ = to.shutdown(Shutdown::Both);
}
