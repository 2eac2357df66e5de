import time

from pymongo.database import Database

from use_cases.shared.ports import DatabaseProbe


class MongoProbe(DatabaseProbe):
    def __init__(self, db: Database):
        self.db = db

    def ping_ms(self) -> float:
        started = time.perf_counter()
        self.db.command("ping")
        return (time.perf_counter() - started) * 1000
