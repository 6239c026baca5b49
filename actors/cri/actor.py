"""The CRI as an actor, one per node: a runtime (``process`` or ``sim``) and
its ImageStore behind the RuntimeService and ImageService calls, which the
node's kubelet makes through :class:`~actors.remote.RemoteProxy`.
``UpdateRuntimeConfig`` hands the runtime the node's pod CIDR, as the
kubelet does through the CRI upstream.

The node's pod network lives here too (a netsim host with this one node):
the runtime wires sandboxes into it, the node's kube-proxy actor programs
its Service rules, other hosts deliver flows to its pods."""
from __future__ import annotations

import os
import shutil
import tempfile
from typing import Any

import ray

from netsim.host import Fabric, Host
from netsim.ipam import DirStore
from netsim.pods import PodNetwork
from netsim.realsockets import LoopbackSockets
from netsim.resolver import pod_resolver

from ..proxy.remote import NetworkHost, ray_links, ray_nameservers
from .images import ImageStore
from .process import ProcessRuntime
from .sim import SimRuntime

RUNTIME_CALLS = ("Version", "UpdateRuntimeConfig", "RunPodSandbox", "StopPodSandbox", "RemovePodSandbox", "PodSandboxStatus",
                 "ListPodSandbox", "CreateContainer", "StartContainer", "StopContainer", "RemoveContainer",
                 "ListContainers", "ContainerStatus", "ExecSync", "Exec", "ReopenContainerLog", "Status",
                 "read_log", "exec_stream", "exec_cancel")
IMAGE_CALLS = ("PullImage", "ListImages", "ImageStatus", "RemoveImage", "ImageFsInfo")
RUNTIMES = ("process", "sim")


def cri_name(node: str) -> str:
    return f"cri-{node}"


class CRIActor(NetworkHost):
    def __init__(self, node: str, runtime: str = "process", root_dir: str = "", *, local: bool = False) -> None:
        """``local``: no Ray around (tests): other hosts and the cluster DNS are not looked up."""
        if runtime not in RUNTIMES:
            raise ValueError(f"unknown runtime {runtime!r}: one of {', '.join(RUNTIMES)}")
        self.node = node
        self.kind = runtime
        self.images = ImageStore()
        self.host = Host(cri_name(node), Fabric(), links=None if local else ray_links(),
                         resolve=None if local else pod_resolver(ray_nameservers()))
        self.host.fabric.set_node(node, (), self.host)
        self._own_root = False   # a directory made here is removed by close()
        if runtime == "process":
            self._own_root = not root_dir
            self.root_dir = root_dir or tempfile.mkdtemp(prefix=f"raykube-{node}-")
            os.makedirs(self.root_dir, exist_ok=True)
            # host-local's reservations on disk, as /var/lib/cni/networks/<network> holds them
            store = DirStore(os.path.join(self.root_dir, "cni", "networks", "raykube"))
            self.network = PodNetwork(self.host, node, store=store, sockets=LoopbackSockets())
            self.runtime: Any = ProcessRuntime(self.images, self.root_dir, network=self.network)
        else:
            self.root_dir = ""
            self.network = PodNetwork(self.host, node)
            self.runtime = SimRuntime(self.images, network=self.network)

    async def network_request(self, src_ip: str, method: str, url: str, body: bytes = b"",
                              timeout: float = 10.0) -> tuple[int, bytes]:
        """An HTTP request through the node's pod network (the kubelet's httpGet
        probes, from the node itself when ``src_ip`` is no pod's)."""
        return await self.network.request(src_ip, method, url, body, timeout)

    async def network_connect(self, host: str, port: int, timeout: float = 10.0) -> None:
        """A TCP connect from the node (tcpSocket probes); OSError when refused or unreachable."""
        await self.network.connect(host, port, timeout)

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
