#!/usr/bin/env bash
# The PostgreSQL tests start a real server from Debian's package (tests/pg.py).
# Install it once when we can (root with apt); otherwise those tests skip and
# say why.
set -euo pipefail
if ls /usr/lib/postgresql/*/bin/pg_ctl >/dev/null 2>&1; then
  exit 0
fi
if [ "$(id -u)" = 0 ] && command -v apt-get >/dev/null; then
  echo "Installing PostgreSQL (Debian package) for the database tests..."
  apt-get update -qq >/dev/null || true
  DEBIAN_FRONTEND=noninteractive apt-get install -y -qq postgresql >/dev/null \
    || echo "Could not install PostgreSQL (apt failed): its tests will skip and say why." >&2
else
  echo "PostgreSQL is not installed and cannot be installed here: its tests will skip." >&2
fi
