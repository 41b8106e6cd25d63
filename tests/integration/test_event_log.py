"""The event log as a consumer sees it while writers are busy (SQLite and PostgreSQL).

A consumer that polls ``events(after=cursor)`` and moves its cursor to the last id it saw
must end up with every event exactly once, even though writers commit concurrently: ids
become visible in commit order, so no id below a cursor can appear later. Two catalogs on
one database stand for two Chute processes (each has its own committer and connections).
"""

from __future__ import annotations

import threading
from concurrent.futures import ThreadPoolExecutor

from chute.blobs.memory import MemoryBlobStore
from chute.catalog import Catalog
from chute.objects.service import ObjectService
from tests.context import CTX

WRITERS = 8
PER_WRITER = 25


def test_tailing_consumer_misses_nothing(
    service: ObjectService, catalog_url: str, blobs: MemoryBlobStore
) -> None:
    other_process = Catalog(catalog_url)
    services = [service, ObjectService(other_process, blobs, "eu-west-1", 2**20)]
    service.create_bucket(CTX, "tail")
    done = threading.Event()
    seen: list[int] = []

    def consume() -> None:
        cursor = 0
        while True:
            finished = done.is_set()
            page = service.events(CTX, after=cursor, limit=50)
            seen.extend(event.id for event in page)
            if page:
                cursor = page[-1].id
            elif finished:
                return

    def write(writer: int) -> None:
        for i in range(PER_WRITER):
            services[writer % 2].put(CTX, "tail", f"w{writer}/k{i}", [b"x"])

    consumer = threading.Thread(target=consume)
    consumer.start()
    with ThreadPoolExecutor(WRITERS) as pool:
        list(pool.map(write, range(WRITERS)))
    done.set()
    consumer.join()
    other_process.close()

    everything = [event.id for event in service.events(CTX, limit=1000)]
    assert len(everything) == WRITERS * PER_WRITER
    assert seen == everything  # every event, once, in order
