"""Monthly spend counters (collection `spend`): one document per scope, id and month.

    {_id: "workspace:<id>:2026-11", scope, ref_id, month,
     cost_usd, requests,            # settled
     reserved_usd,                  # held by calls in flight
     committed_usd,                 # cost_usd + reserved_usd: what a budget is checked against
     holds: [{id, amount, expires_at}], alerted: [0.5, 0.8, ...]}

A hold is one conditional update (`committed_usd <= budget - amount`), so concurrent calls on any
number of workers can never commit more than the budget; settling is one update that removes the
hold by its id, so settling twice (a retry, the sweeper racing the caller) changes nothing.
"""
from __future__ import annotations

from datetime import datetime

from pymongo import ASCENDING, UpdateOne
from pymongo.errors import DuplicateKeyError

from entities.budget import Counter, SpendScope, SpendTotals
from entities.clock import utcnow
from repositories.mongo import MongoRepository
from use_cases.gateway.ports import HoldRequest, Settlement, SpendRepository


def counter_id(scope: SpendScope, ref_id: str, month: str) -> str:
    return f"{scope.value}:{ref_id}:{month}"


def _id(counter: Counter) -> str:
    return counter_id(counter.scope, counter.ref_id, counter.month)


def _settle_holds(counter: Counter, holds: list[tuple[str, float, float]],
                  now: datetime) -> UpdateOne:
    """Replaces these holds ((hold id, held, cost)) by their costs, if the counter still has
    every one of them (so a settlement written twice changes nothing)."""
    ids = [hold_id for hold_id, _held, _cost in holds]
    cost = sum(cost for _id, _held, cost in holds)
    held = sum(held for _id, held, _cost in holds)
    return UpdateOne(
        {"_id": _id(counter), "holds.id": {"$all": ids}},
        {"$inc": {"cost_usd": cost, "reserved_usd": -held, "committed_usd": cost - held,
                  "requests": len(holds)},
         "$pull": {"holds": {"id": {"$in": ids}}}, "$set": {"updated_at": now}})


def _identity(counter: Counter) -> dict:
    return {"scope": counter.scope.value, "ref_id": counter.ref_id, "month": counter.month}


def _add_cost(counter: Counter, cost: float, requests: int, now: datetime) -> UpdateOne:
    """Adds the cost of calls that hold nothing on this counter (creating it if need be)."""
    return UpdateOne({"_id": _id(counter)},
                     {"$inc": {"cost_usd": cost, "committed_usd": cost, "requests": requests},
                      "$set": {"updated_at": now}, "$setOnInsert": _identity(counter)},
                     upsert=True)


class MongoSpendRepository(MongoRepository, SpendRepository):
    collection_name = "spend"
    indexes = [([("holds.expires_at", ASCENDING)], {"name": "hold_expiry", "sparse": True})]

    def totals(self, counters: list[Counter]) -> dict[Counter, SpendTotals]:
        by_id = {_id(counter): counter for counter in counters}
        found = {doc["_id"]: doc for doc in self.collection.find(
            {"_id": {"$in": list(by_id)}}, {"cost_usd": 1, "reserved_usd": 1})}
        return {counter: SpendTotals(float(found.get(key, {}).get("cost_usd", 0.0)),
                                     float(found.get(key, {}).get("reserved_usd", 0.0)))
                for key, counter in by_id.items()}

    def hold(self, counter: Counter, hold_id: str, amount: float, budget_usd: float,
             expires_at: datetime) -> bool:
        return self._hold_together(counter, [(counter, hold_id, amount, budget_usd, expires_at)])

    def hold_many(self, requests: list[HoldRequest]) -> list[bool]:
        """The holds on one counter in one conditional update when they fit together (one write
        where concurrent calls would each update the same document and conflict), else one by
        one in order."""
        results = [False] * len(requests)
        by_counter: dict[Counter, list[int]] = {}
        for index, request in enumerate(requests):
            by_counter.setdefault(request[0], []).append(index)
        for counter, indexes in by_counter.items():
            if len(indexes) > 1 and self._hold_together(counter, [requests[i] for i in indexes]):
                for index in indexes:
                    results[index] = True
                continue
            for index in indexes:
                results[index] = self.hold(*requests[index])
        return results

    def _hold_together(self, counter: Counter, requests: list[HoldRequest]) -> bool:
        """All these holds on `counter` in one conditional update, or none of them."""
        total = sum(amount for _counter, _id, amount, _budget, _expires in requests)
        budget_usd = min(budget for _counter, _id, _amount, budget, _expires in requests)
        holds = [{"id": hold_id, "amount": amount, "expires_at": expires_at}
                 for _counter, hold_id, amount, _budget, expires_at in requests]
        for _attempt in range(2):  # the second after creating (or completing) the counter
            result = self.collection.update_one(
                {"_id": _id(counter),
                 "committed_usd": {"$lt": budget_usd, "$lte": budget_usd - total}},
                {"$inc": {"reserved_usd": total, "committed_usd": total},
                 "$push": {"holds": {"$each": holds}}, "$set": {"updated_at": utcnow()}})
            if result.modified_count == 1:
                return True
            if not self._ensure(counter):
                return False  # the counter was complete: the budget refused
        return False

    def settle(self, hold_id: str, counters: list[tuple[Counter, float]], cost_usd: float,
               requests: int = 1) -> None:
        now = utcnow()
        unheld = []
        for counter, held in counters:
            if held and self.collection.update_one(
                    {"_id": _id(counter), "holds.id": hold_id},
                    {"$inc": {"cost_usd": cost_usd, "reserved_usd": -held,
                              "committed_usd": cost_usd - held, "requests": requests},
                     "$pull": {"holds": {"id": hold_id}}, "$set": {"updated_at": now}}
            ).modified_count == 1:
                continue
            unheld.append(counter)  # no hold, or one released meanwhile: add the cost alone
        if unheld and (cost_usd or requests):
            self.collection.bulk_write([_add_cost(counter, cost_usd, requests, now)
                                        for counter in unheld], ordered=False)

    def settle_many(self, settlements: list[Settlement]) -> None:
        """One bulk write for any number of calls: holds replaced by costs, costs without a
        hold summed per counter. Holds that may have been released (their call outlived them)
        are settled one by one as settle() does (the hold removed, else the cost added alone, in
        one conditional update per counter): a look-up first, then the write, would lose the
        cost of a hold the sweeper released in between."""
        now = utcnow()
        for hold_id, counters, cost, maybe_released in settlements:
            if maybe_released:
                self.settle(hold_id, counters, cost)
        settlements = [settlement for settlement in settlements if not settlement[3]]
        held_by_counter: dict[Counter, list[tuple[str, float, float]]] = {}
        unheld: dict[Counter, list[float]] = {}
        for hold_id, counters, cost, _maybe_released in settlements:
            for counter, held in counters:
                if held:
                    holds = held_by_counter.setdefault(counter, [])
                    if all(hold_id != other for other, _held, _cost in holds):  # once each
                        holds.append((hold_id, held, cost))
                else:  # no hold: add the cost alone
                    total = unheld.setdefault(counter, [0.0, 0])
                    total[0] += cost
                    total[1] += 1
        # one update per counter for all its holds (they are its document's hot spot); should
        # one of them be gone (a batch written twice), each hold is then settled on its own
        operations = [_settle_holds(counter, holds, now)
                      for counter, holds in held_by_counter.items()]
        operations += [_add_cost(counter, cost, int(requests), now)
                       for counter, (cost, requests) in unheld.items()]
        if not operations:
            return
        result = self.collection.bulk_write(operations, ordered=False)
        alone = [_settle_holds(counter, [hold], now) for counter, holds in held_by_counter.items()
                 if len(holds) > 1 for hold in holds]
        if alone and result.matched_count + result.upserted_count < len(operations):
            self.collection.bulk_write(alone, ordered=False)

    def release(self, counter: Counter, hold_id: str, held: float) -> bool:
        return self.collection.update_one(
            {"_id": _id(counter), "holds.id": hold_id},
            {"$inc": {"reserved_usd": -held, "committed_usd": -held},
             "$pull": {"holds": {"id": hold_id}}, "$set": {"updated_at": utcnow()}}).modified_count == 1

    def expired_holds(self, now: datetime, limit: int = 100) -> list[tuple[Counter, str, float]]:
        expired = []
        for doc in self.collection.find({"holds.expires_at": {"$lt": now}},
                                        {"scope": 1, "ref_id": 1, "month": 1, "holds": 1}).limit(limit):
            counter = Counter(SpendScope(doc["scope"]), doc["ref_id"], doc["month"])
            expired += [(counter, hold["id"], float(hold["amount"])) for hold in doc.get("holds", [])
                        if hold["expires_at"] < now]
        return expired

    def mark_alerted(self, counter: Counter, threshold: float) -> bool:
        result = self.collection.update_one({"_id": _id(counter), "alerted": {"$ne": threshold}},
                                            {"$push": {"alerted": threshold}})
        return result.modified_count == 1

    def _ensure(self, counter: Counter) -> bool:
        """Creates the counter, or gives one written before holds existed its committed_usd;
        False when it was already complete."""
        try:
            created = self.collection.update_one(
                {"_id": _id(counter)},
                {"$setOnInsert": {**_identity(counter), "cost_usd": 0.0, "reserved_usd": 0.0,
                                  "committed_usd": 0.0, "requests": 0, "holds": []}},
                upsert=True).upserted_id is not None
        except DuplicateKeyError:  # created by a concurrent call in between
            return True
        if created:
            return True
        legacy = self.collection.find_one({"_id": _id(counter), "committed_usd": {"$exists": False}})
        if legacy is None:
            return False
        self.collection.update_one(
            {"_id": _id(counter), "committed_usd": {"$exists": False},
             "cost_usd": legacy.get("cost_usd", 0.0)},
            {"$set": {"committed_usd": legacy.get("cost_usd", 0.0), "reserved_usd": 0.0}})
        return True
