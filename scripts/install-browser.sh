#!/usr/bin/env bash
# Install Debian's chromium for the report's browser test (tests/integration), if missing.
# playwright drives it through executable_path: nothing downloads a browser of its own.
set -euo pipefail
log() { printf '[browser] %s\n' "$*"; }
if command -v chromium >/dev/null 2>&1; then
    log "$(chromium --version 2>/dev/null | head -n1) present"
    exit 0
fi
[ "$(id -u)" -eq 0 ] || { echo "installing chromium needs root" >&2; exit 1; }
apt-get update -qq
DEBIAN_FRONTEND=noninteractive apt-get install -y -qq --no-install-recommends chromium >/dev/null
log "installed $(chromium --version 2>/dev/null | head -n1)"
