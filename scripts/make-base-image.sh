#!/usr/bin/env bash
# Build the registry-free base image from Debian packages: Debian 12 minbase with
# Python 3.11 (venv), nginx-light and PostgreSQL 15, imported as one layer. Idempotent: does nothing when
# the image already exists. Usage: make-base-image.sh IMAGE_TAG
#
# Why: on machines without a container registry `FROM python:...` cannot be satisfied;
# debootstrap fetches the same Debian packages the upstream python:3.11-slim-bookworm and
# nginx images are built from, through the machine's own package mirror; the postgres
# image gets Debian's postgresql-15, the package the upstream image is built from.
set -euo pipefail

tag=${1:?usage: make-base-image.sh IMAGE_TAG}
log() { printf '[base-image] %s\n' "$*"; }

if docker image inspect "$tag" >/dev/null 2>&1; then
    log "$tag already present"
    exit 0
fi
command -v debootstrap >/dev/null 2>&1 || {
    log "installing debootstrap"
    DEBIAN_FRONTEND=noninteractive apt-get install -y -qq --no-install-recommends debootstrap >/dev/null
}

root=$(mktemp -d /var/tmp/wsgi-lab-rootfs.XXXXXX)
trap 'rm -rf "$root"' EXIT
log "debootstrap bookworm into $root (about 40 s)"
debootstrap --variant=minbase \
    --include=python3,python3-venv,nginx-light,postgresql-15,ca-certificates \
    bookworm "$root" >"$root.log" 2>&1 || { tail -n 30 "$root.log" >&2; exit 1; }
rm -f "$root.log"
# Keep the image small and free of caches that change on every build.
rm -rf "$root"/var/cache/apt/archives/*.deb "$root"/var/lib/apt/lists/* "$root"/tmp/*
tar -C "$root" -c . | docker import \
    --change 'ENV PATH=/usr/local/sbin:/usr/local/bin:/usr/sbin:/usr/bin:/sbin:/bin' \
    --change 'CMD ["/bin/bash"]' - "$tag" >/dev/null
log "imported $tag ($(docker image inspect -f '{{.Size}}' "$tag" | numfmt --to=iec))"
