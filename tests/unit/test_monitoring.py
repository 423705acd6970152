"""The Prometheus alert rules and the Grafana dashboard in deploy/: valid, tested by
promtool, and speaking only of metrics fitboard exports."""

from __future__ import annotations

import json
import re
import shutil
import subprocess
from pathlib import Path
from typing import Any

import pytest
from prometheus_client import REGISTRY

import fitboard.adapters.live_metrics
import fitboard.adapters.process_metrics
import fitboard.adapters.sql.pool_metrics

DEPLOY = Path(__file__).resolve().parents[2] / "deploy"
RULES = DEPLOY / "prometheus"
DASHBOARD = DEPLOY / "grafana" / "fitboard.json"
METRIC = re.compile(r"\bfitboard_[a-z0-9_]+")


def exported() -> set[str]:
    """Every sample name fitboard's metrics produce (a histogram's _bucket, _count and
    _sum; a counter's _total)."""
    names: set[str] = set()
    assert fitboard.adapters.live_metrics.CONNECTIONS is not None
    assert fitboard.adapters.sql.pool_metrics.watch_pool is not None
    for family in REGISTRY.collect():
        names |= {s.name for s in family.samples}
        names.add(family.name)
        if family.type == "histogram":
            names |= {f"{family.name}_{suffix}" for suffix in ("bucket", "count", "sum")}
        if family.type == "counter":
            names.add(f"{family.name}_total")
    return {n for n in names if n.startswith("fitboard_")}


def promtool(*args: str) -> str:
    binary = shutil.which("promtool")
    assert binary is not None, "promtool missing: the test command installs Debian's prometheus"
    run = subprocess.run(
        [binary, *args], cwd=RULES, capture_output=True, text=True, timeout=60, check=False
    )
    assert run.returncode == 0, run.stdout + run.stderr
    return run.stdout


def test_the_alert_rules_are_valid_and_their_tests_pass() -> None:
    assert "SUCCESS: 11 rules found" in promtool("check", "rules", "alerts.yml")
    assert "SUCCESS" in promtool("test", "rules", "alerts_test.yml")


def test_the_rules_speak_of_exported_metrics_only() -> None:
    used = set(METRIC.findall((RULES / "alerts.yml").read_text()))
    assert used, "no fitboard metric in the rules"
    assert used <= exported(), used - exported()


def expressions(dashboard: dict[str, Any]) -> list[str]:
    return [target["expr"] for panel in dashboard["panels"] for target in panel["targets"]]


def test_the_dashboard_is_a_grafana_dashboard_of_exported_metrics() -> None:
    dashboard = json.loads(DASHBOARD.read_text())
    assert dashboard["uid"] == "fitboard-overview"
    assert isinstance(dashboard["schemaVersion"], int)
    [variable] = dashboard["templating"]["list"]
    assert (variable["type"], variable["query"]) == ("datasource", "prometheus")
    ids = [panel["id"] for panel in dashboard["panels"]]
    assert len(ids) == len(set(ids)), "panel ids repeat"
    for panel in dashboard["panels"]:
        assert panel["datasource"] == {"type": "prometheus", "uid": "${datasource}"}
        assert set(panel["gridPos"]) == {"h", "w", "x", "y"}
        assert panel["targets"], panel["title"]
    used = {name for expr in expressions(dashboard) for name in METRIC.findall(expr)}
    assert used <= exported(), used - exported()


@pytest.mark.parametrize(
    "needed",
    [
        "fitboard_queue_messages",
        "fitboard_workout_freshness_seconds_bucket",
        "fitboard_redis_memory_used_bytes",
        "fitboard_http_requests_total",
    ],
)
def test_the_dashboard_shows_what_the_alerts_watch(needed: str) -> None:
    assert any(needed in expr for expr in expressions(json.loads(DASHBOARD.read_text())))
