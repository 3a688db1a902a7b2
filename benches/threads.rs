//! Verification needs no locks: two threads verify twice as many requests as one.
//! Prints requests per second for one and two threads and their ratio.
#![allow(missing_docs, clippy::unwrap_used, clippy::expect_used)]

use std::collections::HashMap;
use std::hint::black_box;
use std::time::{Duration, Instant};

use atlassian_connect_jwt::{
    find_token, BasePath, CanonicalRequest, QshPolicy, SharedSecret, Signer, TenantKey, UnixTime,
    Verifier,
};

const CLIENT_KEY: &str = "jira:1234-5678-9000";
const NOW: u64 = 1_700_000_000;
const TARGET: &str = "/connect/issue-panel?xdm_e=https%3A%2F%2Fexample.atlassian.net&xdm_c=channel-com.example.app__issue-panel&cp=&lic=active&cv=1001.0.0-SNAPSHOT&issueKey=PROJ-123&issueId=10001&projectKey=PROJ&projectId=10000&tz=Australia%2FSydney&loc=en-US&user_id=admin";

/// Verifies for `duration` on each of `threads` threads sharing one verifier and key map.
fn requests_per_second(
    threads: usize,
    duration: Duration,
    url: &str,
    base: &BasePath,
    keys: &HashMap<String, TenantKey>,
) -> f64 {
    let verifier = Verifier::new();
    let total: u64 = std::thread::scope(|scope| {
        let workers: Vec<_> = (0..threads)
            .map(|_| {
                scope.spawn(|| {
                    let start = Instant::now();
                    let mut done = 0u64;
                    while start.elapsed() < duration {
                        for _ in 0..1_000 {
                            let url = black_box(url);
                            let token =
                                find_token(None, url.split_once('?').map(|(_, q)| q)).unwrap();
                            let request =
                                CanonicalRequest::from_target("GET", url, Some(base)).unwrap();
                            verifier
                                .verify(
                                    token,
                                    QshPolicy::Request(&request),
                                    keys,
                                    UnixTime::from_secs(NOW + 1),
                                )
                                .unwrap();
                        }
                        done += 1_000;
                    }
                    done
                })
            })
            .collect();
        workers.into_iter().map(|w| w.join().unwrap()).sum()
    });
    total as f64 / duration.as_secs_f64()
}

fn main() {
    // `cargo test --all-targets` runs this without `--bench`: check it works, time nothing.
    let timing = std::env::args().any(|a| a == "--bench");
    let key = TenantKey::new(
        CLIENT_KEY,
        &SharedSecret::new("connect-test-secret-0123456789abcdef0123"),
    )
    .unwrap();
    let base = BasePath::parse("https://app.example.com/connect").unwrap();
    let request = CanonicalRequest::from_target("GET", TARGET, Some(&base)).unwrap();
    let token = Signer::new(CLIENT_KEY)
        .sign_request(&request, &key, UnixTime::from_secs(NOW))
        .unwrap();
    let url = format!("{TARGET}&jwt={}", token.as_str());
    let keys = HashMap::from([(CLIENT_KEY.to_owned(), key)]);

    let duration = Duration::from_millis(if timing { 3_000 } else { 10 });
    let one = requests_per_second(1, duration, &url, &base, &keys);
    let two = requests_per_second(2, duration, &url, &base, &keys);
    if !timing {
        println!("threads bench: smoke run ok ({one:.0} and {two:.0} verifications/s, untimed)");
        return;
    }
    println!("| threads | verifications/s | vs one thread |");
    println!("|---:|---:|---:|");
    println!("| 1 | {one:.0} | 1.00x |");
    println!("| 2 | {two:.0} | {:.2}x |", two / one);
    println!();
}
