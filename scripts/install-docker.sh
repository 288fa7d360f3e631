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

# shellcheck source=lib/debian-suite.sh
source "$(dirname "$0")/lib/debian-suite.sh"

install_packages() {
    local added=0
    add_suite_source trixie deb || added=$?
    [ "$added" -eq 0 ] || [ "$added" -eq 10 ] || exit 1
    [ "$added" -eq 0 ] || log "added a trixie source (pinned at priority 100) from debian.sources"
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
