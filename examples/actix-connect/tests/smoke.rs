//! The actix example started as a process: a token the product signed for the iframe's URL
//! is accepted, a context token on it (CVE-2021-26073) and a missing one are refused.
#![allow(clippy::unwrap_used, clippy::expect_used, clippy::panic)]

use std::io::{Read, Write};
use std::net::{TcpListener, TcpStream};
use std::process::{Child, Command};
use std::time::{Duration, Instant};

use atlassian_connect_jwt::{CanonicalRequest, SharedSecret, Signer, TenantKey, UnixTime};

const CLIENT_KEY: &str = "jira:actix-smoke";
const SECRET: &str = "actix-smoke-shared-secret-0123456789abcd";

struct Server(Child);

impl Drop for Server {
    fn drop(&mut self) {
        let _ = self.0.kill();
        let _ = self.0.wait();
    }
}

/// `GET target` over HTTP/1.1: the status line's code and the body.
fn get(addr: &str, target: &str) -> std::io::Result<(u16, String)> {
    let mut stream = TcpStream::connect(addr)?;
    write!(
        stream,
        "GET {target} HTTP/1.1\r\nHost: {addr}\r\nConnection: close\r\n\r\n"
    )?;
    let mut response = String::new();
    stream.read_to_string(&mut response)?;
    let status = response[9..12].parse().unwrap();
    let body = response.split_once("\r\n\r\n").unwrap().1.to_owned();
    Ok((status, body))
}

#[test]
fn the_iframe_route_verifies_its_token() {
    let port = TcpListener::bind("127.0.0.1:0")
        .unwrap()
        .local_addr()
        .unwrap()
        .port();
    let addr = format!("127.0.0.1:{port}");
    let _server = Server(
        Command::new(env!("CARGO_BIN_EXE_actix-connect"))
            .env("ACTIX_CONNECT_LISTEN", &addr)
            .env("CONNECT_CLIENT_KEY", CLIENT_KEY)
            .env("CONNECT_SHARED_SECRET", SECRET)
            .spawn()
            .unwrap(),
    );
    let key = TenantKey::new(CLIENT_KEY, &SharedSecret::new(SECRET)).unwrap();
    let signer = Signer::new(CLIENT_KEY).with_subject("557058:ada");
    let target = "/panel?lic=none&xdm_e=https%3A%2F%2Fsite.atlassian.net";
    let request = CanonicalRequest::from_target("GET", target, None).unwrap();
    let token = signer
        .sign_request(&request, &key, UnixTime::now())
        .unwrap();
    let context = signer.sign_context(&key, UnixTime::now()).unwrap();

    let deadline = Instant::now() + Duration::from_secs(30);
    let signed = loop {
        match get(&addr, &format!("{target}&jwt={}", token.as_str())) {
            Ok(answer) => break answer,
            Err(_) if Instant::now() < deadline => std::thread::sleep(Duration::from_millis(50)),
            Err(error) => panic!("the example did not start: {error}"),
        }
    };
    assert_eq!(signed, (200, "Hello, 557058:ada".to_owned()));
    let hostile = format!("{target}&jwt={}", context.as_str());
    assert_eq!(
        get(&addr, &hostile).unwrap(),
        (401, "context-token-not-allowed".to_owned())
    );
    assert_eq!(
        get(&addr, target).unwrap(),
        (401, "missing-token".to_owned())
    );
}
