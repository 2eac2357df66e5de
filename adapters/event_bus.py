"""An event bus over MongoDB, so events cross gunicorn workers and hosts with no extra broker.

Publishing inserts into the `events` collection (TTL-trimmed). Each process runs one listener
thread that follows that collection with a change stream (MongoDB replica sets, Atlas, the
embedded server) or, on a standalone mongod where change streams do not exist, by polling new
ids; it fans events out to the in-process subscriptions whose topic matches.
"""
from __future__ import annotations

import logging
import queue
import threading
import time
from collections import defaultdict

from pymongo import ASCENDING
from pymongo.database import Database
from pymongo.errors import OperationFailure, PyMongoError

from entities.clock import utcnow
from use_cases.shared.ports import EventBus, Subscription

log = logging.getLogger(__name__)

EVENT_TTL_S = 3600
POLL_INTERVAL_S = 0.1
# After a change-stream read that brought nothing, wait this long before the next: a server
# that wakes every waiting change stream on any write (the embedded SecantusDB does; mongod
# filters on the server) would otherwise answer one empty getMore per write per process, which
# under load cost as much database CPU as the writes themselves (bench.gateway_overhead).
# Events that arrive meanwhile are read together; the price is at most this much latency.
EMPTY_READ_PAUSE_S = 0.02


class _LocalSubscription(Subscription):
    def __init__(self, bus: MongoEventBus, topics: list[str]):
        self.bus = bus
        self.topics = topics
        self.queue: queue.Queue = queue.Queue(maxsize=10_000)
        self.bus_closed = False

    @property
    def closed(self) -> bool:
        return self.bus_closed

    def deliver(self, event: dict) -> None:
        try:
            self.queue.put_nowait(event)
        except queue.Full:  # a stuck consumer must not block the listener for everyone
            log.warning("dropping event for a slow subscriber")

    def get(self, timeout: float) -> dict | None:
        try:
            return self.queue.get(timeout=timeout)
        except queue.Empty:
            return None

    def close(self) -> None:
        self.bus._unsubscribe(self)


class MongoEventBus(EventBus):
    def __init__(self, db: Database):
        self.collection = db["events"]
        self._subscribers: dict[str, set[_LocalSubscription]] = defaultdict(set)
        self._lock = threading.Lock()
        self._listener: threading.Thread | None = None
        self._stopped = threading.Event()
        self._ready = threading.Event()

    def ensure_indexes(self) -> None:
        self.collection.create_index([("created_at", ASCENDING)], expireAfterSeconds=EVENT_TTL_S,
                                     name="ttl")

    def publish(self, topic: str, event: dict) -> None:
        self.collection.insert_one({"topic": topic, "event": event, "created_at": utcnow()})

    def subscribe(self, topics: list[str]) -> Subscription:
        subscription = _LocalSubscription(self, list(topics))
        if self._stopped.is_set():
            subscription.bus_closed = True
            return subscription
        with self._lock:
            for topic in subscription.topics:
                self._subscribers[topic].add(subscription)
            self._start_listener()
        self._ready.wait(timeout=5)
        return subscription

    def _unsubscribe(self, subscription: _LocalSubscription) -> None:
        with self._lock:
            for topic in subscription.topics:
                self._subscribers[topic].discard(subscription)
                if not self._subscribers[topic]:
                    del self._subscribers[topic]

    def close(self) -> None:
        """Stop listening and end every subscription (the process is draining)."""
        self._stopped.set()
        with self._lock:
            for subscriptions in self._subscribers.values():
                for subscription in subscriptions:
                    subscription.bus_closed = True

    def _start_listener(self) -> None:
        if self._listener is None or not self._listener.is_alive():
            self._listener = threading.Thread(target=self._listen, name="event-bus", daemon=True)
            self._listener.start()

    def _dispatch(self, doc: dict) -> None:
        with self._lock:
            targets = list(self._subscribers.get(doc.get("topic", ""), ()))
        for subscription in targets:
            subscription.deliver({"topic": doc["topic"], **doc.get("event", {})})

    def _listen(self) -> None:
        while not self._stopped.is_set():
            try:
                self._follow_change_stream()
            except OperationFailure:
                log.info("change streams unavailable; the event bus polls instead")
                self._follow_by_polling()
            except PyMongoError as error:  # database away: retry, subscribers just wait
                log.warning("event bus lost the database: %s", type(error).__name__)
                self._ready.set()
                time.sleep(1)

    def _follow_change_stream(self) -> None:
        pipeline = [{"$match": {"operationType": "insert"}}]
        with self.collection.watch(pipeline, max_await_time_ms=500) as stream:
            self._ready.set()
            while not self._stopped.is_set():
                change = stream.try_next()
                if change is not None:
                    self._dispatch(change["fullDocument"])
                else:
                    self._stopped.wait(EMPTY_READ_PAUSE_S)

    def _follow_by_polling(self) -> None:
        last = self.collection.find_one(sort=[("_id", -1)], projection={"_id": 1})
        last_id = last["_id"] if last else None
        self._ready.set()
        while not self._stopped.is_set():
            query = {"_id": {"$gt": last_id}} if last_id else {}
            for doc in self.collection.find(query).sort("_id", ASCENDING):
                last_id = doc["_id"]
                self._dispatch(doc)
            time.sleep(POLL_INTERVAL_S)
