"""kube-proxy's control loop and the network agent, alone: Services and
EndpointSlices become one Service's rules per sync (nothing rewritten when a
slice change leaves them as they were), Nodes become addresses, hosts and
overlay routes, and a data plane that restarts is programmed again."""
from __future__ import annotations

import asyncio

from actors.proxy.proxier import NETSIM_HOST_ANNOTATION, FabricSync, Proxier, watch_epoch
from kubeapi.informer import Indexer, meta_namespace_key
from netsim.host import Fabric, Host
from netsim.services import SERVICE_NAME_LABEL

from .ctrl_fakes import run


class Recording(Host):
    """A host that counts what it is told."""

    def __init__(self) -> None:
        super().__init__("h", Fabric())
        self.calls: list[tuple] = []

    def program_service(self, key, ports):
        self.calls.append(("service", key, len(ports), tuple(len(p.endpoints) for p in ports)))
        super().program_service(key, ports)

    def program_node(self, name, ips, host):
        self.calls.append(("node", name, tuple(ips), host))
        super().program_node(name, ips, host)


def indexer(*objs: dict) -> Indexer:
    ix = Indexer()
    for o in objs:
        ix.add(o)
    return ix


SVC = {"metadata": {"name": "web", "namespace": "app"},
       "spec": {"clusterIP": "10.96.0.9", "clusterIPs": ["10.96.0.9"],
                "ports": [{"name": "", "port": 80, "protocol": "TCP"}]}}


def slice_(ips: list[str], ready: bool = True) -> dict:
    return {"metadata": {"name": "web-1", "namespace": "app", "labels": {SERVICE_NAME_LABEL: "web"}},
            "ports": [{"name": "", "port": 8080, "protocol": "TCP"}],
            "endpoints": [{"addresses": [ip], "conditions": {"ready": ready}} for ip in ips]}


def test_proxier_programs_a_service_per_sync_and_skips_what_did_not_change():
    async def go() -> None:
        host = Recording()
        services, slices = indexer(SVC), indexer(slice_(["10.244.1.2"]))
        p = Proxier(services, slices, host)
        p.on_service(SVC)
        await p.drain()
        assert host.calls == [("service", "app/web", 1, (1,))]
        changed = slice_(["10.244.1.2", "10.244.1.3"])
        slices.add(changed)
        p.on_slice(slice_(["10.244.1.2"]), changed)
        await p.drain()
        p.on_slice(changed, changed)                         # a resync: the same rules
        await p.drain()
        assert host.calls[1:] == [("service", "app/web", 1, (2,))]
        services.delete(SVC)
        p.on_service(SVC)
        await p.drain()
        assert host.calls[-1] == ("service", "app/web", 0, ()) and len(host.services) == 0
        services.add(SVC)
        p.on_service(SVC)
        await p.drain()
        host.calls.clear()
        p.reprogram()                                        # a restarted data plane gets everything again
        await p.drain()
        assert host.calls == [("service", "app/web", 1, (2,))]
    run(go())


def test_fabric_sync_programs_nodes_and_overlay_routes_and_forgets_deleted_ones():
    async def go() -> None:
        host = Recording()
        node = {"metadata": {"name": "n1", "annotations": {NETSIM_HOST_ANNOTATION: "pool-1"}},
                "spec": {"podCIDR": "10.244.3.0/24"},
                "status": {"addresses": [{"type": "Hostname", "address": "n1"},
                                         {"type": "ExternalIP", "address": "198.51.100.4"},
                                         {"type": "InternalIP", "address": "172.16.0.4"}]}}
        nodes = indexer(node)
        f = FabricSync(nodes, host)
        f.on_node(node)
        await f.drain()
        assert host.calls == [("node", "n1", ("172.16.0.4", "198.51.100.4"), "pool-1")]
        assert [(r.cidr, r.node) for r in host.fabric.routes()] == [("10.244.3.0/24", "n1")]
        f.on_node(node)                                      # a heartbeat: nothing to write
        await f.drain()
        assert len(host.calls) == 1
        moved = dict(node, spec={"podCIDR": "10.244.4.0/24"})
        nodes.add(moved)
        f.on_node(moved)
        await f.drain()
        assert [r.cidr for r in host.fabric.routes()] == ["10.244.4.0/24"]
        nodes.delete(moved)
        f.on_node(moved)
        await f.drain()
        assert host.fabric.routes() == [] and host.fabric.nodes() == {}
        assert meta_namespace_key(moved) == "n1"
    run(go())


def test_a_restarted_data_plane_is_programmed_again():
    async def go() -> None:
        class Plane:
            epoch = "one"

            async def netsim_epoch(self):
                return self.epoch

        class Programmer:
            times = 0

            def reprogram(self):
                self.times += 1
        plane, prog, stop = Plane(), Programmer(), asyncio.Event()
        task = asyncio.create_task(watch_epoch(plane, [prog], stop, period=0.01))
        await asyncio.sleep(0.05)
        assert prog.times == 0
        plane.epoch = "two"
        await asyncio.sleep(0.05)
        stop.set()
        await task
        assert prog.times == 1
    run(go())
