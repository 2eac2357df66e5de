"""In-memory fakes of the API-key and spend ports, and a hand-moved clock."""
from __future__ import annotations

from dataclasses import replace
from datetime import UTC, datetime, timedelta

from entities.api_key import ApiKey
from tests.unit.fakes import new_id
from use_cases.gateway.ports import ApiKeyRepository, SpendRepository


class FakeApiKeyRepository(ApiKeyRepository):
    def __init__(self):
        self.keys: dict[str, ApiKey] = {}
        self.lookups: list[datetime | None] = []  # touch_at of every find_by_hash

    def add(self, key):
        key = replace(key, id=new_id())
        self.keys[key.id] = key
        return key

    def get(self, key_id):
        return self.keys.get(key_id)

    def list(self, workspace_id):
        return [k for k in self.keys.values()
                if k.workspace_id == workspace_id and k.revoked_at is None]

    def find_by_hash(self, key_hash, touch_at=None):
        self.lookups.append(touch_at)
        key = next((k for k in self.keys.values() if k.key_hash == key_hash), None)
        if key is not None and touch_at is not None and key.revoked_at is None:
            key = self.keys[key.id] = replace(key, last_used_at=touch_at)
        return key

    def revoke(self, workspace_id, key_id, at):
        key = self.keys.get(key_id)
        if key is None or key.workspace_id != workspace_id or key.revoked_at is not None:
            return None
        key = self.keys[key_id] = replace(key, revoked_at=at)
        return key


class FakeSpendRepository(SpendRepository):
    def __init__(self):
        self.totals: dict[tuple, float] = {}
        self.reads = 0
        self.fail = False

    def add(self, increments):
        if self.fail:
            raise ConnectionError("database down")
        for inc in increments:
            key = (inc.scope, inc.ref_id, inc.month)
            self.totals[key] = self.totals.get(key, 0.0) + inc.cost_usd

    def spent(self, scope, ref_id, month):
        self.reads += 1
        return self.totals.get((scope, ref_id, month), 0.0)


class Clock:
    """Wall time and a monotonic clock that only move when told to."""

    def __init__(self, now: datetime = datetime(2026, 3, 15, 12, tzinfo=UTC)):
        self.now = now
        self.seconds = 1000.0

    def wall(self) -> datetime:
        return self.now

    def monotonic(self) -> float:
        return self.seconds

    def advance(self, seconds: float) -> None:
        self.seconds += seconds
        self.now += timedelta(seconds=seconds)
