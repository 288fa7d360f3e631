#!/usr/bin/env bash
# Choose how the lab's images get their base and their Python packages, and prepare it.
#
#   registry path: the upstream base image can be pulled; pip installs the hashed lock
#                  files from the package index inside `docker build`.
#   local path:    no registry (docker pull fails). The base image is made from Debian
#                  packages (make-base-image.sh) and the Python packages come from a
#                  wheelhouse that the host downloads from the same hashed lock files.
#
# The choice is written to .env as BASE_IMAGE (the one switch docker-compose.yml reads).
# A BASE_IMAGE already in .env is the user's choice and is kept.
set -euo pipefail
cd "$(dirname "$0")/.."

UPSTREAM_BASE=python:3.11-slim-bookworm
LOCAL_BASE=wsgi-lab/base:bookworm
WHEELS=services/app/wheels
log() { printf '[images] %s\n' "$*"; }

make_wheelhouse() {
    mkdir -p "$WHEELS"
    # --require-hashes: every wheel must match the lock file's hashes, or pip fails.
    for lock in services/app/requirements/*.lock; do
        # (The filter drops pip's notes about this host's unreachable extra indexes.)
        python3 -m pip download --quiet --disable-pip-version-check --require-hashes \
            --only-binary=:all: --no-deps -r "$lock" -d "$WHEELS" \
            2> >(grep -v '^WARNING: Location' >&2)
    done
    log "wheelhouse ready: $(find "$WHEELS" -name '*.whl' | wc -l) wheels in $WHEELS"
}

touch .env
if grep -q '^BASE_IMAGE=' .env; then
    base=$(sed -n 's/^BASE_IMAGE=//p' .env | tail -n1)
    log "BASE_IMAGE=$base (set in .env)"
else
    if timeout 60 docker pull -q "$UPSTREAM_BASE" >/dev/null 2>&1; then
        base=$UPSTREAM_BASE
        log "registry reachable: base $UPSTREAM_BASE, Python packages from the index during the build"
    else
        base=$LOCAL_BASE
        log "no registry: base $LOCAL_BASE made from Debian packages, Python packages from a host-side wheelhouse"
    fi
    echo "BASE_IMAGE=$base" >>.env
fi

if [ "$base" = "$LOCAL_BASE" ]; then
    scripts/make-base-image.sh "$LOCAL_BASE"
    make_wheelhouse
elif ! docker image inspect "$base" >/dev/null 2>&1; then
    docker pull -q "$base" >/dev/null
fi
