//! Pre-authentication cost of hostile query shapes: `CanonicalRequest::from_target` (parse,
//! sort, re-encode and SHA-256) on queries of about the same size, each compared per byte with
//! a query of one parameter of that size (the baseline). The target is every shape within 3x.
//!
//! Two sizes: the largest query accepted (`MAX_QUERY_LEN`, 512 KiB, with 10,000 parameters
//! where a shape has many) and 64 KiB (1,000 parameters, plus 10,000 tiny ones). After
//! criterion has measured, prints a table of ns per byte and the ratio to the baseline, read
//! back from criterion's own estimates.
//!
//! `cargo bench --bench hostile_query` (a filter such as `-- 512KiB` measures one size with
//! criterion; the table measures every shape). `HOSTILE_QUERY_TABLE_ONLY=1` prints only the
//! table (of the shapes whose `group/name` contains its value, if any), from the fastest of
//! interleaved runs, which is what to trust on a busy machine.
#![allow(missing_docs, clippy::unwrap_used, clippy::expect_used)]

use std::hint::black_box;
use std::path::PathBuf;
use std::sync::OnceLock;
use std::time::{Duration, Instant};

use atlassian_connect_jwt::{CanonicalRequest, MAX_PARAMS, MAX_QUERY_LEN};
use criterion::{Criterion, Throughput};

/// The shape every other is compared with.
const BASELINE: &str = "one-parameter";

/// A deterministic shuffle of `0..n` (xorshift Fisher-Yates), so the sort has real work.
fn shuffled(n: usize) -> Vec<usize> {
    let mut order: Vec<usize> = (0..n).collect();
    let mut state = 0x9E37_79B9_7F4A_7C15u64;
    for i in (1..n).rev() {
        state ^= state << 13;
        state ^= state >> 7;
        state ^= state << 17;
        order.swap(i, (state % (i as u64 + 1)) as usize);
    }
    order
}

/// `unit` repeated to fill about `len` bytes (never more).
fn fill(unit: &str, len: usize) -> String {
    unit.repeat(len / unit.len())
}

/// `unit` repeated, then `x`s to fill exactly `len` bytes.
fn fill_exact(unit: &str, len: usize) -> String {
    format!("{}{}", fill(unit, len), "x".repeat(len % unit.len()))
}

/// `n` pieces joined by `&`, piece `i` built by `piece(rank, budget)` from a shuffled rank and
/// the bytes each piece may take so that the query stays within `size`.
fn pieces(n: usize, size: usize, piece: impl Fn(usize, usize) -> String) -> String {
    let budget = size / n - 1;
    let query: Vec<String> = shuffled(n)
        .into_iter()
        .map(|rank| piece(rank, budget))
        .collect();
    query.join("&")
}

/// `rank` spelled with `digits` characters chosen from `alphabet` (most significant first).
fn spell(rank: usize, digits: u32, alphabet: &[&str]) -> String {
    (0..digits)
        .rev()
        .map(|d| alphabet[rank / alphabet.len().pow(d) % alphabet.len()])
        .collect()
}

/// `text` (ASCII, at least 16 bytes) with 8 of its first 16 characters escaped (`%XX`),
/// which 8 told by `rank`: 12,870 spellings of the same length that all decode to `text`.
fn respelled(text: &str, rank: usize) -> String {
    static MASKS: OnceLock<Vec<u16>> = OnceLock::new();
    let masks = MASKS.get_or_init(|| (0..=u16::MAX).filter(|m| m.count_ones() == 8).collect());
    let mask = masks[rank];
    text.bytes()
        .enumerate()
        .map(|(i, b)| {
            if i < 16 && mask >> i & 1 == 1 {
                format!("%{b:02X}")
            } else {
                char::from(b).to_string()
            }
        })
        .collect()
}

/// Keys in layers: 100 keys leave the shared prefix every 7 bytes (`B` where the others go
/// on with `A`), so that every level of a chunk-by-chunk sort keeps a large group.
fn layered(size: usize) -> String {
    let mut keys = Vec::new();
    let mut used = 0;
    for level in 0.. {
        let key_len = 7 * level + 1 + 5;
        if used + 100 * (key_len + 3) > size {
            break;
        }
        for i in 0..100 {
            keys.push(format!(
                "{}B{:05}=1",
                "A".repeat(7 * level),
                level * 100 + i
            ));
        }
        used += 100 * (key_len + 3);
    }
    let filler = size.saturating_sub(used + 3);
    keys.push(format!("z={}", "a".repeat(filler)));
    shuffled(keys.len())
        .into_iter()
        .map(|i| keys[i].as_str())
        .collect::<Vec<_>>()
        .join("&")
}

/// Pieces drawn at random from `units` up to about `len` bytes.
fn mixed(units: &[&str], len: usize) -> String {
    let mut text = String::with_capacity(len);
    let mut state = 0x2545_F491_4F6C_DD1Du64;
    while text.len() + 3 <= len {
        state ^= state << 13;
        state ^= state >> 7;
        state ^= state << 17;
        text.push_str(units[(state % units.len() as u64) as usize]);
    }
    text
}

/// Characters whose UTF-16 order differs from their UTF-8 byte order (U+FFFD and U+E000 sort
/// after the supplementary U+1F600 and U+10000 in UTF-16), escaped and raw.
const UTF16_ESCAPED: [&str; 6] = [
    "%EF%BF%BD",
    "%F0%9F%98%80",
    "%EE%80%80",
    "%F0%90%80%80",
    "a",
    "%C3%A9",
];
const UTF16_RAW: [&str; 6] = ["\u{FFFD}", "\u{1F600}", "\u{E000}", "\u{10000}", "a", "é"];

/// Every shape at `size` bytes, with `many` parameters where a shape has many.
fn shapes(size: usize, many: usize) -> Vec<(&'static str, String)> {
    let digits = |rank: usize| format!("{rank:05}");
    // Values that first differ in a character whose UTF-16 and UTF-8 orders disagree.
    let utf16_tail = |alphabet: &[&str], rank: usize| {
        format!(
            "{}{}",
            alphabet[rank % alphabet.len()],
            digits(rank / alphabet.len())
        )
    };
    let mut shapes = vec![
        (BASELINE, format!("v={}", fill("a", size - 2))),
        (
            "one-parameter-escaped",
            format!("v={}", fill("%61", size - 2)),
        ),
        (
            // Escapes and plain bytes at random: every unit a new guess for a branchy decoder.
            "one-parameter-mixed-escapes",
            format!("v={}", mixed(&["%61", "a", "+", "%3A", ":"], size - 2)),
        ),
        (
            "short-keys",
            pieces(many, size, |rank, budget| {
                let key = format!("k{rank}");
                format!("{key}={}", fill("a", budget - key.len() - 1))
            }),
        ),
        (
            "shared-key-prefix",
            pieces(many, size, |rank, budget| {
                format!("{}{}=1", fill("p", budget - 7), digits(rank))
            }),
        ),
        (
            "shared-key-prefix-reserved",
            pieces(many, size, |rank, budget| {
                format!("{}{}=1", fill(":", budget - 7), digits(rank))
            }),
        ),
        (
            "shared-key-prefix-escaped",
            pieces(many, size, |rank, budget| {
                format!("{}{}=1", fill("%70", budget - 7), digits(rank))
            }),
        ),
        (
            "shared-key-prefix-canonical-escaped",
            pieces(many, size, |rank, budget| {
                format!("{}{}=1", fill("%2F", budget - 7), digits(rank))
            }),
        ),
        (
            "keys-equal-after-decoding",
            pieces(many, size, |rank, budget| {
                let key = respelled(&fill("A", budget - 16 - 6), rank);
                format!("{key}={}", digits(rank))
            }),
        ),
        (
            "one-key-shared-value-prefix",
            pieces(many, size, |rank, budget| {
                format!("k={}{}", fill("v", budget - 7), digits(rank))
            }),
        ),
        (
            "one-key-shared-value-prefix-escaped",
            pieces(many, size, |rank, budget| {
                format!("k={}{}", fill("%76", budget - 7), digits(rank))
            }),
        ),
        (
            "one-key-shared-value-prefix-utf16",
            pieces(many, size, |rank, budget| {
                let tail = utf16_tail(&UTF16_ESCAPED, rank);
                format!("k={}{tail}", fill_exact("%F0%9F%98%80", budget - 2 - 17))
            }),
        ),
        (
            "one-key-shared-value-prefix-utf16-raw",
            pieces(many, size, |rank, budget| {
                let tail = utf16_tail(&UTF16_RAW, rank);
                format!("k={}{tail}", fill_exact("\u{1F600}", budget - 2 - 9))
            }),
        ),
        (
            "one-key-values-equal-after-decoding",
            pieces(many, size, |rank, budget| {
                format!("k={}", respelled(&fill("V", budget - 2 - 16), rank))
            }),
        ),
        (
            "two-values-shared-prefix",
            pieces(2, size, |rank, budget| {
                format!("k={}{rank}", fill("v", budget - 3))
            }),
        ),
        (
            "inline-64-shared-key-prefix",
            pieces(64, size, |rank, budget| {
                format!("{}{}=1", fill("p", budget - 7), digits(rank))
            }),
        ),
        (
            "inline-64-shared-key-prefix-escaped",
            pieces(64, size, |rank, budget| {
                format!("{}{}=1", fill("%70", budget - 7), digits(rank))
            }),
        ),
        (
            "inline-64-one-key-shared-value-prefix-escaped",
            pieces(64, size, |rank, budget| {
                format!("k={}{}", fill("%76", budget - 7), digits(rank))
            }),
        ),
        (
            "inline-64-one-key-shared-value-prefix-utf16",
            pieces(64, size, |rank, budget| {
                let tail = utf16_tail(&UTF16_ESCAPED, rank);
                format!("k={}{tail}", fill_exact("%F0%9F%98%80", budget - 2 - 17))
            }),
        ),
        (
            "jwt-repeated",
            pieces(many, size, |_, budget| {
                format!("%6Awt={}", fill("a", budget - 6))
            }),
        ),
        (
            // Groups of 3 keys alike in their first 7 bytes and long beyond.
            "groups-of-3-shared-key-prefix",
            pieces(many, size, |rank, budget| {
                let (group, member) = (rank / 3, rank % 3);
                format!("{group:05}QQ{}{member}=1", fill("p", budget - 10))
            }),
        ),
        (
            "groups-of-4-shared-key-prefix",
            pieces(many, size, |rank, budget| {
                let (group, member) = (rank / 4, rank % 4);
                format!("{group:05}QQ{}{member}=1", fill("p", budget - 10))
            }),
        ),
        ("layered-key-prefixes", layered(size)),
    ];
    if many > 1_000 {
        shapes.push((
            "1000-shared-key-prefix-escaped",
            pieces(1_000, size, |rank, budget| {
                format!("{}{}=1", fill("%70", budget - 7), digits(rank))
            }),
        ));
    } else {
        // The most parameters allowed in a moderate query: 3-character keys.
        const ALNUM: &[&str] = &[
            "0", "1", "2", "3", "4", "5", "6", "7", "8", "9", "a", "b", "c", "d", "e", "f", "g",
            "h", "i", "j", "k", "l", "m", "n", "o", "p", "q", "r", "s", "t", "u", "v", "w", "x",
            "y", "z", "A", "B", "C", "D", "E", "F", "G", "H", "I", "J", "K", "L", "M", "N", "O",
            "P", "Q", "R", "S", "T", "U", "V", "W", "X", "Y", "Z",
        ];
        shapes.push((
            "10000-tiny-keys",
            pieces(MAX_PARAMS, size, |rank, budget| {
                format!("{}={}", spell(rank, 3, ALNUM), fill("a", budget - 4))
            }),
        ));
        shapes.push((
            "10000-one-key-tiny-values",
            pieces(MAX_PARAMS, size, |rank, budget| {
                format!("k={}{}", spell(rank, 3, ALNUM), fill("a", budget - 5))
            }),
        ));
    }
    for (name, query) in &shapes {
        assert!(query.len() <= size, "{name}: {} > {size}", query.len());
        assert!(
            query.len() * 10 >= size * 9,
            "{name}: {} bytes",
            query.len()
        );
    }
    shapes
}

/// Ordinary queries (as `benches/canonical.rs` has them), for checking by instruction counts
/// that they cost what they did: an iframe URL's, a one-parameter one, and 10 to 1,000
/// parameters with `+` and an escape in every value.
fn ordinary() -> Vec<(&'static str, String)> {
    let params = |n: usize| {
        (0..n)
            .rev()
            .map(|i| format!("p{i}=value+{i}%2C{}", i % 7))
            .collect::<Vec<_>>()
            .join("&")
    };
    vec![
        ("iframe", "xdm_e=https%3A%2F%2Fexample.atlassian.net&xdm_c=channel-com.example.app__issue-panel&cp=&xdm_deprecated_addon_key_do_not_use=com.example.app&lic=active&cv=1001.0.0-SNAPSHOT&issueKey=PROJ-123&issueId=10001&projectKey=PROJ&projectId=10000&tz=Australia%2FSydney&loc=en-US&user_id=admin&jwt=x.y.z".to_owned()),
        ("small", "param=value".to_owned()),
        ("params-10", params(10)),
        ("params-100", params(100)),
        ("params-1000", params(1_000)),
    ]
}

/// The sizes measured: (group name, bytes, parameters in the many-parameter shapes).
const SIZES: [(&str, usize, usize); 2] = [
    ("hostile-query-512KiB", MAX_QUERY_LEN, MAX_PARAMS),
    ("hostile-query-64KiB", 64 * 1024, 1_000),
];

fn bench(c: &mut Criterion) {
    for (group_name, size, many) in SIZES {
        let mut group = c.benchmark_group(group_name);
        group.warm_up_time(Duration::from_secs(1));
        group.measurement_time(Duration::from_secs(3));
        group.sample_size(30);
        for (name, query) in shapes(size, many) {
            let target = format!("/p?{query}");
            CanonicalRequest::from_target("GET", &target, None).expect(name);
            group.throughput(Throughput::Bytes(query.len() as u64));
            group.bench_function(name, |b| {
                b.iter(|| {
                    CanonicalRequest::from_target("GET", black_box(&target), None)
                        .unwrap()
                        .qsh()
                })
            });
        }
        group.finish();
    }
}

/// Where criterion writes its estimates (as criterion decides it, minus `cargo metadata`).
fn criterion_dir() -> PathBuf {
    if let Some(home) = std::env::var_os("CRITERION_HOME") {
        return PathBuf::from(home);
    }
    std::env::var_os("CARGO_TARGET_DIR")
        .map_or_else(
            || PathBuf::from(env!("CARGO_MANIFEST_DIR")).join("target"),
            PathBuf::from,
        )
        .join("criterion")
}

/// The median time per iteration (ns) of criterion's latest estimate for `group/shape`.
fn median_ns(group: &str, shape: &str) -> Option<f64> {
    let path = criterion_dir()
        .join(group)
        .join(shape)
        .join("new")
        .join("estimates.json");
    let text = std::fs::read_to_string(path).ok()?;
    let estimates: serde_json::Value = serde_json::from_str(&text).ok()?;
    estimates["median"]["point_estimate"].as_f64()
}

/// Nanoseconds of one canonicalization of `target`.
fn time_once(target: &str) -> f64 {
    let start = Instant::now();
    black_box(
        CanonicalRequest::from_target("GET", black_box(target), None)
            .unwrap()
            .qsh(),
    );
    start.elapsed().as_secs_f64() * 1e9
}

/// The fastest of many runs of `target` and of `baseline`, interleaved, in ns: on a shared
/// machine the minimum is the run nobody disturbed, and interleaving exposes both to the same
/// conditions.
fn fastest_pair(target: &str, baseline: &str) -> (f64, f64) {
    let (mut best, mut best_baseline) = (f64::INFINITY, f64::INFINITY);
    let budget = Instant::now();
    let mut runs = 0;
    while runs < 20 || (runs < 400 && budget.elapsed() < Duration::from_millis(1500)) {
        best = best.min(time_once(target));
        best_baseline = best_baseline.min(time_once(baseline));
        runs += 1;
    }
    (best, best_baseline)
}

/// ns per byte of every shape and its ratio to the baseline of the same size: from the
/// fastest of interleaved runs, and from criterion's latest median where there is one.
fn print_table(filter: &str) {
    println!();
    println!(
        "{:<20} {:<46} {:>8} {:>9} {:>7} {:>9} {:>7}",
        "size", "shape", "bytes", "min ns/B", "ratio", "med ns/B", "ratio"
    );
    for (group, size, many) in SIZES {
        let shapes = shapes(size, many);
        let (_, baseline_query) = shapes
            .iter()
            .find(|(name, _)| *name == BASELINE)
            .expect("a baseline");
        let baseline_target = format!("/p?{baseline_query}");
        let baseline_len = baseline_query.len() as f64;
        let median_per_byte =
            |name: &str, query: &str| median_ns(group, name).map(|ns| ns / query.len() as f64);
        let baseline_median = median_per_byte(BASELINE, baseline_query);
        for (name, query) in &shapes {
            if !format!("{group}/{name}").contains(filter) {
                continue;
            }
            let (best, best_baseline) = fastest_pair(&format!("/p?{query}"), &baseline_target);
            let per_byte = best / query.len() as f64;
            let ratio = per_byte / (best_baseline / baseline_len);
            let median = median_per_byte(name, query).unwrap_or(f64::NAN);
            let median_ratio = baseline_median.map_or(f64::NAN, |base| median / base);
            println!(
                "{group:<20} {name:<46} {:>8} {per_byte:>9.3} {ratio:>7.2} {median:>9.3} {median_ratio:>7.2}",
                query.len()
            );
        }
    }
}

/// This thread's CPU time in ns (Linux `schedstat`): unlike wall time, it leaves out the time
/// other processes of a shared machine take.
fn thread_cpu_ns() -> Option<u64> {
    std::fs::read_to_string("/proc/thread-self/schedstat")
        .ok()?
        .split_whitespace()
        .next()?
        .parse()
        .ok()
}

/// `HOSTILE_QUERY_SHAPE=512KiB/shared-key-prefix`: for each shape whose `group/name` ends so,
/// prints its size, its qsh, and the CPU time (ns) one canonicalization takes, averaged over
/// at least a third of a second of CPU time (`HOSTILE_QUERY_REPEAT=n`: exactly n runs and no
/// time, for counting instructions under `valgrind --tool=callgrind
/// --toggle-collect='*CanonicalRequest*from_target*'`). For a busy machine, where wall times
/// are noise; `benches/hostile_query_cpu.sh` turns it into ns per byte and ratios.
fn run_one(wanted: &str) {
    let repeat: Option<u64> = std::env::var("HOSTILE_QUERY_REPEAT")
        .ok()
        .and_then(|r| r.parse().ok());
    let groups = SIZES
        .iter()
        .map(|&(group, size, many)| (group, shapes(size, many)))
        .chain([("ordinary", ordinary())]);
    for (group, shapes) in groups {
        for (name, query) in shapes {
            if !format!("{group}/{name}").ends_with(wanted) {
                continue;
            }
            let target = format!("/p?{query}");
            let run = || {
                CanonicalRequest::from_target("GET", black_box(&target), None)
                    .unwrap()
                    .qsh()
            };
            let qsh = run();
            let mut cpu_per_run = f64::NAN;
            match repeat {
                Some(n) => (1..n).for_each(|_| {
                    black_box(run());
                }),
                None => {
                    let start = thread_cpu_ns().unwrap_or(0);
                    let (mut runs, mut batch, mut spent) = (0u64, 1u64, 0u64);
                    while spent < 300_000_000 {
                        (0..batch).for_each(|_| {
                            black_box(run());
                        });
                        runs += batch;
                        batch *= 2;
                        spent = thread_cpu_ns().unwrap_or(u64::MAX).saturating_sub(start);
                    }
                    cpu_per_run = spent as f64 / runs as f64;
                }
            }
            println!(
                "{group}/{name} {} bytes qsh {qsh} cpu_ns {cpu_per_run:.1}",
                query.len()
            );
        }
    }
}

fn main() {
    if let Some(wanted) = std::env::var_os("HOSTILE_QUERY_SHAPE") {
        run_one(&wanted.to_string_lossy());
        return;
    }
    if let Some(filter) = std::env::var_os("HOSTILE_QUERY_TABLE_ONLY") {
        print_table(&filter.to_string_lossy());
        return;
    }
    let mut criterion = Criterion::default().configure_from_args();
    bench(&mut criterion);
    criterion.final_summary();
    // Not under `cargo test --benches`, which runs every benchmark once to see that it works.
    if std::env::args().any(|arg| arg == "--bench") {
        print_table("");
    }
}
