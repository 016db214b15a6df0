//! The `hush` binary (being assembled).

fn main() {}
