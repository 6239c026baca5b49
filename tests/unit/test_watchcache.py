"""The apiserver's watch cache, fed by real raftstore watch events."""
from __future__ import annotations

import asyncio
import json

import pytest

from actors.apiserver.watchcache import WatchCache
from kubeapi import errors
from kubeapi.registry import by_plural
from kubeapi.selectors import parse_field_selector, parse_label_selector
from raftstore.mvcc import MVCCStore

PODS = by_plural("", "v1", "pods")
DEPLOY = by_plural("apps", "v1", "deployments")
NODES = by_plural("", "v1", "nodes")


class FakeClock:
    def __init__(self) -> None:
        self.now = 100.0

    def __call__(self) -> float:
        return self.now


class Feed:
    """An MVCC store whose changes are read back as one raftstore watch would deliver them."""

    def __init__(self, res=PODS) -> None:
        self.res = res
        self.store = MVCCStore()
        self.next = 1

    def put(self, name: str, ns: str | None = "default", labels: dict | None = None,
            node: str = "", key: str | None = None) -> int:
        obj = {"apiVersion": self.res.group_version, "kind": self.res.kind,
               "metadata": {"name": name, **({"namespace": ns} if ns else {}),
                            "labels": labels or {}},
               "spec": {"nodeName": node} if node else {}}
        k = key or self.res.key(ns, name)
        return self.store.put(k.encode(), json.dumps(obj).encode())["revision"]

    def delete(self, name: str, ns: str | None = "default") -> int:
        return self.store.delete_range(self.res.key(ns, name).encode())["revision"]

    def events(self) -> list[dict]:
        evs, self.next = self.store.watch_events(b"/registry/", b"/registry0", self.next)
        return evs

    def items(self) -> tuple[list[dict], int]:
        from actors.apiserver.storage import _decode
        got = self.store.range(b"/registry/", b"/registry0")
        return [_decode(kv) for kv in got["kvs"]], got["revision"]


def rv(ev: dict) -> int:
    return int(ev["object"]["metadata"]["resourceVersion"])


def summary(evs: list[dict]) -> list[tuple[str, str, int]]:
    return [(e["type"], e["object"]["metadata"].get("name", ""), rv(e)) for e in evs]


def run(coro):
    return asyncio.run(coro)


def drain(w) -> list[dict]:
    return run(w.next(0))


def cache_at_start(feed: Feed, **kw) -> WatchCache:
    cache = WatchCache(feed.res, **kw)
    cache.replace(*feed.items())
    return cache


# ------------------------------------------------------------------ event mapping

def test_added_modified_deleted_mapping():
    feed = Feed()
    cache = cache_at_start(feed)
    start = cache.revision
    r1 = feed.put("a", labels={"v": "1"})
    r2 = feed.put("a", labels={"v": "2"})
    r3 = feed.delete("a")
    cache.apply(feed.events())
    assert cache.revision == r3
    evs = cache.watch_from(str(start))
    assert summary(evs) == [("ADDED", "a", r1), ("MODIFIED", "a", r2), ("DELETED", "a", r3)]
    # DELETED carries the last state of the object, at the deletion revision
    assert evs[2]["object"]["metadata"]["labels"] == {"v": "2"}
    assert evs[1]["object"]["metadata"]["labels"] == {"v": "2"}
    assert cache.get("default", "a") is None


def test_deleted_uses_cached_state_without_prev_kv():
    cache = WatchCache(PODS)
    feed = Feed()
    r1 = feed.put("a", labels={"x": "y"})
    cache.apply(feed.events())
    feed.delete("a")
    (dele,) = feed.events()
    assert dele["prev_kv"] is not None
    dele["prev_kv"] = None
    cache.apply([dele])
    (ev,) = cache.watch_from(str(r1))
    assert ev["type"] == "DELETED"
    assert ev["object"]["metadata"]["labels"] == {"x": "y"}
    assert rv(ev) == dele["kv"]["mod_revision"] == cache.revision


def test_create_is_added_and_update_of_unknown_object_is_modified():
    feed = Feed()
    cache = WatchCache(PODS)
    r1 = feed.put("a", labels={"gen": "1"})
    cache.apply(feed.events())
    feed.delete("a")
    feed.events()  # this delete never reaches the cache
    r3 = feed.put("a", labels={"gen": "2"})  # recreated: create_revision == mod_revision
    feed.put("b")
    r5 = feed.put("b", labels={"gen": "2"})
    evs = feed.events()
    cache.apply([e for e in evs if e["kv"]["mod_revision"] != r5 - 1])  # b's create is missed too
    assert summary(cache.watch_from(str(r1))) == [("ADDED", "a", r3), ("MODIFIED", "b", r5)]
    assert cache.get("default", "a")["metadata"]["labels"] == {"gen": "2"}


def test_keys_of_other_resources_are_ignored():
    feed = Feed()
    cache = cache_at_start(feed)
    r = feed.put("a")
    feed.put("psp", key="/registry/podsecuritypolicies/psp")
    feed.put("cm", key="/registry/configmaps/default/cm")
    cache.apply(feed.events())
    items, revision = cache.list()
    assert [o["metadata"]["name"] for o in items] == ["a"]
    assert revision == r
    assert summary(cache.watch_from("0")) == [("ADDED", "a", r)]


def test_stale_events_before_replace_are_ignored():
    feed = Feed()
    feed.put("a", labels={"v": "1"})
    old = feed.events()
    feed.put("a", labels={"v": "2"})
    cache = cache_at_start(feed)
    cache.apply(old)  # already reflected in the list
    assert cache.get("default", "a")["metadata"]["labels"] == {"v": "2"}
    assert cache.watch_from(str(cache.revision)) == []


# ------------------------------------------------------------------ list / get

def test_list_and_get_with_namespaces_and_selectors():
    feed = Feed()
    cache = cache_at_start(feed)
    feed.put("b", "ns1", {"app": "web"}, node="n1")
    ra = feed.put("a", "ns1", {"app": "db"}, node="n2")
    rc = feed.put("c", "ns2", {"app": "web"}, node="n1")
    cache.apply(feed.events())
    names = lambda items: [(o["metadata"]["namespace"], o["metadata"]["name"]) for o in items]
    items, revision = cache.list()
    assert names(items) == [("ns1", "a"), ("ns1", "b"), ("ns2", "c")]
    assert revision == rc
    assert names(cache.list("ns1")[0]) == [("ns1", "a"), ("ns1", "b")]
    web = parse_label_selector("app=web")
    assert names(cache.list(None, web)[0]) == [("ns1", "b"), ("ns2", "c")]
    assert names(cache.list("ns2", web)[0]) == [("ns2", "c")]
    n1 = parse_field_selector("spec.nodeName=n1")
    assert names(cache.list(field_selector=n1)[0]) == [("ns1", "b"), ("ns2", "c")]
    assert names(cache.list("ns1", parse_label_selector("app!=web"), n1)[0]) == []
    assert names(cache.list(field_selector=parse_field_selector("metadata.namespace=ns2"))[0]) \
        == [("ns2", "c")]
    assert cache.get("ns1", "a")["metadata"]["labels"] == {"app": "db"}
    assert cache.get("ns1", "a")["metadata"]["resourceVersion"] == str(ra)
    assert cache.get("ns2", "a") is None


def test_cluster_scoped_resource():
    feed = Feed(NODES)
    cache = cache_at_start(feed)
    feed.put("n2", ns=None)
    r = feed.put("n1", ns=None)
    cache.apply(feed.events())
    assert [o["metadata"]["name"] for o in cache.list()[0]] == ["n1", "n2"]
    assert cache.get(None, "n1")["metadata"]["resourceVersion"] == str(r)


# ------------------------------------------------------------------ watch_from

def test_watch_from_zero_current_in_window_and_future():
    feed = Feed()
    r1 = feed.put("x")
    cache = cache_at_start(feed)
    r2 = feed.put("y")
    r3 = feed.put("x", labels={"m": "1"})
    cache.apply(feed.events())
    # "0" and "": the current state as synthetic ADDED events
    for start in ("0", "", 0):
        assert summary(cache.watch_from(start)) == [("ADDED", "x", r3), ("ADDED", "y", r2)]
    assert cache.watch_from(str(r3)) == []  # current
    assert summary(cache.watch_from(str(r2))) == [("MODIFIED", "x", r3)]  # strictly after
    assert summary(cache.watch_from(str(r1))) == [("ADDED", "y", r2), ("MODIFIED", "x", r3)]
    assert cache.watch_from(str(r3 + 10)) == []  # future: the caller waits
    with pytest.raises(errors.ApiError) as e:
        cache.watch_from("abc")
    assert e.value.code == 400


def test_watch_from_too_old_is_410_expired():
    feed = Feed()
    cache = cache_at_start(feed, capacity=3)
    revs = [feed.put(f"p{i}") for i in range(5)]
    cache.apply(feed.events())
    # the ring holds revisions 3..5: resuming from 2 loses nothing, from 1 would lose event 2
    assert [rv(e) for e in cache.watch_from(str(revs[1]))] == revs[2:]
    with pytest.raises(errors.ApiError) as e:
        cache.watch_from(str(revs[0]))
    assert e.value.code == 410
    assert e.value.reason == "Expired"
    assert errors.is_expired(e.value)
    assert e.value.message == f"too old resource version: {revs[0]} ({revs[1]})"


def test_watch_before_relist_revision_is_expired():
    feed = Feed()
    r1 = feed.put("a")
    r2 = feed.put("b")
    cache = cache_at_start(feed)  # at r2, nothing older kept
    assert cache.watch_from(str(r2)) == []
    with pytest.raises(errors.ApiError) as e:
        cache.watch_from(str(r1))
    assert (e.value.code, e.value.message) == (410, f"too old resource version: {r1} ({r2})")


def test_revision_split_across_window_edge_is_not_resumable():
    cache = WatchCache(PODS, capacity=2)
    feed = Feed()
    r1 = feed.put("seed")
    feed.store.txn([], [{"op": "put", "key": PODS.key("default", n).encode(),
                         "value": json.dumps({"metadata": {"name": n, "namespace": "default"}}).encode()}
                        for n in ("a", "b")])
    r2 = r1 + 1
    cache.apply(feed.events())  # ring: a@r2, b@r2; seed@r1 dropped
    assert [rv(e) for e in cache.watch_from(str(r1))] == [r2, r2]
    r3 = feed.put("c")
    cache.apply(feed.events())  # ring: b@r2, c@r3; a@r2 dropped
    with pytest.raises(errors.ApiError):
        cache.watch_from(str(r1))
    assert summary(cache.watch_from(str(r2))) == [("ADDED", "c", r3)]


# ---------------------------------------------------------- selector transitions

def test_selector_transitions_yield_deleted_and_added():
    feed = Feed()
    cache = cache_at_start(feed)
    web = parse_label_selector("app=web")
    w = cache.subscribe("default", web, None, "0")
    r1 = feed.put("a", labels={"app": "web"})
    r2 = feed.put("a", labels={"app": "db"})  # stops matching
    r3 = feed.put("a", labels={"app": "db", "x": "1"})  # still not matching: nothing
    r4 = feed.put("a", labels={"app": "web"})  # starts matching again
    r5 = feed.put("a", labels={"app": "web", "y": "2"})
    r6 = feed.delete("a")
    cache.apply(feed.events())
    expect = [("ADDED", "a", r1), ("DELETED", "a", r2), ("ADDED", "a", r4),
              ("MODIFIED", "a", r5), ("DELETED", "a", r6)]
    got = drain(w)
    assert summary(got) == expect
    assert r3 not in [rv(e) for e in got]
    # the DELETED for "stopped matching" is the previous (matching) state at the new revision
    assert got[1]["object"]["metadata"]["labels"] == {"app": "web"}
    assert got[2]["object"]["metadata"]["labels"] == {"app": "web"}
    assert summary(cache.watch_from("0", "default", web)) == []
    assert summary(cache.watch_from(str(r1 - 1), "default", web)) == expect


def test_field_selector_transition_and_namespace_filter():
    feed = Feed()
    cache = cache_at_start(feed)
    on_n1 = parse_field_selector("spec.nodeName=n1")
    w = cache.subscribe(None, None, on_n1, "0")
    w_ns = cache.subscribe("other", None, None, "0")
    r1 = feed.put("a", node="n2")
    r2 = feed.put("a", node="n1")
    r3 = feed.put("a", node="n2")
    r4 = feed.put("b", "other", node="n1")
    cache.apply(feed.events())
    assert summary(drain(w)) == [("ADDED", "a", r2), ("DELETED", "a", r3), ("ADDED", "b", r4)]
    assert summary(drain(w_ns)) == [("ADDED", "b", r4)]
    assert r1 not in [rv(e) for e in cache.watch_from("1", None, None, on_n1)]


# ------------------------------------------------------------------ subscribers

def test_multiple_subscribers_get_same_ordered_events_exactly_once():
    feed = Feed()
    cache = cache_at_start(feed)
    ws = [cache.subscribe(None, None, None, "0") for _ in range(3)]
    got: list[list[dict]] = [[] for _ in ws]
    expected = []
    for batch in range(4):
        for i in range(3):
            expected.append(feed.put(f"p{i}", labels={"b": str(batch)}))
        if batch == 3:
            expected.append(feed.delete("p0"))
        cache.apply(feed.events())
        for i, w in enumerate(ws):
            if i != 2 or batch % 2:  # the last one reads every other batch
                got[i].extend(drain(w))
    for g in got:
        assert [rv(e) for e in g] == expected
    assert got[0] == got[1] == got[2]
    assert [e["type"] for e in got[0]][:4] == ["ADDED", "ADDED", "ADDED", "MODIFIED"]
    assert all(drain(w) == [] for w in ws)


def test_subscribe_replays_then_goes_live():
    feed = Feed()
    cache = cache_at_start(feed)
    r1 = feed.put("a")
    r2 = feed.put("b")
    cache.apply(feed.events())
    w_zero = cache.subscribe(None, None, None, "0")
    w_window = cache.subscribe(None, None, None, str(r1))
    w_future = cache.subscribe(None, None, None, str(r2 + 1))
    r3 = feed.put("c")
    r4 = feed.put("d")
    cache.apply(feed.events())
    assert summary(drain(w_zero)) == [("ADDED", "a", r1), ("ADDED", "b", r2),
                                      ("ADDED", "c", r3), ("ADDED", "d", r4)]
    assert [rv(e) for e in drain(w_window)] == [r2, r3, r4]
    assert summary(drain(w_future)) == [("ADDED", "d", r4)]  # only after the requested version
    assert cache.watchers == 3


def test_subscribe_too_old_yields_error_event_and_closes():
    feed = Feed()
    cache = cache_at_start(feed, capacity=1)
    r1 = feed.put("a")
    feed.put("b")
    cache.apply(feed.events())
    w = cache.subscribe(None, None, None, str(r1 - 1))
    assert w.closed and cache.watchers == 0
    (ev,) = drain(w)
    assert ev["type"] == "ERROR"
    status = ev["object"]
    assert (status["kind"], status["code"], status["reason"]) == ("Status", 410, "Expired")
    assert status["message"] == f"too old resource version: {r1 - 1} ({r1})"
    assert drain(w) == []
    feed.put("c")
    cache.apply(feed.events())
    assert drain(w) == []


def test_slow_watcher_is_terminated_with_410():
    feed = Feed()
    cache = cache_at_start(feed, watcher_queue_limit=5)
    slow = cache.subscribe(None, None, None, "0")
    fast = cache.subscribe(None, None, None, "0")
    fast_seen = []
    revs = []
    for i in range(8):
        revs.append(feed.put(f"p{i}"))
        cache.apply(feed.events())
        fast_seen += drain(fast)
    assert [rv(e) for e in fast_seen] == revs  # unaffected
    assert slow.closed and not fast.closed
    assert cache.watchers == 1
    got = drain(slow)
    assert [rv(e) for e in got[:-1]] == revs[:5]
    assert got[-1]["type"] == "ERROR"
    assert (got[-1]["object"]["code"], got[-1]["object"]["reason"]) == (410, "Expired")


def test_initial_backlog_does_not_count_against_the_bound():
    feed = Feed()
    cache = cache_at_start(feed, watcher_queue_limit=3)
    for i in range(6):
        feed.put(f"p{i}")
    cache.apply(feed.events())
    w = cache.subscribe(None, None, None, "0")
    feed.put("p6")
    cache.apply(feed.events())
    assert not w.closed
    assert len(drain(w)) == 7


# ------------------------------------------------------------------ bookmarks

def test_bookmark_event_shape():
    assert WatchCache(DEPLOY).bookmark_event(42) == {
        "type": "BOOKMARK", "object": {"kind": "Deployment", "apiVersion": "apps/v1",
                                       "metadata": {"resourceVersion": "42"}}}
    assert WatchCache(PODS).bookmark_event(7)["object"]["apiVersion"] == "v1"


def test_bookmarks_after_idle_interval_with_fake_clock():
    clock = FakeClock()
    feed = Feed()
    cache = cache_at_start(feed, clock=clock, bookmark_interval=10.0)
    bm = cache.subscribe(None, None, None, "0", allow_bookmarks=True)
    plain = cache.subscribe(None, None, None, "0")
    clock.now += 9.9
    assert cache.tick() == 0
    clock.now += 0.1
    assert cache.tick() == 1
    assert drain(bm) == [cache.bookmark_event(cache.revision)]
    assert drain(plain) == []
    clock.now += 5
    r = feed.put("a")
    cache.apply(feed.events())  # sending an event resets the idle timer
    clock.now += 9
    assert cache.tick() == 0
    assert [e["type"] for e in drain(bm)] == ["ADDED"]
    clock.now += 1
    assert cache.tick() == 1
    (b,) = drain(bm)
    assert b == cache.bookmark_event(r)
    assert cache.tick() == 0  # just sent
    clock.now += 10
    assert cache.tick() == 1
    assert drain(bm) == [cache.bookmark_event(r)]
    assert drain(plain)[0]["type"] == "ADDED"


def test_no_bookmark_before_a_future_start_version():
    clock = FakeClock()
    cache = cache_at_start(Feed(), clock=clock, bookmark_interval=1.0)
    w = cache.subscribe(None, None, None, "50", allow_bookmarks=True)
    clock.now += 5
    assert cache.tick() == 0
    assert drain(w) == []


# ------------------------------------------------------------------ resuming

def test_resume_from_last_delivered_version_has_no_gap_or_duplicate():
    feed = Feed()
    cache = cache_at_start(feed, capacity=100)
    web = parse_label_selector("app=web")
    w = cache.subscribe("default", web, None, str(cache.revision))
    seen: list[dict] = []
    for i in range(4):
        feed.put(f"p{i}", labels={"app": "web"})
    feed.put("p0", labels={"app": "db"})
    cache.apply(feed.events())
    seen += drain(w)
    last = seen[-1]["object"]["metadata"]["resourceVersion"]
    w.close()
    feed.put("p1", labels={"app": "web", "n": "1"})
    feed.put("p0", labels={"app": "web"})
    feed.delete("p2")
    cache.apply(feed.events())  # nobody watching now
    w2 = cache.subscribe("default", web, None, last)
    seen += drain(w2)
    feed.put("p9", labels={"app": "web"})
    cache.apply(feed.events())
    seen += drain(w2)
    revs = [rv(e) for e in seen]
    assert revs == sorted(set(revs))  # ordered, no duplicates
    assert seen == cache.watch_from("1", "default", web)  # no gaps: everything since the start
    assert [e["type"] for e in seen] == ["ADDED"] * 4 + ["DELETED", "MODIFIED", "ADDED",
                                                         "DELETED", "ADDED"]


# ------------------------------------------------------------------ async / lifecycle

def test_next_waits_for_events_and_times_out():
    feed = Feed()
    cache = cache_at_start(feed)
    w = cache.subscribe(None, None, None, "0")

    async def main():
        assert await w.next(0.01) == []
        loop = asyncio.get_running_loop()
        r = feed.put("a")
        loop.call_later(0.01, cache.apply, feed.events())
        t0 = loop.time()
        got = await w.next(5)
        assert loop.time() - t0 < 2
        return got, r

    got, r = run(main())
    assert summary(got) == [("ADDED", "a", r)]


def test_close_wakes_waiter_and_stops_delivery():
    feed = Feed()
    cache = cache_at_start(feed)
    w = cache.subscribe(None, None, None, "0")

    async def main():
        asyncio.get_running_loop().call_later(0.01, w.close)
        return await w.next(5)

    assert run(main()) == []
    assert w.closed and cache.watchers == 0
    feed.put("a")
    cache.apply(feed.events())
    assert drain(w) == []


def test_replace_resets_window_and_closes_watchers():
    feed = Feed()
    cache = cache_at_start(feed)
    w = cache.subscribe(None, None, None, "0")
    r1 = feed.put("a")
    feed.put("b")
    cache.apply(feed.events())
    feed.delete("a")
    feed.put("c")
    items, revision = feed.items()
    cache.replace(items, revision)
    assert w.closed and cache.watchers == 0
    assert cache.revision == revision
    assert [o["metadata"]["name"] for o in cache.list()[0]] == ["b", "c"]
    assert cache.watch_from(str(revision)) == []
    with pytest.raises(errors.ApiError) as e:
        cache.watch_from(str(r1))
    assert e.value.code == 410
