import pytest

from data.demo import DEMO_USERS


def test_init_db_creates_the_indexes(app, db):
    db.users.drop_indexes()
    result = app.test_cli_runner().invoke(args=["init-db"])
    assert result.exit_code == 0, result.output
    assert db.users.index_information()["email_unique"]["unique"]
    assert "one_membership" in db.memberships.index_information()
    assert "ttl" in db.sessions.index_information()


def test_seed_demo_creates_the_three_demo_users_once(app, api, client):
    runner = app.test_cli_runner()
    first = runner.invoke(args=["seed-demo"])
    assert first.exit_code == 0, first.output
    assert first.output.count("created") == 3
    second = runner.invoke(args=["seed-demo"])
    assert second.exit_code == 0 and second.output.count("already there") == 3
    for demo in DEMO_USERS:
        session = api.login(demo.email, demo.password)
        assert session.user["role"] == demo.role.value
        listing = client.get("/api/v1/workspaces", headers=session.headers).get_json()
        assert listing["total"] == 1 and listing["items"][0]["is_personal"]


PRODUCTION = {"app_env": "production", "cors_origins": ("https://app.example.com",),
              "public_base_url": "https://api.example.com",
              "secret_key": "app-Zk9vQmFyQmF6UXV4MTIzNDU2Nzg5MGFiY2RlZmdo",
              "jwt_secret_key": "jwt-9f8a7c6b5d4e3f2a1b0c9d8e7f6a5b4c3d2e1f0a",
              "encryption_key": "qNU5rT0e8hVx2m1oQyK7dWc3fZ9bLp4sA6gHjE0iUuM="}


@pytest.mark.parametrize("settings_overrides", [PRODUCTION])
def test_seed_demo_refuses_to_run_in_production(app, db):
    result = app.test_cli_runner().invoke(args=["seed-demo"])
    assert result.exit_code != 0
    assert "production" in result.output
    assert db.users.count_documents({}) == 0


def test_migrate_lists_the_migrations_and_refuses_an_unknown_target(app, db):
    runner = app.test_cli_runner()
    listed = runner.invoke(args=["migrate", "--status"])
    assert listed.exit_code == 0, listed.output
    assert listed.output.strip().splitlines() == ["0001_references_as_object_ids: not applied",
                                                  "0002_message_trees: not applied"]
    unknown = runner.invoke(args=["migrate", "--to", "9999_nothing"])
    assert unknown.exit_code != 0 and "No such migration: 9999_nothing" in unknown.output
    assert db.migrations.count_documents({}) == 0
    applied = runner.invoke(args=["migrate"])
    assert applied.exit_code == 0 and db.migrations.count_documents({"applied": {"$ne": None}}) == 2
