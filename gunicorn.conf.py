"""gunicorn settings: `gunicorn "app:create_app()"` reads this file from the working directory.

Every value comes from the environment (and `.env`). The worker class is gthread: one thread per
connection, so WebSockets and SSE streams sit beside ordinary requests while bcrypt and other
C code that releases the GIL run in parallel. bench/ws_capacity.py measured it against
gevent (README, "Choosing the gunicorn worker class").
"""
from __future__ import annotations

import os
import shutil
import tempfile
import threading
import time

from dotenv import load_dotenv

load_dotenv()


def _int(name: str, default: int) -> int:
    return int(os.environ.get(name) or default)


bind = f"{os.environ.get('HOST', '0.0.0.0')}:{_int('PORT', 5000)}"
workers = _int("WEB_CONCURRENCY", 2)
worker_class = os.environ.get("GUNICORN_WORKER_CLASS", "gthread")
# gthread: one thread per open connection, so this bounds the WebSockets/SSE streams per worker.
threads = _int("GUNICORN_THREADS", 1000)
# open connections per worker, kept-alive idle ones included (gevent: the greenlet pool size)
worker_connections = _int("GUNICORN_WORKER_CONNECTIONS", 2000)
preload_app = False  # each worker builds its own app and MongoClient after the fork

# `timeout` is the worker heartbeat, not a request limit: long streams are fine.
timeout = _int("GUNICORN_TIMEOUT", 30)
keepalive = _int("GUNICORN_KEEPALIVE", 5)
# On shutdown or recycling a worker stops accepting, ends its event feeds at once (clients
# reconnect to another worker), and gives replies still being generated this long to finish.
graceful_timeout = _int("GUNICORN_GRACEFUL_TIMEOUT", 120)
max_requests = _int("GUNICORN_MAX_REQUESTS", 5000)
max_requests_jitter = _int("GUNICORN_MAX_REQUESTS_JITTER", 500)

accesslog = None  # the app writes one JSON line per request
errorlog = "-"
loglevel = os.environ.get("LOG_LEVEL", "info").lower()
# Proxies whose X-Forwarded-Proto gunicorn believes; the client IP is the app's job (TRUSTED_PROXIES).
forwarded_allow_ips = os.environ.get("FORWARDED_ALLOW_IPS", "127.0.0.1,::1")
SHARED_MEMORY = "/dev/shm"  # noqa: S108 - gunicorn's recommended heartbeat directory
if os.path.isdir(SHARED_MEMORY):
    worker_tmp_dir = SHARED_MEMORY  # heartbeat file on tmpfs: a slow disk cannot stall workers

_embedded = None
_metrics_dir: str | None = None


def on_starting(server) -> None:
    _prepare_metrics_dir()
    _start_embedded_services(server)


def _prepare_metrics_dir() -> None:
    """prometheus-client's multiprocess mode: every worker writes its samples to files here and
    /metrics adds them up. Must be empty at start; the workers inherit the variable."""
    global _metrics_dir
    configured = os.environ.get("PROMETHEUS_MULTIPROC_DIR")
    if configured:
        os.makedirs(configured, exist_ok=True)
        for name in os.listdir(configured):
            if name.endswith(".db"):
                os.remove(os.path.join(configured, name))
    else:
        _metrics_dir = tempfile.mkdtemp(prefix="synapscale-metrics-")
        os.environ["PROMETHEUS_MULTIPROC_DIR"] = _metrics_dir


def _start_embedded_services(server) -> None:
    """Without MONGODB_URI, the embedded development database; without LOCAL_MODEL_URL, the local
    model server: started once, here in the master, which supervises them; the workers inherit
    their addresses. Both die with the master, however it ends."""
    global _embedded
    from adapters.embedded_services import EmbeddedServices
    from config.logging_setup import configure_logging
    from config.settings import Settings

    settings = Settings.from_env()
    configure_logging(settings.log_level)  # the supervisor's lines, as JSON like the workers'
    _embedded = EmbeddedServices(settings)
    os.environ["MONGODB_URI"] = _embedded.mongodb_uri()
    local_model = _embedded.local_model_endpoint()
    if local_model.url:
        os.environ["LOCAL_MODEL_URL"] = local_model.url
        server.log.info("local model server at %s", local_model.url)


def child_exit(server, worker) -> None:
    from prometheus_client import multiprocess

    multiprocess.mark_process_dead(worker.pid)  # its live gauges (open streams) stop counting


def on_exit(server) -> None:
    if _embedded is not None:
        _embedded.stop()
    if _metrics_dir is not None:
        shutil.rmtree(_metrics_dir, ignore_errors=True)


def post_fork(server, worker) -> None:
    """A worker dies with its master however the master ends: gunicorn's own check of the parent
    (once a second, then a graceful exit) can leave workers serving for a while after a SIGKILL."""
    import signal

    from adapters.child_process import die_with_parent

    die_with_parent(worker.ppid, signal.SIGKILL)


def post_worker_init(worker) -> None:
    """Warm the model gateway before the worker takes requests; watch for it leaving its loop
    (SIGTERM, max_requests, parent gone) and drain."""
    from app import drain, warm_up

    warm_up(worker.wsgi)

    def watch() -> None:
        while worker.alive:
            time.sleep(0.5)
        drain(worker.wsgi)

    threading.Thread(target=watch, name="drain-watch", daemon=True).start()
