"""A recorded client workload against a live raftstore: the history goes to
the linearizability checker, the acknowledged writes to a durability check."""
from __future__ import annotations

import asyncio
import math
import random
import time
from dataclasses import dataclass, field

from raftstore.client import RaftStoreClient, StoreError, Unavailable
from raftstore.linearizability import KVModel, Operation, check


@dataclass
class Recorder:
    cluster: str
    keys: int = 4
    history: list[Operation] = field(default_factory=list)
    acked: list[tuple[bytes, bytes, int]] = field(default_factory=list)   # key, value, revision
    errors: list[str] = field(default_factory=list)
    unknown: int = 0

    async def client_loop(self, cid: int, stop: asyncio.Event, seed: int, timeout: float = 8.0) -> None:
        rng = random.Random(seed)
        cli = RaftStoreClient(self.cluster, timeout=timeout, attempt_timeout=2.0)
        n = 0
        while not stop.is_set():
            n += 1
            key = b"k%d" % rng.randrange(self.keys)
            x = rng.random()
            t0 = time.monotonic()
            try:
                if x < 0.4:
                    kv = await cli.get(key)
                    out = kv["value"] if kv else None
                    inp: tuple = ("get", key)
                elif x < 0.8:
                    val = b"%d.%d" % (cid, n)
                    inp = ("put", key, val)
                    res = await cli.put(key, val)
                    self.acked.append((key, val, res["revision"]))
                    out = None
                elif x < 0.9:
                    inp = ("delete", key)
                    out = (await cli.delete(key))["deleted"]
                else:
                    new = b"%d.%d" % (cid, n)
                    inp = ("cas", key, None, new)
                    res = await cli.txn([{"key": key, "target": "version", "result": "=", "value": 0}],
                                        [{"op": "put", "key": key, "value": new}])
                    out = res["succeeded"]
            except Unavailable:
                self.unknown += 1
                if inp[0] != "get":
                    self.history.append(Operation(cid, inp, None, t0, math.inf))
                continue
            except StoreError as e:
                self.errors.append(f"client {cid}: {e}")
                continue
            self.history.append(Operation(cid, inp, out, t0, time.monotonic()))

    def check_linearizable(self) -> None:
        res = check(self.history, KVModel(), timeout=60.0)
        assert res.ok is True, res.explain() if res.ok is False else "linearizability check timed out"

    async def check_durable(self) -> None:
        """Every acknowledged put is in the store's history at its revision."""
        cli = RaftStoreClient(self.cluster, timeout=20.0)
        for key, val, rev in self.acked:
            kv = await cli.get(key, revision=rev)
            assert kv is not None and kv["value"] == val and kv["mod_revision"] == rev, \
                f"acknowledged write lost: {key!r}={val!r}@{rev}: {kv}"


async def watch_all(cluster: str, start: int, got: list[dict], final: list[int],
                    timeout: float = 60.0) -> None:
    """Collect every event from ``start`` on until one at the revision put in
    ``final`` (by the test, once its writers stopped) has arrived."""
    cli = RaftStoreClient(cluster, timeout=20.0, attempt_timeout=2.0)

    async def consume() -> None:
        async for batch in cli.watch(b"", b"\0", start_revision=start, poll=0.5):
            got.extend(batch)

    task = asyncio.create_task(consume())
    try:
        while not (final and got and got[-1]["kv"]["mod_revision"] >= final[0]):
            if task.done():
                task.result()  # re-raise what stopped the watch
            await asyncio.sleep(0.05)
    finally:
        task.cancel()
        await asyncio.gather(task, return_exceptions=True)


def check_watch(events: list[dict], start: int, final: int) -> None:
    """Every revision from start to final exactly once, in order, each whole."""
    revs = [e["kv"]["mod_revision"] for e in events]
    assert revs == sorted(revs), "watch events out of order"
    distinct = sorted(set(revs))
    assert distinct == list(range(start, final + 1)), \
        f"watch missed or invented revisions: {sorted(set(range(start, final + 1)) ^ set(distinct))[:10]}"
    # within a revision no key twice (a duplicate delivery would repeat it)
    seen = [(e["kv"]["mod_revision"], e["kv"]["key"]) for e in events]
    assert len(seen) == len(set(seen)), "an event was delivered twice"
