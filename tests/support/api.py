"""A thin helper over Flask's test client for e2e tests."""
from __future__ import annotations

import uuid
from dataclasses import dataclass


@dataclass
class Session:
    user: dict
    access_token: str
    refresh_token: str

    @property
    def headers(self) -> dict:
        return {"Authorization": f"Bearer {self.access_token}"}

    @property
    def id(self) -> str:
        return self.user["id"]


class ApiClient:
    def __init__(self, client):
        self.client = client

    def register(self, email: str | None = None, password: str = "correct-horse-1",
                 name: str = "Test User") -> Session:
        email = email or f"user-{uuid.uuid4().hex[:10]}@example.com"
        response = self.client.post("/api/v1/auth/register",
                                    json={"email": email, "password": password, "name": name})
        assert response.status_code == 201, response.get_json()
        body = response.get_json()
        return Session(body["user"], body["access_token"], body["refresh_token"])

    def login(self, email: str, password: str) -> Session:
        response = self.client.post("/api/v1/auth/login", json={"email": email, "password": password})
        assert response.status_code == 200, response.get_json()
        body = response.get_json()
        return Session(body["user"], body["access_token"], body["refresh_token"])

    def personal_workspace(self, session: Session) -> str:
        response = self.client.get("/api/v1/workspaces", headers=session.headers)
        assert response.status_code == 200, response.get_json()
        return response.get_json()["items"][0]["id"]

    def request(self, method: str, path: str, session: Session | None = None, **kwargs):
        headers = kwargs.pop("headers", {})
        if session is not None:
            headers = {**session.headers, **headers}
        return self.client.open(path, method=method.upper(), headers=headers, **kwargs)
