#!/bin/sh
# Make a throw-away cluster on the tmpfs and run PostgreSQL in the foreground; arguments
# are passed to postgres (the compose command's `-c max_connections=...`).
#
# Roles: `lab`, the superuser, for the lab's own observer (pg_stat_activity, SHOW), over the
# local socket only; `app`, an ordinary role, for the configurations, so that they get
# max_connections - superuser_reserved_connections slots, as a production app would.
#
# Authentication: `trust` for `app` from the lab's own backend network only. That network
# is internal (no route out, nothing published), and a password would add a SCRAM exchange
# (4096 PBKDF2 iterations on each side) to every connection the app opens per request: the
# lab would measure authentication, not concurrency.
set -eu
if [ ! -s "$PGDATA/PG_VERSION" ]; then
    initdb --username=lab --auth-local=trust --auth-host=reject --encoding=UTF8 \
        -D "$PGDATA" >/dev/null
    printf 'host postgres app samenet trust\n' >>"$PGDATA/pg_hba.conf"
    echo "CREATE ROLE app LOGIN" | postgres --single -D "$PGDATA" postgres >/dev/null
fi
exec postgres -D "$PGDATA" -c listen_addresses='*' -c unix_socket_directories=/tmp "$@"
