"""nginx must never be what caps a bench (its connections are sized for MAX_VUS), must
answer every error of its own in JSON, and must pass nothing a configuration would drop."""

import json
import re

import yaml

from support import ROOT
from wsgilab.studies.options import MAX_VUS

CONF = (ROOT / "services" / "nginx" / "nginx.conf").read_text()
#: Connections nginx needs besides the load: health checks, the bench's probes.
SPARE_CONNECTIONS = 16
#: The CGI variables uWSGI adds beside the header fields (REQUEST_METHOD, PATH_INFO, ...).
CGI_VARS = 20


def _directive(name):
    found = re.findall(rf"^\s*{name}\s+(\S+);", CONF, re.M)
    assert len(found) == 1, f"expected one {name} directive, found {found}"
    return found[0]


def test_worker_connections_cover_the_largest_bench():
    workers = int(_directive("worker_processes"))
    per_worker = int(_directive("worker_connections"))
    needed = 2 * MAX_VUS + SPARE_CONNECTIONS  # client side + upstream side per request
    assert workers * per_worker >= needed, (
        f"nginx holds {workers} x {per_worker} connections, the bench may need {needed}")


def test_nginx_may_open_a_descriptor_for_every_connection():
    per_worker = int(_directive("worker_connections"))
    files = int(_directive("worker_rlimit_nofile"))
    assert files >= per_worker, f"worker_rlimit_nofile {files} < worker_connections {per_worker}"
    compose = (ROOT / "compose" / "nginx.yml").read_text()
    soft = int(re.search(r"nofile: \{soft: (\d+)", compose).group(1))
    assert soft >= files, f"the container's nofile {soft} is below nginx's {files}"


def test_only_generated_configurations_are_proxied():
    assert "include /etc/nginx/lab-configurations.map;" in CONF
    assert re.search(r"if \(\$lab_configuration = 0\) \{\s*return 404", CONF)


def test_upstream_timeout_outlasts_the_longest_request():
    from labapp.app import MAX_SLOW_SECONDS
    timeouts = re.findall(r"^\s*proxy_read_timeout\s+(\d+)s;", CONF, re.M)
    assert timeouts, "no proxy_read_timeout"
    for timeout in timeouts:  # the proxying location, and the one for chunked bodies
        assert int(timeout) > MAX_SLOW_SECONDS, f"proxy_read_timeout {timeout}s"


def test_what_a_configuration_receives_is_the_raw_target_less_its_prefix():
    """The proxy forwards $request_uri (still encoded) less /<configuration>, never the
    decoded $uri, in both proxying locations."""
    passes = [p for p in re.findall(r"proxy_pass (\S+);", CONF)
              if ("$" in p or ":8000" in p) and "$lab_backend" not in p
              and "$lab_agent_host" not in p]
    assert len(passes) == 2 and all(p == "http://$lab_raw_service:8000$lab_raw_path"
                                    for p in passes), passes
    zero = re.findall(r"proxy_pass (http://127\.0\.0\.1:\d+);", CONF)
    assert zero and re.search(r"listen 127\.0\.0\.1:\d+;", CONF), (
        "the instrument's zero answer must stay inside nginx, on loopback")
    assert re.search(r"map \$request_uri \$lab_raw_path", CONF)
    assert re.search(r"if \(\$lab_raw_service != \$lab_service\) \{\s*return 400", CONF)


def test_no_version_banner():
    assert _directive("server_tokens") == "off"


def test_every_error_page_is_an_internal_json_location():
    targets = set(re.findall(r"error_page [0-9 ]+(?:=\d+ )?(\S+);", CONF))
    assert targets, "no error_page directives"
    for target in targets:
        assert not target.startswith("@"), (
            f"error_page {target}: a named location cannot take a request refused before its "
            "URI is read (nginx: 'empty URI in redirect to named location'); use an internal URI")
        body = re.search(rf"location = {re.escape(target)} \{{ internal; return (\d+) '(.*)'; \}}", CONF)
        assert body, f"error_page {target}: expected an internal location returning JSON"
        assert json.loads(body.group(2))["error"], f"{target}: no error message"


def test_uwsgi_holds_every_header_field_nginx_passes():
    """uWSGI drops (nginx: 502) a request with more fields than its var vector holds: two
    iovecs per field in 4 x max-vars + 5 (uWSGI core/protocol.c, uwsgi_parse_vars)."""
    fields = int(_directive("max_headers"))
    for path in sorted((ROOT / "compose").glob("uwsgi-*.yml")):
        command = yaml.safe_load(path.read_text())["services"][path.stem]["command"]
        max_vars = int(command[command.index("--max-vars") + 1]) if "--max-vars" in command else 64
        assert 4 * max_vars + 5 >= 2 * fields + CGI_VARS, (
            f"{path.name}: --max-vars {max_vars} holds {(4 * max_vars + 5 - CGI_VARS) // 2} "
            f"header fields; nginx passes up to {fields}")


def test_the_upstream_count_is_answered_under_lab_with_only_its_own_methods():
    """wsgilab/workloads/upstream.py reads it through the front end, not the engine."""
    for path, method, target in (("/_lab/upstream/stats", "!~ ^(GET|HEAD)$", "/stats"),
                                 ("/_lab/upstream/stats/reset", "!= POST", "/stats/reset")):
        block = re.search(rf"location = {re.escape(path)} \{{(.*?)\n        \}}", CONF, re.S)
        assert block, f"expected a location for {path} in nginx.conf"
        assert f"if ($request_method {method}) {{ return 405; }}" in block.group(1), \
            f"{path}: expected any other method refused with 405 (JSON), got {block.group(1)}"
        assert re.search(rf"proxy_pass http://\$lab_backend:8081{re.escape(target)};",
                         block.group(1)), f"{path}: expected a proxy to the upstream's {target}"
