"""Production refuses weak configuration (issue 16 #3): default, placeholder, short or repeated
secrets, secrets alike, no PUBLIC_BASE_URL; links start with the configured base, never Host."""
import pytest

from config.settings import DEFAULT_LOCAL_BASE_URL, ConfigurationError, Settings

SECRETS = {"JWT_SECRET_KEY": "jwt-9f8a7c6b5d4e3f2a1b0c9d8e7f6a5b4c3d2e1f",
           "SECRET_KEY": "app-Zk9vQmFyQmF6UXV4MTIzNDU2Nzg5MGFiY2Rl",
           "ENCRYPTION_KEY": "qNU5rT0e8hVx2m1oQyK7dWc3fZ9bLp4sA6gHjE0iUuM="}
PRODUCTION = {"APP_ENV": "production", "CORS_ORIGINS": "https://app.example.com",
              "PUBLIC_BASE_URL": "https://synapscale.example.com", **SECRETS}


def refused(**changes) -> str:
    with pytest.raises(ConfigurationError) as raised:
        Settings.from_env({**PRODUCTION, **changes})
    return str(raised.value)


def test_production_starts_with_strong_distinct_secrets_and_a_public_base_url():
    settings = Settings.from_env(PRODUCTION)
    assert settings.is_production
    assert settings.link_base_url == "https://synapscale.example.com"


@pytest.mark.parametrize("name", sorted(SECRETS))
@pytest.mark.parametrize("value, reason", [
    ("change-me", "placeholder"),
    ("CHANGE-ME-please-0123456789abcdefghijklmnop", "placeholder"),
    ("x", "shorter than 32 bytes"),
    ("s3cr3t-but-short", "shorter than 32 bytes"),
    ("a" * 64, "distinct characters"),
    ("abababababababababababababababababab", "distinct characters"),
])
def test_production_refuses_a_weak_secret(name, value, reason):
    message = refused(**{name: value})
    assert name in message and reason in message


def test_production_refuses_the_env_example_as_it_is():
    message = refused(SECRET_KEY="change-me", JWT_SECRET_KEY="change-me",
                      ENCRYPTION_KEY="change-me")
    for name in SECRETS:
        assert f"{name} is a placeholder" in message


def test_production_refuses_two_secrets_alike():
    message = refused(JWT_SECRET_KEY=SECRETS["SECRET_KEY"])
    assert "SECRET_KEY and JWT_SECRET_KEY are equal" in message


def test_every_encryption_key_and_the_metrics_token_are_secrets_too():
    assert "ENCRYPTION_KEY[2] is shorter" in refused(
        ENCRYPTION_KEY=SECRETS["ENCRYPTION_KEY"] + ",short")
    assert "METRICS_TOKEN is a placeholder" in refused(METRICS_TOKEN="change-me")
    assert "METRICS_TOKEN and SECRET_KEY are equal" in refused(METRICS_TOKEN=SECRETS["SECRET_KEY"]) \
        or "SECRET_KEY and METRICS_TOKEN are equal" in refused(METRICS_TOKEN=SECRETS["SECRET_KEY"])


def test_production_requires_a_public_base_url():
    assert "PUBLIC_BASE_URL is required" in refused(PUBLIC_BASE_URL="")
    assert "PUBLIC_BASE_URL is required" in refused(PUBLIC_BASE_URL="   ")


@pytest.mark.parametrize("url", ["synapscale.example.com", "ftp://x.example", "https://",
                                 "https://u:p@x.example", "https://x.example/?next=1"])
def test_a_malformed_public_base_url_is_refused_in_any_environment(url):
    assert "PUBLIC_BASE_URL" in refused(PUBLIC_BASE_URL=url)
    with pytest.raises(ConfigurationError):
        Settings.from_env({"PUBLIC_BASE_URL": url})


def test_development_links_start_with_the_configured_or_local_base():
    assert Settings.from_env({}).link_base_url == DEFAULT_LOCAL_BASE_URL
    assert Settings.from_env({"PUBLIC_BASE_URL": "https://api.example.org/"}).link_base_url == \
        "https://api.example.org"
