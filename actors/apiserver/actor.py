"""The apiserver as a Ray actor: stateless, any number of replicas over one
raftstore; the only component that talks to raftstore.

Calls from in-cluster components arrive as ``request(...)`` and ``watch(...)``
(the Ray transport of the Kubernetes API, see transport.py); the HTTP
server decodes HTTP into the same calls. Concurrent writes share raftstore
proposals through the raftstore client's batching.
"""
from __future__ import annotations

import os
import time
from dataclasses import dataclass
from typing import Any

import ray

from raftstore.client import RaftStoreClient

from .server import APIServer

NAMESPACE = "raykube"


def apiserver_name(index: int) -> str:
    return f"apiserver-{index}"


@dataclass
class APIServerConfig:
    index: int
    etcd_cluster: str
    etcd_timeout: float = 10.0
    service_accounts: bool = False  # ServiceAccount admission lookup (with its controller)


class APIServerActor(APIServer):
    def __init__(self, cfg: APIServerConfig) -> None:
        self.cfg = cfg
        super().__init__(RaftStoreClient(cfg.etcd_cluster, timeout=cfg.etcd_timeout,
                                         client_id=f"apiserver-{cfg.index}-{os.urandom(4).hex()}"),
                         service_accounts=cfg.service_accounts)

    async def status(self) -> dict:
        return {"index": self.cfg.index, "etcd": self.cfg.etcd_cluster, "requests": self.requests,
                "pid": os.getpid(), "node_id": ray.get_runtime_context().get_node_id(),
                "uptime_s": round(time.monotonic() - self.started, 3)}


def apiserver_actor_class() -> Any:
    return ray.remote(num_cpus=0, max_restarts=-1, max_task_retries=0, max_concurrency=1000)(APIServerActor)


def start_apiservers(count: int, etcd_cluster: str, first_index: int = 1) -> list[Any]:
    """Start ``count`` detached apiserver replicas and wait until they answer."""
    handles = []
    for i in range(first_index, first_index + count):
        h = apiserver_actor_class().options(
            name=apiserver_name(i), namespace=NAMESPACE, lifetime="detached").remote(
            APIServerConfig(i, etcd_cluster))
        handles.append(h)
    ray.get([h.status.remote() for h in handles], timeout=60)
    return handles
