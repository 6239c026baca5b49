"""The revisioned key-value store that Raft replicates (raftstore's state machine).

Every replica applies the same committed entries through :meth:`MVCCStore.apply`
and must end byte-identical, so everything here is deterministic: no wall
clock, no hashing-order dependence, no randomness.

Model (etcd v3's):

* The store has one *revision* counter, 1 when empty.  Each write transaction
  that changes something (a put, a delete that removes at least one key, a txn
  with at least one change, a lease revoke that removes keys) creates exactly
  one new revision; the changes inside it are ordered by sub-revision.
* Every key keeps the list of its versions (``_Hist``) so reads at old
  revisions are a bisect away; a deletion is a tombstone (``None``) record.
* The per-revision event log (``_ev_revs`` / ``_ev``) feeds watches.
* :meth:`compact` drops history (and watch history) below a revision, keeping
  for each key the newest version at or below it unless that is a tombstone.
* Clients get exactly-once writes: an entry carries ``(client, seq)`` and the
  store caches the last result per client.
* Leases are replicated as id -> (ttl, attached keys); *time* lives only in
  the leader-local :class:`Lessor`, which asks the leader to propose
  ``lease_revoke`` when a lease runs out.

Internally a key-value version is the tuple
``(value, create_revision, mod_revision, version, lease)``; outside it is the
dict :func:`_kv_dict` builds.  All results are plain dicts/lists/bytes/ints so
they survive msgpack (dedup cache, snapshots, Ray calls) unchanged.  Results
returned by :meth:`MVCCStore.apply` may be shared with the dedup cache: treat
them as read-only.
"""
from __future__ import annotations

import hashlib
from bisect import bisect_left, bisect_right, insort
from itertools import islice
from typing import Any

import msgpack

__all__ = [
    "MVCCStore",
    "CompactedError",
    "LeaseNotFoundError",
    "Lessor",
    "prefix_end",
    "encode_entry",
]

ALL_KEYS = b"\0"          # range_end meaning "every key >= key"
SNAPSHOT_FORMAT = 1
MAX_TXN_DEPTH = 32
MAX_INT = (1 << 63) - 1   # ints kept in the state must fit msgpack's int64

# fields of the internal kv tuple
_VALUE, _CREATE, _MOD, _VERSION, _LEASE = range(5)
_ZERO_KV = (b"", 0, 0, 0, 0)   # what compares see for a missing key

_COMPARE_TARGETS = {
    "value": _VALUE,
    "create": _CREATE, "create_revision": _CREATE,
    "mod": _MOD, "mod_revision": _MOD,
    "version": _VERSION,
    "lease": _LEASE,
}
_COMPARE_RESULTS = ("=", "!=", "<", ">")


def prefix_end(prefix: bytes) -> bytes:
    """The range_end that selects every key starting with ``prefix``.

    Increments the last byte that is not 0xff and cuts after it; a prefix of
    only 0xff bytes (or an empty one) has no upper bound, spelled ``b"\\0"``.
    """
    b = bytearray(prefix)
    for i in range(len(b) - 1, -1, -1):
        if b[i] < 0xFF:
            b[i] += 1
            return bytes(b[: i + 1])
    return ALL_KEYS


def encode_entry(req: dict, client: str | None = None, seq: int = 0) -> bytes:
    """The Raft entry payload :meth:`MVCCStore.apply` expects."""
    return msgpack.packb({"client": client, "seq": seq, "req": req}, use_bin_type=True)


class CompactedError(Exception):
    """A watch asked for revisions that compaction already dropped."""

    def __init__(self, compact_revision: int):
        super().__init__(f"required revision has been compacted (compact revision {compact_revision})")
        self.compact_revision = compact_revision


class LeaseNotFoundError(KeyError):
    """The lease id is not (or no longer) in the store."""

    def __init__(self, lease_id: int):
        super().__init__(lease_id)
        self.lease_id = lease_id


class _Fail(Exception):
    """A request is rejected; becomes an ``{"error": ...}`` result."""

    def __init__(self, code: str, message: str, **extra: Any):
        super().__init__(message)
        self.code = code
        self.message = message
        self.extra = extra

    def result(self) -> dict:
        err = {"code": self.code, "message": self.message}
        err.update(self.extra)
        return {"error": err}


class _Hist:
    """One key's retained versions: ascending main revisions and, for each,
    the kv tuple written there (``None`` for a deletion)."""

    __slots__ = ("revs", "kvs")

    def __init__(self) -> None:
        self.revs: list[int] = []
        self.kvs: list[tuple | None] = []


def _kv_dict(key: bytes, kv: tuple, keys_only: bool = False) -> dict:
    return {
        "key": key,
        "value": b"" if keys_only else kv[0],
        "create_revision": kv[1],
        "mod_revision": kv[2],
        "version": kv[3],
        "lease": kv[4],
    }


def _event_dict(key: bytes, rev: int, kv: tuple | None, prev: tuple | None) -> dict:
    if kv is None:
        return {
            "type": "DELETE",
            "kv": {"key": key, "value": b"", "create_revision": 0, "mod_revision": rev,
                   "version": 0, "lease": 0},
            "prev_kv": None if prev is None else _kv_dict(key, prev),
        }
    return {
        "type": "PUT",
        "kv": _kv_dict(key, kv),
        "prev_kv": None if prev is None else _kv_dict(key, prev),
    }


def _bounds(keys: list[bytes], key: bytes, end: bytes | None) -> tuple[int, int]:
    """Slice [lo, hi) of the sorted ``keys`` selected by (key, range_end)."""
    lo = bisect_left(keys, key)
    if end is None:
        hi = lo + 1 if lo < len(keys) and keys[lo] == key else lo
    elif end == ALL_KEYS:
        hi = len(keys)
    elif end <= key:
        hi = lo
    else:
        hi = bisect_left(keys, end, lo)
    return lo, hi


def _in_range(k: bytes, key: bytes, end: bytes | None) -> bool:
    if end is None:
        return k == key
    if end == ALL_KEYS:
        return k >= key
    return key <= k < end


def _tuple_or_none(v: list | None) -> tuple | None:
    return None if v is None else tuple(v)


def _list_or_none(v: tuple | None) -> list | None:
    return None if v is None else list(v)


# ---- request field helpers (all raise _Fail("bad_request") on bad input) ----

def _bad(msg: str) -> _Fail:
    return _Fail("bad_request", msg)


def _f_bytes(req: dict, name: str, default: bytes | None = None, nonempty: bool = False) -> bytes:
    v = req.get(name, default)
    if type(v) is not bytes:
        raise _bad(f"{name} must be bytes")
    if nonempty and not v:
        raise _bad(f"{name} must not be empty")
    return v


def _f_end(req: dict, name: str = "range_end") -> bytes | None:
    v = req.get(name)
    if v is None or v == b"":
        return None
    if type(v) is not bytes:
        raise _bad(f"{name} must be bytes or None")
    return v


def _f_int(req: dict, name: str, default: int = 0) -> int:
    v = req.get(name, default)
    if v is None:
        return default
    if type(v) is not int:
        raise _bad(f"{name} must be an int")
    if v < 0 or v > MAX_INT:
        raise _bad(f"{name} must be in [0, 2**63)")
    return v


def _f_flag(req: dict, name: str) -> bool:
    v = req.get(name, False)
    if v is None:
        return False
    if type(v) is not bool and type(v) is not int:
        raise _bad(f"{name} must be a bool")
    return bool(v)


def _f_list(req: dict, name: str) -> list:
    v = req.get(name)
    if v is None:
        return []
    if not isinstance(v, list | tuple):
        raise _bad(f"{name} must be a list")
    return v


class MVCCStore:
    """A multi-version key-value store, applied entry by entry by Raft."""

    def __init__(self) -> None:
        self.revision = 1
        self.compact_revision = 0
        self.applied_index = 0
        self._hist: dict[bytes, _Hist] = {}
        self._keys: list[bytes] = []          # sorted; every key with retained history
        self._live: dict[bytes, tuple] = {}   # key -> current kv tuple
        self._live_keys: list[bytes] = []     # sorted keys of _live
        self._ev_revs: list[int] = []         # revisions of the event log, ascending
        self._ev: list[tuple] = []            # per revision: ((key, kv|None, prev|None), ...)
        self._leases: dict[int, list] = {}    # id -> [ttl, set of attached keys]
        self._next_lease = 1
        self._sessions: dict[str, tuple[int, Any]] = {}  # client -> (last seq, its result)
        # local only (not replicated, not in snapshots): bumps on lease table
        # changes so a Lessor can resync cheaply
        self.lease_generation = 0

    # ------------------------------------------------------------ entry point

    def apply(self, index: int, data: bytes) -> Any:
        """Apply one committed Raft entry; returns the request's result, or
        None for an already-applied index or a no-op (empty) entry."""
        if index <= self.applied_index:
            return None
        self.applied_index = index
        if not data:
            return None
        try:
            msg = msgpack.unpackb(data, raw=False)
        except Exception:  # noqa: BLE001 - any undecodable payload is a bad request
            return _bad("undecodable entry").result()
        if type(msg) is not dict:
            return _bad("entry must be a map").result()
        client = msg.get("client")
        req = msg.get("req")
        if client is None:
            return self.execute(req)
        seq = msg.get("seq")
        if type(client) is not str or type(seq) is not int or not 0 <= seq <= MAX_INT:
            return _bad("client must be a str and seq an int in [0, 2**63)").result()
        last = self._sessions.get(client)
        if last is not None:
            if seq == last[0]:
                return last[1]
            if seq < last[0]:
                return _Fail("stale_sequence", f"seq {seq} is older than {last[0]}",
                             last_seq=last[0]).result()
        result = self.execute(req)
        self._sessions[client] = (seq, result)
        return result

    def execute(self, req: Any) -> dict:
        """Run one request dict (no dedup): the result dict, or an error dict."""
        try:
            if type(req) is not dict:
                raise _bad("request must be a map")
            handler = _HANDLERS.get(req.get("op"))
            if handler is None:
                raise _bad(f"unknown op {req.get('op')!r}")
            return handler(self, req)
        except _Fail as f:
            return f.result()

    # ------------------------------------------------------- direct helpers

    def put(self, key: bytes, value: bytes = b"", lease: int = 0, prev_kv: bool = False,
            ignore_value: bool = False, ignore_lease: bool = False) -> dict:
        return self.execute({"op": "put", "key": key, "value": value, "lease": lease,
                             "prev_kv": prev_kv, "ignore_value": ignore_value,
                             "ignore_lease": ignore_lease})

    def range(self, key: bytes, range_end: bytes | None = None, revision: int = 0,
              limit: int = 0, count_only: bool = False, keys_only: bool = False) -> dict:
        return self.execute({"op": "range", "key": key, "range_end": range_end,
                             "revision": revision, "limit": limit,
                             "count_only": count_only, "keys_only": keys_only})

    def delete_range(self, key: bytes, range_end: bytes | None = None,
                     prev_kv: bool = False) -> dict:
        return self.execute({"op": "delete_range", "key": key, "range_end": range_end,
                             "prev_kv": prev_kv})

    def txn(self, compare: list | None = None, success: list | None = None,
            failure: list | None = None) -> dict:
        return self.execute({"op": "txn", "compare": compare or [],
                             "success": success or [], "failure": failure or []})

    def compact(self, revision: int) -> dict:
        return self.execute({"op": "compact", "revision": revision})

    def lease_grant(self, ttl: int, id: int = 0) -> dict:  # noqa: A002 - mirrors the request
        return self.execute({"op": "lease_grant", "id": id, "ttl": ttl})

    def lease_revoke(self, id: int) -> dict:  # noqa: A002
        return self.execute({"op": "lease_revoke", "id": id})

    def get(self, key: bytes) -> dict | None:
        """The current kv dict of ``key``, or None."""
        kv = self._live.get(key)
        return None if kv is None else _kv_dict(key, kv)

    def leases(self) -> dict[int, int]:
        """Lease id -> ttl of every granted, unrevoked lease."""
        return {lid: entry[0] for lid, entry in self._leases.items()}

    def lease_ttl(self, lease_id: int) -> int | None:
        entry = self._leases.get(lease_id)
        return None if entry is None else entry[0]

    def lease_keys(self, lease_id: int) -> list[bytes]:
        entry = self._leases.get(lease_id)
        if entry is None:
            raise LeaseNotFoundError(lease_id)
        return sorted(entry[1])

    def __len__(self) -> int:
        return len(self._live)

    # --------------------------------------------------------------- planning
    #
    # A write is checked completely ("planned") before anything changes, so a
    # rejected request leaves the store untouched.  Plans are tuples:
    #   ("put", key, value|None, lease|None, prev_kv)    None = keep current
    #   ("del", key, range_end, prev_kv)
    #   ("range", key, range_end, revision, limit, count_only, keys_only)
    #   ("txn", succeeded, [plans of the taken branch])
    # ``active`` is False for ops in a txn branch that is not taken: they are
    # only checked for well-formedness.

    def _plan_put(self, req: dict, active: bool) -> tuple:
        key = _f_bytes(req, "key", nonempty=True)
        ignore_value = _f_flag(req, "ignore_value")
        ignore_lease = _f_flag(req, "ignore_lease")
        value = None if ignore_value else _f_bytes(req, "value", b"")
        lease = None if ignore_lease else _f_int(req, "lease")
        want_prev = _f_flag(req, "prev_kv")
        if active:
            if lease and lease not in self._leases:
                raise _Fail("lease_not_found", f"lease {lease} not found", id=lease)
            if (ignore_value or ignore_lease) and key not in self._live:
                raise _Fail("key_not_found", "ignore_value/ignore_lease on a missing key")
        return ("put", key, value, lease, want_prev)

    def _plan_del(self, req: dict) -> tuple:
        return ("del", _f_bytes(req, "key"), _f_end(req), _f_flag(req, "prev_kv"))

    def _plan_range(self, req: dict, active: bool) -> tuple:
        key = _f_bytes(req, "key")
        end = _f_end(req)
        rev = _f_int(req, "revision")
        limit = _f_int(req, "limit")
        count_only = _f_flag(req, "count_only")
        keys_only = _f_flag(req, "keys_only")
        if active and rev:
            if rev < self.compact_revision:
                raise _Fail("compacted", f"revision {rev} has been compacted",
                            compact_revision=self.compact_revision)
            if rev > self.revision:
                raise _Fail("future_revision", f"revision {rev} is in the future",
                            revision=self.revision)
        return ("range", key, end, rev, limit, count_only, keys_only)

    def _parse_compare(self, c: Any) -> tuple:
        if type(c) is not dict:
            raise _bad("compare must be a map")
        key = _f_bytes(c, "key")
        end = _f_end(c)
        target = _COMPARE_TARGETS.get(c.get("target"))
        if target is None:
            raise _bad(f"unknown compare target {c.get('target')!r}")
        result = c.get("result")
        if result not in _COMPARE_RESULTS:
            raise _bad(f"unknown compare result {result!r}")
        if target == _VALUE:
            value = _f_bytes(c, "value")
        else:
            value = c.get("value")
            if type(value) is not int:
                raise _bad("compare value must be an int for this target")
        return (key, end, target, result, value)

    def _compare(self, cmp: tuple) -> bool:
        key, end, target, result, want = cmp
        live = self._live
        if end is None:
            kv = live.get(key)
            kvs = [] if kv is None else [kv]
        else:
            lo, hi = _bounds(self._live_keys, key, end)
            kvs = [live[k] for k in islice(self._live_keys, lo, hi)]
        if not kvs:
            if target == _VALUE:
                return False    # a missing key has no value to compare
            kvs = [_ZERO_KV]
        for kv in kvs:
            have = kv[target]
            if result == "=":
                ok = have == want
            elif result == "!=":
                ok = have != want
            elif result == "<":
                ok = have < want
            else:
                ok = have > want
            if not ok:
                return False
        return True

    def _plan_op(self, req: Any, active: bool, puts: set, dels: list, depth: int) -> tuple:
        if type(req) is not dict:
            raise _bad("txn op must be a map")
        op = req.get("op")
        if op == "put":
            p = self._plan_put(req, active)
            if active:
                if p[1] in puts:
                    raise _Fail("duplicate_key", f"duplicate key {p[1]!r} in txn", key=p[1])
                puts.add(p[1])
            return p
        if op == "range":
            return self._plan_range(req, active)
        if op == "delete_range":
            p = self._plan_del(req)
            if active:
                dels.append((p[1], p[2]))
            return p
        if op == "txn":
            return self._plan_txn(req, active, puts, dels, depth + 1)
        raise _bad(f"op {op!r} is not allowed in a txn")

    def _plan_txn(self, req: dict, active: bool, puts: set, dels: list, depth: int) -> tuple:
        if depth > MAX_TXN_DEPTH:
            raise _bad("txn nested too deeply")
        compares = [self._parse_compare(c) for c in _f_list(req, "compare")]
        success = _f_list(req, "success")
        failure = _f_list(req, "failure")
        # every compare (also of nested txns) sees the state before the txn
        ok = active and all(self._compare(c) for c in compares)
        taken = []
        for branch, chosen in ((success, ok), (failure, not ok)):
            live_branch = active and chosen
            for r in branch:
                p = self._plan_op(r, live_branch, puts, dels, depth)
                if live_branch:
                    taken.append(p)
        return ("txn", ok, taken)

    # -------------------------------------------------------------- execution
    #
    # Writes go straight into the live structures tagged with ``rev`` (the
    # revision being built); ``events`` collects this revision's changes.  A
    # read inside a txn therefore sees the txn's earlier writes.

    def _commit(self, rev: int, events: list) -> None:
        self.revision = rev
        self._ev_revs.append(rev)
        self._ev.append(tuple(events))

    def _run(self, plan: tuple, rev: int, events: list) -> dict:
        kind = plan[0]
        if kind == "put":
            return self._do_put(plan[1], plan[2], plan[3], plan[4], rev, events)
        if kind == "del":
            return self._do_delete(plan[1], plan[2], plan[3], rev, events)
        if kind == "range":
            return self._do_range(plan[1], plan[2], plan[3], plan[4], plan[5], plan[6],
                                  rev if events else rev - 1)
        responses = [self._run(p, rev, events) for p in plan[2]]
        return {"revision": rev if events else rev - 1, "succeeded": plan[1],
                "responses": responses}

    def _do_put(self, key: bytes, value: bytes | None, lease: int | None, want_prev: bool,
                rev: int, events: list) -> dict:
        live = self._live
        prev = live.get(key)
        if prev is None:
            kv = (value, rev, rev, 1, lease)
            insort(self._live_keys, key)
            h = self._hist.get(key)
            if h is None:
                h = self._hist[key] = _Hist()
                insort(self._keys, key)
            if lease:
                self._leases[lease][1].add(key)
        else:
            if value is None:
                value = prev[_VALUE]
            if lease is None:
                lease = prev[_LEASE]
            kv = (value, prev[_CREATE], rev, prev[_VERSION] + 1, lease)
            h = self._hist[key]
            old = prev[_LEASE]
            if old != lease:
                if old:
                    self._leases[old][1].discard(key)
                if lease:
                    self._leases[lease][1].add(key)
        live[key] = kv
        h.revs.append(rev)
        h.kvs.append(kv)
        events.append((key, kv, prev))
        return {"revision": rev,
                "prev_kv": _kv_dict(key, prev) if want_prev and prev is not None else None}

    def _do_delete(self, key: bytes, end: bytes | None, want_prev: bool, rev: int,
                   events: list) -> dict:
        live_keys = self._live_keys
        lo, hi = _bounds(live_keys, key, end)
        prev_kvs = []
        if hi > lo:
            live = self._live
            hist = self._hist
            leases = self._leases
            for k in live_keys[lo:hi]:
                prev = live.pop(k)
                h = hist[k]
                h.revs.append(rev)
                h.kvs.append(None)
                if prev[_LEASE]:
                    leases[prev[_LEASE]][1].discard(k)
                events.append((k, None, prev))
                if want_prev:
                    prev_kvs.append(_kv_dict(k, prev))
            del live_keys[lo:hi]
        return {"revision": rev if events else rev - 1, "deleted": hi - lo,
                "prev_kvs": prev_kvs}

    def _do_range(self, key: bytes, end: bytes | None, rev: int, limit: int,
                  count_only: bool, keys_only: bool, visible: int) -> dict:
        kvs: list[dict] = []
        if rev == 0 or rev == visible:
            # the live index is exactly the state at ``visible``
            keys = self._live_keys
            lo, hi = _bounds(keys, key, end)
            count = hi - lo
            if not count_only and count:
                live = self._live
                stop = hi if not limit else min(hi, lo + limit)
                kvs = [_kv_dict(k, live[k], keys_only) for k in islice(keys, lo, stop)]
        else:
            keys = self._keys
            lo, hi = _bounds(keys, key, end)
            hist = self._hist
            count = 0
            for k in islice(keys, lo, hi):
                h = hist[k]
                i = bisect_right(h.revs, rev) - 1
                if i < 0:
                    continue
                kv = h.kvs[i]
                if kv is None:
                    continue
                count += 1
                if not count_only and (not limit or len(kvs) < limit):
                    kvs.append(_kv_dict(k, kv, keys_only))
        return {"revision": visible, "kvs": kvs, "count": count,
                "more": bool(limit) and not count_only and count > len(kvs)}

    # ---------------------------------------------------------- op handlers

    def _op_put(self, req: dict) -> dict:
        plan = self._plan_put(req, True)
        rev = self.revision + 1
        events: list = []
        res = self._do_put(plan[1], plan[2], plan[3], plan[4], rev, events)
        self._commit(rev, events)
        return res

    def _op_range(self, req: dict) -> dict:
        p = self._plan_range(req, True)
        return self._do_range(p[1], p[2], p[3], p[4], p[5], p[6], self.revision)

    def _op_delete_range(self, req: dict) -> dict:
        p = self._plan_del(req)
        rev = self.revision + 1
        events: list = []
        res = self._do_delete(p[1], p[2], p[3], rev, events)
        if events:
            self._commit(rev, events)
        return res

    def _op_txn(self, req: dict) -> dict:
        puts: set = set()
        dels: list = []
        plan = self._plan_txn(req, True, puts, dels, 0)
        if puts and dels:
            ordered = sorted(puts)
            for key, end in dels:
                lo, hi = _bounds(ordered, key, end)
                if hi > lo:
                    raise _Fail("duplicate_key", f"key {ordered[lo]!r} is both put and deleted in txn",
                                key=ordered[lo])
        rev = self.revision + 1
        events: list = []
        res = self._run(plan, rev, events)
        if events:
            self._commit(rev, events)
        return res

    def _op_compact(self, req: dict) -> dict:
        rev = _f_int(req, "revision", -1)
        if rev < 0:
            raise _bad("revision must be a non-negative int")
        if rev > self.revision:
            raise _Fail("future_revision", f"revision {rev} is in the future",
                        revision=self.revision)
        if rev <= self.compact_revision:
            raise _Fail("compacted", f"revision {rev} has been compacted",
                        compact_revision=self.compact_revision)
        self._compact(rev)
        return {"revision": self.revision}

    def _compact(self, c: int) -> None:
        hist = self._hist
        kept = []
        for k in self._keys:
            h = hist[k]
            revs = h.revs
            i = bisect_right(revs, c) - 1      # newest version at or below c
            if i >= 0 and h.kvs[i] is None:
                i += 1                          # ...unless it is a tombstone
            if i > 0:
                del revs[:i]
                del h.kvs[:i]
            if revs:
                kept.append(k)
            else:
                del hist[k]
        self._keys = kept
        j = bisect_left(self._ev_revs, c)
        del self._ev_revs[:j]
        del self._ev[:j]
        self.compact_revision = c

    def _op_lease_grant(self, req: dict) -> dict:
        lid = _f_int(req, "id")
        ttl = _f_int(req, "ttl")
        if ttl < 1:
            raise _bad("ttl must be a positive int")
        if lid == 0:
            lid = self._next_lease
            while lid in self._leases:
                lid += 1
            self._next_lease = lid + 1
        elif lid in self._leases:
            raise _Fail("lease_exists", f"lease {lid} already exists", id=lid)
        self._leases[lid] = [ttl, set()]
        self.lease_generation += 1
        return {"revision": self.revision, "id": lid, "ttl": ttl}

    def _op_lease_revoke(self, req: dict) -> dict:
        lid = _f_int(req, "id")
        entry = self._leases.get(lid)
        if entry is None:
            raise _Fail("lease_not_found", f"lease {lid} not found", id=lid)
        rev = self.revision + 1
        events: list = []
        for k in sorted(entry[1]):
            self._do_delete(k, None, False, rev, events)
        del self._leases[lid]
        self.lease_generation += 1
        if events:
            self._commit(rev, events)
        return {"revision": self.revision, "deleted": len(events)}

    # ------------------------------------------------------------------ watch

    def watch_events(self, key: bytes, range_end: bytes | None = None, start_revision: int = 0,
                     max_revisions: int | None = None) -> tuple[list[dict], int]:
        """Events on (key, range_end) with revision >= start_revision.

        Returns ``(events, next_revision)``: whole revisions only, at most
        ``max_revisions`` of them, and the revision to resume from.
        ``start_revision`` 0 means "from now on" (no events, next = current+1).
        """
        if range_end == b"":
            range_end = None
        if start_revision == 0:
            return [], self.revision + 1
        if start_revision < 0:
            raise ValueError("start_revision must be >= 0")
        if start_revision < self.compact_revision:
            raise CompactedError(self.compact_revision)
        if max_revisions is not None and max_revisions < 1:
            raise ValueError("max_revisions must be >= 1")
        out: list[dict] = []
        done = max(start_revision, self.revision + 1)
        if range_end is None and start_revision > self.compact_revision:
            # one key: its own history holds every change after the compaction
            h = self._hist.get(key)
            if h is None:
                return out, done
            revs, kvs = h.revs, h.kvs
            for j in range(bisect_left(revs, start_revision), len(revs)):
                out.append(_event_dict(key, revs[j], kvs[j], kvs[j - 1] if j else None))
                if max_revisions is not None and len(out) >= max_revisions:
                    return out, revs[j] + 1
            return out, done
        n = 0
        ev_revs = self._ev_revs
        ev = self._ev
        for j in range(bisect_left(ev_revs, start_revision), len(ev_revs)):
            rev = ev_revs[j]
            hit = False
            for k, kv, prev in ev[j]:
                if _in_range(k, key, range_end):
                    out.append(_event_dict(k, rev, kv, prev))
                    hit = True
            if hit:
                n += 1
                if max_revisions is not None and n >= max_revisions:
                    return out, rev + 1
        return out, done

    # ----------------------------------------------------- snapshot / restore

    def _state(self) -> dict:
        c = self.compact_revision
        keys = []
        hist = self._hist
        for k in self._keys:
            h = hist[k]
            keys.append([k, [[r, _list_or_none(kv)] for r, kv in zip(h.revs, h.kvs)]])
        # events after the compact revision are rebuilt from the histories;
        # the compact revision's own events may refer to dropped versions, so
        # they are stored whole
        at_compact: list = []
        order = []
        for rev, evs in zip(self._ev_revs, self._ev):
            if rev == c:
                at_compact = [[k, _list_or_none(kv), _list_or_none(p)] for k, kv, p in evs]
            else:
                order.append([rev, [e[0] for e in evs]])
        return {
            "format": SNAPSHOT_FORMAT,
            "revision": self.revision,
            "compact_revision": c,
            "applied_index": self.applied_index,
            "keys": keys,
            "events_at_compact": at_compact,
            "event_order": order,
            "leases": [[lid, self._leases[lid][0]] for lid in sorted(self._leases)],
            "next_lease": self._next_lease,
            "sessions": [[cl, s, r] for cl, (s, r) in sorted(self._sessions.items())],
        }

    def snapshot(self) -> bytes:
        """The whole replicated state as canonical msgpack bytes."""
        return msgpack.packb(self._state(), use_bin_type=True)

    def state_hash(self) -> int:
        """A 64-bit digest of the whole replicated state."""
        return int.from_bytes(hashlib.blake2b(self.snapshot(), digest_size=8).digest(), "big")

    @classmethod
    def restore(cls, data: bytes) -> "MVCCStore":
        """A store identical to the one :meth:`snapshot` was taken from."""
        st = msgpack.unpackb(data, raw=False)
        if st.get("format") != SNAPSHOT_FORMAT:
            raise ValueError(f"unknown snapshot format {st.get('format')!r}")
        s = cls()
        s.revision = st["revision"]
        s.compact_revision = c = st["compact_revision"]
        s.applied_index = st["applied_index"]
        s._next_lease = st["next_lease"]
        for lid, ttl in st["leases"]:
            s._leases[lid] = [ttl, set()]
        hist = s._hist
        for k, recs in st["keys"]:
            h = _Hist()
            h.revs = [r for r, _ in recs]
            h.kvs = [_tuple_or_none(kv) for _, kv in recs]
            hist[k] = h
            s._keys.append(k)
            kv = h.kvs[-1]
            if kv is not None:
                s._live[k] = kv
                s._live_keys.append(k)
                if kv[_LEASE]:
                    s._leases[kv[_LEASE]][1].add(k)
        if st["events_at_compact"]:
            s._ev_revs.append(c)
            s._ev.append(tuple((k, _tuple_or_none(kv), _tuple_or_none(p))
                               for k, kv, p in st["events_at_compact"]))
        for rev, ks in st["event_order"]:
            evs = []
            for k in ks:
                h = hist[k]
                j = bisect_left(h.revs, rev)
                evs.append((k, h.kvs[j], h.kvs[j - 1] if j else None))
            s._ev_revs.append(rev)
            s._ev.append(tuple(evs))
        for cl, seq, res in st["sessions"]:
            s._sessions[cl] = (seq, res)
        return s


_HANDLERS = {
    "put": MVCCStore._op_put,
    "range": MVCCStore._op_range,
    "delete_range": MVCCStore._op_delete_range,
    "txn": MVCCStore._op_txn,
    "compact": MVCCStore._op_compact,
    "lease_grant": MVCCStore._op_lease_grant,
    "lease_revoke": MVCCStore._op_lease_revoke,
}


class Lessor:
    """Leader-local lease clock (not replicated).

    The store only knows lease ids and ttls.  On the leader, the Lessor keeps
    a deadline per lease: :meth:`promote` starts every lease afresh (a new
    leader cannot know how long the old one had been counting),
    :meth:`renew` is a keepalive, and :meth:`expired` lists the leases the
    leader should now propose ``lease_revoke`` for.  Leases granted or revoked
    through the log are picked up from the store's lease table; a newly seen
    lease's deadline starts at the ``now`` of the call that notices it, so a
    lease is never cut short.  Time is whatever unit ttls are in (seconds).
    """

    def __init__(self, store: MVCCStore, retry_interval: float | None = None):
        self._store = store
        self._deadlines: dict[int, float] = {}
        self._primary = False
        self._seen: tuple[int, int] | None = None   # (id(store), lease_generation) last synced
        # once reported by expired(), a lease is reported again only after
        # this long (None: on every call until it is revoked)
        self.retry_interval = retry_interval

    @property
    def store(self) -> MVCCStore:
        return self._store

    @store.setter
    def store(self, store: MVCCStore) -> None:
        """Point at a replacement store (e.g. after restoring a snapshot)."""
        self._store = store
        self._seen = None

    @property
    def is_primary(self) -> bool:
        return self._primary

    def promote(self, now: float) -> None:
        """This node just became leader: every lease gets a full ttl from now."""
        self._primary = True
        self._deadlines = {lid: now + ttl for lid, ttl in self._store.leases().items()}
        self._seen = (id(self._store), self._store.lease_generation)

    def demote(self) -> None:
        """This node is no longer leader: stop counting."""
        self._primary = False
        self._deadlines = {}
        self._seen = None

    def _sync(self, now: float) -> None:
        st = self._store
        mark = (id(st), st.lease_generation)
        if mark == self._seen:
            return
        table = st.leases()
        dl = self._deadlines
        for lid in [lid for lid in dl if lid not in table]:
            del dl[lid]
        for lid, ttl in table.items():
            if lid not in dl:
                dl[lid] = now + ttl
        self._seen = mark

    def renew(self, lease_id: int, now: float) -> int:
        """Keepalive: the lease lives ttl from now; returns the ttl.
        Raises LeaseNotFoundError for an unknown (or revoked) lease."""
        if not self._primary:
            raise RuntimeError("lessor is not primary (not the leader)")
        self._sync(now)
        ttl = self._store.lease_ttl(lease_id)
        if ttl is None:
            raise LeaseNotFoundError(lease_id)
        self._deadlines[lease_id] = now + ttl
        return ttl

    def remaining(self, lease_id: int, now: float) -> float | None:
        """Time left before the lease expires, or None if unknown."""
        if not self._primary:
            return None
        self._sync(now)
        d = self._deadlines.get(lease_id)
        return None if d is None else max(0.0, d - now)

    def expired(self, now: float) -> list[int]:
        """Ids (ascending) of existing leases whose deadline is at or before now."""
        if not self._primary:
            return []
        self._sync(now)
        out = sorted(lid for lid, d in self._deadlines.items() if d <= now)
        if self.retry_interval is not None:
            for lid in out:
                self._deadlines[lid] = now + self.retry_interval
        return out
