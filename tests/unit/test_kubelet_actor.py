"""What the kubelet actor adds around the kubelet, without Ray: its network
probes go through the node's CRI actor, where the pods are reachable (the
sim runtime's network lives there), and it serves the apiserver only the
calls it should."""
from __future__ import annotations

import asyncio
import os

import pytest

from actors.cri import api
from actors.cri.actor import CRIActor
from actors.kubelet.actor import RuntimeNetwork, serve_call
from actors.kubelet.kubelet import Prober
from actors.kubelet.probes import ProbeSpec, ProbeState

from .ctrl_fakes import run

AGNHOST = "registry.k8s.io/e2e-test-images/agnhost:2.52"


async def start_pod(cri: CRIActor, argv: list[str]) -> tuple[str, str]:
    """A sandbox and one running container in it: (container id, pod IP)."""
    await cri.UpdateRuntimeConfig("10.244.9.0/24")
    config = api.PodSandboxConfig(metadata=api.PodSandboxMetadata(name="p", uid="uid-p", namespace="ns"),
                                  hostname="p")
    sid = await cri.RunPodSandbox(config)
    await cri.PullImage(api.ImageSpec(AGNHOST))
    cid = await cri.CreateContainer(sid, api.ContainerConfig(
        metadata=api.ContainerMetadata(name="c"), image=api.ImageSpec(AGNHOST), command=argv), config)
    await cri.StartContainer(cid)
    return cid, (await cri.PodSandboxStatus(sid)).network.ip


@pytest.mark.parametrize("runtime", ["sim", "process"])
def test_network_probes_reach_pods_through_the_cri_actor(runtime, tmp_path):
    async def go() -> None:
        cri = CRIActor("n1", runtime, root_dir=str(tmp_path), local=True)
        cri.images.bandwidth = 10 ** 12
        try:
            cid, ip = await start_pod(cri, ["agnhost", "netexec", "--http-port=8080"])
            prober = Prober(cri, RuntimeNetwork(cri))

            async def probe(kind: str, port: int, path: str = "/hostname") -> bool:
                return await prober.probe(ProbeState("readiness", ProbeSpec(kind, port=port, path=path, timeout=2.0),
                                                     0.0), cid, ip)
            for _ in range(100):       # the server takes a moment to listen (a real process: an interpreter start)
                if await probe("httpGet", 8080):
                    break
                await asyncio.sleep(0.1)
            assert await probe("httpGet", 8080) and await probe("tcpSocket", 8080)
            assert not await probe("httpGet", 8081) and not await probe("tcpSocket", 8081)
            assert not await probe("httpGet", 8080, "/nope")  # agnhost answers 404
        finally:
            await cri.close()
    run(go(), timeout=60)


def test_closing_a_process_cri_actor_removes_the_directory_it_made():
    async def go() -> str:
        cri = CRIActor("n2", "process", local=True)
        await start_pod(cri, ["sleep", "3600"])
        assert os.path.isdir(cri.root_dir) and os.listdir(cri.root_dir)
        await cri.close()
        return cri.root_dir
    assert not os.path.exists(run(go(), timeout=60))


def test_the_apiserver_gets_only_the_calls_it_should():
    class Kubelet:
        async def logs(self, *args, **kw):
            return ("logs", args, kw)

        async def register(self):
            raise AssertionError("not to be called")

    assert run(serve_call(Kubelet(), "logs", ("ns", "p"), {"tail": 1})) == ("logs", ("ns", "p"), {"tail": 1})
    with pytest.raises(api.InvalidArgument):
        run(serve_call(Kubelet(), "register", (), {}))


def test_a_process_cri_actor_keeps_host_local_reservations_on_disk(tmp_path):
    async def go() -> None:
        cri = CRIActor("n3", "process", root_dir=str(tmp_path), local=True)
        cri.images.bandwidth = 10 ** 12
        try:
            _, ip = await start_pod(cri, ["sleep", "3600"])
            store = tmp_path / "cni" / "networks" / "raykube"
            assert (store / ip).read_bytes().endswith(b"\r\neth0")
            assert (store / "last_reserved_ip.0").read_text() == ip
        finally:
            await cri.close()
        again = CRIActor("n3", "process", root_dir=str(tmp_path), local=True)   # its next life
        try:
            await again.UpdateRuntimeConfig("10.244.9.0/24")
            assert again.network.plugin.ipam.allocations() == {}              # the dead sandbox's address is back
        finally:
            await again.close()
    run(go(), timeout=60)
