#!/usr/bin/env bash
# The system packages some tests drive for real, from Debian:
#   postgresql                 the PostgreSQL tests start a server (tests/pg.py)
#   chromium, chromium-driver  the browser suite runs the app in Chromium (tests/e2e)
# Each is installed only when missing, and only when we can (root with apt).
# Nothing here fails the build: without a package, its tests skip and say why.
set -uo pipefail

have_postgresql() { ls /usr/lib/postgresql/*/bin/pg_ctl >/dev/null 2>&1; }
have_chromium() { command -v chromium >/dev/null || command -v chromium-browser >/dev/null; }
have_chromium_driver() {
  command -v chromedriver >/dev/null || [ -x /usr/lib/chromium/chromedriver ]
}

missing=()
have_postgresql || missing+=(postgresql)
have_chromium || missing+=(chromium)
have_chromium_driver || missing+=(chromium-driver)
[ ${#missing[@]} -eq 0 ] && exit 0

if [ "$(id -u)" != 0 ] || ! command -v apt-get >/dev/null; then
  echo "Not installed, and cannot be installed here (needs root and apt): ${missing[*]}." \
    "Their tests will skip and say why." >&2
  exit 0
fi

echo "Installing Debian packages for the tests: ${missing[*]}..."
apt-get update -qq >/dev/null 2>&1 || echo "apt-get update failed; trying the install anyway." >&2
for pkg in "${missing[@]}"; do
  DEBIAN_FRONTEND=noninteractive apt-get install -y -qq "$pkg" \
    >/dev/null 2>&1 \
    || echo "Could not install $pkg (apt failed): the tests that need it will skip and say why." >&2
done
exit 0
