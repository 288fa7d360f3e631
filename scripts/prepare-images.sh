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
# The tag names what the image holds: a base made before PostgreSQL joined it is not reused.
LOCAL_BASE=wsgi-lab/base:bookworm-pg15
OLD_LOCAL_BASE=wsgi-lab/base:bookworm
log() { printf '[images] %s\n' "$*"; }

make_wheelhouse() {
    # One wheelhouse per image, beside its Dockerfile: services/<image>/wheels, from the
    # lock files in services/<image>/requirements.
    # The servers' and the upstream service's; an app's own are downloaded when the lab
    # stages it (wsgilab/images.py), over the servers' pins.
    for lock in services/servers/requirements/*.lock services/upstream/requirements/*.lock; do
        wheels="$(dirname "$(dirname "$lock")")/wheels"
        mkdir -p "$wheels"
        # --require-hashes: every file must match the lock file's hashes, or pip fails.
        # --prefer-binary, not --only-binary: psycogreen is published as an sdist only;
        # the image's build makes its wheel offline with the setuptools and wheel the lock
        # pins. (The filter drops pip's notes about this host's unreachable indexes.)
        python3 -m pip download --quiet --disable-pip-version-check --require-hashes \
            --prefer-binary --no-deps -r "$lock" -d "$wheels" \
            2> >(grep -v '^WARNING: Location' >&2)
    done
    log "wheelhouses ready: $(find services/*/wheels -name '*.whl' -o -name '*.tar.gz' | wc -l) files"
}

touch .env
if grep -q '^BASE_IMAGE=' .env; then
    base=$(sed -n 's/^BASE_IMAGE=//p' .env | tail -n1)
    if [ "$base" = "$OLD_LOCAL_BASE" ]; then
        # Written by an earlier version of this script: that image lacks PostgreSQL.
        sed -i "s|^BASE_IMAGE=$OLD_LOCAL_BASE\$|BASE_IMAGE=$LOCAL_BASE|" .env
        log "BASE_IMAGE: $OLD_LOCAL_BASE (made without PostgreSQL) replaced by $LOCAL_BASE in .env"
        base=$LOCAL_BASE
    fi
    log "BASE_IMAGE=$base (set in .env)"
else
    if timeout 60 docker pull -q "$UPSTREAM_BASE" >/dev/null 2>&1; then
        base=$UPSTREAM_BASE
        log "registry reachable: base $UPSTREAM_BASE, Python packages from the index during the build"
    else
        base=$LOCAL_BASE
        log "no registry: base $LOCAL_BASE made from Debian packages, Python packages from host-side wheelhouses"
    fi
    echo "BASE_IMAGE=$base" >>.env
fi

if [ "$base" = "$UPSTREAM_BASE" ]; then
    docker image inspect "$base" >/dev/null 2>&1 || docker pull -q "$base" >/dev/null
else
    # Any other base (the lab's own, or one the user named) gets wheelhouses: the builds
    # then need no package index.
    [ "$base" = "$LOCAL_BASE" ] && scripts/make-base-image.sh "$LOCAL_BASE"
    make_wheelhouse
fi
