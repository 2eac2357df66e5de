"""Every setting SynapScale reads, taken from environment variables (and `.env`).

Nothing here runs at import time: `Settings.from_env()` is called by the composition root.
"""
from __future__ import annotations

import os
from collections.abc import Mapping
from dataclasses import dataclass, field, fields
from typing import Any
from urllib.parse import urlsplit

DEFAULT_JWT_SECRET = "dev-jwt-secret-change-me-in-production!"
DEFAULT_SECRET_KEY = "dev-secret-key-change-me"
DEFAULT_ENCRYPTION_KEY = "ZGV2LWVuY3J5cHRpb24ta2V5LWNoYW5nZS1tZS0xMjM="  # Fernet key, dev only

DEFAULT_EXTENSIONS = ".pdf,.doc,.docx,.txt,.md,.csv,.json,.xlsx,.png,.jpg,.jpeg"

# Links the service sends (signed downloads, mail) start with PUBLIC_BASE_URL; in development
# without it, with this. Never with the request's Host header, which the client chooses.
DEFAULT_LOCAL_BASE_URL = "http://localhost:5000"

MIN_SECRET_BYTES = 32
MIN_SECRET_DISTINCT_CHARS = 8
# what env.example and similar files put where a secret goes; a value containing one is refused
PLACEHOLDER_MARKERS = ("change-me", "changeme", "change_me", "replace-me", "replaceme",
                       "replace_me", "your-secret", "your_secret", "placeholder", "example")


class ConfigurationError(RuntimeError):
    """The environment describes a configuration the service refuses to run with."""


def _bool(value: str) -> bool:
    return value.strip().lower() in {"1", "true", "yes", "on"}


def _list(value: str) -> tuple[str, ...]:
    return tuple(item.strip() for item in value.split(",") if item.strip())


@dataclass(frozen=True)
class Settings:
    app_env: str = "development"
    version: str = "1.0.0"
    secret_key: str = DEFAULT_SECRET_KEY
    log_level: str = "INFO"

    mongodb_uri: str = ""  # empty: start the embedded server
    mongodb_database: str = "synapscale"
    mongodb_timeout_ms: int = 2000
    embedded_mongo_path: str = "var/mongo"
    embedded_mongo_port: int = 27027

    jwt_secret_key: str = DEFAULT_JWT_SECRET
    jwt_access_token_expires: int = 900  # seconds
    jwt_refresh_token_expires: int = 604800
    bcrypt_rounds: int = 12

    cors_origins: tuple[str, ...] = ("http://localhost:3000", "http://127.0.0.1:3000")
    trusted_proxies: int = 0  # number of proxies in front (X-Forwarded-For hops to trust)

    encryption_key: str = DEFAULT_ENCRYPTION_KEY
    max_content_length: int = 1 * 1024 * 1024  # JSON bodies
    max_file_size: int = 10 * 1024 * 1024
    allowed_extensions: tuple[str, ...] = _list(DEFAULT_EXTENSIONS)
    workspace_storage_quota: int = 1024 * 1024 * 1024
    file_link_ttl_s: int = 900  # signed download links
    file_purge_after_days: int = 30  # `flask purge-files` removes files deleted longer ago
    file_context_max_chars: int = 24_000  # text of attached files given to the model
    file_context_max_image_bytes: int = 5 * 1024 * 1024
    file_text_max_chars: int = 200_000  # text kept per file version (read once, then sliced)
    file_text_max_pages: int = 500  # PDF pages read for text
    file_text_soft_time_s: float = 5.0  # reading a PDF's text stops here, keeping what was read
    # where new file bytes go: "gridfs" (MongoDB, the default) or "s3" (any S3-compatible store:
    # AWS S3, MinIO, R2...). Blobs already stored stay readable where they are while S3_BUCKET is
    # set; `flask move-files` moves them. Credentials: the standard AWS variables
    # (AWS_ACCESS_KEY_ID, AWS_SECRET_ACCESS_KEY, AWS_PROFILE...), read by boto3.
    file_storage: str = "gridfs"
    s3_bucket: str = ""
    s3_endpoint_url: str = ""  # empty: AWS S3; else e.g. http://minio:9000
    s3_region: str = ""  # empty: boto3's default (AWS_DEFAULT_REGION, else us-east-1)
    s3_public_endpoint_url: str = ""  # presigned links use it when clients reach S3 elsewhere
    s3_part_size: int = 8 * 1024 * 1024  # multipart upload part (S3's minimum is 5 MiB)
    # what GET /files/{id}/download returns: "signed" (the service's own link, bytes streamed by
    # the API) or "presigned" (an S3 presigned GET URL for blobs in S3; bytes served by S3)
    file_download_links: str = "signed"

    ratelimit_enabled: bool = True
    ratelimit_auth: str = "10 per minute"
    ratelimit_default: str = "600 per minute"
    ratelimit_llm: str = "60 per minute"
    # routes that send mail (register, verification resend, password reset), on top of the above:
    # per target account or address, and per client IP, each shared by all those routes
    ratelimit_mail: str = "3 per hour"
    ratelimit_mail_ip: str = "20 per hour"
    ratelimit_storage_uri: str = ""  # empty: the MongoDB database above (shared by all workers)

    models_config: str = "config/models.yaml"
    # the local model: LOCAL_MODEL_URL names an OpenAI-compatible server (Ollama, llama.cpp, vLLM);
    # empty: the app starts llama.cpp's on loopback, one per host, when the catalogue has one
    local_model_url: str = ""
    local_model_enabled: bool = True
    local_model_path: str = "var/local-model"  # the embedded server's status file and log
    local_model_port: int = 27028
    local_model_context_window: int = 2048
    local_model_threads: int = 0  # 0: llama.cpp's default (half the cores)
    default_model: str = ""
    llm_timeout_s: float = 60.0
    llm_max_reply_chars: int = 200_000
    chat_max_generations: int = 128  # replies generated at once per process (more: 503)
    chat_flush_interval_s: float = 0.25  # how often a streaming reply's progress is stored
    import_max_bytes: int = 512 * 1024 * 1024  # one uploaded export (POST /talks/import)
    import_max_messages: int = 20_000  # per imported conversation
    import_max_jobs: int = 2  # imports (and, apart, account exports) running at once per process
    stream_keepalive_s: float = 15.0  # SSE keep-alive comment interval
    api_key_cache_ttl_s: float = 5.0  # a revoked key works on other workers this long at most
    api_key_touch_interval_s: float = 60.0  # how often a key's last_used_at is written
    budget_cache_ttl_s: float = 5.0  # budget amounts read again after this long (changes are announced)
    budget_hold_ttl_s: float = 600.0  # a call's budget reservation not settled by then is released

    smtp_host: str = ""
    smtp_port: int = 587
    smtp_user: str = ""
    smtp_password: str = ""
    smtp_from: str = "SynapScale <no-reply@synapscale.local>"
    smtp_tls: bool = True

    metrics_token: str = ""  # set: /metrics wants `Authorization: Bearer <token>`
    prometheus_multiproc_dir: str = ""  # set (gunicorn.conf.py does): metrics of every worker
    public_base_url: str = ""
    outbound_allowlist: tuple[str, ...] = ()

    webhook_max_per_workspace: int = 20
    webhook_max_attempts: int = 6  # then the delivery is marked failed
    webhook_backoff_base_s: float = 30.0  # delay before the 2nd attempt; doubles each time
    webhook_backoff_max_s: float = 3600.0
    webhook_timeout_s: float = 10.0
    webhook_poll_interval_s: float = 1.0  # how often each process looks for due deliveries

    # workflows: runs execute in this many threads of each API process (0: dedicated workers
    # only, `flask --app app worker`), leased to one worker at a time
    workflow_runner_threads: int = 8
    workflow_lease_s: float = 30.0  # a run whose worker stops heartbeating is reclaimed after this
    workflow_heartbeat_s: float = 1.0  # also how quickly a cancel reaches another process
    workflow_poll_s: float = 1.0  # how often idle runners look for queued or abandoned runs
    workflow_max_claims: int = 3  # a run abandoned this many times is failed, not retried
    workflow_wait_s: float = 30.0  # longest `wait: true` on execute, then 202
    workflow_node_timeout_s: float = 60.0  # per node attempt, unless its config says otherwise
    workflow_max_steps: int = 1000  # node attempts per run, retries included
    workflow_max_run_s: float = 600.0
    workflow_max_output_bytes: int = 1_000_000  # one node's output, and a run's outputs
    workflow_max_parallel_nodes: int = 8  # node attempts running at once in one run
    workflow_http_max_bytes: int = 1024 * 1024  # response body cap of http_request nodes
    workflow_max_state_bytes: int = 8_000_000  # all node outputs of a run (a document holds 16 MB)

    # untrusted work (templates, JSONPath, PDF text) runs in these child processes of each API
    # process, each task within a wall-clock and CPU time limit and a memory limit
    sandbox_workers: int = 2
    sandbox_timeout_s: float = 10.0  # per task (a node's own timeout_s can only shorten it)
    sandbox_memory_mb: int = 256  # per worker, above its size at start

    extra: Mapping[str, Any] = field(default_factory=dict)

    @property
    def is_production(self) -> bool:
        return self.app_env == "production"

    @classmethod
    def from_env(cls, environ: Mapping[str, str] | None = None, **overrides: Any) -> Settings:
        env = os.environ if environ is None else environ
        values: dict[str, Any] = {}
        for f in fields(cls):
            if f.name == "extra":
                continue
            raw = env.get(f.name.upper())
            if raw is None:
                continue
            default = getattr(cls, f.name, None)
            if isinstance(default, bool):
                values[f.name] = _bool(raw)
            elif isinstance(default, int):
                values[f.name] = int(raw)
            elif isinstance(default, float):
                values[f.name] = float(raw)
            elif isinstance(default, tuple):
                values[f.name] = _list(raw)
            else:
                values[f.name] = raw
        values.update(overrides)
        settings = cls(**values)
        settings.check()
        return settings

    @property
    def link_base_url(self) -> str:
        """Where links the service sends start: PUBLIC_BASE_URL, else (development only: production
        requires it) the local default. Never the request's Host header."""
        return (self.public_base_url.strip() or DEFAULT_LOCAL_BASE_URL).rstrip("/")

    def secrets(self) -> dict[str, str]:
        """Every secret the service holds, by the variable that sets it (one entry per key of
        ENCRYPTION_KEY; METRICS_TOKEN when set)."""
        found = {"SECRET_KEY": self.secret_key, "JWT_SECRET_KEY": self.jwt_secret_key}
        keys = [key.strip() for key in self.encryption_key.split(",")]
        for index, key in enumerate(keys):
            found["ENCRYPTION_KEY" if len(keys) == 1 else f"ENCRYPTION_KEY[{index + 1}]"] = key
        if self.metrics_token:
            found["METRICS_TOKEN"] = self.metrics_token
        return found

    def check(self) -> None:
        """Raises ConfigurationError, naming every problem, for a configuration the service
        refuses: in any environment a malformed PUBLIC_BASE_URL, an unknown FILE_STORAGE or
        FILE_DOWNLOAD_LINKS, S3 chosen without S3_BUCKET, S3_PART_SIZE under 5 MiB, presigned
        links living over 7 days; in production also weak secrets (defaults, placeholders, under
        32 bytes, too few distinct characters, two alike), a missing PUBLIC_BASE_URL and
        CORS_ORIGINS=*."""
        problems = _base_url_problems(self.public_base_url) + _storage_problems(self)
        if self.is_production:
            problems += _secret_problems(self.secrets())
            if not self.public_base_url.strip():
                problems.append("PUBLIC_BASE_URL is required (the https:// address clients use; "
                                "links are never built from the request's Host header)")
            if "*" in self.cors_origins:
                problems.append("CORS_ORIGINS=* is refused")
        if problems:
            where = "APP_ENV=production refuses" if self.is_production else "Refused"
            raise ConfigurationError(f"{where} this configuration: " + "; ".join(problems))


DEFAULT_SECRETS = frozenset({DEFAULT_JWT_SECRET, DEFAULT_SECRET_KEY, DEFAULT_ENCRYPTION_KEY})


def _secret_problems(secrets: Mapping[str, str]) -> list[str]:
    problems = []
    for name, value in secrets.items():
        if value in DEFAULT_SECRETS:
            problems.append(f"{name} is the development default; set your own")
        elif any(marker in value.lower() for marker in PLACEHOLDER_MARKERS):
            problems.append(f"{name} is a placeholder (as in env.example); set your own")
        elif len(value.encode()) < MIN_SECRET_BYTES:
            problems.append(f"{name} is shorter than {MIN_SECRET_BYTES} bytes")
        elif len(set(value)) < MIN_SECRET_DISTINCT_CHARS:
            problems.append(f"{name} has fewer than {MIN_SECRET_DISTINCT_CHARS} distinct "
                            "characters")
    by_value: dict[str, list[str]] = {}
    for name, value in secrets.items():
        by_value.setdefault(value, []).append(name)
    problems += [f"{' and '.join(names)} are equal; each needs its own value"
                 for names in by_value.values() if len(names) > 1]
    return problems


FILE_STORAGES = ("gridfs", "s3")
DOWNLOAD_LINKS = ("signed", "presigned")
S3_MIN_PART_BYTES = 5 * 1024 * 1024
PRESIGNED_MAX_S = 7 * 24 * 3600  # SigV4's longest validity


def _storage_problems(settings: Settings) -> list[str]:
    problems = []
    if settings.file_storage not in FILE_STORAGES:
        problems.append(f"FILE_STORAGE={settings.file_storage!r} is not one of "
                        f"{', '.join(FILE_STORAGES)}")
    if settings.file_download_links not in DOWNLOAD_LINKS:
        problems.append(f"FILE_DOWNLOAD_LINKS={settings.file_download_links!r} is not one of "
                        f"{', '.join(DOWNLOAD_LINKS)}")
    needs_bucket = settings.file_storage == "s3" or settings.file_download_links == "presigned"
    if needs_bucket and not settings.s3_bucket.strip():
        problems.append("S3_BUCKET is required with FILE_STORAGE=s3 or "
                        "FILE_DOWNLOAD_LINKS=presigned")
    if settings.file_download_links == "presigned" and settings.file_link_ttl_s > PRESIGNED_MAX_S:
        problems.append(f"FILE_LINK_TTL_S over {PRESIGNED_MAX_S} (7 days) cannot be an S3 "
                        "presigned URL's lifetime")
    if settings.s3_part_size < S3_MIN_PART_BYTES:
        problems.append(f"S3_PART_SIZE must be at least {S3_MIN_PART_BYTES} bytes (S3's minimum "
                        "multipart part)")
    return problems


def _base_url_problems(url: str) -> list[str]:
    if not url.strip():
        return []
    parts = urlsplit(url.strip())
    if parts.scheme not in ("http", "https") or not parts.hostname or parts.query \
            or parts.fragment or parts.username or parts.password:
        return [f"PUBLIC_BASE_URL={url!r} is not an absolute http(s) URL without credentials, "
                "query or fragment (e.g. https://synapscale.example.com)"]
    return []
