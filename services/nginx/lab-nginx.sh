#!/bin/sh
# nginx in the foreground, as PID 1, with the lab's agent beside it (labinstrument.agent:
# the container's counters over HTTP on its own port, which nginx proxies as
# /_lab/nginx/cgroup). The agent exits 0 on SIGTERM; nginx reaps it as an unknown child.
#
# -e stderr: nginx opens its compiled-in error log before reading the config, and the
# root filesystem is read-only.
set -eu
python3 -m labinstrument.agent &
exec nginx -e stderr -g "daemon off;"
