"""The services the app starts itself when the settings name no other: the development MongoDB
(no MONGODB_URI) and the local model server (no LOCAL_MODEL_URL, and a local model in the
catalogue). Used by the process that owns the app's lifetime: `python app.py`, gunicorn's master
(gunicorn.conf.py, which hands the addresses to its workers), a test session. Both are shared by
every process of the host and die with the process that started them.
"""
from __future__ import annotations

import logging
from dataclasses import dataclass
from typing import Any

from adapters.embedded_mongo import EmbeddedMongo
from adapters.local_model_server import INSTALL_HINT, LocalModelServer, ServerOptions, runtime_installed
from adapters.model_catalogue import load_catalogue

log = logging.getLogger(__name__)


@dataclass(frozen=True)
class LocalModelEndpoint:
    url: str  # the OpenAI base URL, "" when there is no local model
    reason: str = ""  # why there is none


class EmbeddedServices:
    def __init__(self, settings: Any):
        self.settings = settings
        self.mongo: EmbeddedMongo | None = None
        self.local_model: LocalModelServer | None = None

    def mongodb_uri(self) -> str:
        """MONGODB_URI, else the embedded server's (started unless it already runs)."""
        if self.settings.mongodb_uri:
            return self.settings.mongodb_uri
        self.mongo = EmbeddedMongo(self.settings.embedded_mongo_path, self.settings.embedded_mongo_port)
        return self.mongo.ensure_running()

    def local_model_endpoint(self) -> LocalModelEndpoint:
        """LOCAL_MODEL_URL, else the host's local model server (started and supervised by this
        process unless another one does), else "" and the reason."""
        settings = self.settings
        if settings.local_model_url:
            return LocalModelEndpoint(settings.local_model_url)
        if not any(entry.is_local for entry in load_catalogue(settings.models_config, {}).entries):
            return LocalModelEndpoint("", "the model catalogue has no local model")
        if not settings.local_model_enabled:
            return LocalModelEndpoint("", "LOCAL_MODEL_ENABLED is false")
        if not runtime_installed():
            log.warning("the local model runtime is not installed: run %s", INSTALL_HINT)
            return LocalModelEndpoint("", f"not installed: run {INSTALL_HINT}")
        server = LocalModelServer(settings.local_model_path, ServerOptions(
            settings.local_model_port, settings.local_model_context_window,
            settings.local_model_threads))
        try:
            url = server.ensure_running()
        except OSError as error:  # LOCAL_MODEL_PATH cannot be written: serve without the model
            log.error("the local model server cannot start: %s", error)
            return LocalModelEndpoint("", f"LOCAL_MODEL_PATH is not usable: {error.strerror}")
        self.local_model = server
        return LocalModelEndpoint(url)

    @property
    def started_any(self) -> bool:
        """Whether this process started (or stands by to take over) one of them."""
        return bool((self.mongo and self.mongo.process) or self.local_model)

    def stop(self) -> None:
        """Stop what this process started (a no-op for servers it only uses)."""
        if self.local_model is not None:
            self.local_model.stop()
        if self.mongo is not None:
            self.mongo.stop()
