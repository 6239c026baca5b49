"""Informer, reflector and indexer behaviour against an in-memory list/watch server."""
from __future__ import annotations

import asyncio
import copy
from typing import Any, AsyncIterator

import pytest

from kubeapi.errors import expired, internal
from kubeapi.informer import (
    Backoff,
    DeletedFinalStateUnknown,
    Indexer,
    SharedInformer,
    SharedInformerFactory,
    deletion_handling_key,
    field_index_func,
    label_index_func,
)
from kubeapi.workqueue import FakeClock

try:
    from .virtual_time import VirtualTime, run, settle
except ImportError:  # collected without the package __init__
    from virtual_time import VirtualTime, run, settle


class FakeApi:
    """A tiny API server for one resource: objects, a global resourceVersion, watch history."""

    def __init__(self) -> None:
        self.objs: dict[str, dict] = {}
        self.rv = 0
        self.history: list[tuple[int, dict]] = []
        self.compacted = 0
        self.list_calls: list[dict] = []
        self.watch_calls: list[dict] = []
        self.list_errors: list[Exception] = []
        self.watch_errors: list[Exception] = []
        self._changed: asyncio.Event | None = None
        self._close_gen = 0

    def _wake(self) -> None:
        if self._changed is not None:
            self._changed.set()
            self._changed = None

    @staticmethod
    def key(ns: str, name: str) -> str:
        return f"{ns}/{name}"

    def put(self, name: str, ns: str = "default", *, record: bool = True, **fields: Any) -> dict:
        self.rv += 1
        key = self.key(ns, name)
        etype = "MODIFIED" if key in self.objs else "ADDED"
        obj = {"metadata": {"name": name, "namespace": ns, "resourceVersion": str(self.rv),
                            "labels": fields.pop("labels", {})}, **copy.deepcopy(fields)}
        self.objs[key] = obj
        if record:
            self.history.append((self.rv, {"type": etype, "object": obj}))
        self._wake()
        return obj

    def remove(self, name: str, ns: str = "default", *, record: bool = True) -> None:
        self.rv += 1
        obj = copy.deepcopy(self.objs.pop(self.key(ns, name)))
        obj["metadata"]["resourceVersion"] = str(self.rv)
        if record:
            self.history.append((self.rv, {"type": "DELETED", "object": obj}))
        self._wake()

    def bookmark(self) -> None:
        self.rv += 1  # some other resource changed; the bookmark carries the newer revision
        self.history.append((self.rv, {"type": "BOOKMARK", "object": {"metadata": {"resourceVersion": str(self.rv)}}}))
        self._wake()

    def compact(self) -> None:
        self.compacted = self.rv

    def close_watches(self) -> None:
        self._close_gen += 1
        self._wake()

    async def list(self, resource: str, namespace: str | None, *, label_selector: str | None,
                   field_selector: str | None, limit: int, continue_token: str | None,
                   resource_version: str | None) -> dict:
        self.list_calls.append(dict(resource=resource, namespace=namespace, label_selector=label_selector,
                                    limit=limit, continue_token=continue_token,
                                    resource_version=resource_version))
        if self.list_errors:
            raise self.list_errors.pop(0)
        items = [self.objs[k] for k in sorted(self.objs)
                 if namespace is None or self.objs[k]["metadata"]["namespace"] == namespace]
        offset = int(continue_token or 0)
        end = len(items) if not limit else offset + limit
        more = end < len(items)
        return {"metadata": {"resourceVersion": str(self.rv), "continue": str(end) if more else ""},
                "items": copy.deepcopy(items[offset:end])}

    async def watch(self, resource: str, namespace: str | None, *, label_selector: str | None,
                    field_selector: str | None, resource_version: str, timeout_seconds: int,
                    allow_bookmarks: bool) -> AsyncIterator[dict]:
        self.watch_calls.append(dict(resource=resource, resource_version=resource_version,
                                     timeout_seconds=timeout_seconds, allow_bookmarks=allow_bookmarks))
        if self.watch_errors:
            raise self.watch_errors.pop(0)
        gen = self._close_gen
        cursor = int(resource_version or 0)
        if cursor < self.compacted:
            yield {"type": "ERROR", "object": expired(f"too old resource version: {cursor}").status()}
            return
        while True:
            for rv, ev in list(self.history):
                if rv > cursor:
                    cursor = rv
                    yield copy.deepcopy(ev)
            if self._close_gen != gen:
                return
            if self._changed is None:
                self._changed = asyncio.Event()
            await self._changed.wait()


class Recorder:
    def __init__(self) -> None:
        self.events: list[tuple[str, Any, Any]] = []

    def on_add(self, obj: Any) -> None:
        self.events.append(("add", obj, None))

    def on_update(self, old: Any, new: Any) -> None:
        self.events.append(("update", old, new))

    def on_delete(self, obj: Any) -> None:
        self.events.append(("delete", obj, None))

    def names(self, kind: str) -> list[str]:
        out = []
        for k, a, b in self.events:
            if k != kind:
                continue
            obj = b if kind == "update" else a
            if isinstance(obj, DeletedFinalStateUnknown):
                obj = obj.obj
            out.append(obj["metadata"]["name"])
        return out


def make_informer(api: FakeApi, vt: VirtualTime, **kw: Any) -> SharedInformer:
    return SharedInformer(api, "pods", clock=vt.clock, sleep=vt.sleep, rand=lambda: 0.5, **kw)


async def started(inf: SharedInformer, vt: VirtualTime) -> tuple[asyncio.Event, asyncio.Task[None]]:
    stop = asyncio.Event()
    task = asyncio.create_task(inf.run(stop))
    await vt.advance(0)
    return stop, task


async def stopped(stop: asyncio.Event, task: asyncio.Task[None]) -> None:
    stop.set()
    await task


# --------------------------------------------------------------------------- indexer


def test_indexer_builtin_custom_and_label_indexes() -> None:
    idx = Indexer({"spec.nodeName": field_index_func("spec.nodeName"), "app": label_index_func("app")})
    p1 = {"metadata": {"name": "p1", "namespace": "a", "labels": {"app": "web"}}, "spec": {"nodeName": "n1"}}
    p2 = {"metadata": {"name": "p2", "namespace": "b", "labels": {"app": "web"}}, "spec": {"nodeName": "n1"}}
    p3 = {"metadata": {"name": "p3", "namespace": "a"}, "spec": {}}
    node = {"metadata": {"name": "n1"}}
    for o in (p1, p2, p3, node):
        idx.add(o)
    assert idx.get("a/p1") is p1 and idx.get("n1") is node
    assert [o["metadata"]["name"] for o in idx.by_index("namespace", "a")] == ["p1", "p3"]
    assert idx.index_keys("namespace", "") == ["n1"]
    assert idx.index_keys("spec.nodeName", "n1") == ["a/p1", "b/p2"]
    assert idx.index_keys("app", "web") == ["a/p1", "b/p2"]
    # An update moves the object between index values.
    idx.update({**p2, "spec": {"nodeName": "n2"}})
    assert idx.index_keys("spec.nodeName", "n1") == ["a/p1"]
    assert idx.index_keys("spec.nodeName", "n2") == ["b/p2"]
    idx.delete(p1)
    assert idx.index_keys("spec.nodeName", "n1") == [] and "a/p1" not in idx
    assert idx.list_index_values("spec.nodeName") == ["n2"]
    idx.delete(DeletedFinalStateUnknown("a/p3", p3))
    assert sorted(idx.list_keys()) == ["b/p2", "n1"]
    idx.add_indexers({"late": field_index_func("spec.nodeName")})
    assert idx.index_keys("late", "n2") == ["b/p2"]
    with pytest.raises(ValueError):
        idx.add_indexers({"namespace": field_index_func("x")})
    with pytest.raises(KeyError):
        idx.by_index("missing", "x")
    assert deletion_handling_key(DeletedFinalStateUnknown("k", None)) == "k"


# --------------------------------------------------------------------------- informer


def test_initial_list_is_paged_and_syncs() -> None:
    async def main() -> None:
        api, vt = FakeApi(), VirtualTime()
        for i in range(1203):
            api.put(f"p{i:04d}")
        inf = make_informer(api, vt)
        rec = Recorder()
        inf.add_event_handler(rec.on_add, rec.on_update, rec.on_delete)
        assert not inf.has_synced()
        stop, task = await started(inf, vt)
        assert await inf.wait_for_sync(1.0)
        await settle()
        assert [(c["limit"], c["continue_token"], c["resource_version"]) for c in api.list_calls] == [
            (500, None, "0"), (500, "500", None), (500, "1000", None)]
        assert len(inf.indexer) == 1203
        assert len(rec.names("add")) == 1203
        assert inf.last_sync_resource_version == "1203"
        assert api.watch_calls[0]["resource_version"] == "1203"
        assert api.watch_calls[0]["allow_bookmarks"] is True
        await stopped(stop, task)

    run(main())


def test_watch_events_update_cache_and_reach_handlers_in_order() -> None:
    async def main() -> None:
        api, vt = FakeApi(), VirtualTime()
        api.put("a", spec={"nodeName": "n1"})
        inf = make_informer(api, vt, indexers={"node": field_index_func("spec.nodeName")})
        rec = Recorder()
        inf.add_event_handler(rec.on_add, rec.on_update, rec.on_delete)
        stop, task = await started(inf, vt)
        api.put("b", spec={"nodeName": "n1"})
        api.put("a", spec={"nodeName": "n2"})
        api.remove("b")
        api.put("c", ns="other", spec={"nodeName": "n2"})
        await settle()
        assert sorted(inf.indexer.list_keys()) == ["default/a", "other/c"]
        assert inf.indexer.index_keys("node", "n2") == ["default/a", "other/c"]
        assert inf.indexer.index_keys("node", "n1") == []
        assert [o["metadata"]["name"] for o in inf.indexer.by_index("namespace", "other")] == ["c"]
        assert [k for k, _, _ in rec.events] == ["add", "add", "update", "delete", "add"]
        kind, old, new = rec.events[2]
        assert old["spec"]["nodeName"] == "n1" and new["spec"]["nodeName"] == "n2"
        rvs = [int((b or a)["metadata"]["resourceVersion"]) for _, a, b in rec.events]
        assert rvs == sorted(rvs)
        assert inf.last_sync_resource_version == str(api.rv)
        await stopped(stop, task)

    run(main())


def test_periodic_resync_sends_same_object_updates() -> None:
    async def main() -> None:
        api, vt = FakeApi(), VirtualTime()
        api.put("a")
        api.put("b")
        inf = make_informer(api, vt, resync_period=30)
        rec = Recorder()
        inf.add_event_handler(rec.on_add, rec.on_update, rec.on_delete)
        stop, task = await started(inf, vt)
        await vt.advance(29)
        assert rec.names("update") == []
        await vt.advance(1)
        assert sorted(rec.names("update")) == ["a", "b"]
        assert all(old is new for k, old, new in rec.events if k == "update")
        await vt.advance(30)
        assert sorted(rec.names("update")) == ["a", "a", "b", "b"]
        assert len(api.list_calls) == 1  # resync is local, not a relist
        await stopped(stop, task)

    run(main())


def test_relist_on_expired_watch_reports_vanished_objects() -> None:
    async def main() -> None:
        api, vt = FakeApi(), VirtualTime()
        for n in ("a", "b", "c"):
            api.put(n)
        inf = make_informer(api, vt)
        rec = Recorder()
        inf.add_event_handler(rec.on_add, rec.on_update, rec.on_delete)
        stop, task = await started(inf, vt)
        # While the watch is down, b is deleted, c changes and history is compacted.
        api.remove("b", record=False)
        api.put("c", record=False, spec={"v": 2})
        api.compact()
        await vt.advance(5)  # the watch lived a while, so its closing is not an error
        api.close_watches()
        await vt.advance(0)
        assert vt.sleeps == []
        assert len(api.list_calls) == 2
        assert api.list_calls[1]["resource_version"] is None  # from scratch after 410
        assert sorted(inf.indexer.list_keys()) == ["default/a", "default/c"]
        deletes = [a for k, a, _ in rec.events if k == "delete"]
        assert len(deletes) == 1 and isinstance(deletes[0], DeletedFinalStateUnknown)
        assert deletes[0].key == "default/b" and deletes[0].obj["metadata"]["name"] == "b"
        assert inf.indexer.get("default/c")["spec"] == {"v": 2}
        assert api.watch_calls[-1]["resource_version"] == str(api.rv)
        # A 410 raised by the watch call itself also relists.
        api.watch_errors.append(expired("gone"))
        api.put("d")
        api.close_watches()
        await vt.advance(0)
        assert len(api.list_calls) == 3 and "default/d" in inf.indexer
        await stopped(stop, task)

    run(main())


def test_rewatch_after_close_resumes_from_last_resource_version() -> None:
    async def main() -> None:
        api, vt = FakeApi(), VirtualTime()
        api.put("a")
        inf = make_informer(api, vt)
        rec = Recorder()
        inf.add_event_handler(rec.on_add, rec.on_update, rec.on_delete)
        stop, task = await started(inf, vt)
        api.put("x")
        await settle()
        api.close_watches()
        await settle()
        assert api.watch_calls[1]["resource_version"] == "2"
        api.put("y")
        await settle()
        api.bookmark()
        await settle()
        api.close_watches()
        await settle()
        assert api.watch_calls[2]["resource_version"] == str(api.rv)  # bookmark advanced it
        api.put("z")
        await settle()
        assert rec.names("add") == ["a", "x", "y", "z"]  # nothing replayed twice
        assert len(api.list_calls) == 1
        assert vt.sleeps == []  # closed watches are not errors
        await stopped(stop, task)

    run(main())


def test_errors_back_off_with_jitter_and_retry() -> None:
    async def main() -> None:
        api, vt = FakeApi(), VirtualTime()
        api.put("a")
        api.list_errors = [internal("boom"), internal("boom"), internal("boom")]
        inf = make_informer(api, vt)
        stop, task = await started(inf, vt)
        assert not inf.has_synced() and len(api.list_calls) == 1
        await vt.advance(1.1)  # first delay is 0.8 * (1 + 0.5) = 1.2
        assert len(api.list_calls) == 1
        await vt.advance(0.1)
        assert len(api.list_calls) == 2
        await vt.advance(2.4 + 4.8)
        assert len(api.list_calls) == 4 and inf.has_synced()
        assert vt.sleeps == pytest.approx([1.2, 2.4, 4.8])
        # A failing watch call backs off too, then re-watches from the same resourceVersion.
        api.watch_errors = [internal("watch broke")]
        api.put("b")
        api.close_watches()
        await vt.advance(0)
        assert "default/b" in inf.indexer
        await vt.advance(5)
        assert api.watch_calls[-1]["resource_version"] == api.watch_calls[-2]["resource_version"]
        assert len(api.list_calls) == 4
        await stopped(stop, task)

    run(main())


def test_backoff_is_capped_and_resets() -> None:
    clock = FakeClock()
    b = Backoff(initial=1, cap=5, factor=2, jitter=1.0, reset_after=60, clock=clock, rand=lambda: 1.0)
    assert [b.next_delay() for _ in range(4)] == [2, 4, 5, 5]
    clock.step(61)
    assert b.next_delay() == 2
    b.reset()
    assert b.next_delay() == 2


def test_late_handler_gets_synthetic_adds_then_live_events() -> None:
    async def main() -> None:
        api, vt = FakeApi(), VirtualTime()
        api.put("a")
        api.put("b")
        inf = make_informer(api, vt)
        stop, task = await started(inf, vt)
        assert inf.has_synced()
        rec = Recorder()
        inf.add_event_handler(rec.on_add, rec.on_update, rec.on_delete)
        api.put("c")
        await settle()
        assert rec.names("add") == ["a", "b", "c"]
        await stopped(stop, task)

    run(main())


def test_handler_exception_is_not_fatal_and_handlers_never_overlap() -> None:
    async def main() -> None:
        api, vt = FakeApi(), VirtualTime()
        inf = make_informer(api, vt)
        seen: list[str] = []
        active = 0
        max_active = 0

        def bad(obj: dict) -> None:
            raise RuntimeError("handler bug")

        async def slow(obj: dict) -> None:
            nonlocal active, max_active
            active += 1
            max_active = max(max_active, active)
            await asyncio.sleep(0)
            await asyncio.sleep(0)
            seen.append(obj["metadata"]["name"])
            active -= 1

        inf.add_event_handler(on_add=bad)
        inf.add_event_handler(on_add=slow)
        stop, task = await started(inf, vt)
        for n in ("a", "b", "c"):
            api.put(n)
        await settle()
        assert seen == ["a", "b", "c"]
        assert max_active == 1
        assert not task.done()
        await stopped(stop, task)

    run(main())


def test_factory_shares_informers() -> None:
    async def main() -> None:
        api, vt = FakeApi(), VirtualTime()
        api.put("a", ns="x")
        api.put("b", ns="y")
        f = SharedInformerFactory(api, clock=vt.clock, sleep=vt.sleep, rand=lambda: 0.5)
        i1 = f.informer("pods", "x")
        assert f.informer("pods", "x") is i1
        i2 = f.informer("pods", "y")
        i3 = f.informer("pods", "x", label_selector="app=web")
        assert len({id(i1), id(i2), id(i3)}) == 3
        stop = asyncio.Event()
        f.start(stop)
        f.start(stop)  # idempotent
        synced = await f.wait_for_cache_sync(1.0)
        assert all(synced.values()) and len(synced) == 3
        assert len(api.list_calls) == 3
        assert i1.indexer.list_keys() == ["x/a"] and i2.indexer.list_keys() == ["y/b"]
        assert api.list_calls[2]["label_selector"] == "app=web"
        stop.set()
        await f.shutdown()

    run(main())
