//! Build script of the host crate: compiles every guest crate (the example actions and
//! the test guests) to a wasm32-wasip2 component with a nested cargo, the way wasmtime
//! builds its test programs, and writes `$OUT_DIR/guests.rs` with one path constant per
//! component, and `$OUT_DIR/js_runner.rs`, which embeds hush's JavaScript runner
//! (`runners/javascript`, QuickJS compiled with Debian's clang-19 against the wasi-libc
//! headers). It never changes the guests' sources or the outer build's target dir.

use std::collections::BTreeSet;
use std::env;
use std::fmt::Write as _;
use std::fs;
use std::path::{Path, PathBuf};
use std::process::{Command, Stdio};

const TARGET: &str = "wasm32-wasip2";

/// One guest: the constant naming it, its package and what it is for.
struct Guest {
    constant: &'static str,
    package: &'static str,
    doc: &'static str,
    /// Whether its bytes are embedded in the binary too (`<CONSTANT>_BYTES`), for
    /// `hush demo`, which must work outside the build tree.
    embed: bool,
}

const GUESTS: &[Guest] = &[
    Guest {
        constant: "ECHO",
        package: "echo",
        doc: "Test guest: returns its input and its binding names (`tests/guests/echo`).",
        embed: false,
    },
    Guest {
        constant: "HOSTILE",
        package: "hostile",
        doc: "Test guest: one attack per input `{\"attack\": …}` (`tests/guests/hostile`).",
        embed: false,
    },
    Guest {
        constant: "FOREIGN_IMPORT",
        package: "foreign-import",
        doc: "Test guest: imports `hush:evil/backdoor`, which no host provides (`tests/guests/foreign-import`).",
        embed: false,
    },
    Guest {
        constant: "CALL_API",
        package: "call-api",
        doc: "Example action: calls an API with a bearer secret it never reveals (`actions/call-api`).",
        embed: true,
    },
    Guest {
        constant: "TRANSFORM_JSON",
        package: "transform-json",
        doc: "Example action: totals and reshapes line items, no secrets (`actions/transform-json`).",
        embed: false,
    },
    Guest {
        constant: "JS_RUNNER",
        package: "hush-js-runner",
        doc: "hush's JavaScript runner: QuickJS in a component of the `javascript-runner` world (`runners/javascript`).",
        // Embedded on its own terms below (JS_RUNNER_WASM), for the runtime, not the demo.
        embed: false,
    },
    Guest {
        constant: "HMAC_SIGN",
        package: "hmac-sign",
        doc: "Example action: has the host HMAC-SHA256-sign its payload with a key it never sees (`actions/hmac-sign`).",
        embed: true,
    },
];

/// Sources whose change must rebuild the guests (with the dep-info of each artifact).
const WATCHED: &[&str] = &[
    "wit",
    "guest-sdk",
    "actions",
    "tests/guests",
    "runners",
    "Cargo.toml",
    "Cargo.lock",
];

fn main() {
    let root = PathBuf::from(env::var_os("CARGO_MANIFEST_DIR").expect("CARGO_MANIFEST_DIR"));
    let out_dir = PathBuf::from(env::var_os("OUT_DIR").expect("OUT_DIR"));
    for path in WATCHED {
        println!("cargo:rerun-if-changed={}", root.join(path).display());
    }
    println!("cargo:rerun-if-env-changed=HUSH_SKIP_GUEST_BUILD");

    let target_dir = guest_target_dir(&out_dir);
    let release_dir = target_dir.join(TARGET).join("release");
    let skip = env::var_os("HUSH_SKIP_GUEST_BUILD").is_some_and(|v| !v.is_empty() && v != "0");
    if skip {
        println!("cargo:warning=HUSH_SKIP_GUEST_BUILD is set: guest components were not built");
    } else {
        require_target();
        require_c_toolchain();
        build_guests(&root, &target_dir);
    }

    let mut code = String::new();
    let mut deps = BTreeSet::new();
    for guest in GUESTS {
        let wasm = release_dir.join(format!("{}.wasm", guest.package.replace('-', "_")));
        if !skip {
            assert!(
                wasm.is_file(),
                "guest `{}` was built but {} is missing",
                guest.package,
                wasm.display()
            );
            read_dep_info(&wasm.with_extension("d"), &mut deps);
        }
        let path = wasm.to_str().expect("guest path is UTF-8");
        writeln!(code, "/// {}", guest.doc).unwrap();
        writeln!(code, "pub const {}: &str = {path:?};", guest.constant).unwrap();
        if guest.embed {
            writeln!(code, "/// The bytes of [`{}`], embedded.", guest.constant).unwrap();
            if skip {
                writeln!(code, "pub const {}_BYTES: &[u8] = &[];", guest.constant).unwrap();
            } else {
                writeln!(
                    code,
                    "pub const {}_BYTES: &[u8] = include_bytes!({path:?});",
                    guest.constant
                )
                .unwrap();
            }
        }
    }
    writeln!(code, "/// Every guest above, by constant name.").unwrap();
    writeln!(code, "pub const ALL: &[(&str, &str)] = &[").unwrap();
    for guest in GUESTS {
        writeln!(code, "    ({:?}, {}),", guest.constant, guest.constant).unwrap();
    }
    writeln!(code, "];").unwrap();
    for dep in deps {
        println!("cargo:rerun-if-changed={dep}");
    }
    fs::write(out_dir.join("guests.rs"), code).expect("write guests.rs");

    let runner = release_dir.join("hush_js_runner.wasm");
    let embed = if skip {
        "/// Not built (`HUSH_SKIP_GUEST_BUILD`): JavaScript actions are refused.\n\
         pub(crate) static JS_RUNNER_WASM: &[u8] = &[];\n"
            .to_owned()
    } else {
        format!(
            "/// hush's JavaScript runner component (`runners/javascript`).\n\
             pub(crate) static JS_RUNNER_WASM: &[u8] = include_bytes!({:?});\n",
            runner.to_str().expect("runner path is UTF-8")
        )
    };
    fs::write(out_dir.join("js_runner.rs"), embed).expect("write js_runner.rs");
}

/// The C compiler and archiver the JavaScript runner's QuickJS is built with, and the
/// wasi-libc headers: Debian's `clang-19`, `llvm-19` (`llvm-ar-19`) and `wasi-libc`.
const WASM_CC: &str = "clang-19";
const WASM_AR: &str = "llvm-ar-19";
const WASI_HEADERS: &str = "/usr/include/wasm32-wasi";

/// Fails the build with the packages to install when the C toolchain for the JavaScript
/// runner is missing.
fn require_c_toolchain() {
    let found = |tool: &str| {
        Command::new(tool)
            .arg("--version")
            .stdout(Stdio::null())
            .stderr(Stdio::null())
            .status()
            .is_ok_and(|s| s.success())
    };
    let mut missing = Vec::new();
    if !found(WASM_CC) {
        missing.push("clang-19");
    }
    if !found(WASM_AR) {
        missing.push("llvm-19");
    }
    if !Path::new(WASI_HEADERS).join("stdio.h").is_file() {
        missing.push("wasi-libc");
    }
    if !missing.is_empty() {
        eprintln!(
            "error: the JavaScript runner (runners/javascript) compiles QuickJS to {TARGET} with \
             Debian's clang-19, llvm-ar-19 and wasi-libc headers; missing: {}.\n\
             run: apt-get install -y --no-install-recommends clang-19 llvm-19 wasi-libc\n\
             (scripts/test does this when run as root)",
            missing.join(", ")
        );
        std::process::exit(1);
    }
}

/// A target dir for the nested cargo, apart from the outer build's (whose lock it holds)
/// but shared by all profiles of it: `<target>/hush-guests` beside `<target>/debug`. Falls
/// back to `$OUT_DIR/guests` when `OUT_DIR` is not laid out as usual.
fn guest_target_dir(out_dir: &Path) -> PathBuf {
    // OUT_DIR is <target>[/<triple>]/<profile>/build/<pkg>-<hash>/out.
    let profile_dir = out_dir
        .parent()
        .and_then(Path::parent)
        .filter(|build| build.file_name().is_some_and(|n| n == "build"))
        .and_then(Path::parent);
    match profile_dir.and_then(Path::parent) {
        Some(target) => target.join("hush-guests"),
        None => out_dir.join("guests"),
    }
}

/// Fails the build with the command to run when the wasm32-wasip2 standard library is not
/// installed.
fn require_target() {
    let rustc = env::var_os("RUSTC").unwrap_or_else(|| "rustc".into());
    let sysroot = Command::new(&rustc)
        .args(["--print", "sysroot"])
        .output()
        .ok()
        .filter(|out| out.status.success())
        .map(|out| PathBuf::from(String::from_utf8_lossy(&out.stdout).trim()));
    let installed = match &sysroot {
        Some(sysroot) => sysroot.join("lib/rustlib").join(TARGET).is_dir(),
        // Unknown: let the nested cargo say what is wrong.
        None => true,
    };
    if !installed {
        eprintln!(
            "error: the Rust target {TARGET} is not installed; the guest components cannot be built.\n\
             run: rustup target add {TARGET}"
        );
        std::process::exit(1);
    }
}

/// Builds every guest with one nested `cargo build --release --target wasm32-wasip2`.
fn build_guests(root: &Path, target_dir: &Path) {
    let cargo = env::var_os("CARGO").unwrap_or_else(|| "cargo".into());
    let mut cmd = Command::new(cargo);
    cmd.current_dir(root)
        .arg("build")
        .arg("--release")
        .arg("--locked")
        .arg(format!("--target={TARGET}"))
        .arg("--manifest-path")
        .arg(root.join("Cargo.toml"))
        .arg("--target-dir")
        .arg(target_dir);
    for guest in GUESTS {
        cmd.arg("-p").arg(guest.package);
    }
    // The outer build's flags are for the host: coverage or sanitizer flags, clippy's
    // wrapper (`cargo clippy` sets RUSTC_WORKSPACE_WRAPPER) and cargo's internal
    // variables would break or slow a wasm build.
    for (key, _) in env::vars_os() {
        let Some(key) = key.to_str() else { continue };
        if key.starts_with("__CARGO") {
            cmd.env_remove(key);
        }
    }
    cmd.env_remove("RUSTFLAGS")
        .env_remove("CARGO_ENCODED_RUSTFLAGS")
        .env_remove("CARGO_BUILD_RUSTFLAGS")
        .env_remove("RUSTC_WORKSPACE_WRAPPER")
        .env_remove("CARGO_BUILD_TARGET")
        .env_remove("CARGO_TARGET_DIR")
        .env_remove("CARGO_BUILD_TARGET_DIR")
        .env_remove("CARGO_LLVM_COV")
        .env_remove("CARGO_LLVM_COV_TARGET_DIR")
        // QuickJS (rquickjs-sys) for the JavaScript runner: Debian's clang and the
        // wasi-libc headers, never a downloaded wasi-sdk.
        .env("RQUICKJS_SYS_NO_WASI_SDK", "1")
        .env("CC_wasm32_wasip2", WASM_CC)
        .env("AR_wasm32_wasip2", WASM_AR)
        .env("CFLAGS_wasm32_wasip2", format!("-isystem {WASI_HEADERS}"))
        // Cargo reads build-script directives from our stdout: keep the child off it.
        .stdout(Stdio::from(std::io::stderr()));
    eprintln!("running: {cmd:?}");
    let status = cmd
        .status()
        .expect("spawn cargo to build the guest components");
    assert!(
        status.success(),
        "building the guest components failed ({status}); see the cargo output above"
    );
}

/// Adds every source file listed in the dep-info file `deps_file` to `deps`.
fn read_dep_info(deps_file: &Path, deps: &mut BTreeSet<String>) {
    let Ok(contents) = fs::read_to_string(deps_file) else {
        return;
    };
    for line in contents.lines() {
        let Some((_, files)) = line.split_once(": ") else {
            continue;
        };
        let mut parts = files.split_whitespace();
        while let Some(part) = parts.next() {
            let mut file = part.to_string();
            while file.ends_with('\\') {
                file.pop();
                file.push(' ');
                file.push_str(parts.next().unwrap_or_default());
            }
            deps.insert(file);
        }
    }
}
