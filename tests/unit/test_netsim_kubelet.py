"""Pod addresses across kubelet and runtime restarts: a restarted kubelet
adopts the running pods (their addresses stay, none is handed out twice,
none leaks); a restarted runtime, whose sandboxes died with it, finds its
predecessor's reservations on disk and gives them back."""
from __future__ import annotations

import asyncio

from actors.apiserver.server import APIServer, LocalTransport
from actors.apiserver.storage import LocalKV
from actors.cri.images import ImageStore
from actors.cri.sim import SimRuntime
from actors.kubelet.kubelet import Kubelet, KubeletConfig, Prober
from actors.kubelet.node import NodeConfig
from kubeapi.client import Client
from netsim.ipam import DirStore
from netsim.pods import PodNetwork
from tests.fakes import eventually

from .ctrl_fakes import run

NODE, CIDR = "restart-node", "10.244.12.0/24"


def test_kubelet_and_runtime_restarts_keep_or_free_addresses(tmp_path):
    async def go() -> None:
        server = APIServer(LocalKV())
        await server.ensure_system_objects()
        client = Client(LocalTransport(server), poll_seconds=0.05)
        await client.create({"apiVersion": "v1", "kind": "Namespace", "metadata": {"name": "ns"}})
        store = str(tmp_path / "cni" / "raykube")
        images = ImageStore(bandwidth=10 ** 12)
        network = PodNetwork.standalone(NODE, CIDR, store=DirStore(store))
        runtime = SimRuntime(images, network=network)
        cfg = KubeletConfig(NodeConfig(NODE), renew_interval=0.2, status_interval=0.2, relist_period=0.1,
                            housekeeping_period=0.2)
        seen: dict[str, str] = {}                         # pod name -> its address, for its whole life
        n = 0
        for life in range(4):
            kubelet = Kubelet(cfg, client, runtime, images, prober=Prober(runtime, network))
            stop = asyncio.Event()
            task = asyncio.create_task(kubelet.run(stop))
            for _ in range(3):
                n += 1
                await client.create({"apiVersion": "v1", "kind": "Pod", "metadata": {"name": f"p{n}", "namespace": "ns"},
                                     "spec": {"nodeName": NODE, "terminationGracePeriodSeconds": 0,
                                              "containers": [{"name": "c", "image": "busybox:1.36",
                                                              "command": ["sleep", "3600"]}]}})
            if life:
                await client.delete("pods", f"p{n - 4}", "ns", grace_period_seconds=0)

            async def settled() -> dict[str, str] | None:
                pods = (await client.list("pods", "ns"))["items"]
                ips = {p["metadata"]["name"]: (p.get("status") or {}).get("podIP") for p in pods
                       if (p.get("status") or {}).get("phase") == "Running"}
                held = network.plugin.ipam.allocations()
                if len(ips) != len(pods) or not all(ips.values()) or sorted(held) != sorted(ips.values()):
                    return None
                return ips
            ips = await eventually(settled, f"life {life}: every pod running, each address held once",
                                   tries=400, every=0.05)
            assert len(set(ips.values())) == len(ips)
            for name, ip in ips.items():                  # an adopted pod keeps its address
                assert seen.setdefault(name, ip) == ip, name
            stop.set()
            await task
        # the runtime restarts: its sandboxes are gone, its reservations collected
        fresh = PodNetwork.standalone(NODE, "10.244.13.0/24", store=DirStore(store))
        assert fresh.plugin.ipam.allocations() == {}
        again = PodNetwork(fresh.host, "other", store=DirStore(store))
        assert again.plugin.ipam is None
        again.set_pod_cidr(CIDR)
        assert again.plugin.ipam.allocations() == {}
        await runtime.close()
        await server.close()
    run(go(), timeout=60)


def test_address_exhaustion_leaves_the_pod_creating_with_an_event_until_one_is_free():
    async def go() -> None:
        server = APIServer(LocalKV())
        await server.ensure_system_objects()
        client = Client(LocalTransport(server), poll_seconds=0.05)
        await client.create({"apiVersion": "v1", "kind": "Namespace", "metadata": {"name": "ns"}})
        images = ImageStore(bandwidth=10 ** 12)
        network = PodNetwork.standalone(NODE, "10.244.14.0/29")           # .2 - .6: five pods
        runtime = SimRuntime(images, network=network)
        kubelet = Kubelet(KubeletConfig(NodeConfig(NODE), renew_interval=0.2, status_interval=0.2,
                                        relist_period=0.1), client, runtime, images, prober=Prober(runtime, network))
        stop = asyncio.Event()
        task = asyncio.create_task(kubelet.run(stop))
        for i in range(6):
            await client.create({"apiVersion": "v1", "kind": "Pod", "metadata": {"name": f"p{i}", "namespace": "ns"},
                                 "spec": {"nodeName": NODE, "terminationGracePeriodSeconds": 0,
                                          "containers": [{"name": "c", "image": "busybox:1.36",
                                                          "command": ["sleep", "3600"]}]}})

        async def phases() -> dict[str, str]:
            return {p["metadata"]["name"]: (p.get("status") or {}).get("phase", "")
                    for p in (await client.list("pods", "ns"))["items"]}

        async def five_running() -> bool:
            return sorted((await phases()).values()).count("Running") == 5
        await eventually(five_running, "five pods running", tries=400, every=0.05)

        async def event() -> dict | None:
            events = (await client.list("events", "ns"))["items"]
            return next((e for e in events if e["reason"] == "FailedCreatePodSandBox"), None)
        ev = await eventually(event, "a FailedCreatePodSandBox event", tries=200, every=0.05)
        waiting = ev["involvedObject"]["name"]
        assert "no IP addresses available in range set: 10.244.14.2-10.244.14.6" in ev["message"]
        assert ev["source"] == {"component": "kubelet", "host": NODE} and ev["type"] == "Warning"
        pod = await client.get("pods", waiting, "ns")
        assert pod["status"]["phase"] == "Pending"
        state = pod["status"]["containerStatuses"][0]["state"]
        assert state["waiting"]["reason"] == "ContainerCreating"
        await client.delete("pods", next(n for n, ph in (await phases()).items() if ph == "Running"), "ns",
                            grace_period_seconds=0)

        async def waiting_runs() -> bool:
            return (await phases()).get(waiting) == "Running"
        await eventually(waiting_runs, "the waiting pod gets the freed address", tries=400, every=0.05)
        stop.set()
        await task
        await runtime.close()
        await server.close()
    run(go(), timeout=60)
