#!/usr/bin/env bash
# Build one CPython from a Debian source package on this host and make it an image:
#
#   build-python.sh NAME SOURCE SUITE BASE_IMAGE IMAGE BUILD_KEY [CONFIGURE_FLAG...]
#
# e.g. build-python.sh 3.13t python3.13 trixie wsgi-lab/base:bookworm-pg15 \
#          wsgi-lab/python:3.13t <key> --disable-gil
#
# Called by wsgilab/pythons.py (`make pythons`), which reads services/python/interpreters.toml
# and skips the build when IMAGE already carries BUILD_KEY (label lab.python.build).
#
# Why on the host: containers here reach no package index or archive over HTTPS, and the
# host has bookworm's compiler and -dev packages, the same libraries the base image runs.
# The source comes from `apt-get source` (apt checks it against the suite's signed Release).
# The tree is installed under /opt/python/NAME (DESTDIR: build/python/NAME/root) and copied
# into IMAGE over BASE_IMAGE (services/python/Dockerfile).
set -euo pipefail
cd "$(dirname "$0")/.."
name=$1 source=$2 suite=$3 base=$4 image=$5 key=$6
shift 6
log() { printf '[python %s] %s\n' "$name" "$*"; }

work="build/python/$name"
srcdir="build/python/src/$source"
# What a CPython build needs beyond gcc (bookworm's packages; libmpdec-dev: 3.13 links
# the system's mpdecimal by default).
deps=(dpkg-dev make pkg-config libssl-dev zlib1g-dev libffi-dev libsqlite3-dev libbz2-dev
      liblzma-dev libreadline-dev libncurses-dev libgdbm-dev uuid-dev libexpat1-dev libmpdec-dev)

# shellcheck source=lib/debian-suite.sh
source scripts/lib/debian-suite.sh

if ! ls "$srcdir"/*.orig.tar.* >/dev/null 2>&1; then
    [ "$(id -u)" -eq 0 ] || { echo "fetching a source package needs root (apt)" >&2; exit 1; }
    added=0
    add_suite_source "$suite" deb-src || added=$?
    [ "$added" -eq 0 ] || [ "$added" -eq 10 ] || exit 1
    [ "$added" -eq 0 ] || log "added a $suite deb-src source (pinned at priority 100) from debian.sources"
    apt-get update -qq
    mkdir -p "$srcdir"
    log "apt-get source $source/$suite"
    (cd "$srcdir" && apt-get source --download-only -qq "$source/$suite")
fi
missing=()
for dep in "${deps[@]}"; do
    dpkg-query -W -f='${Status}' "$dep" 2>/dev/null | grep -q "ok installed" || missing+=("$dep")
done
if [ ${#missing[@]} -gt 0 ]; then
    log "installing build dependencies: ${missing[*]}"
    DEBIAN_FRONTEND=noninteractive apt-get install -y -qq --no-install-recommends "${missing[@]}" >/dev/null
fi

tarball=$(ls "$srcdir"/*.orig.tar.* | head -n1)
rm -rf "$work"
mkdir -p "$work/src" "$work/root"
tar -C "$work/src" --strip-components=1 -xf "$tarball"
log "configure --prefix=/opt/python/$name --disable-test-modules $* ($(basename "$tarball"))"
# --disable-test-modules: the test suite is a third of the tree, compiled at install, and
# never runs in the lab.
(cd "$work/src" && ./configure --quiet --prefix="/opt/python/$name" --disable-test-modules "$@" \
    >../configure.log 2>&1) \
    || { tail -n 30 "$work/configure.log" >&2; exit 1; }
log "make (about 2 minutes on 2 cores; log: $work/make.log)"
(cd "$work/src" && make -j"$(nproc)" >../make.log 2>&1) || { tail -n 30 "$work/make.log" >&2; exit 1; }
(cd "$work/src" && make install DESTDIR="$PWD/../root" >../install.log 2>&1) \
    || { tail -n 30 "$work/install.log" >&2; exit 1; }
docker build --quiet -f services/python/Dockerfile --build-arg "BASE_IMAGE=$base" \
    --label "lab.python.build=$key" --label "lab.python.name=$name" \
    -t "$image" "$work/root" >/dev/null 2>"$work/image.log" || { cat "$work/image.log" >&2; exit 1; }
rm -rf "$work/src"
log "image $image ready"
