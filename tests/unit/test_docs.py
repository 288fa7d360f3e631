"""The docs cannot drift from the code.

- Every constant a page quotes as `` `NAME = value` `` has that value in the code (a
  module-level assignment in wsgilab/, the app, or the tests; or a compose variable's
  default, ``${APP_MEMORY:-256M}``). A value written ``10%`` stands for 0.10.
- Every `` `UPPER_CASE` `` name a page mentions exists somewhere in the code.
- Every ``console`` block's ``$ python -m wsgilab ...`` command is run (the compose model
  read from its files, no Docker), and its output must hold the lines that follow it.
- docs/findings.md is what ``make findings`` renders from records/, to the byte.
"""

from __future__ import annotations

import ast
import contextlib
import io
import re
import shlex

import pytest

from support import ROOT

PAGES = [ROOT / "README.md", *sorted((ROOT / "docs").glob("*.md")), ROOT / "records" / "README.md"]
CODE = [*sorted((ROOT / "wsgilab").rglob("*.py")), *sorted((ROOT / "services").rglob("*.py")),
        *sorted((ROOT / "tests").rglob("*.py"))]
QUOTED = re.compile(r"`([A-Z][A-Z0-9_]{2,}) = ([^`]+)`")
MENTIONED = re.compile(r"`([A-Z][A-Z0-9_]{2,})`")
COMPOSE_DEFAULT = re.compile(r"\$\{([A-Z][A-Z0-9_]+):-([^}]*)\}")
#: Words written in upper case that are not the code's names.
NOT_NAMES = {"NAME", "AGPL", "GET", "POST", "JSON", "HTTP", "TRACE", "PUT", "DELETE", "SIGTERM",
             "SIGHUP", "SIGINT", "SIGKILL", "SIGABRT", "BENCH_ARGS", "LIMITS", "RESULTS",
             "ONLY", "LIGHT", "LAB_KEEP", "LAB_RESULTS", "PATH", "BASE_IMAGE", "APP", "FATAL"}


def _constants() -> dict[str, list[object]]:
    """Every module-level ``NAME = literal`` of the code, and every compose variable's
    default, by name (a name may be defined in several places)."""
    found: dict[str, list[object]] = {}
    for path in CODE:
        for node in ast.parse(path.read_text()).body:
            targets = node.targets if isinstance(node, ast.Assign) else (
                [node.target] if isinstance(node, ast.AnnAssign) and node.value else [])
            for target in targets:
                if isinstance(target, ast.Name) and target.id.isupper():
                    try:
                        found.setdefault(target.id, []).append(ast.literal_eval(node.value))
                    except ValueError:
                        found.setdefault(target.id, []).append(ast.unparse(node.value))
    for path in [ROOT / "docker-compose.yml", *sorted((ROOT / "compose").glob("*.yml"))]:
        for name, default in COMPOSE_DEFAULT.findall(path.read_text()):
            found.setdefault(name, []).append(default)
    return found


CONSTANTS = _constants()


def _same(written: str, value: object) -> bool:
    text = written.strip()
    if isinstance(value, (int, float)) and not isinstance(value, bool):
        try:
            number = float(text[:-1]) / 100 if text.endswith("%") else float(text.replace(",", ""))
        except ValueError:
            return False
        return abs(number - float(value)) < 1e-9
    return text.strip("'\"") == str(value)


def _quotes():
    for page in PAGES:
        for name, written in QUOTED.findall(page.read_text()):
            if name not in NOT_NAMES:
                yield pytest.param(page.relative_to(ROOT), name, written, id=f"{page.name}:{name}")


@pytest.mark.parametrize("page, name, written", list(_quotes()))
def test_a_quoted_constant_has_its_value_in_the_code(page, name, written):
    assert name in CONSTANTS, f"{page} quotes {name}, which the code does not define"
    values = CONSTANTS[name]
    assert any(_same(written, v) for v in values), (
        f"{page} says {name} = {written}; the code has {name} = {values}")


def test_every_upper_case_name_a_page_mentions_exists():
    missing = sorted({f"{page.name}: {name}" for page in PAGES
                      for name in MENTIONED.findall(page.read_text())
                      if name not in CONSTANTS and name not in NOT_NAMES})
    assert not missing, f"names the code does not define: {missing}"


def test_the_pages_quote_constants_at_all():
    assert len(list(_quotes())) >= 15, "the docs quote fewer constants than expected"


def _console_blocks():
    for page in PAGES:
        for block in re.findall(r"```console\n(.*?)```", page.read_text(), re.S):
            command, expected = None, []
            for line in block.splitlines() + ["$ "]:
                if line.startswith("$ "):
                    if command:
                        yield pytest.param(command, expected,
                                           id=f"{page.name}:{' '.join(command[3:5])}")
                    command, expected = shlex.split(line[2:]) or None, []
                elif line.strip():
                    expected.append(line)


@pytest.mark.parametrize("command, expected", list(_console_blocks()))
def test_a_quoted_command_prints_what_the_page_says(fake_compose, command, expected):
    from wsgilab import __main__ as cli

    assert command[:3] == ["python", "-m", "wsgilab"], f"not a lab command: {command}"
    err, out = io.StringIO(), io.StringIO()
    with contextlib.redirect_stderr(err), contextlib.redirect_stdout(out):
        status = cli.main(command[3:])
    printed = err.getvalue() + out.getvalue()
    for line in expected:
        assert line in printed, f"`{shlex.join(command)}` (exit {status}) printed:\n{printed}\n" \
                                f"the page says:\n{line}"


def test_findings_page_is_what_the_records_render(tmp_path):
    from wsgilab.report import findings

    page = ROOT / "docs" / "findings.md"
    rendered = findings.render(out=tmp_path / "findings.md")
    assert page.exists(), "docs/findings.md is missing: run make findings"
    assert page.read_text() == rendered, (
        "docs/findings.md differs from what records/ render: run make findings (the page "
        "is never edited by hand)")
    pictures = {p.name for p in (tmp_path / findings.PICTURES).glob("*.png")}
    for name in re.findall(rf"\]\({findings.PICTURES}/([^)]+)\)", rendered):
        assert name in pictures and (page.parent / findings.PICTURES / name).exists(), (
            f"findings.md shows {name}, which make findings did not write")


def test_the_readmes_recommendation_is_what_the_advise_record_renders():
    from wsgilab.report import findings

    block = findings.readme_block()
    assert block is not None, "no advise record under records/ (records/README.md says how)"
    readme = (ROOT / "README.md").read_text()
    assert block in readme, ("README.md's recommendation differs from what records/ render: "
                             "run make findings (it is never edited by hand)")
    picture = re.search(r"!\[[^]]*\]\(([^)]+)\)", block).group(1)
    assert (ROOT / picture).exists(), f"README.md shows {picture}, which make findings did not write"


# --- files, endpoints, modules and pictures a page names -----------------------------------

#: The tree's top-level folders and files a page may name by path.
TREE_ROOTS = ("wsgilab/", "services/", "compose/", "k6/", "scripts/", "tests/", "docs/",
              "examples/", "records/", "requirements/", ".ci/")
TREE_FILES = ("Makefile", "docker-compose.yml", "README.md", "pyproject.toml", ".env.example")
#: Places a page names that are made by a run or a build, not kept in the tree.
MADE = ("results/", "build/")
BACKTICKED = re.compile(r"`([^`\n]+)`")
SOURCE = re.compile(r"\.(py|yml|yaml|js|toml|sh|j2|conf|lock|in|json)$")
ENDPOINT = re.compile(r"^(?:GET |POST |HEAD )?(/[A-Za-z_][\w/.-]*)")
#: System paths inside a container or on the host, not the lab's endpoints.
SYSTEM = ("/dev/", "/etc/", "/opt/", "/tmp", "/sys/", "/proc/", "/usr/", "/var/", "/lab-init")


def _named():
    """(page, backticked text) for every backticked span of every page, words split."""
    for page in PAGES:
        for span in BACKTICKED.findall(page.read_text()):
            for word in span.split():
                yield page, word.strip(",;:()")


def _glob(path: str) -> str:
    """A page's path with its placeholders (``<name>``) as a glob."""
    return re.sub(r"<[^>]+>", "*", path).split("::")[0].split(":")[0]


def test_every_file_a_page_names_is_in_the_tree():
    missing = []
    for page, word in _named():
        if word.startswith(MADE) or "://" in word:
            continue
        if word.startswith(TREE_ROOTS) or word in TREE_FILES:
            pattern = _glob(word).rstrip("/")
        elif "/" in word and SOURCE.search(word):  # a file named from inside a package
            pattern = "**/" + _glob(word)
        else:
            continue
        if not list(ROOT.glob(pattern)):
            missing.append(f"{page.relative_to(ROOT)}: {word}")
    assert not missing, "pages name files that are not in the tree:\n" + "\n".join(missing)


def _app_routes() -> set[str]:
    app = (ROOT / "services" / "app" / "labapp" / "app.py").read_text()
    routes = set(re.findall(r'@app\.(?:get|post|route)\("([^"]+)"', app))
    health = (ROOT / "services" / "instrument" / "labinstrument" / "health.py").read_text()
    routes |= set(re.findall(r'^[A-Z_]+ = "(/_lab/[^"]*)"', health, re.M))
    nginx = (ROOT / "services" / "nginx" / "nginx.conf").read_text()
    routes |= {f"/{name}/" for name in re.findall(r"location /([a-z-]+)/", nginx)}
    return routes


def test_every_endpoint_a_page_names_is_served():
    routes, missing = _app_routes(), []
    for page, span in ((p, s) for p in PAGES for s in BACKTICKED.findall(p.read_text())):
        found = ENDPOINT.match(span)
        if not found or span.startswith(SYSTEM):
            continue
        path = found.group(1).split("?")[0]
        if path not in routes and not any(path.startswith(r) and r.endswith("/") for r in routes):
            missing.append(f"{page.relative_to(ROOT)}: {span}")
    assert not missing, (f"pages name endpoints nothing serves (routes: {sorted(routes)}):\n"
                         + "\n".join(missing))


def test_every_module_a_page_names_exists():
    missing = []
    for page, word in _named():
        name = word.rstrip(".")
        if not re.fullmatch(r"wsgilab(\.[a-z_]+)+", name):
            continue
        parts = name.split(".")
        for cut in range(len(parts), 1, -1):  # a module, or a name inside one
            base = ROOT.joinpath(*parts[:cut])
            if base.with_suffix(".py").exists() or (base / "__init__.py").exists():
                break
        else:
            missing.append(f"{page.relative_to(ROOT)}: {word}")
    assert not missing, "pages name modules that do not exist:\n" + "\n".join(missing)


def test_every_picture_a_page_shows_is_rendered_from_records():
    """A picture in the README or docs is one ``make findings`` writes (docs/findings/),
    never a file kept by hand."""
    shown = []
    for page in PAGES:
        for target in re.findall(r"!\[[^\]]*\]\(([^)]+)\)", page.read_text()):
            shown.append((page, (page.parent / target).resolve()))
    rendered = (ROOT / "docs" / "findings").resolve()
    stray = [f"{p.relative_to(ROOT)}: {t}" for p, t in shown if t.parent != rendered or not t.exists()]
    assert shown and not stray, "pictures not rendered by make findings:\n" + "\n".join(stray)
    kept = sorted(p.name for p in (ROOT / "docs").glob("*.png"))
    assert not kept, f"pictures kept by hand in docs/ (make findings writes docs/findings/): {kept}"
