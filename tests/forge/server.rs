//! An HTTP/1.1 key-set server on 127.0.0.1 that answers from a table and records every
//! request target, shared by `tests/forge/jwks_server.rs` and `tests/axum_forge.rs`.
#![allow(dead_code)]

use std::collections::HashMap;
use std::io::{Read, Write};
use std::net::{TcpListener, TcpStream};
use std::sync::{Arc, Mutex};
use std::thread;
use std::time::Duration;

use atlassian_connect_jwt::{HttpJwksSource, JwksCache};

/// What the server answers for one path.
#[derive(Clone)]
pub(crate) enum Answer {
    /// `200` with this body, its `Content-Length` and this `Cache-Control`, if any.
    Ok(String, Option<&'static str>),
    /// `200` with this body and no length (read until the connection closes).
    OkUnsized(String),
    /// This status, empty body; `Location: /elsewhere` for 3xx.
    Status(u16),
    /// `200` with the body after a pause.
    Slow(Duration, String),
}

/// An HTTP/1.1 server on 127.0.0.1 that answers from a table and records request targets.
pub(crate) struct JwksServer {
    base: String,
    answers: Arc<Mutex<HashMap<String, Answer>>>,
    requests: Arc<Mutex<Vec<String>>>,
}

impl JwksServer {
    /// A server on a free port that answers 404 to everything until told otherwise.
    pub(crate) fn start() -> Self {
        let listener = TcpListener::bind("127.0.0.1:0").unwrap();
        let base = format!("http://{}", listener.local_addr().unwrap());
        let answers = Arc::new(Mutex::new(HashMap::new()));
        let requests = Arc::new(Mutex::new(Vec::new()));
        let (a, r) = (Arc::clone(&answers), Arc::clone(&requests));
        thread::spawn(move || {
            for stream in listener.incoming().flatten() {
                let (a, r) = (Arc::clone(&a), Arc::clone(&r));
                thread::spawn(move || serve(stream, &a, &r));
            }
        });
        Self {
            base,
            answers,
            requests,
        }
    }

    pub(crate) fn answer(&self, path: &str, answer: Answer) {
        self.answers.lock().unwrap().insert(path.to_owned(), answer);
    }

    pub(crate) fn url(&self, path: &str) -> String {
        format!("{}{path}", self.base)
    }

    pub(crate) fn requests(&self) -> Vec<String> {
        self.requests.lock().unwrap().clone()
    }

    pub(crate) fn count(&self) -> usize {
        self.requests().len()
    }

    /// Generous time limit: a loaded test machine must not turn a fetch into a failure.
    pub(crate) fn source(&self) -> HttpJwksSource {
        HttpJwksSource::with_url(&self.url("/jwks.json"))
            .unwrap()
            .with_timeout(Duration::from_secs(10))
    }

    pub(crate) fn keys(&self) -> Arc<JwksCache<HttpJwksSource>> {
        Arc::new(JwksCache::new(self.source()))
    }
}

fn serve(
    mut stream: TcpStream,
    answers: &Mutex<HashMap<String, Answer>>,
    requests: &Mutex<Vec<String>>,
) {
    let mut head = Vec::new();
    let mut byte = [0u8; 1];
    while !head.ends_with(b"\r\n\r\n") && head.len() < 16 * 1024 {
        match stream.read(&mut byte) {
            Ok(1) => head.push(byte[0]),
            _ => return,
        }
    }
    let head = String::from_utf8_lossy(&head);
    let target = head.split(' ').nth(1).unwrap_or("").to_owned();
    requests.lock().unwrap().push(target.clone());
    let answer = answers.lock().unwrap().get(&target).cloned();
    let response = match answer {
        None => "HTTP/1.1 404 Not Found\r\ncontent-length: 0\r\nconnection: close\r\n\r\n".to_owned(),
        Some(Answer::Ok(body, cache_control)) => format!(
            "HTTP/1.1 200 OK\r\ncontent-type: application/json\r\n{}content-length: {}\r\nconnection: close\r\n\r\n{body}",
            cache_control.map(|c| format!("cache-control: {c}\r\n")).unwrap_or_default(),
            body.len()
        ),
        Some(Answer::OkUnsized(body)) => format!("HTTP/1.1 200 OK\r\nconnection: close\r\n\r\n{body}"),
        Some(Answer::Status(status)) => format!(
            "HTTP/1.1 {status} Status\r\nlocation: /elsewhere\r\ncontent-length: 0\r\nconnection: close\r\n\r\n"
        ),
        Some(Answer::Slow(pause, body)) => {
            thread::sleep(pause);
            format!(
                "HTTP/1.1 200 OK\r\ncontent-length: {}\r\nconnection: close\r\n\r\n{body}",
                body.len()
            )
        }
    };
    let _ = stream.write_all(response.as_bytes());
}
