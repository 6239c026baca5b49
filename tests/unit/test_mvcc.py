"""Unit tests for raftstore.mvcc: the replicated, revisioned key-value store."""
from __future__ import annotations

import random

import msgpack
import pytest

from raftstore.mvcc import (
    CompactedError,
    LeaseNotFoundError,
    Lessor,
    MVCCStore,
    encode_entry,
    prefix_end,
)

ALL = b"\0"


def err(res: dict) -> str | None:
    return res.get("error", {}).get("code") if isinstance(res, dict) and "error" in res else None


def keys_of(res: dict) -> list[bytes]:
    return [kv["key"] for kv in res["kvs"]]


def cmp_(key, target, result, value, range_end=None):
    c = {"key": key, "target": target, "result": result, "value": value}
    if range_end is not None:
        c["range_end"] = range_end
    return c


def put(key, value=b"", **kw):
    return {"op": "put", "key": key, "value": value, **kw}


def rng(key, range_end=None, **kw):
    return {"op": "range", "key": key, "range_end": range_end, **kw}


def dele(key, range_end=None, **kw):
    return {"op": "delete_range", "key": key, "range_end": range_end, **kw}


# --------------------------------------------------------------------- basics

def test_prefix_end():
    assert prefix_end(b"a") == b"b"
    assert prefix_end(b"/registry/pods/") == b"/registry/pods0"
    assert prefix_end(b"a\xff") == b"b"
    assert prefix_end(b"a\xff\xff") == b"b"
    assert prefix_end(b"\xff\xff") == b"\0"
    assert prefix_end(b"") == b"\0"


def test_revisions():
    s = MVCCStore()
    assert s.revision == 1 and s.compact_revision == 0 and s.applied_index == 0
    assert s.put(b"a", b"1")["revision"] == 2
    assert s.revision == 2
    # deleting nothing creates no revision
    r = s.delete_range(b"zzz")
    assert r == {"revision": 2, "deleted": 0, "prev_kvs": []}
    assert s.revision == 2
    # reads, lease grants, read-only txns create none either
    s.range(b"a")
    s.lease_grant(10)
    r = s.txn([], [rng(b"a")], [])
    assert r["revision"] == 2 and s.revision == 2
    # a txn whose only write deletes nothing creates none
    assert s.txn([], [dele(b"nope")], [])["revision"] == 2
    assert s.revision == 2
    # a txn with several writes creates exactly one
    r = s.txn([], [put(b"b", b"1"), put(b"c", b"1"), dele(b"a")], [])
    assert r["revision"] == 3 and s.revision == 3
    assert [resp["revision"] for resp in r["responses"]] == [3, 3, 3]
    kvs = s.range(b"", ALL)["kvs"]
    assert [(kv["key"], kv["mod_revision"]) for kv in kvs] == [(b"b", 3), (b"c", 3)]
    # a delete of a range of keys: one revision
    r = s.delete_range(b"b", b"d")
    assert r["deleted"] == 2 and r["revision"] == 4 and s.revision == 4


def test_version_create_mod_tracking():
    s = MVCCStore()
    s.put(b"a", b"1")
    kv = s.get(b"a")
    assert (kv["create_revision"], kv["mod_revision"], kv["version"]) == (2, 2, 1)
    s.put(b"other", b"x")
    s.put(b"a", b"2")
    kv = s.get(b"a")
    assert (kv["value"], kv["create_revision"], kv["mod_revision"], kv["version"]) == (b"2", 2, 4, 2)
    s.put(b"a", b"3")
    assert s.get(b"a")["version"] == 3
    r = s.delete_range(b"a", prev_kv=True)
    assert r["revision"] == 6
    assert r["prev_kvs"][0]["value"] == b"3" and r["prev_kvs"][0]["version"] == 3
    assert s.get(b"a") is None
    s.put(b"a", b"new")
    kv = s.get(b"a")
    assert (kv["create_revision"], kv["mod_revision"], kv["version"]) == (7, 7, 1)
    # history is still there
    old = s.range(b"a", revision=4)["kvs"][0]
    assert (old["value"], old["version"], old["create_revision"]) == (b"2", 2, 2)
    assert s.range(b"a", revision=6)["kvs"] == []


def test_put_prev_kv_and_ignore_value():
    s = MVCCStore()
    assert s.put(b"k", b"v1", prev_kv=True)["prev_kv"] is None
    r = s.put(b"k", b"v2", prev_kv=True)
    assert r["prev_kv"]["value"] == b"v1" and r["prev_kv"]["mod_revision"] == 2
    assert s.put(b"k", b"v3")["prev_kv"] is None          # not asked for
    lid = s.lease_grant(5)["id"]
    s.put(b"k", lease=lid, ignore_value=True)
    kv = s.get(b"k")
    assert kv["value"] == b"v3" and kv["lease"] == lid and kv["version"] == 4
    s.put(b"k", b"v4", ignore_lease=True)
    assert s.get(b"k")["lease"] == lid
    assert err(s.put(b"missing", ignore_value=True)) == "key_not_found"


# ---------------------------------------------------------------------- range

def test_range_selection():
    s = MVCCStore()
    for k in [b"a", b"a/1", b"a/2", b"a/3", b"b", b"b/1", b"c"]:
        s.put(k, b"v" + k)
    assert keys_of(s.range(b"a/", prefix_end(b"a/"))) == [b"a/1", b"a/2", b"a/3"]
    assert keys_of(s.range(b"a", b"b")) == [b"a", b"a/1", b"a/2", b"a/3"]
    assert keys_of(s.range(b"b", ALL)) == [b"b", b"b/1", b"c"]
    assert keys_of(s.range(b"", ALL)) == [b"a", b"a/1", b"a/2", b"a/3", b"b", b"b/1", b"c"]
    assert keys_of(s.range(b"b/1")) == [b"b/1"]
    assert keys_of(s.range(b"b/")) == []
    assert keys_of(s.range(b"c", b"a")) == []                # end <= key: empty
    one = s.range(b"a/2")
    assert one["count"] == 1 and one["kvs"][0]["value"] == b"va/2"
    assert one["revision"] == s.revision == 8
    # limit / more / count
    r = s.range(b"", ALL, limit=3)
    assert keys_of(r) == [b"a", b"a/1", b"a/2"] and r["count"] == 7 and r["more"] is True
    r = s.range(b"", ALL, limit=7)
    assert r["count"] == 7 and r["more"] is False and len(r["kvs"]) == 7
    r = s.range(b"a/", prefix_end(b"a/"), count_only=True)
    assert r["kvs"] == [] and r["count"] == 3 and r["more"] is False
    r = s.range(b"a/", prefix_end(b"a/"), keys_only=True)
    assert keys_of(r) == [b"a/1", b"a/2", b"a/3"] and all(kv["value"] == b"" for kv in r["kvs"])
    assert r["kvs"][0]["mod_revision"] == 3


def test_range_at_old_revisions():
    s = MVCCStore()
    s.put(b"x/1", b"a")        # 2
    s.put(b"x/2", b"a")        # 3
    s.put(b"x/1", b"b")        # 4
    s.delete_range(b"x/2")     # 5
    s.put(b"x/3", b"a")        # 6
    p = (b"x/", prefix_end(b"x/"))

    def at(rev, **kw):
        return s.range(*p, revision=rev, **kw)

    assert at(1)["kvs"] == []
    assert [(kv["key"], kv["value"]) for kv in at(2)["kvs"]] == [(b"x/1", b"a")]
    assert [(kv["key"], kv["value"]) for kv in at(3)["kvs"]] == [(b"x/1", b"a"), (b"x/2", b"a")]
    assert [(kv["key"], kv["value"]) for kv in at(4)["kvs"]] == [(b"x/1", b"b"), (b"x/2", b"a")]
    assert keys_of(at(5)) == [b"x/1"]
    assert keys_of(at(6)) == [b"x/1", b"x/3"]
    assert at(3)["revision"] == 6                # the header is the current revision
    r = at(4, limit=1)
    assert r["count"] == 2 and r["more"] is True and keys_of(r) == [b"x/1"]
    assert at(4, count_only=True)["count"] == 2
    assert at(4, keys_only=True)["kvs"][0]["value"] == b""
    assert s.range(b"x/2", revision=4)["kvs"][0]["version"] == 1
    assert err(at(7)) == "future_revision"


# ------------------------------------------------------------------------ txn

def test_txn_compare_targets():
    s = MVCCStore()
    lid = s.lease_grant(30)["id"]
    s.put(b"k", b"v1")                  # 2
    s.put(b"k", b"v2", lease=lid)       # 3: version 2, create 2, mod 3

    def holds(*compares):
        r = s.txn(list(compares), [], [])
        assert "error" not in r
        return r["succeeded"]

    assert holds(cmp_(b"k", "value", "=", b"v2"))
    assert not holds(cmp_(b"k", "value", "=", b"v1"))
    assert holds(cmp_(b"k", "value", "!=", b"v1"))
    assert holds(cmp_(b"k", "value", ">", b"v1"))
    assert holds(cmp_(b"k", "value", "<", b"v3"))
    assert holds(cmp_(b"k", "version", "=", 2))
    assert not holds(cmp_(b"k", "version", "=", 1))
    assert holds(cmp_(b"k", "version", ">", 1))
    assert holds(cmp_(b"k", "create", "=", 2))
    assert holds(cmp_(b"k", "create", "<", 3))
    assert holds(cmp_(b"k", "mod", "=", 3))
    assert not holds(cmp_(b"k", "mod", "<", 3))
    assert holds(cmp_(b"k", "lease", "=", lid))
    assert not holds(cmp_(b"k", "lease", "=", 0))
    # every compare must hold
    assert not holds(cmp_(b"k", "version", "=", 2), cmp_(b"k", "mod", "=", 2))
    # missing key: version/create/mod/lease are 0, any value compare fails
    assert holds(cmp_(b"nope", "version", "=", 0))
    assert holds(cmp_(b"nope", "create", "=", 0))
    assert holds(cmp_(b"nope", "mod", "=", 0))
    assert holds(cmp_(b"nope", "lease", "=", 0))
    assert not holds(cmp_(b"nope", "value", "=", b""))
    assert not holds(cmp_(b"nope", "value", "!=", b"x"))
    # compares over a range: all keys in it
    s.put(b"r/1", b"a")
    s.put(b"r/2", b"b")
    assert holds(cmp_(b"r/", "version", "=", 1, range_end=prefix_end(b"r/")))
    assert not holds(cmp_(b"r/", "value", "=", b"a", range_end=prefix_end(b"r/")))
    assert holds(cmp_(b"r/", "value", "<", b"c", range_end=prefix_end(b"r/")))
    assert holds(cmp_(b"q/", "version", "=", 0, range_end=prefix_end(b"q/")))


def test_txn_branches_and_own_writes():
    s = MVCCStore()
    s.put(b"k", b"old")
    ok = s.txn([cmp_(b"k", "value", "=", b"old")],
               [put(b"k", b"new", prev_kv=True), rng(b"k"), put(b"j", b"1")],
               [put(b"failed", b"1")])
    assert ok["succeeded"] is True and ok["revision"] == 3
    put_r, range_r, _ = ok["responses"]
    assert put_r["prev_kv"]["value"] == b"old"
    # the read inside the txn sees the txn's own earlier write
    assert range_r["kvs"][0]["value"] == b"new" and range_r["kvs"][0]["mod_revision"] == 3
    assert range_r["revision"] == 3
    assert s.get(b"failed") is None
    bad = s.txn([cmp_(b"k", "value", "=", b"old")],
                [put(b"k", b"never")],
                [rng(b"k"), dele(b"j", prev_kv=True), rng(b"j")])
    assert bad["succeeded"] is False and bad["revision"] == 4
    r0, d, r1 = bad["responses"]
    assert r0["kvs"][0]["value"] == b"new" and r0["revision"] == 3
    assert d["deleted"] == 1 and d["prev_kvs"][0]["key"] == b"j"
    assert r1["kvs"] == [] and r1["revision"] == 4       # sees its own delete
    assert s.get(b"k")["value"] == b"new"
    # nested txn: its compares see the state before the outer txn
    r = s.txn([], [put(b"n", b"1"),
                   {"op": "txn", "compare": [cmp_(b"n", "version", "=", 0)],
                    "success": [put(b"m", b"yes")], "failure": [put(b"m", b"no")]}], [])
    assert r["revision"] == 5 and r["responses"][1]["succeeded"] is True
    assert s.get(b"m")["value"] == b"yes" and s.get(b"m")["mod_revision"] == 5


def test_txn_errors_change_nothing():
    s = MVCCStore()
    s.put(b"a", b"1")
    h = s.state_hash()
    cases = [
        ([put(b"x", b"1"), put(b"x", b"2")], "duplicate_key"),
        ([put(b"x", b"1"), dele(b"w", b"y")], "duplicate_key"),
        ([dele(b"x"), put(b"x", b"1")], "duplicate_key"),
        ([put(b"x", b"1"), {"op": "txn", "success": [put(b"x", b"2")]}], "duplicate_key"),
        ([put(b"x", b"1"), put(b"y", b"1", lease=99)], "lease_not_found"),
        ([put(b"x", b"1"), rng(b"a", revision=50)], "future_revision"),
        ([put(b"x", b"1"), {"op": "compact", "revision": 2}], "bad_request"),
        ([put(b"x", b"1"), {"op": "bogus"}], "bad_request"),
        ([put(b"x", 123)], "bad_request"),
    ]
    for ops, code in cases:
        assert err(s.txn([], ops, [])) == code, ops
        assert s.revision == 2 and s.get(b"x") is None and s.state_hash() == h
    # overlapping deletes are fine, and a duplicate only in the branch not taken is too
    assert "error" not in s.txn([], [dele(b"a"), dele(b"", ALL)], [put(b"z", b"1"), put(b"z", b"2")])
    assert s.revision == 3
    assert err(s.txn([cmp_(b"a", "target-typo", "=", 1)], [], [])) == "bad_request"
    assert err(s.txn([cmp_(b"a", "version", "=", b"1")], [], [])) == "bad_request"


# ----------------------------------------------------------------- compaction

def test_compaction():
    s = MVCCStore()
    s.put(b"a", b"1")              # 2
    s.put(b"a", b"2")              # 3
    s.put(b"b", b"1")              # 4
    s.delete_range(b"b")           # 5  tombstone
    s.put(b"c", b"1")              # 6
    s.put(b"a", b"3")              # 7
    assert err(s.compact(8)) == "future_revision"
    assert s.compact(6) == {"revision": 7}
    assert s.compact_revision == 6
    r = s.range(b"a", revision=5)
    assert err(r) == "compacted" and r["error"]["compact_revision"] == 6
    assert err(s.range(b"a", revision=2)) == "compacted"
    # the newest version at or below the compact revision survives
    assert s.range(b"a", revision=6)["kvs"][0]["value"] == b"2"
    assert keys_of(s.range(b"", ALL, revision=6)) == [b"a", b"c"]
    assert s.range(b"a", revision=7)["kvs"][0]["value"] == b"3"
    # the tombstoned key's history is gone entirely
    assert b"b" not in s._hist and b"b" not in s._keys
    assert s._hist[b"a"].revs == [3, 7]
    assert err(s.compact(6)) == "compacted"
    assert err(s.compact(3)) == "compacted"
    # watch below the compact revision fails, at/after it works
    with pytest.raises(CompactedError) as ei:
        s.watch_events(b"a", None, 5)
    assert ei.value.compact_revision == 6
    with pytest.raises(CompactedError):
        s.watch_events(b"", ALL, 2)
    evs, nxt = s.watch_events(b"", ALL, 6)
    assert [(e["kv"]["key"], e["kv"]["mod_revision"]) for e in evs] == [(b"c", 6), (b"a", 7)]
    assert nxt == 8
    evs, _ = s.watch_events(b"a", None, 7)
    assert evs[0]["prev_kv"]["value"] == b"2"       # prev survives compaction
    # compacting at a deletion keeps that deletion's watch event
    s.delete_range(b"c")           # 8
    s.compact(8)
    assert b"c" not in s._hist
    evs, nxt = s.watch_events(b"", ALL, 8)
    assert [(e["type"], e["kv"]["key"], e["kv"]["mod_revision"]) for e in evs] == [("DELETE", b"c", 8)]
    assert evs[0]["prev_kv"]["value"] == b"1"
    evs_single, _ = s.watch_events(b"c", None, 8)
    assert evs_single == evs
    # writes keep working after compaction
    s.put(b"c", b"again")
    assert s.get(b"c")["create_revision"] == 9


# ---------------------------------------------------------------------- watch

def test_watch_order_atomic_revisions_and_resume():
    s = MVCCStore()
    s.put(b"w/a", b"1")                                             # 2
    s.txn([], [put(b"w/b", b"1"), put(b"w/a", b"2"), put(b"x", b"1")], [])  # 3
    s.put(b"w/c", b"1")                                             # 4
    s.delete_range(b"w/", prefix_end(b"w/"), prev_kv=True)          # 5: c, b, a? (key order)
    s.put(b"w/a", b"3")                                             # 6
    p = (b"w/", prefix_end(b"w/"))
    evs, nxt = s.watch_events(*p, 2)
    got = [(e["type"], e["kv"]["key"], e["kv"]["mod_revision"]) for e in evs]
    assert got == [
        ("PUT", b"w/a", 2),
        ("PUT", b"w/b", 3), ("PUT", b"w/a", 3),       # sub-revision (request) order
        ("PUT", b"w/c", 4),
        ("DELETE", b"w/a", 5), ("DELETE", b"w/b", 5), ("DELETE", b"w/c", 5),
        ("PUT", b"w/a", 6),
    ]
    assert nxt == 7
    d = evs[4]
    assert d["kv"] == {"key": b"w/a", "value": b"", "create_revision": 0, "mod_revision": 5,
                       "version": 0, "lease": 0}
    assert d["prev_kv"]["value"] == b"2" and d["prev_kv"]["version"] == 2
    assert evs[2]["prev_kv"]["value"] == b"1"
    assert evs[0]["prev_kv"] is None and evs[7]["prev_kv"] is None
    # resume one revision at a time: whole revisions, no gap, no duplicate
    chunks = []
    start = 2
    while True:
        part, start2 = s.watch_events(*p, start, max_revisions=1)
        if not part:
            assert start2 == s.revision + 1
            break
        assert len({e["kv"]["mod_revision"] for e in part}) == 1
        chunks.append(part)
        assert start2 == part[-1]["kv"]["mod_revision"] + 1
        start = start2
    assert [len(c) for c in chunks] == [1, 2, 1, 3, 1]
    assert [e for c in chunks for e in c] == evs
    part, nxt = s.watch_events(*p, 3, max_revisions=2)
    assert [e["kv"]["mod_revision"] for e in part] == [3, 3, 4] and nxt == 5
    # single-key watches agree with range watches
    single, nxt = s.watch_events(b"w/a", None, 2)
    assert single == [e for e in evs if e["kv"]["key"] == b"w/a"] and nxt == 7
    one, nxt = s.watch_events(b"w/a", None, 2, max_revisions=2)
    assert [e["kv"]["mod_revision"] for e in one] == [2, 3] and nxt == 4
    # start 0 = from now on; a future start waits there
    assert s.watch_events(*p, 0) == ([], 7)
    assert s.watch_events(*p, 10) == ([], 10)
    assert s.watch_events(b"x", None, 4) == ([], 7)
    s.put(b"w/z", b"1")
    evs, nxt = s.watch_events(*p, 7)
    assert [e["kv"]["key"] for e in evs] == [b"w/z"] and nxt == 8


# --------------------------------------------------------------- exactly-once

def test_apply_exactly_once():
    s = MVCCStore()
    e1 = encode_entry(put(b"k", b"1"), "c1", 1)
    r1 = s.apply(1, e1)
    assert r1["revision"] == 2 and s.applied_index == 1
    # the same (client, seq) again in a later entry: same result, no new revision
    assert s.apply(2, e1) == r1
    assert s.revision == 2 and s.get(b"k")["version"] == 1
    # a different request under the same seq is still treated as the retry
    assert s.apply(3, encode_entry(put(b"k", b"other"), "c1", 1)) == r1
    assert s.get(b"k")["value"] == b"1"
    r2 = s.apply(4, encode_entry(put(b"k", b"2"), "c1", 2))
    assert r2["revision"] == 3
    r = s.apply(5, encode_entry(put(b"k", b"x"), "c1", 1))
    assert err(r) == "stale_sequence" and r["error"]["last_seq"] == 2
    assert s.revision == 3
    # other clients have their own sequence; no client = no dedup
    assert s.apply(6, encode_entry(put(b"k", b"3"), "c2", 1))["revision"] == 4
    assert s.apply(7, encode_entry(put(b"k", b"4")))["revision"] == 5
    assert s.apply(8, encode_entry(put(b"k", b"4")))["revision"] == 6
    # errors are remembered too, and not re-executed
    bad = encode_entry(put(b"k", b"5", lease=77), "c3", 1)
    assert err(s.apply(9, bad)) == "lease_not_found"
    s.lease_grant(10, id=77)
    assert err(s.apply(10, bad)) == "lease_not_found"
    # old / repeated raft indexes are ignored; empty entries only move the index
    assert s.apply(10, encode_entry(put(b"k", b"zzz"))) is None
    assert s.apply(3, encode_entry(put(b"k", b"zzz"))) is None
    assert s.apply(11, b"") is None
    assert s.applied_index == 11 and s.revision == 6 and s.get(b"k")["value"] == b"4"
    assert err(s.apply(12, b"\xc1garbage")) == "bad_request"
    assert err(s.apply(13, msgpack.packb([1, 2]))) == "bad_request"
    assert err(s.apply(14, encode_entry({"op": "nope"}, "c4", 1))) == "bad_request"
    assert s.applied_index == 14 and s.revision == 6


def test_bad_requests():
    s = MVCCStore()
    for req in [None, [], {"op": "nope"}, {"key": b"a"}, put("str-key", b"v"), put(b"", b"v"),
                put(b"a", "str"), put(b"a", b"v", lease=-1), rng(b"a", revision=-1),
                rng(b"a", limit="x"), {"op": "compact", "revision": "1"},
                {"op": "lease_grant", "ttl": 0}, {"op": "txn", "compare": "x"},
                {"op": "txn", "success": ["notamap"]}, put(b"a", b"v", lease=1 << 64),
                {"op": "compact"}]:
        r = s.execute(req)
        assert err(r) == "bad_request", req
        assert isinstance(r["error"]["message"], str)
    assert s.revision == 1


# --------------------------------------------------------------------- leases

def test_leases():
    s = MVCCStore()
    g = s.lease_grant(10)
    assert g == {"revision": 1, "id": 1, "ttl": 10}
    assert s.lease_grant(5, id=2)["id"] == 2
    assert err(s.lease_grant(5, id=2)) == "lease_exists"
    assert s.lease_grant(7)["id"] == 3                   # skips the taken id
    assert s.leases() == {1: 10, 2: 5, 3: 7}
    assert err(s.put(b"k", b"v", lease=99)) == "lease_not_found"
    assert s.revision == 1
    s.put(b"a", b"1", lease=1)     # 2
    s.put(b"b", b"1", lease=1)     # 3
    s.put(b"c", b"1", lease=2)     # 4
    s.put(b"d", b"1")              # 5
    assert s.lease_keys(1) == [b"a", b"b"]
    # moving a key to another lease detaches it from the old one
    s.put(b"b", b"2", lease=2)     # 6
    assert s.lease_keys(1) == [b"a"] and s.lease_keys(2) == [b"b", b"c"]
    s.put(b"c", b"2")              # 7: no lease any more
    assert s.lease_keys(2) == [b"b"]
    s.delete_range(b"a")           # 8: deleting detaches
    assert s.lease_keys(1) == []
    s.put(b"x", b"1", lease=2)     # 9
    r = s.lease_revoke(2)
    assert r["revision"] == 10 and r["deleted"] == 2 and s.revision == 10
    assert s.get(b"b") is None and s.get(b"x") is None and s.get(b"c") is not None
    evs, _ = s.watch_events(b"", ALL, 10)
    assert [(e["type"], e["kv"]["key"], e["kv"]["mod_revision"]) for e in evs] == [
        ("DELETE", b"b", 10), ("DELETE", b"x", 10)]
    assert err(s.lease_revoke(2)) == "lease_not_found"
    with pytest.raises(LeaseNotFoundError):
        s.lease_keys(2)
    # revoking a lease with no keys creates no revision
    assert s.lease_revoke(1) == {"revision": 10, "deleted": 0}
    assert s.revision == 10 and s.leases() == {3: 7}
    assert err(s.put(b"y", b"1", lease=1)) == "lease_not_found"


def test_lessor_expiry_with_injected_clock():
    s = MVCCStore()
    a = s.lease_grant(10)["id"]
    b = s.lease_grant(5)["id"]
    s.put(b"k", b"v", lease=a)
    lessor = Lessor(s)
    assert lessor.expired(1000.0) == []                 # not the leader: nothing expires
    lessor.promote(100.0)
    assert lessor.expired(104.9) == []
    assert lessor.expired(105.0) == [b]
    assert lessor.renew(a, 104.0) == 10                 # a now lives until 114
    assert lessor.expired(112.0) == [b]
    assert lessor.remaining(a, 112.0) == pytest.approx(2.0)
    with pytest.raises(LeaseNotFoundError):
        lessor.renew(999, 112.0)
    # the leader proposes the revoke; once applied the lease is forgotten
    s.lease_revoke(b)
    assert lessor.expired(113.0) == []
    with pytest.raises(LeaseNotFoundError):
        lessor.renew(b, 113.0)
    # a lease granted later is picked up with a full ttl from when it is seen
    c = s.lease_grant(3)["id"]
    assert lessor.expired(120.0) == [a]
    assert lessor.expired(122.9) == [a]
    assert lessor.expired(123.0) == [a, c]
    s.lease_revoke(a)
    assert s.get(b"k") is None
    assert lessor.expired(200.0) == [c]
    # a new leader restarts every clock
    lessor.demote()
    assert lessor.expired(500.0) == []
    lessor.promote(500.0)
    assert lessor.expired(502.0) == [] and lessor.expired(503.0) == [c]
    # optional back-off so the leader does not re-propose on every tick
    slow = Lessor(s, retry_interval=1.0)
    slow.promote(0.0)
    assert slow.expired(3.0) == [c]
    assert slow.expired(3.5) == []
    assert slow.expired(4.0) == [c]
    # following a restored store
    s2 = MVCCStore.restore(s.snapshot())
    s2.lease_revoke(c)
    slow.store = s2
    assert slow.expired(10.0) == []


# ----------------------------------------------------------- snapshot/restore

def _build_history() -> MVCCStore:
    s = MVCCStore()
    idx = 0

    def ap(req, client="cl", seq=None):
        nonlocal idx
        idx += 1
        return s.apply(idx, encode_entry(req, client, idx if seq is None else seq))

    ap({"op": "lease_grant", "id": 0, "ttl": 30})
    for i in range(6):
        ap(put(b"p/%d" % (i % 3), b"v%d" % i, lease=1 if i % 2 else 0))
    ap(dele(b"p/1"))
    ap({"op": "txn", "compare": [cmp_(b"p/0", "version", ">", 0)],
        "success": [put(b"q", b"1"), dele(b"p/2")], "failure": []})
    ap({"op": "compact", "revision": 5})
    ap(put(b"p/1", b"back"))
    ap(put(b"p/1", b"back2"), client="other", seq=1)
    return s


def test_snapshot_restore_equality():
    empty = MVCCStore()
    e2 = MVCCStore.restore(empty.snapshot())
    assert e2.state_hash() == empty.state_hash() and e2.revision == 1
    assert e2.put(b"a", b"1") == empty.put(b"a", b"1")
    s = _build_history()
    data = s.snapshot()
    r = MVCCStore.restore(data)
    assert r.snapshot() == data
    assert r.state_hash() == s.state_hash()
    assert (r.revision, r.compact_revision, r.applied_index) == (s.revision, s.compact_revision,
                                                                 s.applied_index)
    assert r.leases() == s.leases() and r.lease_keys(1) == s.lease_keys(1)
    for rev in range(s.compact_revision, s.revision + 1):
        assert r.range(b"", ALL, revision=rev) == s.range(b"", ALL, revision=rev)
    assert err(r.range(b"", ALL, revision=4)) == "compacted"
    for start in range(s.compact_revision, s.revision + 2):
        assert r.watch_events(b"", ALL, start) == s.watch_events(b"", ALL, start)
        assert r.watch_events(b"p/1", None, start) == s.watch_events(b"p/1", None, start)
    with pytest.raises(CompactedError):
        r.watch_events(b"", ALL, 4)
    # the dedup table came along: a retry is answered from it on both
    retry = encode_entry(put(b"p/1", b"ignored"), "other", 1)
    assert r.apply(100, retry) == s.apply(100, retry)
    assert r.get(b"p/1")["value"] == b"back2"
    # old indexes stay applied: no going back in time
    assert r.apply(3, encode_entry(put(b"zz", b"1"))) is None
    # further applies give identical results and states
    reqs = [put(b"p/9", b"x", lease=1), {"op": "lease_revoke", "id": 1}, dele(b"", ALL),
            {"op": "compact", "revision": s.revision}, put(b"n", b"1")]
    for i, req in enumerate(reqs):
        a = s.apply(101 + i, encode_entry(req, "cl", 1000 + i))
        b = r.apply(101 + i, encode_entry(req, "cl", 1000 + i))
        assert a == b and "error" not in a
        assert s.state_hash() == r.state_hash()
    # and the hash does notice differences
    r.put(b"n", b"2")
    assert s.state_hash() != r.state_hash()


# ------------------------------------------------------------------ randomized

KEYS = [b"a/%d" % i for i in range(6)] + [b"b/%d" % i for i in range(5)] + [b"c"]
RANGES = [(b"a/", prefix_end(b"a/")), (b"b/", prefix_end(b"b/")), (b"", ALL), (b"a/3", b"b/2"),
          (b"b/0", ALL)]


def _random_req(rnd: random.Random, store: MVCCStore, depth: int = 0) -> dict:
    lease_ids = sorted(store.leases()) + [0, 0, 0, 424242]
    x = rnd.random()
    if x < 0.35:
        return put(rnd.choice(KEYS), b"v%d" % rnd.randrange(1000), lease=rnd.choice(lease_ids),
                   prev_kv=rnd.random() < 0.3)
    if x < 0.45:
        if rnd.random() < 0.5:
            return dele(rnd.choice(KEYS), prev_kv=rnd.random() < 0.5)
        return dele(*rnd.choice(RANGES[:2] + RANGES[3:]), prev_kv=rnd.random() < 0.5)
    if x < 0.55:
        k, e = rnd.choice(RANGES + [(rnd.choice(KEYS), None)])
        rev = rnd.choice([0, 0, store.revision, rnd.randrange(1, store.revision + 3)])
        return rng(k, e, revision=rev, limit=rnd.choice([0, 0, 1, 3]),
                   count_only=rnd.random() < 0.2, keys_only=rnd.random() < 0.2)
    if x < 0.75 and depth < 2:
        target = rnd.choice(["value", "version", "create", "mod", "lease"])
        val = b"v%d" % rnd.randrange(1000) if target == "value" else rnd.randrange(0, store.revision + 2)
        compares = [cmp_(rnd.choice(KEYS), target, rnd.choice(["=", "!=", "<", ">"]), val)]
        if rnd.random() < 0.2:
            compares.append(cmp_(b"a/", "version", ">", 0, range_end=prefix_end(b"a/")))
        return {"op": "txn", "compare": compares,
                "success": [_random_req(rnd, store, depth + 1) for _ in range(rnd.randrange(4))],
                "failure": [_random_req(rnd, store, depth + 1) for _ in range(rnd.randrange(3))]}
    if depth:
        return put(rnd.choice(KEYS), b"t%d" % rnd.randrange(100))
    if x < 0.82:
        lo = store.compact_revision
        return {"op": "compact", "revision": rnd.randrange(max(lo - 1, 0), store.revision + 2)}
    if x < 0.9:
        return {"op": "lease_grant", "id": rnd.choice([0, 0, 1, 5, 7]), "ttl": rnd.randrange(1, 30)}
    return {"op": "lease_revoke", "id": rnd.choice(lease_ids)}


def _check_history(s: MVCCStore, states: dict, rnd: random.Random) -> None:
    """Reads at old revisions match what the store showed at the time, and
    replaying watch events from an old state reaches the current one."""
    cur = {kv["key"]: kv for kv in s.range(b"", ALL)["kvs"]}
    assert states[s.revision] == cur
    revs = [r for r in states if r >= s.compact_revision]
    r = rnd.choice(revs)
    got = s.range(b"", ALL, revision=r)
    assert {kv["key"]: kv for kv in got["kvs"]} == states[r], r
    if s.compact_revision > 1:
        with pytest.raises(CompactedError):
            s.watch_events(b"", ALL, s.compact_revision - 1)
    # watch from r or r + 1 (a start at the compact revision itself is allowed)
    start0 = r + 1 if r < 2 or rnd.random() < 0.5 else r
    state = dict(states[start0 - 1])
    evs, nxt = s.watch_events(b"", ALL, start0)
    assert nxt == s.revision + 1
    last = start0
    for e in evs:
        kv, prev = e["kv"], e["prev_kv"]
        assert kv["mod_revision"] >= last
        last = kv["mod_revision"]
        k = kv["key"]
        assert prev == state.get(k)
        if e["type"] == "PUT":
            if prev is None:
                assert (kv["version"], kv["create_revision"]) == (1, kv["mod_revision"])
            else:
                assert kv["version"] == prev["version"] + 1
                assert kv["create_revision"] == prev["create_revision"]
            state[k] = kv
        else:
            del state[k]
    assert state == cur
    # every revision after r shows up in the stream, each exactly once
    assert sorted({e["kv"]["mod_revision"] for e in evs}) == list(range(start0, s.revision + 1))
    # chunked resumption concatenates to the same stream
    chunked, start = [], start0
    while True:
        n = rnd.randrange(1, 4)
        part, start = s.watch_events(b"", ALL, start, max_revisions=n)
        if not part:
            break
        assert len({e["kv"]["mod_revision"] for e in part}) <= n
        chunked += part
    assert chunked == evs
    k = rnd.choice(KEYS)
    assert s.watch_events(k, None, start0)[0] == [e for e in evs if e["kv"]["key"] == k]


def _selected(k: bytes, key: bytes, end: bytes | None) -> bool:
    if end is None:
        return k == key
    if end == ALL:
        return k >= key
    return key <= k < end


def _check_range_against_states(s: MVCCStore, states: dict, rnd: random.Random) -> None:
    """A range result computed by hand from the recorded per-revision states."""
    key, end = rnd.choice(RANGES + [(rnd.choice(KEYS), None)])
    rev = rnd.choice([0, s.revision, rnd.randrange(1, s.revision + 2), s.compact_revision,
                      max(s.compact_revision - 1, 0)])
    limit = rnd.choice([0, 1, 2, 5])
    count_only, keys_only = rnd.random() < 0.2, rnd.random() < 0.2
    got = s.range(key, end, revision=rev, limit=limit, count_only=count_only, keys_only=keys_only)
    if rev and rev < s.compact_revision:
        assert err(got) == "compacted" and got["error"]["compact_revision"] == s.compact_revision
        return
    if rev > s.revision:
        assert err(got) == "future_revision"
        return
    state = states[rev or s.revision]
    sel = [state[k] for k in sorted(state) if _selected(k, key, end)]
    want = [] if count_only else sel[:limit] if limit else sel
    if keys_only:
        want = [dict(kv, value=b"") for kv in want]
    assert got == {"revision": s.revision, "kvs": want, "count": len(sel),
                   "more": len(want) < len(sel) and not count_only}


@pytest.mark.parametrize("seed", [1, 2, 3])
def test_randomized_replicas_with_restore(seed):
    rnd = random.Random(seed)
    a, b = MVCCStore(), MVCCStore()
    states = {1: {}}
    seqs: dict[str, int] = {}
    sent: list[tuple[bytes, object]] = []
    steps = 700
    index = 0
    for step in range(steps):
        if step == steps // 2:
            a = MVCCStore.restore(a.snapshot())
            assert a.state_hash() == b.state_hash()
            # retries of entries applied before the snapshot are still answered from the cache
            latest = {}
            for data, res in sent:
                latest[msgpack.unpackb(data)["client"]] = (data, res)
            assert len(latest) >= 2
            for data, res in latest.values():
                index += 1
                assert a.apply(index, data) == b.apply(index, data) == res
        index += rnd.choice([1, 1, 1, 2])
        x = rnd.random()
        if x < 0.05:
            data = b""
        elif x < 0.12 and sent:
            data, _ = rnd.choice(sent[-5:])           # a client retry
        else:
            client = rnd.choice(["c1", "c2", "c3", None])
            if client is not None and rnd.random() < 0.05 and seqs.get(client, 0) > 1:
                data = encode_entry(put(b"c", b"stale"), client, seqs[client] - 1)
            else:
                if client is not None:
                    seqs[client] = seqs.get(client, 0) + 1
                data = encode_entry(_random_req(rnd, b), client, seqs.get(client, 0))
        rev_before = b.revision
        ra = a.apply(index, data)
        rb = b.apply(index, data)
        assert ra == rb
        assert a.state_hash() == b.state_hash(), step
        assert b.revision in (rev_before, rev_before + 1)
        if isinstance(rb, dict) and "error" in rb:
            assert b.revision == rev_before
        if data:
            msg = msgpack.unpackb(data)
            if msg["client"] is not None and err(rb) != "stale_sequence":
                prior = [res for d, res in sent if d == data]
                if prior:
                    assert rb == prior[0]                # exactly once
                    assert b.revision == rev_before
                sent.append((data, rb))
            elif err(rb) == "stale_sequence":
                assert b.revision == rev_before
        if b.revision not in states:
            states[b.revision] = {kv["key"]: kv for kv in b.range(b"", ALL)["kvs"]}
        if step % 7 == 0:
            _check_history(a, states, rnd)
        if step % 3 == 0:
            _check_range_against_states(rnd.choice([a, b]), states, rnd)
    # the stream really exercised things
    assert b.revision > 150 and b.compact_revision > 1


def test_many_applies_one_revision_each():
    s = MVCCStore()
    entries = [encode_entry(put(b"/registry/pods/ns/p%d" % (i % 500), b"x" * 64), "c", i + 1)
               for i in range(5000)]
    for i, e in enumerate(entries):
        s.apply(i + 1, e)
    assert s.revision == 5001
    assert s.applied_index == 5000
    assert s.range(b"/registry/pods/", prefix_end(b"/registry/pods/"), count_only=True)["count"] == 500
