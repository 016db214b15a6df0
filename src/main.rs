//! The `hush` binary: parses the command line and hands it to [`hush::cli`].

fn main() -> std::process::ExitCode {
    hush::cli::main()
}
