"""The apiserver as a Ray actor: stateless, any number of replicas over one
raftstore; the only component that talks to raftstore.

Calls from in-cluster components arrive as ``request(...)`` (the Ray
transport of the Kubernetes API); the HTTP server (next issue) decodes HTTP
into the same :class:`Request`. Concurrent writes share raftstore proposals
through the raftstore client's batching.
"""
from __future__ import annotations

import os
import time
from dataclasses import dataclass
from typing import Any

import ray

from raftstore.client import RaftStoreClient

from .handler import APIHandler, Request
from .storage import ObjectStore

NAMESPACE = "raykube"


def apiserver_name(index: int) -> str:
    return f"apiserver-{index}"


@dataclass
class APIServerConfig:
    index: int
    etcd_cluster: str
    etcd_timeout: float = 10.0


class APIServer:
    def __init__(self, cfg: APIServerConfig) -> None:
        self.cfg = cfg
        self.kv = RaftStoreClient(cfg.etcd_cluster, timeout=cfg.etcd_timeout,
                                  client_id=f"apiserver-{cfg.index}-{os.urandom(4).hex()}")
        self.store = ObjectStore(self.kv)
        self.handler = APIHandler(self.store)
        self.started = time.monotonic()
        self.requests = 0

    async def request(self, verb: str, group: str, version: str, resource: str,
                      namespace: str | None = None, name: str | None = None,
                      subresource: str | None = None, body: Any = None,
                      patch_type: str | None = None, query: dict | None = None,
                      user: str = "system:anonymous") -> dict:
        """One API call: ``{"code", "body", "warnings"}`` (body is the object,
        list, or a ``Status`` on failure)."""
        self.requests += 1
        r = await self.handler.handle(Request(verb, group, version, resource, namespace, name,
                                              subresource, body, patch_type, dict(query or {}), user))
        return {"code": r.code, "body": r.body, "warnings": r.warnings}

    async def status(self) -> dict:
        return {"index": self.cfg.index, "etcd": self.cfg.etcd_cluster, "requests": self.requests,
                "pid": os.getpid(), "node_id": ray.get_runtime_context().get_node_id(),
                "uptime_s": round(time.monotonic() - self.started, 3)}


def apiserver_actor_class() -> Any:
    return ray.remote(num_cpus=0, max_restarts=-1, max_task_retries=0, max_concurrency=1000)(APIServer)


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
