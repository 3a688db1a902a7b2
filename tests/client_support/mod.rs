//! A fake HTTP/1.1 server on 127.0.0.1 for the client tests: it records every request exactly
//! as it arrived (method, raw request target, headers, body, time) and answers what the test's
//! handler says. Plays the product and the OAuth 2.0 authorization server.
#![allow(dead_code, clippy::unwrap_used, clippy::expect_used, clippy::panic)]

use std::net::SocketAddr;
use std::sync::{Arc, Mutex};
use std::time::{Duration, Instant};

use atlassian_connect_jwt::{SharedSecret, StoredTenant, Tenant};
use tokio::io::{AsyncReadExt, AsyncWriteExt};
use tokio::net::{TcpListener, TcpStream};

/// The app's key: the `iss` of its JWTs.
pub(crate) const APP_KEY: &str = "com.example.client-test";
/// The tenant's clientKey.
pub(crate) const CLIENT_KEY: &str = "client-test-tenant";
/// The tenant's shared secret.
pub(crate) const SECRET: &str = "client-test-shared-secret-0123456789abcdef";
/// The tenant's OAuth client id.
pub(crate) const OAUTH_CLIENT_ID: &str = "client-test-oauth-client-id";

/// A request as the server received it.
#[derive(Clone, Debug)]
pub(crate) struct Recorded {
    pub(crate) method: String,
    /// The request target, byte for byte.
    pub(crate) target: String,
    pub(crate) headers: Vec<(String, String)>,
    pub(crate) body: Vec<u8>,
    pub(crate) at: Instant,
}

impl Recorded {
    /// The first value of header `name` (any case).
    pub(crate) fn header(&self, name: &str) -> Option<&str> {
        self.headers
            .iter()
            .find(|(n, _)| n.eq_ignore_ascii_case(name))
            .map(|(_, v)| v.as_str())
    }

    /// The token of `Authorization: JWT <token>`.
    pub(crate) fn jwt(&self) -> &str {
        self.header("authorization")
            .and_then(|v| v.strip_prefix("JWT "))
            .expect("a JWT authorization header")
    }

    /// The token of `Authorization: Bearer <token>`.
    pub(crate) fn bearer(&self) -> &str {
        self.header("authorization")
            .and_then(|v| v.strip_prefix("Bearer "))
            .expect("a Bearer authorization header")
    }

    /// The form-encoded body's fields.
    pub(crate) fn form(&self) -> Vec<(String, String)> {
        url::form_urlencoded::parse(&self.body)
            .map(|(k, v)| (k.into_owned(), v.into_owned()))
            .collect()
    }

    pub(crate) fn form_field(&self, name: &str) -> Option<String> {
        self.form()
            .into_iter()
            .find(|(k, _)| k == name)
            .map(|(_, v)| v)
    }
}

/// What the server answers.
#[derive(Clone, Debug)]
pub(crate) enum Reply {
    Respond {
        status: u16,
        headers: Vec<(String, String)>,
        body: Vec<u8>,
    },
    /// Answers after a delay.
    After(Duration, Box<Reply>),
    /// Never answers.
    Hang,
}

impl Reply {
    pub(crate) fn status(status: u16) -> Self {
        Self::Respond {
            status,
            headers: Vec::new(),
            body: Vec::new(),
        }
    }

    pub(crate) fn ok(body: impl Into<Vec<u8>>) -> Self {
        Self::status(200).body(body)
    }

    pub(crate) fn header(self, name: &str, value: &str) -> Self {
        match self {
            Self::Respond {
                status,
                mut headers,
                body,
            } => {
                headers.push((name.to_owned(), value.to_owned()));
                Self::Respond {
                    status,
                    headers,
                    body,
                }
            }
            other => other,
        }
    }

    pub(crate) fn body(self, body: impl Into<Vec<u8>>) -> Self {
        match self {
            Self::Respond {
                status, headers, ..
            } => Self::Respond {
                status,
                headers,
                body: body.into(),
            },
            other => other,
        }
    }

    pub(crate) fn after(self, delay: Duration) -> Self {
        Self::After(delay, Box::new(self))
    }
}

type Handler = dyn Fn(&Recorded, usize) -> Reply + Send + Sync;

/// A running fake server; it stops with the test's runtime.
pub(crate) struct FakeServer {
    pub(crate) addr: SocketAddr,
    requests: Arc<Mutex<Vec<Recorded>>>,
}

impl FakeServer {
    /// Starts a server answering with `handler(request, number)` (`number` counts from 0).
    pub(crate) async fn start(
        handler: impl Fn(&Recorded, usize) -> Reply + Send + Sync + 'static,
    ) -> Self {
        let listener = TcpListener::bind("127.0.0.1:0").await.unwrap();
        let addr = listener.local_addr().unwrap();
        let requests = Arc::new(Mutex::new(Vec::new()));
        let handler: Arc<Handler> = Arc::new(handler);
        let recorded = Arc::clone(&requests);
        tokio::spawn(async move {
            loop {
                let Ok((stream, _)) = listener.accept().await else {
                    return;
                };
                tokio::spawn(serve(stream, Arc::clone(&handler), Arc::clone(&recorded)));
            }
        });
        Self { addr, requests }
    }

    /// `http://127.0.0.1:<port>` followed by `path`.
    pub(crate) fn url(&self, path: &str) -> String {
        format!("http://{}{path}", self.addr)
    }

    /// The requests received so far, in order of arrival.
    pub(crate) fn requests(&self) -> Vec<Recorded> {
        self.requests.lock().unwrap().clone()
    }

    pub(crate) fn count(&self) -> usize {
        self.requests.lock().unwrap().len()
    }
}

async fn serve(mut stream: TcpStream, handler: Arc<Handler>, requests: Arc<Mutex<Vec<Recorded>>>) {
    let mut buffer = Vec::new();
    loop {
        let Some(request) = read_request(&mut stream, &mut buffer).await else {
            return;
        };
        let number = {
            let mut all = requests.lock().unwrap();
            all.push(request.clone());
            all.len() - 1
        };
        let mut reply = handler(&request, number);
        loop {
            match reply {
                Reply::After(delay, next) => {
                    tokio::time::sleep(delay).await;
                    reply = *next;
                }
                Reply::Hang => {
                    tokio::time::sleep(Duration::from_secs(3600)).await;
                    return;
                }
                Reply::Respond {
                    status,
                    headers,
                    body,
                } => {
                    let mut head =
                        format!("HTTP/1.1 {status} X\r\ncontent-length: {}\r\n", body.len());
                    for (name, value) in headers {
                        head.push_str(&format!("{name}: {value}\r\n"));
                    }
                    head.push_str("\r\n");
                    let mut out = head.into_bytes();
                    out.extend_from_slice(&body);
                    if stream.write_all(&out).await.is_err() {
                        return;
                    }
                    break;
                }
            }
        }
    }
}

/// Reads one request (head and `Content-Length` body); `None` at the end of the connection.
async fn read_request(stream: &mut TcpStream, buffer: &mut Vec<u8>) -> Option<Recorded> {
    let head_end = loop {
        if let Some(end) = buffer.windows(4).position(|w| w == b"\r\n\r\n") {
            break end;
        }
        let mut chunk = [0u8; 4096];
        let n = stream.read(&mut chunk).await.ok()?;
        if n == 0 {
            return None;
        }
        buffer.extend_from_slice(&chunk[..n]);
    };
    let at = Instant::now();
    let head = String::from_utf8(buffer[..head_end].to_vec()).expect("a UTF-8 request head");
    let mut lines = head.split("\r\n");
    let mut request_line = lines.next().unwrap().split(' ');
    let method = request_line.next().unwrap().to_owned();
    let target = request_line.next().unwrap().to_owned();
    let headers: Vec<(String, String)> = lines
        .map(|line| {
            let (name, value) = line.split_once(':').unwrap();
            (name.trim().to_owned(), value.trim().to_owned())
        })
        .collect();
    let length: usize = headers
        .iter()
        .find(|(n, _)| n.eq_ignore_ascii_case("content-length"))
        .map_or(0, |(_, v)| v.parse().unwrap());
    buffer.drain(..head_end + 4);
    while buffer.len() < length {
        let mut chunk = [0u8; 4096];
        let n = stream.read(&mut chunk).await.ok()?;
        if n == 0 {
            return None;
        }
        buffer.extend_from_slice(&chunk[..n]);
    }
    let body: Vec<u8> = buffer.drain(..length).collect();
    Some(Recorded {
        method,
        target,
        headers,
        body,
        at,
    })
}

/// The test tenant at `base_url`.
pub(crate) fn tenant(base_url: &str, oauth_client_id: Option<&str>) -> Tenant {
    Tenant::from_stored(StoredTenant {
        client_key: CLIENT_KEY.to_owned(),
        shared_secret: SharedSecret::new(SECRET),
        base_url: base_url.to_owned(),
        display_url: None,
        product_type: None,
        installation_id: None,
        oauth_client_id: oauth_client_id.map(str::to_owned),
        installed: true,
    })
}

/// The claims of a token, unverified (the tests verify signatures separately).
pub(crate) fn claims(token: &str) -> serde_json::Value {
    use base64::Engine as _;
    let payload = token.split('.').nth(1).unwrap();
    let json = base64::engine::general_purpose::URL_SAFE_NO_PAD
        .decode(payload)
        .unwrap();
    serde_json::from_slice(&json).unwrap()
}

/// A fake authorization server: checks each assertion (HS256 with the tenant's secret,
/// Atlassian's claims, the form's grant type) and answers a token named after the user and
/// the exchange's number, living `expires_in` seconds, after `delay`.
pub(crate) async fn authorization_server(expires_in: u64, delay: Duration) -> FakeServer {
    FakeServer::start(move |request, number| {
        let refused = |why: &str| {
            Reply::status(400).body(format!(
                r#"{{"error":"invalid_grant","error_description":"{why}"}}"#
            ))
        };
        if request.method != "POST" || request.target != "/oauth2/token" {
            return refused("wrong endpoint");
        }
        if request.form_field("grant_type").as_deref()
            != Some("urn:ietf:params:oauth:grant-type:jwt-bearer")
        {
            return refused("grant type");
        }
        let Some(assertion) = request.form_field("assertion") else {
            return refused("no assertion");
        };
        let Some(scope) = request.form_field("scope") else {
            return refused("no scope");
        };
        let mut validation = jsonwebtoken::Validation::new(jsonwebtoken::Algorithm::HS256);
        validation.set_audience(&[atlassian_connect_jwt::OAUTH_AUDIENCE]);
        validation.set_required_spec_claims(&["exp", "iat", "aud", "iss", "sub"]);
        let decoded = jsonwebtoken::decode::<serde_json::Value>(
            &assertion,
            &jsonwebtoken::DecodingKey::from_secret(SECRET.as_bytes()),
            &validation,
        );
        let Ok(decoded) = decoded else {
            return refused("bad assertion");
        };
        let claims = decoded.claims;
        if claims["iss"] != format!("urn:atlassian:connect:clientid:{OAUTH_CLIENT_ID}") {
            return refused("iss");
        }
        let Some(account) = claims["sub"]
            .as_str()
            .and_then(|s| s.strip_prefix("urn:atlassian:connect:useraccountid:"))
        else {
            return refused("sub");
        };
        if claims["exp"].as_u64().unwrap() - claims["iat"].as_u64().unwrap() != 60 {
            return refused("lifetime");
        }
        let token = format!("at-{number}-{account}-{}", scope.replace(' ', "_"));
        Reply::ok(format!(
            r#"{{"access_token":"{token}","expires_in":{expires_in},"token_type":"Bearer"}}"#
        ))
        .header("content-type", "application/json")
        .after(delay)
    })
    .await
}
