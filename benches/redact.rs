//! Redaction benchmark: throughput over 8 MiB of generated log text, streaming overhead,
//! JSON redaction and redactor build/cache cost, each beside a baseline timed in the same
//! run. Prints `ratio <figure> = <x>  (<ours> vs <baseline>)` lines. `HUSH_BENCH_QUICK=1`
//! runs fewer repeats. It never asserts on timings.

use std::hint::black_box;
use std::sync::Arc;
use std::time::{Duration, Instant};

use base64::Engine as _;
use base64::engine::general_purpose::STANDARD;
use hush::redact::{Redactor, RedactorCache, StreamRedactor, redact_json, variants};
use support::{median, show};

mod support;

const TEXT_LEN: usize = 8 << 20;
const NAIVE_SLICE: usize = 256 << 10;

/// A small deterministic generator (xorshift64*), so every run sees the same text.
struct Rng(u64);

impl Rng {
    fn next(&mut self) -> u64 {
        self.0 ^= self.0 >> 12;
        self.0 ^= self.0 << 25;
        self.0 ^= self.0 >> 27;
        self.0.wrapping_mul(0x2545_F491_4F6C_DD1D)
    }
    fn below(&mut self, n: usize) -> usize {
        (self.next() % n as u64) as usize
    }
    fn token(&mut self, len: usize) -> String {
        const ALNUM: &[u8] = b"abcdefghijklmnopqrstuvwxyzABCDEFGHIJKLMNOPQRSTUVWXYZ0123456789";
        (0..len)
            .map(|_| ALNUM[self.below(ALNUM.len())] as char)
            .collect()
    }
}

fn secrets(rng: &mut Rng, n: usize) -> Vec<(String, String)> {
    (0..n)
        .map(|i| {
            let len = 16 + rng.below(25);
            let mut v = rng.token(len);
            if i % 4 == 0 {
                v.insert_str(len / 2, "/+=&\"");
            }
            (format!("secret-{i}"), v)
        })
        .collect()
}

/// Realistic log lines with a secret (in a rotating encoding) every few KiB.
fn log_text(rng: &mut Rng, secrets: &[(String, String)]) -> String {
    const LEVELS: [&str; 5] = ["TRACE", "DEBUG", "INFO", "WARN", "ERROR"];
    const TARGETS: [&str; 5] = [
        "hush::executor",
        "hush::actions::http",
        "reqwest::connect",
        "hyper::proto::h1",
        "redis::aio",
    ];
    let mut out = String::with_capacity(TEXT_LEN + 4096);
    let mut next_secret = 3000;
    let mut n = 0usize;
    while out.len() < TEXT_LEN {
        let line = format!(
            "2026-11-26T04:{:02}:{:02}.{:03}Z {:5} {}: run_id=run_{} path=/v1/orgs/org_{}/runs/{} status={} latency_ms={} {{\"user\":\"u_{}\",\"action\":\"http\",\"bytes\":{}}}\n",
            rng.below(60),
            rng.below(60),
            rng.below(1000),
            LEVELS[rng.below(5)],
            TARGETS[rng.below(5)],
            rng.token(12),
            rng.below(1000),
            rng.token(8),
            [200, 201, 404, 500][rng.below(4)],
            rng.below(900),
            rng.below(100_000),
            rng.below(1 << 20),
        );
        out.push_str(&line);
        if out.len() >= next_secret {
            let (_, value) = &secrets[rng.below(secrets.len())];
            let encoded = match n % 5 {
                0 => value.clone(),
                1 => format!("Basic {}", STANDARD.encode(format!("user:{value}"))),
                2 => hex::encode(value),
                3 => {
                    percent_encoding::utf8_percent_encode(value, percent_encoding::NON_ALPHANUMERIC)
                        .to_string()
                }
                _ => serde_json::to_string(value).unwrap(),
            };
            out.push_str(&format!("    auth header={encoded} retry=1\n"));
            n += 1;
            next_secret = out.len() + 2048 + rng.below(4096);
        }
    }
    out.truncate(TEXT_LEN);
    out
}

/// Median time of `reps` runs after `warmup` runs.
fn time<F: FnMut()>(warmup: usize, reps: usize, mut f: F) -> Duration {
    for _ in 0..warmup {
        f();
    }
    let mut times: Vec<Duration> = (0..reps.max(1))
        .map(|_| {
            let t = Instant::now();
            f();
            t.elapsed()
        })
        .collect();
    median(&mut times)
}

/// Medians of `a` and `b`, run alternately so that both see the same machine load (the
/// machines here are shared and noisy).
fn time_pair<A: FnMut(), B: FnMut()>(
    warmup: usize,
    reps: usize,
    mut a: A,
    mut b: B,
) -> (Duration, Duration) {
    for _ in 0..warmup {
        a();
        b();
    }
    let mut ta = Vec::new();
    let mut tb = Vec::new();
    for _ in 0..reps.max(1) {
        let t = Instant::now();
        a();
        ta.push(t.elapsed());
        let t = Instant::now();
        b();
        tb.push(t.elapsed());
    }
    (median(&mut ta), median(&mut tb))
}

fn mbps(bytes: usize, d: Duration) -> f64 {
    bytes as f64 / d.as_secs_f64() / 1e6
}

fn json_doc(rng: &mut Rng, secrets: &[(String, String)]) -> serde_json::Value {
    let mut items = Vec::new();
    let mut i = 0;
    while serde_json::to_string(&items).unwrap().len() < 10 * 1024 {
        let value = if i % 9 == 0 {
            format!("token {}", secrets[i % secrets.len()].1)
        } else {
            rng.token(20)
        };
        items.push(serde_json::json!({
            "id": format!("item_{i}"),
            "name": rng.token(10),
            "value": value,
            "count": rng.below(10_000),
            "tags": [rng.token(5), rng.token(6)],
        }));
        i += 1;
    }
    serde_json::json!({ "status": 200, "items": items })
}

fn main() {
    let quick = support::quick();
    let (warm, reps) = if quick { (1, 3) } else { (2, 9) };
    let mut ratios = Vec::new();
    let mut rng = Rng(0x9E37_79B9_7F4A_7C15);

    let five = secrets(&mut rng, 5);
    let thousand = secrets(&mut rng, 1000);
    let text5 = log_text(&mut rng, &five);
    let text1000 = log_text(&mut rng, &thousand);
    let bytes5 = text5.as_bytes();
    let bytes1000 = text1000.as_bytes();

    // --- redact-5-secrets vs one memmem scan ---
    let r5 = Arc::new(Redactor::new(five.iter().map(|(n, v)| (n, v))));
    let mut out = Vec::with_capacity(TEXT_LEN + (1 << 20));
    let mut out2 = Vec::with_capacity(TEXT_LEN + (1 << 20));
    let finder = memchr::memmem::Finder::new(five[0].1.as_bytes());
    let (ours, base) = time_pair(
        warm,
        reps,
        || {
            out.clear();
            r5.redact_into(black_box(bytes5), &mut out);
            black_box(&out);
        },
        || {
            black_box(finder.find_iter(black_box(bytes5)).count());
        },
    );
    println!(
        "redact-5-secrets: {} per 8 MiB = {:.0} MB/s ({} patterns, {}); memmem one string: {} = {:.0} MB/s",
        show(ours),
        mbps(TEXT_LEN, ours),
        r5.patterns_len(),
        r5.search_strategy(),
        show(base),
        mbps(TEXT_LEN, base)
    );
    ratios.push(("redact-5-secrets", ours, base, String::new()));

    // --- redact-1000-secrets vs naive str::replace per variant ---
    let build_start = Instant::now();
    let r1000 = Arc::new(Redactor::new(thousand.iter().map(|(n, v)| (n, v))));
    let cold_build = build_start.elapsed();
    let ours = time(warm, reps, || {
        out.clear();
        r1000.redact_into(black_box(bytes1000), &mut out);
        black_box(&out);
    });
    let all_variants: Vec<(String, String)> = thousand
        .iter()
        .flat_map(|(n, v)| {
            let label = format!("[REDACTED:{n}]");
            variants(v.as_bytes())
                .into_iter()
                .filter_map(move |p| String::from_utf8(p).ok().map(|p| (p, label.clone())))
        })
        .collect();
    let slice = &text1000[..NAIVE_SLICE];
    let naive = time(0, if quick { 1 } else { 3 }, || {
        let mut s = slice.to_owned();
        for (pattern, label) in &all_variants {
            if s.contains(pattern.as_str()) {
                s = s.replace(pattern.as_str(), label);
            }
        }
        black_box(s);
    });
    let naive_scaled = naive.mul_f64(TEXT_LEN as f64 / NAIVE_SLICE as f64);
    println!(
        "redact-1000-secrets: {} per 8 MiB = {:.0} MB/s ({} patterns, {}); naive str::replace over {} variants measured on a 256 KiB slice: {} = {:.1} MB/s, scaled per byte to 8 MiB: {}",
        show(ours),
        mbps(TEXT_LEN, ours),
        r1000.patterns_len(),
        r1000.search_strategy(),
        all_variants.len(),
        show(naive),
        mbps(NAIVE_SLICE, naive),
        show(naive_scaled)
    );
    ratios.push((
        "redact-1000-secrets",
        ours,
        naive_scaled,
        " naive scaled from 256 KiB".into(),
    ));

    // --- redact-stream-4k vs one-shot ---
    let (streamed, one_shot) = time_pair(
        warm,
        reps,
        || {
            out.clear();
            let mut s = StreamRedactor::new(Arc::clone(&r5));
            for chunk in bytes5.chunks(4096) {
                s.push_into(chunk, &mut out);
            }
            s.finish_into(&mut out);
            black_box(&out);
        },
        || {
            out2.clear();
            r5.redact_into(black_box(bytes5), &mut out2);
            black_box(&out2);
        },
    );
    assert_eq!(out, out2, "streamed and one-shot output differ");
    println!(
        "redact-stream-4k: {} = {:.0} MB/s; one-shot {}",
        show(streamed),
        mbps(TEXT_LEN, streamed),
        show(one_shot)
    );
    ratios.push(("redact-stream-4k", streamed, one_shot, String::new()));

    // --- redact-json-10k vs serde_json::to_string ---
    let doc = json_doc(&mut rng, &five);
    let batch = 8;
    let json_reps = if quick { 41 } else { 201 };
    // redact_json works in place, so each repeat clones a batch first (untimed, and still
    // cache-warm when redacted), then times redacting it, then serialising the original.
    let mut ours_t = Vec::new();
    let mut base_t = Vec::new();
    for rep in 0..json_reps + 2 {
        let mut docs = vec![doc.clone(); batch];
        let t = Instant::now();
        for d in &mut docs {
            redact_json(&r5, black_box(d));
        }
        let ours = t.elapsed();
        let t = Instant::now();
        for _ in 0..batch {
            black_box(serde_json::to_string(black_box(&doc)).unwrap());
        }
        let base = t.elapsed();
        drop(black_box(docs));
        if rep >= 2 {
            ours_t.push(ours);
            base_t.push(base);
        }
    }
    ours_t.sort();
    base_t.sort();
    let (ours, base) = (ours_t[ours_t.len() / 2], base_t[base_t.len() / 2]);
    let clone_only = time(2, json_reps, || {
        for _ in 0..batch {
            black_box(black_box(&doc).clone());
        }
    }) / batch as u32;
    let (ours, base) = (ours / batch as u32, base / batch as u32);
    let mut check = doc.clone();
    redact_json(&r5, &mut check);
    println!(
        "redact-json-10k: {} per {} B document, redact_json in place (not timed: cloning it, {} with drop; {} bytes after redaction); serde_json::to_string of the same value: {}",
        show(ours),
        serde_json::to_string(&doc).unwrap().len(),
        show(clone_only),
        serde_json::to_string(&check).unwrap().len(),
        show(base)
    );
    ratios.push((
        "redact-json-10k",
        ours,
        base,
        " redact_json vs serde_json::to_string".into(),
    ));

    // --- redactor-build-1000: cold build vs cached get ---
    let build_reps = if quick { 3 } else { 7 };
    let cold = time(1, build_reps, || {
        black_box(Redactor::new(thousand.iter().map(|(n, v)| (n, v))));
    });
    let cache: RedactorCache<u64> = RedactorCache::new();
    cache.get_or_build(1, || thousand.iter().map(|(n, v)| (n, v)));
    let cached = time(10, 1001, || {
        black_box(cache.get_or_build(1, || thousand.iter().map(|(n, v)| (n, v))));
    });
    println!(
        "redactor-build-1000: cold build {} (first build in this run {}), cached get {}",
        show(cold),
        show(cold_build),
        show(cached)
    );
    ratios.push((
        "redactor-build-1000",
        cached,
        cold,
        " cached get vs cold build".into(),
    ));

    println!();
    for (name, ours, base, note) in ratios {
        let x = ours.as_secs_f64() / base.as_secs_f64();
        println!(
            "ratio {name} = {x:.4}  ({} vs {}{note})",
            show(ours),
            show(base)
        );
    }
}
