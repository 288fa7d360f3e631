"""The sizing rules people follow, on what a container sees."""

import pytest

from wsgilab.model.sizing import RULES, facts_for

RULE = {r.name: r for r in RULES}


@pytest.mark.parametrize("name, facts, workers, threads", [
    # Here: 2-core host, a container on one core with 0.5 CPU and 256 MiB.
    ("gunicorn", facts_for(2, 1, 0.5, 256 * 2**20), 5, 1),
    ("heroku", facts_for(2, 1, 0.5, 256 * 2**20), 1, 1),
    ("cloud-run", facts_for(2, 1, 0.5, 256 * 2**20), 1, 8),
    ("functions-framework", facts_for(2, 1, 0.5, 256 * 2**20), 1, 8),
    # The same container on a 64-core host: os.cpu_count() sees the host.
    ("gunicorn", facts_for(64, 1, 0.5, 256 * 2**20), 129, 1),
    ("functions-framework", facts_for(64, 1, 0.5, 256 * 2**20), 1, 256),
    # Heroku's Performance-L dyno: 8 cores, 14 GiB -> 17 (its script's own comment).
    ("heroku", facts_for(8, 8, None, 14 * 2**30), 17, 1),
    # Heroku's Standard-1X: 512 MB -> 2, whatever the cores.
    ("heroku", facts_for(8, 8, None, 512 * 2**20), 2, 1),
    ("heroku", facts_for(8, 8, None, 100 * 2**20), 1, 1),
])
def test_rules_give_what_their_sources_say(name, facts, workers, threads):
    size = RULE[name].size(facts)
    assert (size.workers, size.threads) == (workers, threads)
