def test_register_login_me_and_workspace(api, client):
    session = api.register(email="Alice@Example.com", name="Alice")
    assert session.user["email"] == "alice@example.com"
    me = client.get("/api/v1/auth/me", headers=session.headers)
    assert me.status_code == 200 and me.get_json()["id"] == session.id
    assert "password_hash" not in me.get_json()
    listing = client.get("/api/v1/workspaces", headers=session.headers).get_json()
    assert listing["total"] == 1 and listing["items"][0]["role"] == "owner"


def test_duplicate_email_in_another_case_conflicts(api, client):
    api.register(email="bob@example.com")
    response = client.post("/api/v1/auth/register",
                           json={"email": "BOB@example.com", "password": "password-123", "name": "B"})
    assert response.status_code == 409
    assert response.get_json()["error"]["code"] == "conflict"


def test_refresh_token_reuse_revokes_the_session(api, client):
    session = api.register()
    refresh = {"Authorization": f"Bearer {session.refresh_token}"}
    first = client.post("/api/v1/auth/refresh", headers=refresh)
    assert first.status_code == 200
    again = client.post("/api/v1/auth/refresh", headers=refresh)
    assert again.status_code == 401
    new_access = {"Authorization": f"Bearer {first.get_json()['access_token']}"}
    assert client.get("/api/v1/auth/me", headers=new_access).status_code == 401


def test_unknown_field_and_malformed_json(client):
    response = client.post("/api/v1/auth/register",
                           json={"email": "x@example.com", "password": "password-123", "name": "X",
                                 "role": "admin"})
    assert response.status_code == 422
    assert "role" in response.get_json()["error"]["details"]
    response = client.post("/api/v1/auth/login", data="{bad", content_type="application/json")
    assert response.status_code == 400
    assert response.get_json()["error"]["code"] == "bad_request"
