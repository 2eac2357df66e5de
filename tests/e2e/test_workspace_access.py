"""Every workspace route against every relation to the workspace: exactly API.md's rights.

Each (action, role) cell runs against a fresh team workspace whose members are one user per role
plus `target` (a plain member other rules act on); `outsider` belongs to it in no way."""
from dataclasses import dataclass

import pytest

from entities.actor import Actor
from tests.support.api import ApiClient
from tests.support.identity import shared_app

ROLES = ("owner", "admin", "member", "viewer", "outsider")
WS = "/api/v1/workspaces/{ws}"


@dataclass
class Cell:
    method: str
    path: str
    body: dict | None = None
    setup: str | None = None  # done by the owner before the call


# action -> (request, expected status for owner, admin, member, viewer, outsider)
TABLE = {
    "read workspace": (Cell("GET", WS), (200, 200, 200, 200, 404)),
    "update workspace": (Cell("PATCH", WS, {"name": "New"}), (200, 200, 403, 403, 404)),
    "delete workspace": (Cell("DELETE", WS), (204, 403, 403, 403, 404)),
    "restore workspace": (Cell("POST", WS + "/restore", setup="delete"),
                          (200, 403, 403, 403, 404)),
    "list members": (Cell("GET", WS + "/members"), (200, 200, 200, 200, 404)),
    "add member": (Cell("POST", WS + "/members", {"email": "{newcomer_email}", "role": "member"}),
                   (201, 201, 403, 403, 404)),
    "add owner": (Cell("POST", WS + "/members", {"email": "{newcomer_email}", "role": "owner"}),
                  (201, 403, 403, 403, 404)),
    "change a member's role": (Cell("PATCH", WS + "/members/{target}", {"role": "viewer"}),
                               (200, 200, 403, 403, 404)),
    "make a member owner": (Cell("PATCH", WS + "/members/{target}", {"role": "owner"}),
                            (200, 403, 403, 403, 404)),
    "demote the owner": (Cell("PATCH", WS + "/members/{owner}", {"role": "member"}),
                         (409, 403, 403, 403, 404)),
    "remove a member": (Cell("DELETE", WS + "/members/{target}"), (204, 204, 403, 403, 404)),
    "remove the owner": (Cell("DELETE", WS + "/members/{owner}"), (409, 403, 403, 403, 404)),
    "leave": (Cell("DELETE", WS + "/members/{me}"), (409, 204, 204, 204, 404)),
    "list provider keys": (Cell("GET", WS + "/providers"), (200, 200, 403, 403, 404)),
    "set a provider key": (Cell("PUT", WS + "/providers/openai", {"api_key": "sk-test-12345678"}),
                           (200, 200, 403, 403, 404)),
    "delete a provider key": (Cell("DELETE", WS + "/providers/openai", setup="provider_key"),
                              (204, 204, 403, 403, 404)),
}


app = shared_app()


@pytest.fixture(scope="module")
def api(app):
    return ApiClient(app.test_client())


@pytest.fixture(scope="module")
def people(api):
    return {name: api.register(email=f"{name}@example.com")
            for name in (*ROLES, "target", "newcomer")}


def team(app, people) -> str:
    """Built through the use cases rather than HTTP: the table only times the cell's call."""
    workspaces = app.extensions["synapscale"].workspaces
    owner = Actor(people["owner"].id)
    workspace_id = workspaces.create(owner, "Team")[0].id
    for name, role in (("admin", "admin"), ("member", "member"), ("viewer", "viewer"),
                       ("target", "member")):
        workspaces.add_member(owner, workspace_id, people[name].user["email"], role)
    return workspace_id


def prepare(api, people, workspace_id: str, setup: str | None) -> None:
    owner = people["owner"]
    if setup == "delete":
        assert api.request("DELETE", WS.format(ws=workspace_id), owner).status_code == 204
    elif setup == "provider_key":
        response = api.request("PUT", WS.format(ws=workspace_id) + "/providers/openai", owner,
                               json={"api_key": "sk-test-12345678"})
        assert response.status_code == 200


def fill(template, values: dict):
    if isinstance(template, dict):
        return {key: fill(value, values) for key, value in template.items()}
    return template.format(**values) if isinstance(template, str) else template


@pytest.mark.parametrize("action", list(TABLE))
def test_each_role_gets_exactly_its_rights(app, api, people, action):
    cell, expected = TABLE[action]
    observed = []
    for role in ROLES:
        workspace_id = team(app, people)
        prepare(api, people, workspace_id, cell.setup)
        values = {"ws": workspace_id, "target": people["target"].id, "owner": people["owner"].id,
                  "me": people[role].id, "newcomer_email": people["newcomer"].user["email"]}
        response = api.request(cell.method, fill(cell.path, values), people[role],
                               json=fill(cell.body, values) if cell.body else None)
        observed.append(response.status_code)
    assert dict(zip(ROLES, observed, strict=True)) == dict(zip(ROLES, expected, strict=True))
