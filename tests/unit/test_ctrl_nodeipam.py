"""Node IPAM: distinct /24s of the cluster CIDR, never one still held, and a
clear error when the range is used up."""
from __future__ import annotations

import asyncio

import pytest

from actors.apiserver.server import APIServer, LocalTransport
from actors.apiserver.storage import LocalKV
from actors.controllers.nodeipam import CIDRExhausted, NodeIPAMController
from kubeapi.aio import cancel_and_wait
from kubeapi.client import Client
from kubeapi.informer import Indexer, SharedInformer
from tests.fakes import eventually

from .ctrl_fakes import Recorder, run


def node(name: str, cidr: str | None = None) -> dict:
    n = {"apiVersion": "v1", "kind": "Node", "metadata": {"name": name, "uid": f"u-{name}"}, "spec": {}}
    if cidr:
        n["spec"]["podCIDR"] = cidr
    return n


def test_allocates_the_first_free_range_and_counts_pending_ones():
    nodes = Indexer()
    for n in (node("a", "10.244.0.0/24"), node("b", "10.244.2.0/24"), node("c"), node("d")):
        nodes.add(n)
    api = Recorder(*nodes.list())
    c = NodeIPAMController(nodes, api)
    run(c.sync("c"))
    run(c.sync("d"))
    got = {a[3]: a[5][1]["value"] for a in api.verbs("patch")}
    assert got == {"c": "10.244.1.0/24", "d": "10.244.3.0/24"}  # 1 was pending for c when d came
    run(c.sync("a"))  # has one already: nothing to do
    assert len(api.verbs("patch")) == 2


def test_exhaustion_is_a_clear_error_and_a_deleted_node_frees_its_range():
    nodes = Indexer()
    nodes.add(node("a", "10.0.0.0/25"))
    nodes.add(node("b", "10.0.0.128/25"))
    nodes.add(node("c"))
    c = NodeIPAMController(nodes, Recorder(*nodes.list()), cluster_cidr="10.0.0.0/24", node_mask=25)
    with pytest.raises(CIDRExhausted, match="no /25 left in 10.0.0.0/24"):
        run(c.sync("c"))
    nodes.delete_key("a")
    api = Recorder(node("c"))
    c.client = api
    run(c.sync("c"))
    assert api.verbs("patch")[0][5][1]["value"] == "10.0.0.0/25"
    with pytest.raises(ValueError):
        NodeIPAMController(nodes, api, cluster_cidr="10.0.0.0/24", node_mask=16)


def test_every_node_gets_a_distinct_range_through_the_api():
    async def go() -> None:
        server = APIServer(LocalKV())
        client = Client(LocalTransport(server), poll_seconds=0.02)
        inf = SharedInformer(client, "nodes")
        c = NodeIPAMController(inf.indexer, client)
        inf.add_event_handler(c.on_node, c.on_node_update, c.on_node_delete)
        stop = asyncio.Event()
        tasks = [asyncio.create_task(inf.run(stop)), asyncio.create_task(c.run(3, stop))]
        for i in range(20):
            await client.create({"apiVersion": "v1", "kind": "Node", "metadata": {"name": f"n{i}"}})

        async def all_assigned() -> bool:
            items = (await client.list("nodes"))["items"]
            return len(items) == 20 and all((n.get("spec") or {}).get("podCIDR") for n in items)
        await eventually(all_assigned, "20 nodes with a podCIDR")
        items = (await client.list("nodes"))["items"]
        cidrs = [n["spec"]["podCIDR"] for n in items]
        assert len(set(cidrs)) == 20 and all(n["spec"]["podCIDRs"] == [n["spec"]["podCIDR"]] for n in items)
        stop.set()
        await cancel_and_wait(tasks)
        await server.close()
    run(go())


def test_a_wide_cluster_cidr_serves_thousands_of_nodes_and_hands_out_freed_ranges_last():
    nodes = Indexer()
    api = Recorder()
    c = NodeIPAMController(nodes, api, cluster_cidr="10.224.0.0/11")
    given = []
    for i in range(600):
        given.append(c.allocate())
        c.pending[f"n{i}"] = given[-1]
    assert len(set(given)) == 600 and given[0] == "10.224.0.0/24" and given[-1] == "10.226.87.0/24"
    del c.pending["n0"]            # the first node goes: its range is not the next one handed out
    assert c.allocate() == "10.226.88.0/24"


@pytest.mark.parametrize("args,message", [
    (["--cluster-cidr", "10.244.0.0/33"], "--cluster-cidr: "),
    (["--cluster-cidr", "10.244.0.0/25"], "an IPv4 network of /24 or wider is needed"),
    (["--hollow-nodes", "300"], "--cluster-cidr 10.244.0.0/16 holds 256 nodes' /24s, not 300"),
    (["--hollow-nodes", "200", "--nodes", "57", "--cluster-cidr", "10.244.0.0/16"], "not 257"),
])
def test_raykube_up_refuses_a_cluster_cidr_too_small_for_its_nodes(capsys, args, message):
    from actors.cli import main
    assert main(["up", *args]) == 2
    err = capsys.readouterr().err.strip()
    assert err.startswith("raykube: --cluster-cidr") and message in err and len(err.splitlines()) == 1
