# Sourced by scripts/test and scripts/bench: need_package COMMAND PACKAGE installs PACKAGE
# with apt-get when COMMAND is missing and we are root, or says what to install.
need_package() {
  command -v "$1" >/dev/null 2>&1 && return 0
  if [ "$(id -u)" = 0 ] && command -v apt-get >/dev/null 2>&1; then
    echo "${0##*/}: installing $2 with apt-get" >&2
    apt-get update -qq >/dev/null
    DEBIAN_FRONTEND=noninteractive apt-get install -y -qq "$2" >/dev/null
  else
    echo "${0##*/}: '$1' is missing; install it first: sudo apt-get install $2" >&2
    exit 1
  fi
}
