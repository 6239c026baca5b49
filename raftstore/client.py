"""The raftstore client: what the apiserver (and anyone else) uses.

It finds the leader and follows redirects; retries a write after a leader
change or a dead member with the same (client id, sequence), so the store
applies it at most once and a retry returns the first answer; bounds every
call by a timeout and says ``Unavailable`` when there is no quorum rather
than hanging. Watches resume from the last delivered revision on another
member when theirs dies: no gap, no duplicate.
"""
from __future__ import annotations

import asyncio
import random
import time
import uuid
from typing import Any, AsyncIterator

from ray.exceptions import ActorUnschedulableError, RayActorError

from .member import find_members
from .mvcc import CompactedError, prefix_end


_TIMED = frozenset({"request", "conf_change"})   # member methods that take a timeout
# a member that is dead, restarting, or cannot be placed (its node is gone)
_MEMBER_DOWN = (RayActorError, ActorUnschedulableError, asyncio.TimeoutError)


class StoreError(Exception):
    """The store refused the request; ``code`` is its error code."""

    def __init__(self, code: str, message: str, **details: Any) -> None:
        super().__init__(f"{code}: {message}")
        self.code = code
        self.details = details


class Unavailable(StoreError):
    """No answer within the timeout (no quorum, or no reachable member). For
    a write the outcome is unknown."""

    def __init__(self, message: str) -> None:
        super().__init__("unavailable", message)


class Compacted(StoreError, CompactedError):
    """Also an ``mvcc.CompactedError``: code above the client (the apiserver's
    storage) catches one type whether the store is local or remote."""

    def __init__(self, compact_revision: int) -> None:
        Exception.__init__(self, f"compacted: required revision has been compacted (compact "
                                 f"revision {compact_revision})")
        self.code = "compacted"
        self.details = {"compact_revision": compact_revision}
        self.compact_revision = compact_revision


def _raise_store_error(err: dict) -> None:
    code = err.get("code", "unknown")
    if code == "compacted":
        raise Compacted(err.get("compact_revision", 0))
    raise StoreError(code, err.get("message", ""), **{k: v for k, v in err.items()
                                                       if k not in ("code", "message")})


class _Batcher:
    """Coalesces concurrent requests to one member into ``request_batch``
    calls: the first goes out at once, those that arrive while calls are in
    flight ride together in the next (at most ``max_inflight`` calls)."""

    def __init__(self, handle: Any, max_inflight: int = 2, max_batch: int = 512) -> None:
        self.handle = handle
        self.max_inflight = max_inflight
        self.max_batch = max_batch
        self.queue: list[tuple[list, asyncio.Future]] = []
        self.inflight = 0

    async def submit(self, args: list, timeout: float) -> dict:
        fut = asyncio.get_running_loop().create_future()
        self.queue.append((args, fut))
        self._pump(timeout)
        return await fut

    def _pump(self, timeout: float) -> None:
        while self.queue and self.inflight < self.max_inflight:
            batch, self.queue = self.queue[:self.max_batch], self.queue[self.max_batch:]
            self.inflight += 1
            asyncio.get_running_loop().create_task(self._run(batch, timeout))

    async def _run(self, batch: list[tuple[list, asyncio.Future]], timeout: float) -> None:
        try:
            resps = await asyncio.wait_for(
                self.handle.request_batch.remote([a for a, _ in batch], timeout), timeout + 1.0)
            for (_, fut), r in zip(batch, resps):
                if not fut.done():
                    fut.set_result(r)
        except BaseException as e:  # the whole call failed: every request sees why
            for _, fut in batch:
                if not fut.done():
                    fut.set_exception(e if isinstance(e, Exception) else asyncio.CancelledError())
            if not isinstance(e, Exception):
                raise
        finally:
            self.inflight -= 1
            self._pump(timeout)


class RaftStoreClient:
    def __init__(self, cluster: str = "default", *, timeout: float = 10.0,
                 attempt_timeout: float = 3.0, client_id: str | None = None) -> None:
        self.cluster = cluster
        self.timeout = timeout
        self.attempt_timeout = attempt_timeout
        self.client_id = client_id or uuid.uuid4().hex[:16]
        self._members: dict[int, Any] = {}
        self._leader: int | None = None
        self._rng = random.Random()
        # one (client id, seq) stream per concurrent write: the store keeps
        # only each stream's last sequence, so a stream has one write in flight
        self._free_slots: list[int] = []
        self._seqs: list[int] = []
        self._batchers: dict[int, _Batcher] = {}

    # ------------------------------------------------------------ members
    def _refresh(self) -> None:
        found = find_members(self.cluster)
        self._members = found
        if self._leader not in found:
            self._leader = None

    def _pick(self, prefer_leader: bool = True) -> tuple[int, Any]:
        if not self._members:
            self._refresh()
            if not self._members:
                raise Unavailable(f"no members of raftstore cluster {self.cluster!r} are running")
        if prefer_leader and self._leader in self._members:
            return self._leader, self._members[self._leader]
        mid = self._rng.choice(sorted(self._members))
        return mid, self._members[mid]

    async def _call(self, method: str, *args: Any, prefer_leader: bool = True,
                    timeout: float | None = None) -> Any:
        deadline = time.monotonic() + (timeout or self.timeout)
        last = "no attempt made"
        backoff = 0.02
        while True:
            left = deadline - time.monotonic()
            if left <= 0:
                raise Unavailable(f"raftstore {self.cluster!r}: {method} got no answer within "
                                  f"{timeout or self.timeout}s (last: {last})")
            mid, h = self._pick(prefer_leader)
            attempt = min(self.attempt_timeout, left)
            kw = {"timeout": attempt} if method in _TIMED else {}
            try:
                if method == "request":
                    b = self._batchers.get(mid)
                    if b is None or b.handle is not h:
                        b = self._batchers[mid] = _Batcher(h)
                    resp = await b.submit(list(args), attempt)
                else:
                    resp = await asyncio.wait_for(getattr(h, method).remote(*args, **kw), attempt + 1.0)
            except _MEMBER_DOWN as e:
                last = f"member {mid}: {type(e).__name__}"
                self._leader = None
                self._refresh()
                await asyncio.sleep(min(backoff, max(0.0, deadline - time.monotonic())))
                backoff = min(backoff * 2, 0.5)
                continue
            if "redirect" in resp:
                hint = resp["redirect"]
                last = f"member {mid}: not the leader (hint {hint})"
                if hint and hint not in self._members:
                    self._refresh()
                self._leader = hint if hint in self._members else None
                if self._leader is None or self._leader == mid:
                    await asyncio.sleep(min(backoff, max(0.0, deadline - time.monotonic())))
                    backoff = min(backoff * 2, 0.5)
                continue
            err = resp.get("error")
            if err is not None:
                if err.get("code") == "timeout":
                    last = f"member {mid}: {err.get('message')}"
                    self._leader = None
                    continue
                _raise_store_error(err)
            if prefer_leader:
                self._leader = mid
            result = resp["result"]
            if isinstance(result, dict) and "error" in result:
                _raise_store_error(result["error"])
            return result

    async def _write(self, req: dict) -> dict:
        if self._free_slots:
            slot = self._free_slots.pop()
        else:
            slot = len(self._seqs)
            self._seqs.append(0)
        self._seqs[slot] += 1
        try:
            return await self._call("request", req, f"{self.client_id}/{slot}", self._seqs[slot], False)
        finally:
            self._free_slots.append(slot)

    async def _read(self, req: dict, serializable: bool) -> dict:
        return await self._call("request", req, None, 0, serializable, prefer_leader=not serializable)

    # ------------------------------------------------------------------ KV
    async def put(self, key: bytes, value: bytes, *, lease: int = 0, prev_kv: bool = False) -> dict:
        return await self._write({"op": "put", "key": key, "value": value, "lease": lease,
                                  "prev_kv": prev_kv})

    async def range(self, key: bytes, range_end: bytes | None = None, *, prefix: bool = False,
                    revision: int = 0, limit: int = 0, count_only: bool = False,
                    keys_only: bool = False, serializable: bool = False) -> dict:
        if prefix:
            range_end = prefix_end(key)
        return await self._read({"op": "range", "key": key, "range_end": range_end,
                                 "revision": revision, "limit": limit, "count_only": count_only,
                                 "keys_only": keys_only}, serializable)

    async def get(self, key: bytes, *, revision: int = 0, serializable: bool = False) -> dict | None:
        """The key's kv dict, or None."""
        kvs = (await self.range(key, revision=revision, serializable=serializable))["kvs"]
        return kvs[0] if kvs else None

    async def delete(self, key: bytes, range_end: bytes | None = None, *, prefix: bool = False,
                     prev_kv: bool = False) -> dict:
        if prefix:
            range_end = prefix_end(key)
        return await self._write({"op": "delete_range", "key": key, "range_end": range_end,
                                  "prev_kv": prev_kv})

    async def txn(self, compare: list[dict], success: list[dict],
                  failure: list[dict] | None = None) -> dict:
        req = {"op": "txn", "compare": compare, "success": success, "failure": failure or []}
        ro = all(o.get("op") == "range" for o in success + (failure or []))
        return await (self._read(req, False) if ro else self._write(req))

    async def compact(self, revision: int) -> dict:
        return await self._write({"op": "compact", "revision": revision})

    async def lease_grant(self, ttl: int, lease_id: int = 0) -> dict:
        return await self._write({"op": "lease_grant", "ttl": ttl, "id": lease_id})

    async def lease_revoke(self, lease_id: int) -> dict:
        return await self._write({"op": "lease_revoke", "id": lease_id})

    async def lease_keepalive(self, lease_id: int) -> int:
        """Renew a lease on the leader; returns its ttl."""
        return (await self._call("lease_keepalive", lease_id))["ttl"]

    async def current_revision(self) -> int:
        return (await self.range(b"\0", count_only=True))["revision"]

    # --------------------------------------------------------------- watch
    async def watch(self, key: bytes, range_end: bytes | None = None, *, prefix: bool = False,
                    start_revision: int = 0, poll: float = 5.0) -> AsyncIterator[list[dict]]:
        """Batches of events (each batch whole revisions, in order) from
        ``start_revision`` on (0: from now). Survives members dying: it
        resumes from the next undelivered revision elsewhere. Raises
        ``Compacted`` if that revision is gone."""
        if prefix:
            range_end = prefix_end(key)
        nxt = start_revision or await self.current_revision() + 1
        mid: int | None = None
        while True:
            if mid not in self._members:
                mid, h = self._pick(prefer_leader=False)
            h = self._members[mid]
            try:
                resp = await asyncio.wait_for(h.watch.remote(key, range_end, nxt, poll),
                                              poll + self.attempt_timeout)
            except _MEMBER_DOWN:
                self._refresh()
                mid = None
                await asyncio.sleep(0.05)
                continue
            if "error" in resp:
                _raise_store_error(resp["error"])
            if resp["events"]:
                nxt = resp["next"]
                yield resp["events"]

    # -------------------------------------------------------------- status
    async def status(self) -> dict[int, dict | str]:
        self._refresh()
        out: dict[int, dict | str] = {}
        for mid, h in sorted(self._members.items()):
            try:
                out[mid] = await asyncio.wait_for(h.status.remote(), self.attempt_timeout)
            except _MEMBER_DOWN as e:
                out[mid] = type(e).__name__
        return out
