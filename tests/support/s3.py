"""A real S3-API server for the tests: moto in server mode (`python -m moto.server`), its own
process on loopback, one per test session, reached through boto3 like AWS S3 or MinIO.

Loaded by tests/conftest.py as a pytest plugin. Every app or storage gets a bucket of its own.
"""
from __future__ import annotations

import os
import uuid
from dataclasses import dataclass

import pytest

from adapters.embedded_mongo import free_port
from adapters.s3_storage import s3_client
from tests.support.processes import python_command, start, stop, wait_for_http

REGION = "us-east-1"
# moto accepts any credentials; these keep boto3 off whatever the machine has configured
CREDENTIALS = {"AWS_ACCESS_KEY_ID": "testing", "AWS_SECRET_ACCESS_KEY": "testing",
               "AWS_SESSION_TOKEN": "testing"}


@dataclass
class S3Server:
    endpoint_url: str

    def client(self):
        return s3_client(self.endpoint_url, REGION)

    def new_bucket(self) -> str:
        name = f"synapscale-{uuid.uuid4().hex[:16]}"
        self.client().create_bucket(Bucket=name)
        return name

    def settings(self, **overrides) -> dict:
        """Settings of an app that stores new file bytes in a fresh bucket of this server."""
        return {"file_storage": "s3", "s3_bucket": self.new_bucket(),
                "s3_endpoint_url": self.endpoint_url, "s3_region": REGION, **overrides}

    def keys(self, bucket: str) -> list[str]:
        """Every object in the bucket."""
        listing = self.client().list_objects_v2(Bucket=bucket)
        return [item["Key"] for item in listing.get("Contents", [])]

    def pending_uploads(self, bucket: str) -> list[str]:
        """Keys of the multipart uploads started and neither completed nor aborted."""
        listing = self.client().list_multipart_uploads(Bucket=bucket)
        return [item["Key"] for item in listing.get("Uploads", [])]


@pytest.fixture(scope="session")
def s3_server(tmp_path_factory):
    saved = {name: os.environ.get(name) for name in CREDENTIALS}
    os.environ.update(CREDENTIALS)
    port = free_port()
    process = start(python_command("-m", "moto.server", "-H", "127.0.0.1", "-p", str(port)),
                    {}, tmp_path_factory.mktemp("moto") / "moto.log")
    try:
        wait_for_http(f"http://127.0.0.1:{port}/moto-api/", process=process)
        yield S3Server(f"http://127.0.0.1:{port}")
    finally:
        stop(process)
        for name, value in saved.items():
            if value is None:
                os.environ.pop(name, None)
            else:
                os.environ[name] = value
