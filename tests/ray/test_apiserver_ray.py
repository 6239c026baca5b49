"""The apiserver actor over a raftstore on Ray: two replicas, one truth."""
from __future__ import annotations

import asyncio

import pytest
import ray

from actors.apiserver.actor import start_apiservers
from raftstore.cluster import EtcdCluster

pytestmark = pytest.mark.ray


@pytest.fixture
def control_plane(ray_cluster, data_root):
    etcd = EtcdCluster.start("api", 3, data_root=data_root, tick_ms=50.0)
    apis = start_apiservers(2, "api", first_index=100)
    try:
        yield etcd, apis
    finally:
        for h in apis:
            ray.kill(h, no_restart=True)
        etcd.down()


def _pod(name: str) -> dict:
    return {"apiVersion": "v1", "kind": "Pod", "metadata": {"name": name},
            "spec": {"containers": [{"name": "c", "image": "nginx"}]}}


def test_two_replicas_share_state_and_conflicts(control_plane):
    etcd, (a, b) = control_plane

    async def run() -> None:
        r = await a.request.remote("create", "", "v1", "namespaces", body={"metadata": {"name": "team"}})
        assert r["code"] == 201, r
        r = await a.request.remote("create", "", "v1", "pods", "team", body=_pod("web"))
        assert r["code"] == 201, r
        got = await b.request.remote("get", "", "v1", "pods", "team", "web")
        assert got["code"] == 200 and got["body"]["metadata"]["uid"] == r["body"]["metadata"]["uid"]
        dup = await b.request.remote("create", "", "v1", "pods", "team", body=_pod("web"))
        assert dup["code"] == 409 and dup["body"]["message"] == 'pods "web" already exists'
        first = got["body"]
        upd = dict(first, metadata=dict(first["metadata"], labels={"x": "1"}))
        ok = await a.request.remote("update", "", "v1", "pods", "team", "web", body=upd)
        stale = await b.request.remote("update", "", "v1", "pods", "team", "web", body=first)
        assert ok["code"] == 200 and stale["code"] == 409
        # writes keep succeeding across an etcd leader kill (the client retries)
        lid = etcd.wait_for_leader()
        creates = [a.request.remote("create", "", "v1", "pods", "team", body=_pod(f"p{i}")) for i in range(20)]
        await asyncio.to_thread(etcd.kill, lid, "sigkill")
        results = await asyncio.gather(*creates)
        assert all(x["code"] == 201 for x in results), [x["body"] for x in results if x["code"] != 201]
        lst = await b.request.remote("list", "", "v1", "pods", "team")
        assert lst["code"] == 200 and len(lst["body"]["items"]) == 21
        bad = await b.request.remote("create", "", "v1", "pods", "team", body={"metadata": {"name": "Bad_Name"}})
        assert bad["code"] in (400, 422)

    asyncio.run(run())


def test_watch_from_a_resource_version_across_an_etcd_leader_kill(control_plane):
    etcd, (a, b) = control_plane

    async def run() -> None:
        await a.request.remote("create", "", "v1", "namespaces", body={"metadata": {"name": "w"}})
        first = await a.request.remote("create", "", "v1", "pods", "w", body=_pod("w0"))
        rv = first["body"]["metadata"]["resourceVersion"]
        got: list[dict] = []
        stop = asyncio.Event()

        async def watcher() -> None:
            nonlocal rv
            while not stop.is_set() or len(got) < 30:
                r = await b.watch.remote("", "v1", "pods", "w", rv, timeout=1.0)
                assert r["code"] == 200, r
                for ev in r["events"]:
                    got.append(ev)
                    rv = ev["object"]["metadata"]["resourceVersion"]

        task = asyncio.create_task(watcher())
        lid = etcd.wait_for_leader()
        for i in range(1, 31):
            if i == 10:
                await asyncio.to_thread(etcd.kill, lid, "sigkill")
            r = await a.request.remote("create", "", "v1", "pods", "w", body=_pod(f"w{i}"))
            assert r["code"] == 201, r
        stop.set()
        await asyncio.wait_for(task, 60)
        names = [e["object"]["metadata"]["name"] for e in got]
        assert names == [f"w{i}" for i in range(1, 31)], "lost, duplicated or reordered events"
        assert all(e["type"] == "ADDED" for e in got)
        revs = [int(e["object"]["metadata"]["resourceVersion"]) for e in got]
        assert revs == sorted(revs) and len(set(revs)) == len(revs)
        bad = await b.watch.remote("", "v1", "pods", "w", rv, label_selector="app in (", timeout=1.0)
        assert bad["code"] == 400 and bad["body"]["reason"] == "BadRequest"
        selected = await b.watch.remote("", "v1", "pods", "w", first["body"]["metadata"]["resourceVersion"],
                                        field_selector="metadata.name=w7", timeout=1.0)
        assert [e["object"]["metadata"]["name"] for e in selected["events"]] == ["w7"]

    asyncio.run(run())


def test_informer_converges_across_apiserver_restarts(control_plane):
    from actors.apiserver.transport import RayTransport
    from kubeapi.client import Client
    from kubeapi.informer import SharedInformer

    etcd, (a, b) = control_plane

    async def run() -> None:
        client = Client(RayTransport([a, b], retry_delay=0.2), poll_seconds=1.0)
        await client.create({"apiVersion": "v1", "kind": "Namespace", "metadata": {"name": "inf"}})
        for i in range(3):
            await client.create(dict(_pod(f"p{i}"), metadata={"name": f"p{i}", "namespace": "inf"}))
        inf = SharedInformer(client, "pods", "inf")
        stop = asyncio.Event()
        task = asyncio.create_task(inf.run(stop))
        assert await inf.wait_for_sync(30)

        async def has(keys: list[str]) -> None:
            while sorted(inf.indexer.list_keys()) != keys:
                await asyncio.sleep(0.05)
        # a list at resourceVersion "0" may come from a cache a little behind;
        # the watch from the list's revision brings the rest
        await asyncio.wait_for(has(["inf/p0", "inf/p1", "inf/p2"]), 30)
        # both replicas the informer uses restart (Ray brings them back with
        # fresh watch caches); the world changes meanwhile through a third
        (c,) = start_apiservers(1, "api", first_index=102)
        try:
            for h in (a, b):
                ray.kill(h, no_restart=False)
            writer = Client(RayTransport([c]))
            await writer.delete("pods", "p0", "inf")
            await writer.create(dict(_pod("p3"), metadata={"name": "p3", "namespace": "inf"}))
            await writer.bind("inf", "p3", "node-a")
            want = ["inf/p1", "inf/p2", "inf/p3"]

            async def converged() -> None:
                while sorted(inf.indexer.list_keys()) != want or \
                        (inf.indexer.get("inf/p3") or {}).get("spec", {}).get("nodeName") != "node-a":
                    await asyncio.sleep(0.1)
            await asyncio.wait_for(converged(), 60)
        finally:
            stop.set()
            await task
            ray.kill(c, no_restart=True)

    asyncio.run(run())


def test_leader_election_hands_over_when_the_holder_is_killed(control_plane):
    etcd, apis = control_plane

    @ray.remote(num_cpus=0)
    class Candidate:
        def __init__(self, identity: str, handles: list) -> None:
            from actors.apiserver.transport import RayTransport
            from kubeapi.client import Client
            from kubeapi.leaderelection import LeaderElectionConfig, LeaderElector

            self.leading = False

            def started(_stop: asyncio.Event) -> None:
                self.leading = True

            cfg = LeaderElectionConfig("election-test", "kube-system", identity,
                                       on_started_leading=started,
                                       on_stopped_leading=lambda: setattr(self, "leading", False),
                                       lease_duration=3, renew_deadline=2, retry_period=0.5)
            self.elector = LeaderElector(cfg, Client(RayTransport(handles)).leases())
            self.task = None

        async def start(self) -> None:
            self.task = asyncio.get_running_loop().create_task(self.elector.run())

        async def leading_now(self) -> bool:
            return self.leading and self.elector.is_leader()

    ray.get(apis[0].request.remote("create", "", "v1", "namespaces",
                                   body={"metadata": {"name": "kube-system"}}))
    one, two = Candidate.remote("one", apis), Candidate.remote("two", apis)
    try:
        ray.get(one.start.remote())
        _wait(lambda: ray.get(one.leading_now.remote()), 30, "the first candidate never led")
        ray.get(two.start.remote())
        assert not ray.get(two.leading_now.remote())
        ray.kill(one, no_restart=True)
        _wait(lambda: ray.get(two.leading_now.remote()), 30, "the second candidate never took over")
        lease = ray.get(apis[1].request.remote("get", "coordination.k8s.io", "v1", "leases",
                                               "kube-system", "election-test"))["body"]
        assert lease["spec"]["holderIdentity"] == "two" and lease["spec"]["leaseTransitions"] == 1
    finally:
        for h in (one, two):
            ray.kill(h, no_restart=True)


def _wait(cond, timeout: float, message: str) -> None:
    import time
    deadline = time.monotonic() + timeout
    while not cond():
        if time.monotonic() > deadline:
            raise AssertionError(message)
        time.sleep(0.2)
