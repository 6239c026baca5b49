"""The apiserver as a Ray actor: stateless, any number of replicas over one
raftstore; the only component that talks to raftstore.

Calls from in-cluster components arrive as ``request(...)`` (the Ray
transport of the Kubernetes API); the HTTP server (next issue) decodes HTTP
into the same :class:`Request`. Concurrent writes share raftstore proposals
through the raftstore client's batching.
"""
from __future__ import annotations

import asyncio
import logging
import os
import time
from dataclasses import dataclass
from typing import Any

import ray

from kubeapi import errors
from kubeapi.registry import REGISTRY, Resource, by_plural
from kubeapi.selectors import SelectorError, parse_field_selector, parse_label_selector, validate_fields
from raftstore.client import RaftStoreClient
from raftstore.mvcc import CompactedError

from .handler import APIHandler, Request
from .storage import ObjectStore
from .watchcache import WatchCache

log = logging.getLogger("raykube.apiserver")

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
        self._caches: dict[str, tuple[WatchCache, asyncio.Event, asyncio.Task]] = {}
        # every stored resource's cache starts now, as upstream's do: a client
        # that lists and then watches finds the list's revision in the window
        for res in REGISTRY:
            if res.stored:
                self._cache(res)

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

    # ---------------------------------------------------------------- watch
    def _cache(self, res: Resource) -> tuple[WatchCache, asyncio.Event]:
        """The resource's watch cache, fed by one raftstore watch (started on first use)."""
        key = f"{res.group}/{res.plural}"
        entry = self._caches.get(key)
        if entry is None:
            cache, synced = WatchCache(res), asyncio.Event()
            task = asyncio.get_running_loop().create_task(self._feed(res, cache, synced))
            entry = self._caches[key] = (cache, synced, task)
        return entry[0], entry[1]

    async def _feed(self, res: Resource, cache: WatchCache, synced: asyncio.Event) -> None:
        prefix = res.list_prefix(None).encode()
        while True:
            try:
                listed = await self.store.list(res)
                rev = int(listed["metadata"]["resourceVersion"])
                cache.replace(listed["items"], rev)
                synced.set()
                async for batch in self.kv.watch(prefix, prefix=True, start_revision=rev + 1):
                    cache.apply(batch)
            except CompactedError:
                continue  # fell behind compaction: relist
            except Exception:
                log.exception("watch cache for %s: restarting its raftstore watch", res.plural)
                await asyncio.sleep(0.5)

    async def watch(self, group: str, version: str, resource: str, namespace: str | None = None,
                    resource_version: str = "0", label_selector: str | None = None,
                    field_selector: str | None = None, timeout: float = 5.0,
                    allow_bookmarks: bool = False) -> dict:
        """Long poll: ``{"events": [...]}`` after ``resource_version`` (ERROR
        410 Expired when it left the cache window), waiting up to ``timeout``.
        Resume with the last event's resourceVersion."""
        try:
            res = by_plural(group, version, resource)
            ls = parse_label_selector(label_selector) if label_selector else None
            fs = validate_fields(res.kind, parse_field_selector(field_selector)) if field_selector else None
        except LookupError:
            return {"code": 404, "body": errors.ApiError(
                404, "NotFound", "the server could not find the requested resource").status()}
        except SelectorError as e:
            return {"code": 400, "body": errors.bad_request(str(e)).status()}
        cache, synced = self._cache(res)
        try:
            await asyncio.wait_for(synced.wait(), timeout)
        except asyncio.TimeoutError:
            return {"code": 200, "events": []}
        w = cache.subscribe(namespace, ls, fs, resource_version, allow_bookmarks=allow_bookmarks)
        try:
            events = await w.next(timeout)
        finally:
            w.close()
        return {"code": 200, "events": events}

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
