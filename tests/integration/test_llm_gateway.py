"""The LiteLLM gateway against the mock OpenAI-compatible provider, through a real Router."""
from __future__ import annotations

import subprocess
import sys
import uuid
from pathlib import Path
from types import SimpleNamespace

import pytest
import yaml

from adapters import model_catalogue
from adapters.embedded_mongo import free_port
from adapters.llm_gateway import LiteLLMGateway
from adapters.model_catalogue import CatalogueError
from adapters.outbound_http import GuardedHttpClient
from entities.errors import (
    InvalidParameter,
    UpstreamError,
    UpstreamRateLimited,
    UpstreamTimeout,
    ValidationFailed,
)
from entities.llm import ChatRequest, EmbeddingRequest, ProviderCredential, UsageRecord
from repositories.mongo import connect
from repositories.usage import MongoUsageRepository
from tests.fakes.gateway import FakeProviderCredentials, meter_without_budgets
from tests.fakes.workspaces import FakeAccess
from tests.support.fixtures import MOCK_DEFAULT_MODEL, MOCK_FALLBACK_MODEL
from tests.support.mock_provider import FALLBACK, INPUT_COST, OUTPUT_COST, PRIMARY, embedding
from use_cases.gateway.estimates import worst_case_cost
from use_cases.gateway.llm_chat import LLMChat
from use_cases.gateway.usage_recorder import UsageRecorder

HELLO = [{"role": "user", "content": "hello there"}]


@pytest.fixture
def catalogue(tmp_path, mock_provider):
    return mock_provider.write_catalogue(tmp_path / "models.yaml", timeout=1.0, num_retries=0)


@pytest.fixture
def gateway(catalogue) -> LiteLLMGateway:
    return LiteLLMGateway(catalogue, default_model=MOCK_DEFAULT_MODEL, max_reply_chars=5_000)


def ask(content: str = "hello there", **kwargs) -> ChatRequest:
    return ChatRequest(messages=[{"role": "user", "content": content}], **kwargs)


def test_a_completion_returns_the_reply_with_usage_cost_and_latency(gateway, mock_provider):
    result = gateway.complete(ask(temperature=0.2, max_tokens=50))

    assert result.content == "Echo: hello there"
    assert result.model == MOCK_DEFAULT_MODEL and result.provider == "openai"
    assert not result.fallback_used
    assert result.usage.prompt_tokens > 0 and result.usage.completion_tokens == 3
    expected = result.usage.prompt_tokens * INPUT_COST + result.usage.completion_tokens * OUTPUT_COST
    assert result.usage.cost_usd == pytest.approx(expected)
    assert result.latency_ms > 0
    sent = mock_provider.requests[-1]
    assert sent["model"] == PRIMARY and sent["messages"] == HELLO
    assert sent["temperature"] == 0.2 and sent["max_tokens"] == 50


def test_a_stream_yields_deltas_then_the_result_with_usage(gateway, mock_provider):
    mock_provider.behave(PRIMARY, reply="one two three four", token_delay=0.01)

    chunks = list(gateway.stream(ask()))

    deltas = [c.delta for c in chunks if c.result is None]
    assert "".join(deltas) == "one two three four" and len(deltas) == 4
    result = chunks[-1].result
    assert result is not None and result.content == "one two three four"
    assert result.usage.completion_tokens == 4 and result.usage.prompt_tokens > 0
    assert result.usage.cost_usd > 0
    assert 0 < result.ttft_ms <= result.latency_ms
    assert mock_provider.requests[-1]["stream"] is True


@pytest.mark.parametrize("failure", [{"status": 500}, {"status": 429, "retry_after": 1}])
def test_a_failing_primary_falls_back_to_the_second_model(gateway, mock_provider, failure):
    mock_provider.behave(PRIMARY, **failure)

    result = gateway.complete(ask())

    assert result.model == MOCK_FALLBACK_MODEL and result.fallback_used
    assert result.content == "Echo: hello there"
    assert [body["model"] for body in mock_provider.requests] == [PRIMARY, FALLBACK]


def test_a_stream_falls_back_before_its_first_token(gateway, mock_provider):
    mock_provider.behave(PRIMARY, status=500)

    chunks = list(gateway.stream(ask()))

    assert chunks[-1].result.model == MOCK_FALLBACK_MODEL and chunks[-1].result.fallback_used


def test_a_provider_that_hangs_raises_upstream_timeout(gateway, mock_provider):
    mock_provider.behave(None, hang=10)

    with pytest.raises(UpstreamTimeout):
        gateway.complete(ask())


def test_when_every_model_fails_the_gateway_raises_upstream_error(gateway, mock_provider):
    mock_provider.behave(None, status=500)

    with pytest.raises(UpstreamError) as caught:
        gateway.complete(ask())

    assert type(caught.value) is UpstreamError
    assert "mock 500" not in caught.value.message  # provider text is logged, not returned
    with pytest.raises(UpstreamError):
        gateway.stream(ask())


def test_rate_limits_everywhere_raise_rate_limited_with_retry_after(gateway, mock_provider):
    mock_provider.behave(None, status=429, retry_after=7)

    with pytest.raises(UpstreamRateLimited) as caught:
        gateway.complete(ask())

    assert caught.value.retry_after == 7


@pytest.mark.parametrize("body", [{"junk": True}, {"body": '{"choices": []}'},
                                  {"body": '{"unexpected": 1}'}])
def test_a_malformed_reply_raises_upstream_error(gateway, mock_provider, body):
    mock_provider.behave(None, **body)

    with pytest.raises(UpstreamError):
        gateway.complete(ask())
    with pytest.raises(UpstreamError):
        list(gateway.stream(ask()))


def test_an_oversized_reply_raises_upstream_error(gateway, mock_provider):
    mock_provider.behave(None, reply=" ".join(f"word{i}" for i in range(1_000)))

    with pytest.raises(UpstreamError, match="exceeded 5000 characters"):
        gateway.complete(ask())
    with pytest.raises(UpstreamError, match="exceeded 5000 characters"):
        list(gateway.stream(ask()))


def test_a_workspace_key_reaches_its_provider(gateway, mock_provider):
    credentials = {"openai": ProviderCredential("openai", "sk-workspace-key")}

    gateway.complete(ask(credentials=credentials))
    list(gateway.stream(ask(credentials=credentials)))
    gateway.complete(ask())

    auth = [headers["authorization"] for headers in mock_provider.request_headers]
    assert auth == ["Bearer sk-workspace-key", "Bearer sk-workspace-key", "Bearer test"]


def test_another_providers_key_is_not_sent(gateway, mock_provider):
    gateway.complete(ask(credentials={"anthropic": ProviderCredential("anthropic", "sk-ant")}))

    assert mock_provider.request_headers[-1]["authorization"] == "Bearer test"


def test_an_unknown_model_is_rejected_without_calling_a_provider(gateway, mock_provider):
    with pytest.raises(ValidationFailed):
        gateway.complete(ask(model="openai/nope"))

    assert mock_provider.requests == []


def write(tmp_path, catalogue: dict):
    path = tmp_path / "custom.yaml"
    path.write_text(yaml.safe_dump(catalogue))
    return path


def keyed_catalogue(mock_provider, tmp_path):
    """A model whose key comes from an unset variable, falling back to the mock primary."""
    return write(tmp_path, {
        "model_list": [
            {"model_name": "openai/keyed", "litellm_params": {
                "model": f"openai/{FALLBACK}", "api_base": mock_provider.url,
                "api_key": "os.environ/SYNAPSCALE_TEST_UNSET_KEY"}},
            {"model_name": MOCK_DEFAULT_MODEL, "litellm_params": {
                "model": f"openai/{PRIMARY}", "api_base": mock_provider.url, "api_key": "test"}},
        ],
        "router_settings": {"num_retries": 0, "timeout": 2,
                            "fallbacks": [{"openai/keyed": [MOCK_DEFAULT_MODEL]}]},
    })


def test_a_model_without_credentials_is_unavailable_until_a_workspace_adds_a_key(
        mock_provider, tmp_path, monkeypatch):
    monkeypatch.delenv("SYNAPSCALE_TEST_UNSET_KEY", raising=False)
    gateway = LiteLLMGateway(keyed_catalogue(mock_provider, tmp_path), default_model="openai/keyed")
    workspace = {"openai": ProviderCredential("openai", "sk-ws")}

    assert {m.id: m.available for m in gateway.models({})} == {
        "openai/keyed": False, MOCK_DEFAULT_MODEL: True}
    assert gateway.default_model({}) == MOCK_DEFAULT_MODEL
    assert gateway.default_model(workspace) == "openai/keyed"
    assert all(m.available for m in gateway.models(workspace))

    result = gateway.complete(ask(model="openai/keyed"))
    assert result.model == MOCK_DEFAULT_MODEL and result.fallback_used
    assert [body["model"] for body in mock_provider.requests] == [PRIMARY]

    result = gateway.complete(ask(model="openai/keyed", credentials=workspace))
    assert result.model == "openai/keyed" and not result.fallback_used
    assert mock_provider.request_headers[-1]["authorization"] == "Bearer sk-ws"


def test_an_unavailable_model_without_fallbacks_says_what_to_configure(
        mock_provider, tmp_path, monkeypatch):
    monkeypatch.delenv("SYNAPSCALE_TEST_UNSET_KEY", raising=False)
    path = write(tmp_path, {"model_list": [{"model_name": "anthropic/claude-x", "litellm_params": {
        "model": "anthropic/claude-x", "api_key": "os.environ/SYNAPSCALE_TEST_UNSET_KEY"}}]})
    gateway = LiteLLMGateway(path)

    with pytest.raises(UpstreamError, match="ANTHROPIC_API_KEY"):
        gateway.complete(ask(model="anthropic/claude-x"))


def test_without_the_local_runtime_the_local_model_says_what_to_install(tmp_path, monkeypatch):
    monkeypatch.setattr(model_catalogue, "local_runtime_installed", lambda: False)
    gateway = LiteLLMGateway(tmp_path / "missing.yaml", environ={})  # no file: the local model only

    [info] = gateway.models({})
    assert info.id == "local/smollm2" and not info.available and info.default
    with pytest.raises(UpstreamError, match="make install"):
        gateway.complete(ask())


def test_without_a_local_model_server_the_local_model_says_what_to_set(tmp_path, monkeypatch):
    monkeypatch.setattr(model_catalogue, "local_runtime_installed", lambda: True)
    gateway = LiteLLMGateway(tmp_path / "missing.yaml", environ={})

    with pytest.raises(UpstreamError, match="LOCAL_MODEL_URL"):
        gateway.complete(ask())


def test_the_default_model_is_the_configured_one_when_available(catalogue):
    assert LiteLLMGateway(catalogue, default_model=MOCK_FALLBACK_MODEL).default_model({}) == (
        MOCK_FALLBACK_MODEL)
    assert LiteLLMGateway(catalogue, default_model="openai/unknown").default_model({}) == (
        MOCK_DEFAULT_MODEL)


def test_models_describe_context_window_and_prices(gateway):
    models = {m.id: m for m in gateway.models({})}

    primary = models[MOCK_DEFAULT_MODEL]
    assert primary.default and primary.available and primary.context_window == 8192
    assert primary.input_cost_per_token == INPUT_COST
    assert primary.output_cost_per_token == OUTPUT_COST


def test_tokens_are_counted_and_unknown_models_get_a_default_window(gateway):
    assert gateway.count_tokens(MOCK_DEFAULT_MODEL, HELLO) > 0
    assert gateway.context_window("openai/unknown") == 8192


def test_the_worst_case_cost_counts_the_function_specs_sent_with_the_prompt(gateway):
    """An agent's tools can outweigh its messages: a reservation without them would let a call
    cost far more than was held against the budget."""
    tools = [{"type": "function", "function": {
        "name": f"f{i}", "description": "look things up " * 200,
        "parameters": {"type": "object", "properties": {}}}} for i in range(8)]
    bare = ChatRequest(messages=HELLO, model=MOCK_DEFAULT_MODEL, max_tokens=10)
    with_tools = ChatRequest(messages=HELLO, model=MOCK_DEFAULT_MODEL, max_tokens=10,
                             extra={"tools": tools})
    assert gateway.count_tokens(MOCK_DEFAULT_MODEL, HELLO, tools) > \
        gateway.count_tokens(MOCK_DEFAULT_MODEL, HELLO) + 8 * 600
    assert worst_case_cost(gateway, with_tools) > worst_case_cost(gateway, bare) + \
        8 * 600 * INPUT_COST


def test_the_default_catalogue_knows_the_usual_providers():
    gateway = LiteLLMGateway("config/models.yaml", environ={"OPENAI_API_KEY": "sk-test"})

    models = {m.id: m for m in gateway.models({})}
    assert {"openai/gpt-4o", "openai/gpt-4o-mini", "anthropic/claude-sonnet-4-5",
            "gemini/gemini-2.5-flash", "ollama/llama3", "local/smollm2"} <= set(models)
    assert models["openai/gpt-4o-mini"].available and models["openai/gpt-4o-mini"].default
    assert not models["anthropic/claude-sonnet-4-5"].available
    assert models["openai/gpt-4o"].context_window == 128000
    google = {"google": ProviderCredential("google", "g-key")}
    assert {m.id: m.available for m in gateway.models(google)}["gemini/gemini-2.5-flash"]


# --- usage recording ---------------------------------------------------------------------------

@pytest.fixture
def db(mongo_uri):
    """A fresh database on the session's MongoDB, without building the whole app."""
    client = connect(mongo_uri)
    name = f"test_usage_{uuid.uuid4().hex[:12]}"
    yield client[name]
    client.drop_database(name)
    client.close()


@pytest.fixture
def usage_repo(db):
    repo = MongoUsageRepository(db)
    repo.ensure_indexes()
    return repo


def test_usage_of_chats_is_batched_into_mongodb(gateway, mock_provider, usage_repo, db):
    recorder = UsageRecorder(usage_repo, flush_interval=60, batch_size=4)
    chat = LLMChat(gateway, FakeProviderCredentials(), FakeAccess(personal="personal-ws"),
                   meter_without_budgets(gateway, recorder))
    mock_provider.behave(PRIMARY, status=500, times=1)

    for _ in range(3):
        chat.chat("user-1", "ws-1", ask(), api_key_id="key-1")
    list(chat.chat_stream("user-1", None, ask()))
    mock_provider.reset()
    mock_provider.behave(None, status=500)
    with pytest.raises(UpstreamError):
        chat.chat("user-1", "ws-1", ask())

    recorder.close()
    docs = list(db.usage.find({}, sort=[("created_at", 1)]))
    assert len(docs) == 5 and recorder.pending == 0
    first = docs[0]
    assert first["workspace_id"] == "ws-1" and first["user_id"] == "user-1"
    assert first["api_key_id"] == "key-1" and first["source"] == "llm_chat"
    assert first["model"] == MOCK_FALLBACK_MODEL and first["status"] == "success"
    assert first["prompt_tokens"] > 0 and first["cost_usd"] > 0 and first["latency_ms"] > 0
    assert docs[3]["workspace_id"] == "personal-ws" and docs[3]["ttft_ms"] is not None
    assert docs[4]["status"] == "error" and docs[4]["error"] == "upstream_error"
    assert {"workspace_at", "user_at", "model_at", "api_key_at"} <= set(
        db.usage.index_information())


def test_a_batch_written_twice_is_stored_once(usage_repo, db):
    records = [UsageRecord(workspace_id="ws", user_id="u", model="m", provider="p",
                           status="success", source="llm_chat", latency_ms=i) for i in range(3)]

    usage_repo.add_many(records)
    usage_repo.add_many(records)

    assert db.usage.count_documents({}) == 3


def test_extra_parameters_cannot_redirect_the_call(gateway, mock_provider):
    gateway.complete(ask(extra={"api_base": "http://169.254.169.254/v1", "api_key": "x",
                                "seed": 7, "model": "other"}))

    sent = mock_provider.requests[-1]
    assert sent["seed"] == 7 and sent["model"] == PRIMARY
    assert mock_provider.request_headers[-1]["authorization"] == "Bearer test"


def test_building_the_gateway_does_not_import_litellm(catalogue):
    code = ("import sys; from adapters.llm_gateway import LiteLLMGateway; "
            f"LiteLLMGateway({str(catalogue)!r}); print('litellm' in sys.modules)")
    out = subprocess.run([sys.executable, "-c", code], capture_output=True, text=True,
                         cwd=Path(__file__).resolve().parents[2], check=True)

    assert out.stdout.strip() == "False"


def test_an_unreadable_catalogue_refuses_to_start(tmp_path):
    path = tmp_path / "models.yaml"
    path.write_text("model_list: [{litellm_params: {model: x}}]")

    with pytest.raises(CatalogueError):
        LiteLLMGateway(path)


# --- tenant isolation ----------------------------------------------------------------------------

LOOPBACK_ALLOWED = GuardedHttpClient(["127.0.0.1"]).check_url  # the mock provider's address

def single_model_catalogue(mock_provider, tmp_path):
    """One model on the server's key, shut out for 30 s after one failure (LiteLLM's defaults
    would hide the sharing this guards against)."""
    return write(tmp_path, {
        "model_list": [{"model_name": "openai/shared", "litellm_params": {
            "model": f"openai/{PRIMARY}", "api_base": mock_provider.url, "api_key": "sk-server"}}],
        "router_settings": {"num_retries": 0, "allowed_fails": 1, "cooldown_time": 30,
                            "retry_after": 0, "timeout": 2}})


def test_a_failing_workspace_credential_never_shuts_out_the_server_or_another_workspace(
        mock_provider, tmp_path):
    gateway = LiteLLMGateway(single_model_catalogue(mock_provider, tmp_path), environ={},
                             check_address=LOOPBACK_ALLOWED)

    broken = {"openai": ProviderCredential("openai", "sk-a", f"http://127.0.0.1:{free_port()}/v1")}
    for _ in range(3):
        with pytest.raises(UpstreamError):
            gateway.complete(ask(model="openai/shared", credentials=broken))

    assert gateway.complete(ask(model="openai/shared")).content  # the server's own key
    other = {"openai": ProviderCredential("openai", "sk-b")}
    assert gateway.complete(ask(model="openai/shared", credentials=other)).content
    assert [h["authorization"] for h in mock_provider.request_headers] == [
        "Bearer sk-server", "Bearer sk-b"]


def test_a_workspace_address_never_receives_the_servers_key(mock_provider, tmp_path):
    gateway = LiteLLMGateway(single_model_catalogue(mock_provider, tmp_path),
                             environ={"OPENAI_API_KEY": "sk-server-env"}, check_address=LOOPBACK_ALLOWED)
    base_only = {"openai": ProviderCredential("openai", None, mock_provider.url)}

    assert not {m.id: m.available for m in gateway.models(base_only)}["openai/shared"]
    with pytest.raises(UpstreamError, match="no api_key"):
        gateway.complete(ask(model="openai/shared", credentials=base_only))
    assert mock_provider.requests == []


def test_a_workspace_credential_replaces_the_servers_address_settings(mock_provider, tmp_path):
    path = write(tmp_path, {"model_list": [{"model_name": "openai/shared", "litellm_params": {
        "model": f"openai/{PRIMARY}", "api_base": "http://operator-proxy.invalid/v1",
        "api_key": "sk-server", "organization": "org-server"}}]})
    gateway = LiteLLMGateway(path, environ={}, check_address=LOOPBACK_ALLOWED)
    own = {"openai": ProviderCredential("openai", "sk-ws", mock_provider.url)}

    assert gateway.complete(ask(model="openai/shared", credentials=own)).content
    assert mock_provider.request_headers[-1]["authorization"] == "Bearer sk-ws"
    assert "openai-organization" not in mock_provider.request_headers[-1]


def test_a_workspace_address_is_checked_again_when_called(mock_provider, tmp_path):
    """Saved while it pointed outside, the name now resolves inside (DNS rebinding)."""
    resolves_inside = GuardedHttpClient(resolver=lambda host, port: ["10.0.0.5"]).check_url
    gateway = LiteLLMGateway(single_model_catalogue(mock_provider, tmp_path), environ={},
                             check_address=resolves_inside)
    rebound = {"openai": ProviderCredential("openai", "sk-ws", "http://api.example.com/v1")}

    with pytest.raises(UpstreamError, match="api_base is refused"):
        gateway.complete(ask(model="openai/shared", credentials=rebound))
    assert mock_provider.requests == []
    assert gateway.complete(ask(model="openai/shared")).content  # the server's own is unaffected


def test_an_embedding_model_is_never_the_default_nor_a_chat_model(tmp_path, mock_provider):
    embedder = mock_provider.embedding_entry("mock-embed")
    catalogue = mock_provider.write_catalogue(tmp_path / "embed-first.yaml", timeout=5.0)
    raw = yaml.safe_load(catalogue.read_text())
    raw["model_list"].insert(0, embedder)
    catalogue.write_text(yaml.safe_dump(raw))
    gateway = LiteLLMGateway(catalogue, default_model="")
    assert gateway.default_model({}) == MOCK_DEFAULT_MODEL
    modes = {model.id: model.mode for model in gateway.models({})}
    assert modes == {"openai/mock-embed": "embedding", MOCK_DEFAULT_MODEL: "chat",
                     MOCK_FALLBACK_MODEL: "chat"}
    with pytest.raises(InvalidParameter) as refused:
        gateway.complete(ChatRequest(messages=[{"role": "user", "content": "hi"}],
                                     model="openai/mock-embed"))
    assert refused.value.param == "model"
    embedded = gateway.embed(EmbeddingRequest(input=["a b c"], model="openai/mock-embed"))
    assert embedded.vectors == [embedding("a b c")]
    assert (embedded.usage.prompt_tokens, embedded.usage.cost_usd) == (3, 3 * INPUT_COST)
    assert mock_provider.requests == []


def test_calls_reuse_pooled_connections_to_the_provider(gateway, mock_provider):
    """LiteLLM's synchronous calls each built a new HTTP client, so every call opened a new
    connection (a TLS handshake, against a real provider); calls share one pool now."""
    mock_provider.reset()

    for _ in range(3):
        gateway.complete(ask())
        list(gateway.stream(ask()))

    assert len(mock_provider.requests) == 6
    assert mock_provider.connections <= 1


def test_a_stream_abandoned_midway_is_closed(gateway, mock_provider):
    mock_provider.behave(PRIMARY, reply=" ".join(["word"] * 200), token_delay=0.01)
    stream = gateway.stream(ask())
    assert next(stream).delta

    stream.close()

    mock_provider.behave(PRIMARY, reply="after", token_delay=0)
    assert gateway.complete(ask()).content == "after"  # the pool still serves calls


class _Chunks:
    """A provider stream (as LLM_CALLS.iterate hands it over) that records being closed."""

    def __init__(self, texts: list[str]):
        self._chunks = iter([SimpleNamespace(id="c1", usage=None, choices=[SimpleNamespace(
            finish_reason=None, delta=SimpleNamespace(content=text, tool_calls=None))])
            for text in texts])
        self.closed = False

    def __iter__(self):
        return self

    def __next__(self):
        return next(self._chunks)

    def close(self) -> None:
        self.closed = True


def test_a_stream_that_fails_midway_hangs_up_at_once_even_while_its_error_is_kept(gateway):
    """The reply passes the size cap: the error raised keeps the reading frame alive (in its
    traceback, as a use case storing the error does), so only an explicit close hangs up."""
    chunks = _Chunks(["x" * 3_000, "y" * 3_000, "z"])
    request = ask()

    with pytest.raises(UpstreamError) as kept:
        for _chunk in gateway._deltas(chunks, request, MOCK_DEFAULT_MODEL, MOCK_DEFAULT_MODEL, 0.0):
            pass

    assert kept.value is not None
    assert chunks.closed


def test_a_stream_stopped_by_its_reader_hangs_up_at_once(gateway):
    chunks = _Chunks(["one", "two", "three"])
    deltas = gateway._deltas(chunks, ask(), MOCK_DEFAULT_MODEL, MOCK_DEFAULT_MODEL, 0.0)
    assert next(deltas).delta == "one"

    deltas.close()  # use_cases/chat: stop generation

    assert chunks.closed
