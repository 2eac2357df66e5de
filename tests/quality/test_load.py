"""A short load run (the mix of tests/support/load_mix.py for 20 s against gunicorn with 2
workers): no 5xx, no connection error, every acknowledged message stored. `python -m bench.load`
is the long run."""
from __future__ import annotations

import pytest

from tests.support.load_mix import lost_messages, run_mix, service

pytestmark = pytest.mark.slow


def test_a_short_load_run_has_no_server_error_and_loses_no_message(request):
    with service(workers=2) as server:
        report, clients = run_mix(server.base, threads=8, duration_s=20)
        lost = lost_messages(report, clients)
    reporter = request.config.pluginmanager.get_plugin("terminalreporter")
    if reporter is not None:
        for line in report.lines():
            reporter.write_line(f"load: {line}")
    assert report.requests > 100
    assert report.failures == 0, report.statuses
    assert set(report.statuses) <= {200, 201}, report.statuses
    assert report.messages_sent > 20 and lost == 0
