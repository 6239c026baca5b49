"""The kubelet over the sim runtime against an in-process apiserver: node
registration, Lease renewals and status; pods run, report status, crash
loop with back-off, fail image pulls, fail liveness probes, are rejected
when they do not fit, and are stopped and deleted when asked."""
from __future__ import annotations

import asyncio
import random
from contextlib import asynccontextmanager

from actors.apiserver.server import APIServer, LocalTransport
from actors.apiserver.storage import LocalKV
from actors.cri.images import ImageStore
from actors.cri.sim import SimRuntime
from actors.kubelet.backoff import RestartBackoff
from actors.kubelet.kubelet import Kubelet, KubeletConfig, Prober
from actors.kubelet.node import NodeConfig
from kubeapi import errors
from kubeapi.client import Client
from netsim.pods import PodNetwork
from netsim.realsockets import LoopbackSockets, loopback_address
from tests.fakes import eventually

from .ctrl_fakes import run

NODE = "node-1"


@asynccontextmanager
async def cluster(server: APIServer | None = None, **cfg):
    server = server or APIServer(LocalKV())
    await server.ensure_system_objects()
    client = Client(LocalTransport(server), poll_seconds=0.05)
    await client.create({"apiVersion": "v1", "kind": "Namespace", "metadata": {"name": "ns"}})
    images = ImageStore(bandwidth=10 ** 12)
    runtime = SimRuntime(images, network=PodNetwork.standalone(NODE, "10.244.7.0/24"))
    node = NodeConfig(NODE, node_ip="192.168.0.10", capacity={"cpu": "2", "memory": "4Gi", "pods": "10"})
    kubelet = Kubelet(KubeletConfig(node, renew_interval=0.2, status_interval=0.2, relist_period=0.1,
                                    pull_backoff=RestartBackoff(initial=0.5, maximum=1), **cfg),
                      client, runtime, images, prober=Prober(runtime, runtime.network))
    kubelet.backoff = RestartBackoff(initial=0.3, maximum=0.6)
    stop = asyncio.Event()
    task = asyncio.create_task(kubelet.run(stop))
    try:
        yield client, kubelet, runtime
    finally:
        stop.set()
        await asyncio.wait_for(task, 10)
        await runtime.close()
        await server.close()


def pod(name: str, *containers: dict, **spec) -> dict:
    return {"apiVersion": "v1", "kind": "Pod", "metadata": {"name": name, "namespace": "ns"},
            "spec": {"nodeName": NODE, "containers": list(containers), **spec}}


def container(name: str = "c", image: str = "busybox:1.36", *command: str, **extra) -> dict:
    c = {"name": name, "image": image, **extra}
    if command:
        c["command"] = list(command)
    return c


async def get(client: Client, name: str) -> dict:
    return await client.get("pods", name, "ns")


def test_registers_its_node_renews_its_lease_and_posts_status():
    async def go() -> None:
        async with cluster() as (client, _, _):
            async def registered() -> bool:
                try:
                    n = await client.get("nodes", NODE)
                except errors.ApiError:
                    return False
                return any(c["type"] == "Ready" and c["status"] == "True" for c in n["status"].get("conditions") or ())
            await eventually(registered, "a Ready node")
            n = await client.get("nodes", NODE)
            assert n["metadata"]["labels"]["kubernetes.io/hostname"] == NODE
            assert n["status"]["allocatable"]["cpu"] == "2" and n["status"]["nodeInfo"]["kubeletVersion"]
            first = (await client.get("leases", NODE, "kube-node-lease"))["spec"]["renewTime"]

            async def renewed() -> bool:
                return (await client.get("leases", NODE, "kube-node-lease"))["spec"]["renewTime"] != first
            await eventually(renewed, "a renewed lease")
    run(go())


def test_a_pod_runs_and_reports_its_status_then_stops_and_is_deleted():
    async def go() -> None:
        async with cluster() as (client, _, runtime):
            await client.create(pod("web", container("c", "busybox:1.36", "sleep", "3600"),
                                    initContainers=[container("init", "busybox:1.36", "sh", "-c", "echo ready")],
                                    terminationGracePeriodSeconds=5))

            async def running() -> bool:
                st = (await get(client, "web")).get("status") or {}
                return st.get("phase") == "Running" and \
                    {c["type"]: c["status"] for c in st.get("conditions") or ()}.get("Ready") == "True"
            await eventually(running, "a Running, Ready pod")
            st = (await get(client, "web"))["status"]
            cs = st["containerStatuses"][0]
            assert "running" in cs["state"] and cs["ready"] and cs["imageID"].startswith("sha256:")
            assert cs["containerID"].startswith("raykube-sim://") and st["podIP"] == "10.244.7.2"
            assert st["hostIP"] == "192.168.0.10" and st["qosClass"] == "BestEffort"
            assert st["initContainerStatuses"][0]["state"]["terminated"]["reason"] == "Completed"
            await client.delete("pods", "web", "ns")

            async def gone() -> bool:
                try:
                    await get(client, "web")
                except errors.ApiError as e:
                    return e.code == 404
                return False
            await eventually(gone, "the pod stopped and deleted")
            assert await runtime.ListContainers() == [] and await runtime.ListPodSandbox() == []
    run(go())


def test_a_crashing_container_loops_with_back_off_and_a_finished_pod_succeeds():
    async def go() -> None:
        async with cluster() as (client, _, _):
            await client.create(pod("crash", container("c", "busybox:1.36", "sh", "-c", "exit 1")))
            await client.create(pod("once", container("c", "busybox:1.36", "sh", "-c", "echo done"),
                                    restartPolicy="Never"))

            async def looping() -> bool:
                cs = ((await get(client, "crash")).get("status") or {}).get("containerStatuses") or [{}]
                return cs[0].get("restartCount", 0) >= 2 and \
                    (cs[0].get("state") or {}).get("waiting", {}).get("reason") == "CrashLoopBackOff"
            await eventually(looping, "CrashLoopBackOff with restarts")
            cs = (await get(client, "crash"))["status"]["containerStatuses"][0]
            assert cs["lastState"]["terminated"]["exitCode"] == 1

            async def succeeded() -> bool:
                return ((await get(client, "once")).get("status") or {}).get("phase") == "Succeeded"
            await eventually(succeeded, "the run-once pod Succeeded")
    run(go())


def test_image_pull_errors_back_off():
    async def go() -> None:
        async with cluster() as (client, _, _):
            made = await client.create(pod("bad", container("c", "nosuch/image:1")))
            reasons: list[str] = []

            async def watch() -> None:
                """Every waiting reason the pod's status goes through, in order."""
                async for ev in client.watch("pods", "ns", resource_version=made["metadata"]["resourceVersion"],
                                             timeout_seconds=20):
                    cs = (ev["object"].get("status") or {}).get("containerStatuses") or [{}]
                    reason = (cs[0].get("state") or {}).get("waiting", {}).get("reason")
                    if reason and (not reasons or reasons[-1] != reason):
                        reasons.append(reason)
            watcher = asyncio.create_task(watch())

            async def cycled() -> bool:  # pulled again after the back-off, failing again
                return reasons[:3] == ["ErrImagePull", "ImagePullBackOff", "ErrImagePull"]
            await eventually(cycled, "ErrImagePull, ImagePullBackOff, ErrImagePull", tries=400)
            watcher.cancel()
            assert ((await get(client, "bad"))["status"]["phase"]) == "Pending"
    run(go(), timeout=40)


def test_a_failing_liveness_probe_restarts_the_container():
    async def go() -> None:
        async with cluster() as (client, _, _):
            probe = {"exec": {"command": ["false"]}, "periodSeconds": 1, "failureThreshold": 1}
            await client.create(pod("sick", container("c", "busybox:1.36", "sleep", "3600", livenessProbe=probe)))

            async def restarted() -> bool:
                cs = ((await get(client, "sick")).get("status") or {}).get("containerStatuses") or [{}]
                return cs[0].get("restartCount", 0) >= 1
            await eventually(restarted, "a restart after the liveness probe failed", tries=400)
    run(go(), timeout=40)


def test_a_pod_that_does_not_fit_is_rejected():
    async def go() -> None:
        async with cluster() as (client, _, _):
            big = container("c", "busybox:1.36", "sleep", "60", resources={"requests": {"cpu": "3"}})
            await client.create(pod("big", big))

            async def rejected() -> bool:
                return ((await get(client, "big")).get("status") or {}).get("phase") == "Failed"
            await eventually(rejected, "the pod rejected")
            st = (await get(client, "big"))["status"]
            assert st["reason"] == "OutOfcpu" and st["message"].startswith(
                "Pod was rejected: Node didn't have enough resource: cpu, requested: 3000, used: 0, capacity: 2000")
            await client.create(pod("elsewhere", container("c", "busybox:1.36", "sleep", "60"),
                                    nodeSelector={"disk": "ssd"}))

            async def mismatched() -> bool:
                st = (await get(client, "elsewhere")).get("status") or {}
                return st.get("phase") == "Failed" and st.get("reason") == "NodeAffinity"
            await eventually(mismatched, "the pod whose selector the node does not match rejected")
    run(go())


def test_logs_as_kubectl_logs_shows_them():
    async def go() -> None:
        async with cluster() as (client, kubelet, _):
            await client.create(pod("talk", container("c", "busybox:1.36", "sh", "-c",
                                                      "echo one; echo two; sleep 3600")))
            await client.create(pod("crash", container("c", "busybox:1.36", "sh", "-c", "echo boom; exit 1")))

            async def talked() -> bool:
                try:
                    return await kubelet.logs("ns", "talk") == "one\ntwo\n"
                except Exception:  # noqa: BLE001 - not running yet
                    return False
            await eventually(talked, "the pod's output")
            assert await kubelet.logs("ns", "talk", "c", tail=1) == "two\n"
            stamped = await kubelet.logs("ns", "talk", timestamps=True)
            assert stamped.splitlines()[0].endswith(" one") and stamped.startswith("20")

            async def restarted() -> bool:
                cs = ((await get(client, "crash")).get("status") or {}).get("containerStatuses") or [{}]
                return cs[0].get("restartCount", 0) >= 1
            await eventually(restarted, "a restart")
            assert await kubelet.logs("ns", "crash", previous=True) == "boom\n"
            for bad, why in ((dict(container="nope"), "container nope is not valid for pod talk"),
                             (dict(previous=True), 'previous terminated container "c" in pod "talk" not found')):
                try:
                    await kubelet.logs("ns", "talk", **bad)
                except Exception as e:  # noqa: BLE001 - the typed CRI error is what the apiserver words
                    assert why in str(e)
                else:
                    raise AssertionError(f"no error for {bad}")
    run(go())


def test_network_probes_reach_real_sockets_through_the_pod_network():
    from aiohttp import web

    from actors.kubelet.probes import READINESS, ProbeState, probe_spec

    async def go() -> None:
        net = PodNetwork.standalone(cidr=f"10.{random.randrange(1, 255)}.{random.randrange(256)}.0/24",
                                    sockets=LoopbackSockets())
        pod_ip = net.setup("sandbox", pod="ns/web", real_ip=loopback_address).ip
        health = {"code": 200}

        async def healthz(_request):
            return web.Response(status=health["code"], text="ok")
        app = web.Application()
        app.router.add_get("/healthz", healthz)
        runner = web.AppRunner(app)
        await runner.setup()
        site = web.TCPSite(runner, loopback_address(pod_ip), 0)
        await site.start()
        port = site._server.sockets[0].getsockname()[1]  # noqa: SLF001 - the port bound
        prober = Prober(None, net)

        def state(kind: dict) -> ProbeState:
            return ProbeState(READINESS, probe_spec({"readinessProbe": kind}, READINESS), 0.0)
        http = state({"httpGet": {"path": "/healthz", "port": port}})
        tcp = state({"tcpSocket": {"port": port}})
        try:
            assert await prober.probe(http, "", pod_ip) is True
            assert await prober.probe(tcp, "", pod_ip) is True
            health["code"] = 500
            assert await prober.probe(http, "", pod_ip) is False
        finally:
            await runner.cleanup()
        assert await prober.probe(tcp, "", pod_ip) is False  # nothing listens now
        assert await prober.probe(http, "", pod_ip) is False
    run(go())
