//! The `hush` binary: parses the command line and hands it to [`hush::cli`].

/// mimalloc, not glibc's malloc: a worker's many small, short-lived allocations across
/// tokio's threads spent a quarter of its time in glibc's malloc and its arena locks
/// (`scripts/bench`, `perf` of a draining worker).
#[global_allocator]
static ALLOCATOR: mimalloc::MiMalloc = mimalloc::MiMalloc;

fn main() -> std::process::ExitCode {
    hush::cli::main()
}
