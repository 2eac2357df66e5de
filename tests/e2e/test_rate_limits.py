import pytest

LOGIN = "/api/v1/auth/login"
WRONG = {"email": "nobody@example.com", "password": "wrong-password"}


def limited(**overrides):
    return pytest.mark.parametrize("settings_overrides", [overrides])


@limited(ratelimit_auth="3 per minute")
def test_login_is_limited_per_ip_with_retry_after(client, db):
    statuses = [client.post(LOGIN, json=WRONG).status_code for _ in range(4)]
    assert statuses == [401, 401, 401, 429]
    response = client.post(LOGIN, json=WRONG)
    assert response.status_code == 429
    assert response.get_json()["error"]["code"] == "rate_limited"
    assert 0 < int(response.headers["Retry-After"]) <= 60
    assert response.headers["X-RateLimit-Limit"] == "3"
    assert response.headers["X-RateLimit-Remaining"] == "0"
    assert "X-RateLimit-Reset" in response.headers
    assert db.ratelimit_counters.count_documents({}) > 0  # shared by workers through MongoDB


@limited(ratelimit_auth="2 per minute")
def test_password_reset_and_register_are_limited_too(client):
    reset = [client.post("/api/v1/auth/password-reset", json={"email": "a@example.com"})
             for _ in range(3)]
    assert [r.status_code for r in reset] == [202, 202, 429]
    bodies = [{"email": f"u{i}@example.com", "password": "correct-horse-1", "name": "U"}
              for i in range(3)]
    register = [client.post("/api/v1/auth/register", json=body) for body in bodies]
    assert [r.status_code for r in register] == [201, 201, 429]


@limited(ratelimit_auth="2 per minute", trusted_proxies=1)
def test_behind_a_trusted_proxy_the_forwarded_address_is_the_client(client):
    for address in ("203.0.113.1", "203.0.113.2"):
        headers = {"X-Forwarded-For": address}
        statuses = [client.post(LOGIN, json=WRONG, headers=headers).status_code for _ in range(3)]
        assert statuses == [401, 401, 429]


@limited(ratelimit_auth="2 per minute")
def test_without_a_trusted_proxy_forwarded_headers_cannot_dodge_the_limit(client):
    statuses = [client.post(LOGIN, json=WRONG, headers={"X-Forwarded-For": f"198.51.100.{i}"})
                .status_code for i in range(3)]
    assert statuses == [401, 401, 429]


@limited(ratelimit_default="5 per minute", ratelimit_auth="100 per minute")
def test_the_default_limit_counts_per_user_across_routes(api, client):
    ann, bob = api.register(), api.register()
    paths = ["/api/v1/auth/me", "/api/v1/workspaces"] * 3
    statuses = [client.get(path, headers=ann.headers).status_code for path in paths]
    assert statuses[:4] == [200] * 4 and statuses[-1] == 429
    assert client.get("/api/v1/auth/me", headers=bob.headers).status_code == 200
    assert client.get("/health").status_code == 200  # service routes are never limited


@limited(ratelimit_enabled=False, ratelimit_auth="1 per minute")
def test_limits_can_be_switched_off(client):
    assert [client.post(LOGIN, json=WRONG).status_code for _ in range(3)] == [401] * 3


RESEND = "/api/v1/auth/verify-email/resend"
RESET = "/api/v1/auth/password-reset"


@limited(ratelimit_mail="3 per hour")
def test_verification_mail_is_limited_per_account(api, client, db):
    """Issue 16 #4: 20 resends in a row queued 20 mails."""
    session = api.register()
    statuses = [client.post(RESEND, headers=session.headers).status_code for _ in range(20)]
    assert statuses == [202] * 3 + [429] * 17
    assert db.outbox.count_documents({"to": session.user["email"]}) == 1 + 3  # register + 3
    other = api.register()
    assert client.post(RESEND, headers=other.headers).status_code == 202


@limited(ratelimit_mail="3 per hour", trusted_proxies=1)
def test_password_reset_mail_is_limited_per_address_whatever_the_ip(api, client, db):
    session = api.register()  # the registration mailed the address once already
    email = session.user["email"]
    statuses = [client.post(RESET, json={"email": email.upper()},
                            headers={"X-Forwarded-For": f"203.0.113.{i}"}).status_code
                for i in range(4)]
    assert statuses == [202, 202, 429, 429]
    assert db.outbox.count_documents({"to": email, "subject": {"$regex": "Reset"}}) == 2
    assert client.post(RESET, json={"email": "someone-else@example.com"}).status_code == 202


@limited(ratelimit_mail_ip="3 per hour")
def test_mail_sending_routes_share_one_limit_per_ip(api, client):
    session = api.register()  # 1
    assert client.post(RESET, json={"email": "a@example.com"}).status_code == 202  # 2
    assert client.post(RESEND, headers=session.headers).status_code == 202  # 3
    assert client.post(RESET, json={"email": "b@example.com"}).status_code == 429
    body = {"email": "c@example.com", "password": "correct-horse-1", "name": "C"}
    assert client.post("/api/v1/auth/register", json=body).status_code == 429
