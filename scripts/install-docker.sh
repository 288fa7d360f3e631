#!/usr/bin/env bash
# Install and start a Docker engine with compose v2 on Debian 12 (bookworm), idempotently.
#
# Why trixie: bookworm's own docker.io (20.10) ships no docker-proxy, so publishing a port
# fails; and mixing trixie's docker-compose with bookworm's docker.io makes apt remove the
# engine (docker-cli conflicts). So all three packages come from trixie, pinned low so that
# nothing else on the machine is upgraded. The trixie source is derived from the machine's
# own apt source (its URIs and Signed-By), never from a mirror host written here.
set -euo pipefail

log() { printf '[install-docker] %s\n' "$*"; }

have_engine_packages() {
    command -v dockerd >/dev/null 2>&1 && docker compose version >/dev/null 2>&1
}

add_trixie_source() {
    local src=/etc/apt/sources.list.d/debian.sources
    local out=/etc/apt/sources.list.d/wsgi-lab-trixie.sources
    [ -f "$out" ] && return 0
    [ -f "$src" ] || { echo "cannot find $src to derive a trixie source from" >&2; exit 1; }
    # The first stanza whose suites include plain "bookworm" is the main archive.
    local uris signed
    uris=$(awk 'BEGIN{RS=""} /Suites:[^\n]*bookworm( |$|\n)/ {print; exit}' "$src" | sed -n 's/^URIs:[[:space:]]*//p' | head -n1)
    signed=$(awk 'BEGIN{RS=""} /Suites:[^\n]*bookworm( |$|\n)/ {print; exit}' "$src" | sed -n 's/^Signed-By:[[:space:]]*//p' | head -n1)
    [ -n "$uris" ] || { echo "no URIs line for bookworm in $src" >&2; exit 1; }
    printf 'Types: deb\nURIs: %s\nSuites: trixie\nComponents: main\nSigned-By: %s\n' \
        "$uris" "${signed:-/usr/share/keyrings/debian-archive-keyring.gpg}" >"$out"
    printf 'Package: *\nPin: release n=trixie\nPin-Priority: 100\n' \
        >/etc/apt/preferences.d/wsgi-lab-trixie
    log "added trixie source (pinned at priority 100) from $src"
}

install_packages() {
    add_trixie_source
    apt-get update -qq
    DEBIAN_FRONTEND=noninteractive apt-get install -y -qq --no-install-recommends \
        docker.io/trixie docker-cli/trixie docker-compose/trixie >/dev/null
    log "installed $(dockerd --version)"
}

start_engine() {
    if docker info >/dev/null 2>&1; then
        return 0
    fi
    # A dockerd killed with the session leaves its pid file behind, and the next start
    # refuses it while that pid exists. The pid may since belong to another process, or to
    # the killed dockerd's unreaped zombie: only a live dockerd counts.
    local pid state comm
    pid=$(cat /var/run/docker.pid 2>/dev/null || true)
    if [ -n "$pid" ]; then
        comm=$(cat "/proc/$pid/comm" 2>/dev/null || true)
        state=$(awk '{print $3}' "/proc/$pid/stat" 2>/dev/null || true)
        if [ "$comm" = dockerd ] && [ "$state" != Z ]; then
            log "dockerd (pid $pid) is starting already"
        else
            rm -f /var/run/docker.pid
            pid=
        fi
    fi
    if [ -z "$pid" ]; then
        log "starting dockerd (log: /var/log/wsgi-lab-dockerd.log)"
        setsid nohup /usr/sbin/dockerd >/var/log/wsgi-lab-dockerd.log 2>&1 </dev/null &
    fi
    for _ in $(seq 1 60); do
        docker info >/dev/null 2>&1 && { log "engine ready"; return 0; }
        sleep 0.5
    done
    echo "dockerd did not answer within 30 s; see /var/log/wsgi-lab-dockerd.log" >&2
    tail -n 20 /var/log/wsgi-lab-dockerd.log >&2 || true
    exit 1
}

if ! have_engine_packages; then
    [ "$(id -u)" -eq 0 ] || { echo "installing the Docker engine needs root" >&2; exit 1; }
    install_packages
fi
start_engine
