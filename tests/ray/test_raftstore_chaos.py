"""raftstore on real Ray actors: clients write and read continuously while
members are killed; every history must be linearizable, every acknowledged
write present afterwards, and an open watch must see every revision once."""
from __future__ import annotations

import asyncio
import time

import pytest
import ray

from raftstore.client import RaftStoreClient, Unavailable
from raftstore.cluster import EtcdCluster

from .workload import Recorder, check_watch, watch_all

pytestmark = pytest.mark.ray

FAST = {"tick_ms": 50.0, "snapshot_every": 200}


@pytest.fixture
def etcd(ray_cluster, data_root, request):
    c = EtcdCluster.start(f"t{abs(hash(request.node.name)) % 10**6}", 3, data_root=data_root, **FAST)
    try:
        yield c
    finally:
        c.down()


async def _chaos_run(etcd: EtcdCluster, chaos, clients: int = 4) -> Recorder:
    rec = Recorder(etcd.name)
    cli = RaftStoreClient(etcd.name, timeout=20.0)
    start = await cli.current_revision() + 1
    stop = asyncio.Event()
    events: list[dict] = []
    final: list[int] = []
    watcher = asyncio.create_task(watch_all(etcd.name, start, events, final))
    writers = [asyncio.create_task(rec.client_loop(i, stop, seed=i)) for i in range(clients)]
    try:
        await chaos()
    finally:
        stop.set()
        await asyncio.wait_for(asyncio.gather(*writers), 60)
    final.append(await cli.current_revision())
    await asyncio.wait_for(watcher, 60)
    assert not rec.errors, rec.errors
    assert len(rec.history) > 50, "the workload barely ran"
    rec.check_linearizable()
    await rec.check_durable()
    check_watch(events, start, final[0])
    return rec


def test_kill_leader_repeatedly_and_followers(etcd):
    async def chaos() -> None:
        for how in ("ray", "sigkill", "ray", "sigkill"):
            await asyncio.sleep(1.0)
            lid = await asyncio.to_thread(etcd.wait_for_leader, 30)
            await asyncio.to_thread(etcd.kill, lid, how)
        await asyncio.sleep(1.0)
        lid = await asyncio.to_thread(etcd.wait_for_leader, 30)
        follower = next(m for m in etcd.members if m != lid)
        await asyncio.to_thread(etcd.kill, follower, "sigkill")
        await asyncio.sleep(1.5)
        # a rolling restart of every member: whichever serves the watch dies too
        for mid in sorted(etcd.members):
            await asyncio.to_thread(etcd.wait_for_leader, 30)
            await asyncio.to_thread(etcd.kill, mid, "ray")
            await asyncio.sleep(1.0)

    rec = asyncio.run(_chaos_run(etcd, chaos))
    assert len(rec.acked) > 20


def test_two_of_three_down_is_unavailable_then_recovers(etcd):
    async def run() -> None:
        cli = RaftStoreClient(etcd.name, timeout=20.0)
        for i in range(30):
            await cli.put(b"before-%d" % i, b"v")
        lid = etcd.wait_for_leader()
        down = [m for m in etcd.members if m != lid][:1] + [lid]
        for m in down:
            await asyncio.to_thread(etcd.stop_member, m)
        short = RaftStoreClient(etcd.name, timeout=2.0, attempt_timeout=0.5)
        t0 = time.monotonic()
        with pytest.raises(Unavailable) as exc:
            await short.put(b"during", b"x")
        assert time.monotonic() - t0 < 10, "an unavailable store must answer within its timeout"
        assert "no answer within" in str(exc.value)
        with pytest.raises(Unavailable):
            await short.get(b"before-1")
        for m in down:
            await asyncio.to_thread(etcd.restart_member, m)
        await asyncio.to_thread(etcd.wait_for_leader, 30)
        for i in range(30):
            kv = await cli.get(b"before-%d" % i)
            assert kv is not None and kv["value"] == b"v"
        await cli.put(b"after", b"y")
        assert (await cli.get(b"after"))["value"] == b"y"
        # every member, the restarted ones included, catches up
        deadline = time.monotonic() + 30
        while True:
            st = await asyncio.to_thread(etcd.status)
            applied = {m: s["applied"] for m, s in st.items() if isinstance(s, dict)}
            if len(applied) == 3 and len(set(applied.values())) == 1:
                break
            assert time.monotonic() < deadline, f"members did not converge: {st}"
            await asyncio.sleep(0.3)

    asyncio.run(run())


def test_exactly_once_retry_returns_first_answer(etcd):
    """The same (client, seq) sent twice, even to different members after a
    leader change, applies once and answers the same."""
    async def run() -> None:
        lid = etcd.wait_for_leader()
        h = etcd.members[lid]
        req = {"op": "put", "key": b"once", "value": b"1"}
        first = await h.request.remote(req, "retrier/0", 7)
        await asyncio.to_thread(etcd.transfer_leadership, next(m for m in etcd.members if m != lid))
        lid2 = etcd.wait_for_leader()
        second = await etcd.members[lid2].request.remote(req, "retrier/0", 7)
        assert second["result"] == first["result"]
        cli = RaftStoreClient(etcd.name)
        kv = await cli.get(b"once")
        assert kv["version"] == 1 and kv["mod_revision"] == first["result"]["revision"]

    asyncio.run(run())


def test_leases_expire_through_the_log(etcd):
    async def run() -> None:
        cli = RaftStoreClient(etcd.name)
        lease = await cli.lease_grant(ttl=1)
        await cli.put(b"ephemeral", b"x", lease=lease["id"])
        kept = await cli.lease_grant(ttl=1)
        await cli.put(b"kept", b"y", lease=kept["id"])
        deadline = time.monotonic() + 15
        while time.monotonic() < deadline and await cli.get(b"ephemeral") is not None:
            assert await cli.lease_keepalive(kept["id"]) == 1
            await asyncio.sleep(0.2)
        assert await cli.get(b"ephemeral") is None
        assert await cli.get(b"kept") is not None
        st = await cli.status()
        revs = {s["revision"] for s in st.values() if isinstance(s, dict)}
        assert len(revs) >= 1

    asyncio.run(run())


def test_member_without_its_data_refuses_to_rejoin_and_is_replaced(etcd, data_root):
    async def run() -> None:
        cli = RaftStoreClient(etcd.name, timeout=20.0)
        for i in range(20):
            await cli.put(b"x%d" % i, b"v%d" % i)
        lid = etcd.wait_for_leader()
        victim = next(m for m in etcd.members if m != lid)
        await asyncio.to_thread(etcd.wipe_and_crash, victim)
        # Ray restarts it; its __init__ must refuse, and the member stays dead
        deadline = time.monotonic() + 60
        while True:
            st = await asyncio.to_thread(etcd.status, 10.0)
            if "data directory" in str(st[victim]) or time.monotonic() > deadline:
                break
            await asyncio.sleep(0.5)
        assert "data directory" in str(st[victim]), st[victim]
        new = await asyncio.to_thread(etcd.replace_member, victim)
        assert new not in (1, 2, 3)
        # the new member applies its own promotion a moment after the leader
        deadline = time.monotonic() + 20
        while True:
            st = await asyncio.to_thread(etcd.status)
            assert victim not in st and isinstance(st[new], dict), st
            if st[new]["voters"] == sorted(etcd.members) or time.monotonic() > deadline:
                break
            await asyncio.sleep(0.2)
        assert st[new]["voters"] == sorted(etcd.members)
        kv = await RaftStoreClient(etcd.name).get(b"x19")
        assert kv["value"] == b"v19"

    asyncio.run(run())


def test_bad_requests_get_clear_errors(etcd):
    async def run() -> None:
        lid = etcd.wait_for_leader()
        h = etcd.members[lid]
        assert (await h.request.remote("nonsense"))["error"]["code"] == "bad_request"
        assert (await h.request.remote({"op": "explode"}))["error"]["code"] == "bad_request"
        assert (await h.conf_change.remote("merge", 9))["error"]["code"] == "bad_request"
        cli = RaftStoreClient(etcd.name)
        await cli.put(b"a", b"1")
        await cli.put(b"a", b"2")
        rev = await cli.current_revision()
        await cli.compact(rev)
        from raftstore.client import Compacted
        with pytest.raises(Compacted) as e:
            await cli.get(b"a", revision=rev - 1)
        assert e.value.compact_revision == rev

    asyncio.run(run())


def test_machine_loss_then_replace(ray_cluster, data_root):
    """A whole Ray node holding a member goes away: the other two serve on,
    and the lost member is replaced by a new one on a surviving node."""
    nodes = [ray_cluster.add_node(num_cpus=1) for _ in range(2)]
    ray_cluster.wait_for_nodes()
    c = EtcdCluster.start("machines", 3, data_root=data_root, **FAST)
    try:
        placed = dict(c.placement)
        assert len(set(placed.values())) == 3, "members should be spread over distinct nodes"

        async def run() -> None:
            cli = RaftStoreClient(c.name, timeout=20.0)
            for i in range(20):
                await cli.put(b"m%d" % i, b"v")
            head = ray.get_runtime_context().get_node_id()
            victim = next(m for m, n in placed.items() if n != head)
            node = next(n for n in nodes if n.node_id == placed[victim])
            ray_cluster.remove_node(node)
            await cli.put(b"after-loss", b"ok")
            assert (await cli.get(b"m7"))["value"] == b"v"
            new = await asyncio.to_thread(c.replace_member, victim)
            st = await asyncio.to_thread(c.status)
            assert st[new]["node_id"] != placed[victim]
            assert (await RaftStoreClient(c.name).get(b"after-loss"))["value"] == b"ok"

        asyncio.run(run())
    finally:
        c.down()
        for n in nodes:
            if n in ray_cluster.worker_nodes:
                ray_cluster.remove_node(n)
