"""deploy/prometheus (alert and recording rules, their unit tests, the scrape config) passes
promtool, and every PromQL expression of the rules and of deploy/grafana's dashboard names only
series and labels the app really exposes on /metrics (or Prometheus adds: `up`, `instance`...)."""
from __future__ import annotations

import json
import re
import shutil
import subprocess
from pathlib import Path

import pytest
import yaml
from prometheus_client.parser import text_string_to_metric_families

from tests.support.gateway import bearer, completion, create_key
from tests.support.mock_provider import PRIMARY

ROOT = Path(__file__).resolve().parents[2]
PROMETHEUS = ROOT / "deploy" / "prometheus"
RULES = PROMETHEUS / "alerts.yml"
DASHBOARD = ROOT / "deploy" / "grafana" / "synapscale-dashboard.json"

# what Prometheus itself adds to what it scrapes
SCRAPE_SERIES = {"up"}
SCRAPE_LABELS = {"job", "instance", "le"}
KEYWORDS = {"by", "without", "on", "ignoring", "group_left", "group_right", "and", "or",
            "unless", "bool", "offset", "inf", "nan"}
SUFFIXES = {"counter": ("_total",), "gauge": ("",), "histogram": ("_bucket", "_sum", "_count"),
            "summary": ("", "_sum", "_count")}


def promtool(*args: str, cwd: Path = ROOT) -> subprocess.CompletedProcess:
    binary = shutil.which("promtool")
    if binary is None:
        pytest.fail("promtool is missing: install Debian's `prometheus` package "
                    "(apt-get install -y prometheus; .ci/run does it)")
    return subprocess.run([binary, *args], cwd=cwd, capture_output=True, text=True, timeout=120)


def assert_ok(result: subprocess.CompletedProcess) -> None:
    assert result.returncode == 0, f"{result.args}:\n{result.stdout}\n{result.stderr}"


# --- promtool -------------------------------------------------------------------------------

def test_the_rules_pass_promtool():
    assert_ok(promtool("check", "rules", str(RULES)))


def test_the_scrape_config_passes_promtool(tmp_path):
    # promtool also opens the rule files and the bearer token file, relative to the config:
    # check a copy beside a stand-in token (compose mounts METRICS_TOKEN there).
    copy = tmp_path / "prometheus"
    shutil.copytree(PROMETHEUS, copy)
    (copy / "metrics_token").write_text("stand-in\n")
    assert_ok(promtool("check", "config", str(copy / "prometheus.yml")))


def test_the_scrape_config_authenticates_with_the_metrics_token_and_loads_the_rules():
    config = yaml.safe_load((PROMETHEUS / "prometheus.yml").read_text())
    assert config["rule_files"] == ["alerts.yml"]
    [job] = config["scrape_configs"]
    assert job["job_name"] == "synapscale-api" and job["metrics_path"] == "/metrics"
    assert job["authorization"] == {"type": "Bearer", "credentials_file": "metrics_token"}
    assert job["dns_sd_configs"][0]["names"] == ["api"] and job["dns_sd_configs"][0]["port"] == 5000


def test_the_alert_unit_tests_pass_and_assert_alerts_that_fire_and_that_do_not():
    tests = yaml.safe_load((PROMETHEUS / "alerts_test.yml").read_text())
    cases = [case for group in tests["tests"] for case in group.get("alert_rule_test", [])]
    assert sum(bool(case["exp_alerts"]) for case in cases) >= 2
    assert any(not case["exp_alerts"] for case in cases)
    assert_ok(promtool("test", "rules", "alerts_test.yml", cwd=PROMETHEUS))


def test_every_alert_has_a_severity_a_duration_and_annotations():
    for rule in alerting_rules():
        assert rule["labels"]["severity"] in {"critical", "warning", "info"}, rule["alert"]
        assert "for" in rule, rule["alert"]
        assert {"summary", "description"} <= set(rule["annotations"]), rule["alert"]


# --- the PromQL names what /metrics exposes ---------------------------------------------------

@pytest.fixture
def exposed(api, client, mock_provider) -> tuple[set[str], set[str], set[str]]:
    """(series names, label names, metric family names) of /metrics after a model call, a
    streamed one, one answered by the fallback and one refused by a budget."""
    owner = api.register()
    workspace = api.personal_workspace(owner)
    key = bearer(create_key(api, owner, workspace)["key"])
    assert completion(client, key).status_code == 200
    list(completion(client, key, stream=True).response)
    mock_provider.behave(PRIMARY, status=500)
    assert completion(client, key).status_code == 200  # the fallback answers
    capped = bearer(create_key(api, owner, workspace, monthly_budget_usd=0)["key"])
    assert completion(client, capped).status_code == 402
    response = client.get("/metrics")
    assert response.status_code == 200
    series, labels, families = set(), set(), set()
    for family in text_string_to_metric_families(response.get_data(as_text=True)):
        families.add(family.name)
        series.update(family.name + suffix for suffix in SUFFIXES.get(family.type, ("",)))
        for sample in family.samples:
            series.add(sample.name)
            labels.update(sample.labels)
    return series, labels, families


def alerting_rules() -> list[dict]:
    groups = yaml.safe_load(RULES.read_text())["groups"]
    return [rule for group in groups for rule in group["rules"] if "alert" in rule]


def rule_expressions() -> dict[str, str]:
    groups = yaml.safe_load(RULES.read_text())["groups"]
    return {f"{group['name']}/{rule.get('record') or rule.get('alert')}": rule["expr"]
            for group in groups for rule in group["rules"]}


def recorded_series() -> set[str]:
    groups = yaml.safe_load(RULES.read_text())["groups"]
    return {rule["record"] for group in groups for rule in group["rules"] if "record" in rule}


def dashboard_expressions() -> dict[str, str]:
    dashboard = json.loads(DASHBOARD.read_text())
    found = {}
    for panel in panels_of(dashboard):
        for target in panel.get("targets", []):
            found[f"panel {panel['title']!r} {target['refId']}"] = target["expr"]
    for variable in dashboard["templating"]["list"]:
        if variable["type"] == "query":
            query = variable["query"]
            query = query["query"] if isinstance(query, dict) else query
            found[f"variable {variable['name']}"] = re.sub(
                r"^label_values\((.*),\s*\w+\)$", r"\1", query.strip())
    return found


def panels_of(dashboard: dict) -> list[dict]:
    panels = []
    for panel in dashboard["panels"]:
        panels.append(panel)
        panels.extend(panel.get("panels", []))  # the panels of a collapsed row
    return panels


def names_in(expr: str) -> tuple[set[str], set[str]]:
    """(series names, label names) a PromQL expression uses; Grafana variables removed."""
    labels = set(re.findall(r'label_replace\([^"]*"(\w+)"', expr))  # labels it creates
    expr = re.sub(r'"(?:[^"\\]|\\.)*"', '""', expr)  # strings: values, regexes, label_replace
    expr = re.sub(r"\$\{?\w+\}?", "", expr)  # $__rate_interval, $model, ${datasource}
    expr = re.sub(r"\[[^\]]*\]", "", expr)  # ranges
    for grouping in re.findall(r"\b(?:by|without|on|ignoring|group_left|group_right)\s*\(([^)]*)\)",
                               expr):
        labels.update(name.strip() for name in grouping.split(",") if name.strip())
    expr = re.sub(r"\b(?:by|without|on|ignoring|group_left|group_right)\s*\([^)]*\)", " ", expr)
    for matchers in re.findall(r"\{([^}]*)\}", expr):
        labels.update(re.findall(r"(\w+)\s*(?:=~|!~|!=|=)", matchers))
    expr = re.sub(r"\{[^}]*\}", " ", expr)
    expr = re.sub(r"\b[a-zA-Z_]\w*\s*\(", "(", expr)  # function and aggregation names
    tokens = re.findall(r"(?<![\w.])[a-zA-Z_:][\w:]*", expr)
    return {token for token in tokens if token.lower() not in KEYWORDS}, labels


def test_the_dashboard_is_a_grafana_dashboard_on_a_prometheus_datasource_variable():
    dashboard = json.loads(DASHBOARD.read_text())
    assert dashboard["schemaVersion"] >= 36 and dashboard["uid"] and dashboard["title"]
    variables = {v["name"]: v for v in dashboard["templating"]["list"]}
    assert variables["datasource"]["type"] == "datasource"
    assert variables["datasource"]["query"] == "prometheus"
    panels = panels_of(dashboard)
    ids = [panel["id"] for panel in panels]
    assert len(ids) == len(set(ids))
    for panel in panels:
        assert {"h", "w", "x", "y"} <= set(panel["gridPos"]), panel["title"]
        if panel["type"] == "row":
            continue
        assert panel["datasource"]["uid"] == "${datasource}", panel["title"]
        assert panel["targets"], panel["title"]
        for target in panel["targets"]:
            assert target["datasource"]["uid"] == "${datasource}" and target["expr"].strip()


@pytest.mark.parametrize("source", ["rules", "dashboard"])
def test_every_expression_names_only_series_and_labels_that_exist(source, exposed):
    series, labels, _families = exposed
    recorded = recorded_series()
    known_series = series | SCRAPE_SERIES | recorded
    known_labels = labels | SCRAPE_LABELS
    expressions = rule_expressions() if source == "rules" else dashboard_expressions()
    assert expressions
    problems = []
    for where, expr in expressions.items():
        used_series, used_labels = names_in(expr)
        assert used_series, f"{where}: no series found in {expr!r}"
        problems += [f"{where}: unknown series {name}" for name in used_series - known_series]
        problems += [f"{where}: unknown label {name}" for name in used_labels - known_labels]
        if source == "dashboard":
            problems += [f"{where}: needs a recording rule ({name}); use the raw series"
                         for name in used_series & recorded]
    assert not problems, "\n".join(problems)


def test_the_dashboard_shows_every_metric_family_the_app_exposes(exposed):
    _series, _labels, families = exposed
    used = set().union(*(names_in(expr)[0] for expr in dashboard_expressions().values()))
    synapscale = {family for family in families if family.startswith("synapscale_")}
    assert synapscale, "the scrape has no synapscale_ metric"
    missing = {family for family in synapscale
               if not any(name == family or name.startswith(family + "_") for name in used)}
    assert not missing, f"no dashboard panel shows {sorted(missing)}"


def test_the_name_check_itself_finds_series_labels_and_recorded_rules():
    used_series, used_labels = names_in(
        'sum by (model) (rate(synapscale_llm_requests_total{status="error", model=~"$model"}'
        '[$__rate_interval])) / on (model) model:synapscale_llm_requests:rate5m > 0.1 and up == 0')
    assert used_series == {"synapscale_llm_requests_total", "model:synapscale_llm_requests:rate5m",
                           "up"}
    assert used_labels == {"model", "status"}
