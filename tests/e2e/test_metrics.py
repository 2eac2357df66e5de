"""/metrics: the expected Prometheus series after some traffic, labelled by route template,
and the optional bearer token. (deploy/prometheus and deploy/grafana use them:
test_monitoring_files.py.)"""
from __future__ import annotations

import pytest
from prometheus_client.parser import text_string_to_metric_families

from tests.support.fixtures import MOCK_DEFAULT_MODEL, MOCK_FALLBACK_MODEL
from tests.support.gateway import bearer, completion, create_key
from tests.support.mock_provider import PRIMARY
from tests.support.workflows import create_workflow, execute, llm_workflow


def samples(client, headers=None) -> dict[tuple, float]:
    """{(sample name, sorted label items): value} of one scrape."""
    response = client.get("/metrics", headers=headers or {})
    assert response.status_code == 200
    assert response.mimetype == "text/plain"
    return {(s.name, tuple(sorted(s.labels.items()))): s.value
            for family in text_string_to_metric_families(response.get_data(as_text=True))
            for s in family.samples}


def value(scrape: dict, name: str, **labels) -> float:
    return scrape.get((name, tuple(sorted(labels.items()))), 0.0)


@pytest.fixture
def key(api):
    owner = api.register()
    return create_key(api, owner, api.personal_workspace(owner))


def test_http_requests_are_counted_by_route_template_and_status(api, client):
    owner = api.register()
    missing = "ffffffffffffffffffffffff"
    assert api.request("get", f"/api/v1/talks/{missing}", owner).status_code == 404
    client.get("/no/such/route")
    scrape = samples(client)
    assert value(scrape, "synapscale_http_requests_total", method="GET",
                 route="/api/v1/talks/<talk_id>", status="404") == 1
    assert value(scrape, "synapscale_http_requests_total", method="GET", route="<unmatched>",
                 status="404") == 1
    assert value(scrape, "synapscale_http_request_duration_seconds_count", method="GET",
                 route="/api/v1/talks/<talk_id>") == 1
    assert not any(missing in str(labels) for _, labels in scrape)


def test_model_calls_count_tokens_cost_latency_and_time_to_first_token(client, key,
                                                                      mock_provider):
    assert completion(client, bearer(key["key"])).status_code == 200
    list(completion(client, bearer(key["key"]), stream=True).response)
    mock_provider.behave(None, status=500)
    assert completion(client, bearer(key["key"])).status_code == 502
    client.application.extensions["synapscale"].usage.flush()
    scrape = samples(client)
    model = MOCK_DEFAULT_MODEL
    assert value(scrape, "synapscale_llm_requests_total", model=model, status="success",
                 source="openai") == 2
    assert value(scrape, "synapscale_llm_requests_total", model=model, status="error",
                 source="openai") == 1
    assert value(scrape, "synapscale_llm_tokens_total", model=model, status="success",
                 kind="prompt") == 10
    assert value(scrape, "synapscale_llm_tokens_total", model=model, status="success",
                 kind="completion") == 6
    assert value(scrape, "synapscale_llm_cost_usd_total", model=model, status="success") > 0
    assert value(scrape, "synapscale_llm_request_duration_seconds_count", model=model,
                 status="success") == 2
    assert value(scrape, "synapscale_llm_time_to_first_token_seconds_count", model=model) == 1
    for streamed in ("true", "false"):
        assert value(scrape, "synapscale_gateway_overhead_seconds_count", api="openai",
                     stream=streamed) == 1


def test_calls_answered_by_a_fallback_are_counted_by_requested_and_answering_model(
        client, key, mock_provider):
    assert completion(client, bearer(key["key"])).status_code == 200
    mock_provider.behave(PRIMARY, status=500)
    assert completion(client, bearer(key["key"])).get_json()["model"] == MOCK_FALLBACK_MODEL
    list(completion(client, bearer(key["key"]), stream=True).response)
    scrape = samples(client)
    assert value(scrape, "synapscale_llm_fallbacks_total", requested=MOCK_DEFAULT_MODEL,
                 answered=MOCK_FALLBACK_MODEL) == 2
    assert value(scrape, "synapscale_llm_requests_total", model=MOCK_FALLBACK_MODEL,
                 status="success", source="openai") == 2


def test_calls_refused_by_a_spent_budget_are_counted_by_scope(api, client, mock_provider):
    owner = api.register()
    capped = create_key(api, owner, api.personal_workspace(owner), monthly_budget_usd=0)
    for stream in (False, True):
        assert completion(client, bearer(capped["key"]), stream=stream).status_code == 402
    scrape = samples(client)
    assert value(scrape, "synapscale_budget_refusals_total", scope="api_key") == 2
    assert value(scrape, "synapscale_budget_refusals_total", scope="workspace") == 0
    assert not mock_provider.requests


def test_an_open_stream_is_counted_until_it_closes(client, key, mock_provider):
    response = client.post("/v1/chat/completions", headers=bearer(key["key"]), buffered=False,
                           json={"model": MOCK_DEFAULT_MODEL, "stream": True,
                                 "messages": [{"role": "user", "content": "hi"}]})
    labels = {"route": "/v1/chat/completions"}
    assert value(samples(client), "synapscale_active_streams", **labels) == 1
    response.close()
    assert value(samples(client), "synapscale_active_streams", **labels) == 0


def test_finished_workflow_runs_are_counted_by_status(api, client, mock_provider):
    owner = api.register()
    workflow = create_workflow(api, owner, llm_workflow())
    assert execute(api, owner, workflow["id"], {"question": "hi"}).get_json()["status"] == "succeeded"
    mock_provider.behave(None, status=500)
    assert execute(api, owner, workflow["id"], {"question": "hi"}).get_json()["status"] == "failed"
    scrape = samples(client)
    assert value(scrape, "synapscale_workflow_runs_total", status="succeeded") == 1
    assert value(scrape, "synapscale_workflow_runs_total", status="failed") == 1


@pytest.mark.parametrize("settings_overrides", [{"metrics_token": "scrape-me"}])
def test_a_metrics_token_is_required_when_configured(client):
    assert client.get("/metrics").status_code == 401
    assert client.get("/metrics", headers=bearer("wrong")).status_code == 401
    assert samples(client, bearer("scrape-me"))


def test_metrics_are_documented_as_plain_text(client):
    operation = client.get("/openapi.json").get_json()["paths"]["/metrics"]["get"]
    assert "text/plain" in operation["responses"]["200"]["content"]
