"""A database writer that counts only what the server acknowledged: how durability is measured.

It inserts documents with ids 0, 1, 2, ... in ordered batches from a thread, and advances
`acked` only when a batch's insert returned, so the acknowledged documents are exactly the
ids below `acked`. It ends when stopped or at the first error (the server went away).
"""

from __future__ import annotations

import threading

import pymongo

from tests.support.wait import wait_until


class AckedWriter:
    def __init__(self, uri: str, database: str = "durability", collection: str = "docs", batch: int = 50,
                 size: int = 100, until: int | None = None):
        """`until`: stop once that many documents are acknowledged (None: when stopped)."""
        self.uri, self.database, self.collection = uri, database, collection
        self.until = until
        self.batch, self.size = batch, size
        self.acked = 0
        #: why it ended, when the server refused or went away
        self.error: str | None = None
        self._stop = threading.Event()
        self._thread = threading.Thread(target=self._write, name="acked-writer", daemon=True)

    def start(self) -> "AckedWriter":
        self._thread.start()
        return self

    def _write(self) -> None:
        with pymongo.MongoClient(self.uri, serverSelectionTimeoutMS=5000, socketTimeoutMS=60000) as client:
            docs = client[self.database][self.collection]
            while not self._stop.is_set() and (self.until is None or self.acked < self.until):
                first = self.acked
                try:
                    docs.insert_many([{"_id": i, "data": "x" * self.size} for i in range(first, first + self.batch)])
                except pymongo.errors.PyMongoError as err:
                    self.error = str(err)
                    return
                self.acked = first + self.batch

    def wait_for(self, count: int, timeout: float = 180) -> int:
        """Wait until at least `count` documents were acknowledged; fail if the writer ended."""
        def enough() -> bool:
            if not self._thread.is_alive() and self.acked < count:  # ended early: refused, or `until`
                raise AssertionError(f"the writer ended after {self.acked} documents: {self.error}")
            return self.acked >= count

        wait_until(enough, timeout, f"{count} acknowledged documents", interval=0.1)
        return self.acked

    def stop(self) -> int:
        """Stop writing (or see that the server stopped it); the acknowledged count."""
        self._stop.set()
        self._thread.join(90)
        return self.acked

    def lost(self, uri: str) -> int:
        """How many acknowledged documents the server at `uri` does not have."""
        with pymongo.MongoClient(uri, serverSelectionTimeoutMS=10000) as client:
            found = client[self.database][self.collection].count_documents({"_id": {"$lt": self.acked}})
        return self.acked - found
