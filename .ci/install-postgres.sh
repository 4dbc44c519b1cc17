#!/usr/bin/env bash
# Make PostgreSQL's server programs (initdb, pg_ctl) available to the tests, installing
# Debian's package when they are missing. The tests start and stop a throwaway server of
# their own (tests/reconcile/conftest_pg.py: unix socket in a temporary directory, run as
# the 'postgres' user when we are root); nothing is started here.
set -euo pipefail

have_server() {
  command -v initdb >/dev/null 2>&1 || compgen -G "/usr/lib/postgresql/*/bin/initdb" >/dev/null
}

if have_server; then
  echo "PostgreSQL server programs found"
  exit 0
fi

SUDO=()
if [ "$(id -u)" -ne 0 ]; then
  if command -v sudo >/dev/null 2>&1; then
    SUDO=(sudo -n)
  else
    echo "PostgreSQL is not installed, and installing it needs root or sudo" >&2
    exit 1
  fi
fi

export DEBIAN_FRONTEND=noninteractive
install() { "${SUDO[@]}" apt-get install -y -q --no-install-recommends postgresql >/dev/null; }
echo "installing PostgreSQL (apt-get)"
install || { "${SUDO[@]}" apt-get update -q >/dev/null && install; }
have_server
