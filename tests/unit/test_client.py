"""The API client over an in-process apiserver: typed and dict calls, long-poll
watches that resume from the server's cursor, informers across an apiserver
restart, and leader election's Lease calls."""
from __future__ import annotations

import asyncio
from typing import Any

import pytest

from actors.apiserver.server import APIServer, LocalTransport
from actors.apiserver.storage import LocalKV
from kubeapi import errors
from kubeapi.client import Client
from kubeapi.informer import SharedInformer, field_index_func
from kubeapi.models import ConfigMap, Pod


def run(coro_fn, timeout: float = 20.0) -> Any:
    async def go():
        return await asyncio.wait_for(coro_fn(), timeout)
    return asyncio.run(go())


async def _setup(**server_kw: Any) -> tuple[APIServer, Client, LocalKV]:
    kv = LocalKV()
    server = APIServer(kv, **server_kw)
    client = Client(LocalTransport(server), poll_seconds=0.05)
    await client.create({"apiVersion": "v1", "kind": "Namespace", "metadata": {"name": "team"}})
    return server, client, kv


def _pod(name: str, **labels: str) -> dict:
    return {"apiVersion": "v1", "kind": "Pod", "metadata": {"name": name, "namespace": "team",
                                                             "labels": labels or {"app": name}},
            "spec": {"containers": [{"name": "c", "image": "nginx:1.25"}]}}


def test_typed_and_dict_calls_and_errors():
    async def go():
        server, client, _ = await _setup()
        typed = await client.create(Pod.from_json(_pod("web")))
        assert isinstance(typed, Pod) and typed.metadata.uid and typed.spec.restart_policy == "Always"
        got = await client.get(Pod, "web", "team")
        assert isinstance(got, Pod) and got.metadata.resource_version == typed.metadata.resource_version
        as_dict = await client.get("po", "web", "team")
        assert as_dict["metadata"]["uid"] == typed.metadata.uid
        with pytest.raises(errors.ApiError) as e:
            await client.create(_pod("web"))
        assert errors.is_already_exists(e.value) and e.value.code == 409
        with pytest.raises(errors.ApiError) as e:
            await client.get("pods", "nope", "team")
        assert errors.is_not_found(e.value) and str(e.value) == 'pods "nope" not found'
        # a stale resourceVersion is a conflict, a fresh one wins
        fresh = dict(as_dict, metadata=dict(as_dict["metadata"], labels={"v": "2"}))
        await client.update(fresh)
        with pytest.raises(errors.ApiError) as e:
            await client.update(as_dict)
        assert errors.is_conflict(e.value)
        patched = await client.patch(Pod, "web", {"metadata": {"labels": {"v": "3"}}}, "team")
        assert patched.metadata.labels == {"v": "3"}
        jp = await client.patch("pods", "web", [{"op": "add", "path": "/metadata/labels/x", "value": "y"}],
                                "team", patch_type="json")
        assert jp["metadata"]["labels"] == {"v": "3", "x": "y"}
        listed = await client.list(Pod, "team")
        assert [p.metadata.name for p in listed["items"]] == ["web"] and isinstance(listed["items"][0], Pod)
        with pytest.raises(errors.ApiError) as e:
            await client.list("nosuchthings")
        assert e.value.code == 404
        warned: list[str] = []
        client.on_warning = warned.append
        await client.create(dict(_pod("w2"), spec={"containers": [{"name": "c", "image": "x", "bogus": 1}]}))
        assert warned == ['unknown field "spec.containers[0].bogus"']
        await client.bind("team", "w2", "node-1")
        assert (await client.get(Pod, "w2", "team")).spec.node_name == "node-1"
        with pytest.raises(errors.ApiError) as e:
            await client.bind("team", "w2", "node-2")
        assert errors.is_conflict(e.value)
        await server.close()
    run(go)


def test_delete_records_propagation_policy_for_the_garbage_collector():
    async def go():
        server, client, _ = await _setup()
        for name in ("fg", "orph", "bg", "both", "bad"):
            await client.create({"apiVersion": "v1", "kind": "ConfigMap",
                                 "metadata": {"name": name, "namespace": "team"}})
        fg = await client.delete("configmaps", "fg", "team", propagation_policy="Foreground")
        assert fg["metadata"]["finalizers"] == ["foregroundDeletion"] and "deletionTimestamp" in fg["metadata"]
        orphan = await client.delete(ConfigMap, "orph", "team", propagation_policy="Orphan")
        assert orphan["metadata"]["finalizers"] == ["orphan"]
        # a second delete may change its mind: Background drops the GC finalizer, so it goes
        await client.delete("configmaps", "orph", "team", propagation_policy="Background")
        with pytest.raises(errors.ApiError) as e:
            await client.get("configmaps", "orph", "team")
        assert errors.is_not_found(e.value)
        await client.delete("configmaps", "bg", "team", propagation_policy="Background")
        with pytest.raises(errors.ApiError):
            await client.get("configmaps", "bg", "team")
        # removing the last finalizer of an object being deleted deletes it
        cur = await client.get("configmaps", "fg", "team")
        cur["metadata"]["finalizers"] = []
        await client.update(cur)
        with pytest.raises(errors.ApiError) as e:
            await client.get("configmaps", "fg", "team")
        assert errors.is_not_found(e.value)
        r = await server.request("delete", "", "v1", "configmaps", "team", "both",
                                 body={"propagationPolicy": "Orphan", "orphanDependents": True})
        assert r["code"] == 422 and r["body"]["details"]["causes"][0]["field"] == "propagationPolicy"
        assert "cannot be both set" in r["body"]["message"]
        r = await server.request("delete", "", "v1", "configmaps", "team", "bad",
                                 body={"propagationPolicy": "Sometimes"})
        assert r["code"] == 422 and 'Unsupported value: "Sometimes"' in r["body"]["message"]
        # orphanDependents (deprecated) still means Orphan
        r = await server.request("delete", "", "v1", "configmaps", "team", "bad",
                                 query={"orphanDependents": "true"})
        assert r["code"] == 200 and r["body"]["metadata"]["finalizers"] == ["orphan"]
        for name, tier in (("c1", "x"), ("c2", "x"), ("c3", "y")):
            await client.create({"apiVersion": "v1", "kind": "ConfigMap",
                                 "metadata": {"name": name, "namespace": "team", "labels": {"tier": tier}}})
        await client.delete_collection("configmaps", "team", label_selector="tier=x",
                                       propagation_policy="Foreground")
        left = {c["metadata"]["name"]: c["metadata"].get("finalizers")
                for c in (await client.list("configmaps", "team", label_selector="tier"))["items"]}
        assert left == {"c1": ["foregroundDeletion"], "c2": ["foregroundDeletion"], "c3": None}
        await server.close()
    run(go)


def test_watch_resumes_from_the_cursor_without_repeats_and_bookmarks():
    async def go():
        server, client, _ = await _setup()
        await client.create(_pod("a"))
        # "0" starts with the current state; empty polls must not send it again
        seen = []
        async for ev in client.watch("pods", "team", resource_version="0", timeout_seconds=0.3):
            seen.append((ev["type"], ev["object"]["metadata"]["name"]))
        assert seen == [("ADDED", "a")]
        rv = (await client.get("pods", "a", "team"))["metadata"]["resourceVersion"]

        async def writer():
            await asyncio.sleep(0.1)
            await client.create(_pod("b"))
            await client.patch("pods", "b", {"metadata": {"labels": {"app": "other"}}}, "team")
            await client.delete("pods", "a", "team")
            await asyncio.sleep(0.15)
            await client.create(_pod("c"))  # not selected: only a bookmark tells of it
        task = asyncio.create_task(writer())
        events = []
        async for ev in client.watch(Pod, "team", resource_version=rv, label_selector="app in (a,b)",
                                     timeout_seconds=0.6, allow_bookmarks=True):
            events.append(ev)
        await task
        real = [(e["type"], e["object"].metadata.name) for e in events if e["type"] != "BOOKMARK"]
        # b left the selector: a DELETED for this watch, then a's real delete
        assert real == [("ADDED", "b"), ("DELETED", "b"), ("DELETED", "a")]
        marks = [e for e in events if e["type"] == "BOOKMARK"]
        assert marks, "an idle poll that moved on should carry a bookmark"
        c_rv = (await client.get("pods", "c", "team"))["metadata"]["resourceVersion"]
        assert marks[-1]["object"]["metadata"]["resourceVersion"] == c_rv
        await server.close()
    run(go)


def test_watch_from_a_version_older_than_the_window_is_410():
    async def go():
        server, client, _ = await _setup(cache_capacity=5)
        first = await client.create(_pod("p0"))
        for i in range(1, 12):
            await client.create(_pod(f"p{i}"))
        await asyncio.sleep(0.05)  # let the cache take the events in
        events = [ev async for ev in client.watch("pods", "team",
                                                  resource_version=first["metadata"]["resourceVersion"],
                                                  timeout_seconds=2)]
        assert [e["type"] for e in events] == ["ERROR"]
        assert events[0]["object"]["code"] == 410 and events[0]["object"]["reason"] == "Expired"
        # a list at resourceVersion "0" comes from the cache, whole
        cached = await client.list("pods", "team", resource_version="0", limit=3)
        assert len(cached["items"]) == 12 and "continue" not in cached["metadata"]
        paged = await client.list("pods", "team", limit=3)
        assert len(paged["items"]) == 3 and paged["metadata"]["continue"]
        await server.close()
    run(go)


def test_informer_converges_across_an_apiserver_restart():
    async def go():
        server, client, kv = await _setup()
        transport = client.transport
        for i in range(3):
            await client.create(_pod(f"p{i}"))
        inf = SharedInformer(client, "pods", "team", indexers={"node": field_index_func("spec.nodeName")})
        adds: list[str] = []
        deletes: list[str] = []
        inf.add_event_handler(on_add=lambda o: adds.append(o["metadata"]["name"]),
                              on_delete=lambda o: deletes.append(
                                  getattr(o, "key", None) or o["metadata"]["name"]))
        stop = asyncio.Event()
        task = asyncio.create_task(inf.run(stop))
        assert await inf.wait_for_sync(5)
        assert sorted(inf.indexer.list_keys()) == ["team/p0", "team/p1", "team/p2"]
        # the apiserver restarts (new caches, same raftstore); meanwhile the world changes
        await server.close()
        lost = APIServer(kv)
        transport.server = lost
        await client.delete("pods", "p0", "team")
        await client.create(_pod("p3"))
        await client.bind("team", "p3", "n1")
        restarted = APIServer(kv)
        transport.server = restarted
        await client.create(_pod("p4"))

        async def converged():
            while sorted(inf.indexer.list_keys()) != ["team/p1", "team/p2", "team/p3", "team/p4"] or \
                    [o["metadata"]["name"] for o in inf.indexer.by_index("node", "n1")] != ["p3"]:
                await asyncio.sleep(0.02)
        await asyncio.wait_for(converged(), 10)
        assert "p0" in str(deletes) and {"p3", "p4"} <= set(adds)
        stop.set()
        await task
        for s in (lost, restarted):
            await s.close()
    run(go)


def test_lease_calls_for_leader_election():
    from kubeapi.leaderelection import LeaderElectionConfig, LeaderElector

    async def go():
        server, client, _ = await _setup()
        await client.create({"apiVersion": "v1", "kind": "Namespace", "metadata": {"name": "kube-system"}})
        leases = client.leases()
        with pytest.raises(errors.ApiError) as e:
            await leases.get("kube-system", "sched")
        assert errors.is_not_found(e.value)
        led = asyncio.Event()

        def cfg(identity: str) -> LeaderElectionConfig:
            return LeaderElectionConfig("sched", "kube-system", identity,
                                        on_started_leading=lambda stop: led.set(),
                                        on_stopped_leading=lambda: None,
                                        lease_duration=2, renew_deadline=1.5, retry_period=0.2)
        a, b = LeaderElector(cfg("a"), leases), LeaderElector(cfg("b"), leases)
        assert await a.try_acquire_or_renew() and a.is_leader()
        assert not await b.try_acquire_or_renew() and b.get_leader() == "a"
        lease = await leases.get("kube-system", "sched")
        assert lease["spec"]["holderIdentity"] == "a" and lease["spec"]["leaseDurationSeconds"] == 2
        stale = dict(lease, spec=dict(lease["spec"], holderIdentity="b"))
        assert await a.try_acquire_or_renew()  # renews: the lease's resourceVersion moves on
        with pytest.raises(errors.ApiError) as e:
            await leases.update(stale)
        assert errors.is_conflict(e.value)
        await server.close()
    run(go)


def test_service_account_admission():
    async def go():
        kv = LocalKV()
        server = APIServer(kv, service_accounts=True)
        client = Client(LocalTransport(server))
        await client.create({"apiVersion": "v1", "kind": "Namespace", "metadata": {"name": "team"}})
        with pytest.raises(errors.ApiError) as e:
            await client.create(_pod("early"))
        assert e.value.code == 403 and str(e.value) == (
            'pods "early" is forbidden: error looking up service account team/default: '
            'serviceaccount "default" not found')
        await client.create({"apiVersion": "v1", "kind": "ServiceAccount",
                             "metadata": {"name": "default", "namespace": "team"},
                             "imagePullSecrets": [{"name": "regcred"}]})
        pod = await client.create(_pod("ok"))
        assert pod["spec"]["serviceAccountName"] == "default"
        assert pod["spec"]["imagePullSecrets"] == [{"name": "regcred"}]
        own = _pod("own")
        own["spec"]["imagePullSecrets"] = [{"name": "mine"}]
        own["spec"]["serviceAccountName"] = "builder"
        with pytest.raises(errors.ApiError) as e:
            await client.create(own)
        assert "service account team/builder" in str(e.value)
        await server.close()
    run(go)


def test_one_registry_watch_feeds_each_resource_its_own_events():
    """Services and Endpoints share the /registry/services/ prefix; every
    resource's cache must see exactly its own objects, from one raftstore watch."""
    async def go():
        server, client, kv = await _setup()
        await client.create({"apiVersion": "v1", "kind": "ConfigMap", "metadata": {"name": "before", "namespace": "team"}})
        for _ in range(100):
            if server.caches_synced():
                break
            await asyncio.sleep(0.01)
        await client.create(_pod("p"))
        await client.create({"apiVersion": "v1", "kind": "Service", "metadata": {"name": "s", "namespace": "team"},
                             "spec": {"ports": [{"port": 80}], "selector": {"app": "p"}}})
        await client.create({"apiVersion": "v1", "kind": "Endpoints", "metadata": {"name": "s", "namespace": "team"}})
        await client.create({"apiVersion": "v1", "kind": "ConfigMap", "metadata": {"name": "after", "namespace": "team"}})
        await kv.txn([], [{"op": "put", "key": b"/registry/unknownthings/x", "value": b"{}"}])  # no cache: ignored
        last = (await client.get("configmaps", "after", "team"))["metadata"]["resourceVersion"]
        kinds = {"pods": ["p"], "services": ["s"], "endpoints": ["s"], "configmaps": ["after", "before"]}
        for _ in range(200):
            lists = {r: await client.list(r, "team", resource_version="0") for r in kinds}
            if int(lists["configmaps"]["metadata"]["resourceVersion"]) >= int(last):
                break
            await asyncio.sleep(0.01)
        for r, names in kinds.items():
            assert sorted(o["metadata"]["name"] for o in lists[r]["items"]) == names, r
            assert all(o["kind"] == lists[r]["kind"][:-4] for o in lists[r]["items"]), r
        # and a watch on one of them carries only its own kind
        seen = [ev["object"]["kind"] async for ev in client.watch("endpoints", "team", resource_version="0",
                                                                   timeout_seconds=0.2)]
        assert seen == ["Endpoints"]
        await server.close()
    run(go)
