"""In-memory fakes of the API-key and spend ports, and a hand-moved clock."""
from __future__ import annotations

from dataclasses import replace
from datetime import UTC, datetime, timedelta

from entities.api_key import ApiKey
from entities.budget import Counter, SpendTotals
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
    """Spend counters in memory, with the MongoDB repository's hold and settle rules."""

    def __init__(self):
        self.counters: dict[Counter, dict] = {}
        self.fail = False

    def _counter(self, counter: Counter) -> dict:
        return self.counters.setdefault(counter, {"cost": 0.0, "reserved": 0.0, "requests": 0,
                                                  "holds": {}, "alerted": []})

    def add(self, increments):
        if self.fail:
            raise ConnectionError("database down")
        for inc in increments:
            row = self._counter(Counter(inc.scope, inc.ref_id, inc.month))
            row["cost"] += inc.cost_usd
            row["requests"] += inc.requests

    def spent(self, scope, ref_id, month):
        return self._counter(Counter(scope, ref_id, month))["cost"]

    def totals(self, counters):
        return {c: SpendTotals(self._counter(c)["cost"], self._counter(c)["reserved"])
                for c in counters}

    def hold(self, counter, hold_id, amount, budget_usd, expires_at):
        if self.fail:
            raise ConnectionError("database down")
        row = self._counter(counter)
        committed = row["cost"] + row["reserved"]
        if committed >= budget_usd or committed + amount > budget_usd:
            return False
        row["reserved"] += amount
        row["holds"][hold_id] = (amount, expires_at)
        return True

    def settle(self, hold_id, counters, cost_usd, requests=1):
        for counter, held in counters:
            row = self._counter(counter)
            if held and row["holds"].pop(hold_id, None) is not None:
                row["reserved"] -= held
            row["cost"] += cost_usd
            row["requests"] += requests

    def release(self, counter, hold_id, held):
        row = self._counter(counter)
        if row["holds"].pop(hold_id, None) is None:
            return False
        row["reserved"] -= held
        return True

    def expired_holds(self, now, limit=100):
        return [(counter, hold_id, amount) for counter, row in self.counters.items()
                for hold_id, (amount, expires_at) in row["holds"].items() if expires_at < now][:limit]

    def mark_alerted(self, counter, threshold):
        row = self._counter(counter)
        if threshold in row["alerted"]:
            return False
        row["alerted"].append(threshold)
        return True


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
