# Sourced by scripts/test, scripts/bench and scripts/demo: need_wasm_target adds the Rust
# target wasm32-wasip2 (build.rs compiles the guest components for it) with rustup when
# it is missing, or says what to do.
need_wasm_target() {
  local sysroot
  sysroot=$(rustc --print sysroot 2>/dev/null) || sysroot=""
  [ -n "$sysroot" ] && [ -d "$sysroot/lib/rustlib/wasm32-wasip2" ] && return 0
  if command -v rustup >/dev/null 2>&1; then
    echo "${0##*/}: adding the Rust target wasm32-wasip2 (guest components)" >&2
    rustup target add wasm32-wasip2
  else
    echo "${0##*/}: the Rust target wasm32-wasip2 is missing and rustup is not installed" >&2
    exit 1
  fi
}
