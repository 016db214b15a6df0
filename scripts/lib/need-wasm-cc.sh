# Sourced by scripts/test, scripts/bench and scripts/demo. need_wasm_cc makes sure the C
# toolchain that build.rs compiles hush's JavaScript runner (QuickJS, runners/javascript)
# with for wasm32-wasip2 is there: Debian's clang-19, llvm-19 (for llvm-ar-19) and
# wasi-libc (the headers in /usr/include/wasm32-wasi). As root it installs the missing
# ones with apt-get (--no-install-recommends), saying what; otherwise it says what to
# install. It never downloads a toolchain of its own.
need_wasm_cc() {
  local missing=()
  command -v clang-19 >/dev/null 2>&1 || missing+=(clang-19)
  command -v llvm-ar-19 >/dev/null 2>&1 || missing+=(llvm-19)
  [ -f /usr/include/wasm32-wasi/stdio.h ] || missing+=(wasi-libc)
  [ "${#missing[@]}" = 0 ] && return 0
  if [ "$(id -u)" = 0 ] && command -v apt-get >/dev/null 2>&1; then
    echo "${0##*/}: installing ${missing[*]} with apt-get (the C toolchain for the JavaScript runner)" >&2
    apt-get update -qq >/dev/null
    DEBIAN_FRONTEND=noninteractive apt-get install -y -qq --no-install-recommends "${missing[@]}" >/dev/null
  else
    echo "${0##*/}: ${missing[*]} missing (the C toolchain for the JavaScript runner); install first: sudo apt-get install --no-install-recommends ${missing[*]}" >&2
    exit 1
  fi
}
