# Sourced by scripts/test and scripts/bench: need_package COMMAND PACKAGE installs PACKAGE
# with apt-get when COMMAND is missing and we are root, or says what to install. Only the
# package and what it depends on are installed (--no-install-recommends), and apt-get's
# list of what it installs is shown.
need_package() {
  command -v "$1" >/dev/null 2>&1 && return 0
  if [ "$(id -u)" = 0 ] && command -v apt-get >/dev/null 2>&1; then
    echo "${0##*/}: '$1' is missing; installing the Debian package $2 and its dependencies with apt-get" >&2
    if [ -z "${need_package_updated:-}" ]; then
      apt-get update -qq >/dev/null
      need_package_updated=1
    fi
    DEBIAN_FRONTEND=noninteractive apt-get install -y --no-install-recommends "$2" |
      grep -E '^(The following NEW packages|  |[0-9]+ upgraded)' >&2 || true
    command -v "$1" >/dev/null 2>&1 || {
      echo "${0##*/}: installing $2 did not provide '$1'" >&2
      exit 1
    }
  else
    echo "${0##*/}: '$1' is missing; install it first: sudo apt-get install --no-install-recommends $2" >&2
    exit 1
  fi
}
