//! The `stream_redact` fuzz target's body run on stable Rust with a deterministic random
//! input generator, so `cargo test` exercises it without cargo-fuzz. `HUSH_FUZZ_ITERS`
//! sets the number of inputs (default 2,000).

#[path = "../../fuzz/fuzz_targets/body.rs"]
mod body;

#[test]
fn stream_redact_fuzz_body_on_random_inputs() {
    let iters: usize = std::env::var("HUSH_FUZZ_ITERS")
        .ok()
        .and_then(|v| v.parse().ok())
        .unwrap_or(2_000);
    let mut x: u64 = 0x2545_F491_4F6C_DD1D;
    let mut next = move || {
        x ^= x << 13;
        x ^= x >> 7;
        x ^= x << 17;
        x
    };
    for _ in 0..iters {
        let len = (next() % 400) as usize;
        // Small alphabets make secrets recur and overlap; 0xFF splices a secret in.
        let alphabet = (next() % 254) as u8 + 2;
        let data: Vec<u8> = (0..len)
            .map(|_| {
                let r = next();
                if r % 13 == 0 {
                    0xFF
                } else {
                    (r >> 8) as u8 % alphabet
                }
            })
            .collect();
        body::check(&data);
    }
}
