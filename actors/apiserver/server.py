"""The apiserver, transport-free: requests through the handler pipeline,
lists at resourceVersion "0" and watches from per-resource watch caches,
all fed by one raftstore watch on the registry.

The Ray actor (actor.py) wraps it over the raftstore client; tests and
simulations run it in-process over a LocalKV.
"""
from __future__ import annotations

import asyncio
import copy
import logging
import time
from typing import Any, AsyncIterator, Protocol

from kubeapi import errors
from kubeapi.registry import REGISTRY, Resource, by_plural
from kubeapi.selectors import SelectorError, parse_field_selector, parse_label_selector, validate_fields
from kubeapi.validation_apps import SYSTEM_PRIORITY_CLASSES
from raftstore.mvcc import CompactedError

from .allocators import DEFAULT_NODE_PORT_RANGE, DEFAULT_SERVICE_CIDR
from .auth import CLUSTER_ADMIN, Authorizer, UserInfo
from . import serviceaccounts
from .handler import APIHandler, Request
from .satoken import TokenSigner, new_signing_key
from .storage import KV, ObjectStore
from .watchcache import WatchCache, Watcher, parse_resource_version

log = logging.getLogger("raykube.apiserver")


SYSTEM_NAMESPACES = ("default", "kube-system", "kube-public", "kube-node-lease")
REGISTRY_PREFIX = b"/registry/"


class WatchableKV(KV, Protocol):
    def watch(self, key: bytes, range_end: bytes | None = None, *, prefix: bool = False,
              start_revision: int = 0) -> AsyncIterator[list[dict]]: ...


class APIServer:
    """One apiserver: the request pipeline plus a watch cache per resource.

    Must be built inside a running event loop (the caches start feeding at
    once, as upstream's do, so a client that lists and then watches finds
    the list's revision in the window)."""

    def __init__(self, kv: WatchableKV, *, service_accounts: bool = False,
                 cache_capacity: int = 1000, authorization_mode: str = "Default",
                 sa_signing_key: bytes | None = None, kubelets: Any = None,
                 service_cidr: str = DEFAULT_SERVICE_CIDR,
                 node_port_range: tuple[int, int] = DEFAULT_NODE_PORT_RANGE) -> None:
        self.cache_capacity = cache_capacity
        self.kv = kv
        self.store = ObjectStore(kv)
        self.authorizer = Authorizer(authorization_mode)
        self.handler = APIHandler(self.store, lambda r: self.authorizer.allow(UserInfo(r.user, r.groups)),
                                  service_accounts=service_accounts, cache=self,
                                  signer=TokenSigner(sa_signing_key or new_signing_key()), kubelets=kubelets,
                                  service_cidr=service_cidr, node_port_range=node_port_range)
        self.started = time.monotonic()
        self.requests = 0
        self._resources = [res for res in REGISTRY if res.stored]
        self._caches = {res.storage_prefix: WatchCache(res, cache_capacity) for res in self._resources}
        self._routes = {p.encode(): c for p, c in self._caches.items()}
        self._synced = asyncio.Event()
        self._feeder = asyncio.get_running_loop().create_task(self._feed())

    async def request(self, verb: str, group: str, version: str, resource: str,
                      namespace: str | None = None, name: str | None = None,
                      subresource: str | None = None, body: Any = None,
                      patch_type: str | None = None, query: dict | None = None,
                      user: str = CLUSTER_ADMIN.name,
                      groups: tuple[str, ...] = CLUSTER_ADMIN.groups) -> dict:
        """One API call: ``{"code", "body", "warnings"}`` (body is the object,
        list, or a ``Status`` on failure). Ray callers are trusted to name
        themselves (see auth.py)."""
        self.requests += 1
        r = await self.handler.handle(Request(verb, group, version, resource, namespace, name,
                                              subresource, body, patch_type, dict(query or {}), user,
                                              tuple(groups)))
        return {"code": r.code, "body": r.body, "warnings": r.warnings}

    # ---------------------------------------------------------------- caches
    def _cache(self, res: Resource) -> WatchCache:
        return self._caches[res.storage_prefix]

    def cached_list(self, res: Resource, namespace: str | None, ls: Any, fs: Any
                    ) -> tuple[list[dict], int] | None:
        """The handler's reads "at any revision": None until the caches synced."""
        return self._cache(res).list(namespace, ls, fs) if self._synced.is_set() else None

    def cached_get(self, res: Resource, namespace: str | None, name: str) -> dict | None:
        return self._cache(res).get(namespace, name) if self._synced.is_set() else None

    async def _feed(self) -> None:
        """Keep every watch cache current from one raftstore watch on the
        whole registry: each resource listed at one revision, then every
        change after it routed to its resource's cache. One watch, not one
        per resource: raftstore wakes one long poll per applied batch."""
        while True:
            try:
                rev = 0
                for res in self._resources:
                    listed = await self.store.list(res, resource_version=str(rev) if rev else None)
                    rev = rev or int(listed["metadata"]["resourceVersion"])
                    self._caches[res.storage_prefix].replace(listed["items"], rev)
                self._synced.set()
                async for batch in self.kv.watch(REGISTRY_PREFIX, prefix=True, start_revision=rev + 1):
                    self._route(batch)
            except CompactedError:
                continue  # fell behind compaction: relist
            except Exception:
                log.exception("watch caches: restarting their raftstore watch")
                await asyncio.sleep(0.5)

    def _route(self, batch: list[dict]) -> None:
        """Each event to the cache of its key's resource (in revision order)."""
        by_cache: dict[int, tuple[WatchCache, list[dict]]] = {}
        routes = self._routes
        for ev in batch:
            key = ev["kv"]["key"]
            if isinstance(key, str):
                key = key.encode()
            parts = key.split(b"/", 4)  # b"", b"registry", resource, (sub)resource or ns, rest
            cache = routes.get(b"/".join(parts[:4])) or routes.get(b"/".join(parts[:3]))
            if cache is not None:
                by_cache.setdefault(id(cache), (cache, []))[1].append(ev)
        for cache, events in by_cache.values():
            cache.apply(events)

    async def open_watch(self, group: str, version: str, resource: str, namespace: str | None,
                         resource_version: str | None, label_selector: str | None,
                         field_selector: str | None, allow_bookmarks: bool, sync_timeout: float,
                         user: UserInfo = CLUSTER_ADMIN) -> tuple[WatchCache, Watcher, int] | None:
        """Authorize, parse and subscribe: the cache, a live watcher and the
        revision it starts after; None if the cache did not sync in time.
        Bad input raises ApiError."""
        try:
            res = by_plural(group, version, resource)
        except LookupError:
            raise errors.ApiError(404, "NotFound", "the server could not find the requested resource") from None
        if "watch" not in res.verbs:
            raise errors.method_not_supported(res.plural, "watch", res.group)
        if not self.authorizer.allow(user):
            raise errors.forbidden_access(user.name, "watch", res.plural, res.group, namespace or "")
        try:
            ls = parse_label_selector(label_selector) if label_selector else None
            fs = validate_fields(res.kind, parse_field_selector(field_selector)) if field_selector else None
        except SelectorError as e:
            raise errors.bad_request(str(e)) from None
        start = parse_resource_version(resource_version)
        cache = self._cache(res)
        try:
            await asyncio.wait_for(self._synced.wait(), sync_timeout)
        except asyncio.TimeoutError:
            return None
        return cache, cache.subscribe(namespace, ls, fs, resource_version,
                                      allow_bookmarks=allow_bookmarks), start

    async def watch(self, group: str, version: str, resource: str, namespace: str | None = None,
                    resource_version: str = "0", label_selector: str | None = None,
                    field_selector: str | None = None, timeout: float = 5.0,
                    allow_bookmarks: bool = False, user: str = CLUSTER_ADMIN.name,
                    groups: tuple[str, ...] = CLUSTER_ADMIN.groups) -> dict:
        """Long poll: ``{"events": [...], "resourceVersion": cursor}`` after
        ``resource_version`` (an ERROR 410 Expired event when it left the cache
        window), waiting up to ``timeout`` for at least one event.

        Resume with ``cursor``: the revision through which this watch has seen
        everything, so an empty poll still moves on (and "0"'s initial state
        is never sent twice). With ``allow_bookmarks`` an empty poll that
        moved on carries a BOOKMARK at the cursor."""
        try:
            opened = await self.open_watch(group, version, resource, namespace, resource_version,
                                           label_selector, field_selector, allow_bookmarks, timeout,
                                           UserInfo(user, tuple(groups)))
        except errors.ApiError as e:
            return {"code": e.code, "body": e.status()}
        if opened is None:
            return {"code": 200, "events": [], "resourceVersion": str(resource_version or "0")}
        cache, w, start = opened
        try:
            events = await w.next(timeout)
            cursor = watch_cursor(cache, w, start, events)
        finally:
            w.close()
        if allow_bookmarks and not events and cursor > start:
            events = [cache.bookmark_event(cursor)]
        return {"code": 200, "events": events, "resourceVersion": str(cursor)}

    async def authenticate_service_account(self, token: str) -> UserInfo | None:
        """The service account a bearer token of this cluster's speaks for, if still valid."""
        return await serviceaccounts.authenticate(self.handler.signer, self.handler.lookup, token, time.time())

    async def ensure_system_objects(self, retry: float = 0.5) -> None:
        """What upstream's apiserver creates at start, if missing: the namespaces
        default, kube-system, kube-public and kube-node-lease, then the system
        PriorityClasses (retrying each until raftstore answers)."""
        wanted = [("", "namespaces", {"metadata": {"name": ns}}) for ns in SYSTEM_NAMESPACES] + \
            [("scheduling.k8s.io", "priorityclasses", pc) for pc in SYSTEM_PRIORITY_CLASSES]
        for group, resource, body in wanted:
            while True:
                r = await self.request("create", group, "v1", resource, body=copy.deepcopy(body))
                if r["code"] in (201, 409):
                    break
                log.warning("creating %s %s: %s", resource, body["metadata"]["name"], r["body"].get("message"))
                await asyncio.sleep(retry)

    async def etcd_ok(self, timeout: float = 2.0) -> bool:
        """Whether raftstore answers a read now (the readyz ``etcd`` check)."""
        try:
            await asyncio.wait_for(self.kv.range(b"/registry/health"), timeout)
            return True
        except Exception:  # noqa: BLE001 - any failure is "not ready"
            return False

    def caches_synced(self) -> bool:
        return self._synced.is_set()

    async def close(self) -> None:
        """Stop feeding the caches."""
        self._feeder.cancel()
        await asyncio.gather(self._feeder, return_exceptions=True)


def watch_cursor(cache: WatchCache, w: Watcher, start: int, events: list[dict]) -> int:
    """The revision through which watcher ``w`` has been told everything,
    right after ``events`` were taken from it (no await in between)."""
    if w.closed:  # failed, or the cache re-listed under it: only what it sent is certain
        return max([start] + [int(e["object"]["metadata"].get("resourceVersion") or 0)
                              for e in events if e["type"] != "ERROR"])
    return max(start, cache.revision)  # everything up to here was offered to it


class LocalTransport:
    """:class:`kubeapi.client.Transport` straight into an in-process :class:`APIServer`."""

    def __init__(self, server: APIServer) -> None:
        self.server = server

    async def request(self, verb: str, group: str, version: str, resource: str,
                      namespace: str | None = None, name: str | None = None,
                      subresource: str | None = None, body: Any = None,
                      patch_type: str | None = None, query: dict | None = None) -> dict:
        return await self.server.request(verb, group, version, resource, namespace, name,
                                         subresource, body, patch_type, query)

    async def watch(self, group: str, version: str, resource: str, namespace: str | None,
                    resource_version: str, label_selector: str | None,
                    field_selector: str | None, timeout: float, allow_bookmarks: bool) -> dict:
        return await self.server.watch(group, version, resource, namespace, resource_version,
                                       label_selector, field_selector, timeout, allow_bookmarks)
