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
    # An app's own SQL (schema, seed: wsgilab/advise), run once as `lab` on the new cluster,
    # in name order, before the server listens: the healthcheck's socket stays silent until
    # it is all in, so nothing connects to a half-made schema. A failing file stops here.
    if [ -n "${LAB_INIT_DIR:-}" ] && [ -d "$LAB_INIT_DIR" ]; then
        init_socket=$(mktemp -d /tmp/lab-init.XXXXXX)
        pg_ctl -D "$PGDATA" -w -s -o "-c listen_addresses='' -c unix_socket_directories=$init_socket" start
        for sql in "$LAB_INIT_DIR"/*.sql; do
            [ -e "$sql" ] || continue
            echo "lab-postgres: running $(basename "$sql")"
            psql --quiet --no-psqlrc -v ON_ERROR_STOP=1 --host "$init_socket" --username lab \
                --dbname postgres --file "$sql" >/dev/null
        done
        pg_ctl -D "$PGDATA" -w -s stop
        rmdir "$init_socket"
    fi
fi
# The lab's agent beside the database (labinstrument.agent): the container's counters
# and the database's own figures over HTTP. It exits 0 on SIGTERM: the postmaster, its
# parent once this script execs, would take a child killed by a signal for a crashed
# backend.
python3 -m labinstrument.agent --postgres &
exec postgres -D "$PGDATA" -c listen_addresses='*' -c unix_socket_directories=/tmp "$@"
