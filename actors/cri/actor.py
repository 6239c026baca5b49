"""The CRI as an actor, one per node: a runtime (``process`` or ``sim``) and
its ImageStore behind the RuntimeService and ImageService calls, which the
node's kubelet makes through :class:`~actors.remote.RemoteProxy`.
``UpdateRuntimeConfig`` hands the runtime the node's pod CIDR, as the
kubelet does through the CRI upstream."""
from __future__ import annotations

import os
import shutil
import tempfile
from typing import Any

import ray

from ..kubelet.ipam import PodIPAM
from ..kubelet.kubelet import RealNetwork
from .images import ImageStore
from .process import ProcessRuntime
from .sim import SimRuntime

RUNTIME_CALLS = ("Version", "RunPodSandbox", "StopPodSandbox", "RemovePodSandbox", "PodSandboxStatus",
                 "ListPodSandbox", "CreateContainer", "StartContainer", "StopContainer", "RemoveContainer",
                 "ListContainers", "ContainerStatus", "ExecSync", "Exec", "ReopenContainerLog", "Status",
                 "read_log", "exec_stream", "exec_cancel")
IMAGE_CALLS = ("PullImage", "ListImages", "ImageStatus", "RemoveImage", "ImageFsInfo")
RUNTIMES = ("process", "sim")


def cri_name(node: str) -> str:
    return f"cri-{node}"


class CRIActor:
    def __init__(self, node: str, runtime: str = "process", root_dir: str = "") -> None:
        if runtime not in RUNTIMES:
            raise ValueError(f"unknown runtime {runtime!r}: one of {', '.join(RUNTIMES)}")
        self.node = node
        self.kind = runtime
        self.images = ImageStore()
        self.ipam = PodIPAM()
        self._own_root = False   # a directory made here is removed by close()
        if runtime == "process":
            self._own_root = not root_dir
            self.root_dir = root_dir or tempfile.mkdtemp(prefix=f"raykube-{node}-")
            os.makedirs(self.root_dir, exist_ok=True)
            self.runtime: Any = ProcessRuntime(self.images, self.root_dir, allocate_ip=self._loopback_ip,
                                               release_ip=self.ipam.release)
            self.network: Any = RealNetwork()
        else:
            self.root_dir = ""
            self.runtime = SimRuntime(self.images, allocate_ip=self.ipam.allocate, release_ip=self.ipam.release)
            self.network = self.runtime.network

    def _loopback_ip(self, owner: str) -> str:
        """A real process's pod address: its pod IP from the node's CIDR moved into
        127.0.0.0/8 (10.244.3.7 → 127.244.3.7), so the pods of every node on one
        machine get distinct addresses, hence port spaces of their own."""
        return "127." + self.ipam.allocate(owner).split(".", 1)[1]

    async def UpdateRuntimeConfig(self, pod_cidr: str) -> None:
        """The node's pod CIDR: pod IPs come from it (for real processes, moved
        into the loopback range: see ``_loopback_ip``)."""
        self.ipam.set_cidr(pod_cidr)

    async def network_request(self, src_ip: str, method: str, url: str, body: bytes = b"",
                              timeout: float = 10.0) -> tuple[int, bytes]:
        """An HTTP request to a pod of this node, from where its pods are reachable
        (the kubelet's httpGet probes): the sim runtime's in-process network, or
        the real one for real processes."""
        return await self.network.request(src_ip, method, url, body, timeout)

    async def network_connect(self, host: str, port: int, timeout: float = 10.0) -> None:
        """A TCP connect to a pod of this node (tcpSocket probes); raises OSError
        when nothing listens. The sim network speaks HTTP only: any answer counts."""
        connect = getattr(self.network, "connect", None)
        if connect is not None:
            await connect(host, port, timeout)
        else:
            await self.network.request(host, "GET", f"http://{host}:{port}/", b"", timeout)

    async def status(self) -> dict:
        return {"node": self.node, "runtime": self.kind, "node_id": ray.get_runtime_context().get_node_id(),
                "containers": len(await self.runtime.ListContainers()), "root_dir": self.root_dir}

    async def close(self) -> None:
        """Stop every container (and process), then remove the directory made for them."""
        await self.runtime.close()
        if self._own_root:
            shutil.rmtree(self.root_dir, ignore_errors=True)


def _delegate(target: str, name: str) -> Any:
    async def call(self: CRIActor, *args: Any, **kwargs: Any) -> Any:
        return await getattr(getattr(self, target), name)(*args, **kwargs)
    call.__name__ = name
    return call


for _name in RUNTIME_CALLS:
    setattr(CRIActor, _name, _delegate("runtime", _name))
for _name in IMAGE_CALLS:
    setattr(CRIActor, _name, _delegate("images", _name))
