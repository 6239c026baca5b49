"""How a controller finds the owner of what it controls (upstream's
``resolveControllerRef`` and ``getPodXs``), and the pod event handlers every
pod-owning workload controller (ReplicaSet, StatefulSet, DaemonSet) shares:
events of pods it controls wake their owner and settle its expectations;
events of orphans wake every owner whose selector matches, which may adopt
them."""
from __future__ import annotations

import asyncio
import time
from typing import Any, Callable

from kubeapi import errors
from kubeapi.informer import Indexer

from .base import Controller, Writer, by_namespace, labels_of, object_key, spec_selector, unwrap
from .expectations import Expectations
from .podutil import controller_ref, is_pod_ready, is_terminating


def resolve_controller_ref(namespace: str, ref: dict | None, kind: str, owners: Indexer) -> dict | None:
    """The ``kind`` a controller reference of ``namespace`` names, if ``owners`` holds it with the same uid."""
    if ref is None or ref.get("kind") != kind:
        return None
    owner = owners.get(f"{namespace}/{ref.get('name')}")
    if owner is None or owner["metadata"].get("uid") != ref.get("uid"):
        return None
    return owner


def controller_key(obj: dict, kind: str, owners: Indexer) -> str | None:
    """The key of the ``kind`` controlling ``obj``, if ``owners`` holds it with the same uid."""
    owner = resolve_controller_ref(obj["metadata"].get("namespace", ""), controller_ref(obj), kind, owners)
    return None if owner is None else object_key(owner)


def selecting(owners: Indexer, obj: dict) -> list[dict]:
    """The owners of ``obj``'s namespace whose selector matches it (who may adopt an orphan)."""
    out = []
    for owner in by_namespace(owners, obj["metadata"].get("namespace", "")):
        sel = spec_selector(owner)
        if sel is not None and sel.matches(labels_of(obj)):
            out.append(owner)
    return out


class PodOwnerController(Controller):
    """A controller of pods through controller ownerReferences to ``owner_kind``."""

    owner_kind = ""

    def __init__(self, owners: Indexer, pods: Indexer, client: Writer, *,
                 clock: Callable[[], float] = time.monotonic, wall: Callable[[], float] = time.time) -> None:
        super().__init__(clock=clock)
        self.owners = owners
        self.pods = pods
        self.client = client
        self.wall = wall
        self.expectations = Expectations(clock=clock)

    def owner_key(self, pod: dict) -> str | None:
        return controller_key(pod, self.owner_kind, self.owners)

    # ------------------------------------------------------------- owners
    def on_owner(self, owner: Any) -> None:
        self.enqueue(owner)

    def on_owner_update(self, old: Any, new: Any) -> None:
        self.enqueue(new)

    def on_owner_delete(self, owner: Any) -> None:
        key = object_key(owner)
        self.expectations.delete(key)  # a new owner of the same name starts clean
        self.enqueue(key)

    # --------------------------------------------------------------- pods
    def on_pod_add(self, pod: dict) -> None:
        if is_terminating(pod):
            self.on_pod_delete(pod)  # a restarted informer may see a pod already being deleted
            return
        key = self.owner_key(pod)
        if key is not None:
            self.expectations.creation_observed(key)
            self.enqueue(key)
        elif controller_ref(pod) is None:
            for owner in selecting(self.owners, pod):
                self.enqueue(owner)

    def on_pod_update(self, old: dict, new: dict) -> None:
        if (old.get("metadata") or {}).get("resourceVersion") == new["metadata"].get("resourceVersion"):
            return  # a resync: nothing changed
        if is_terminating(new) and not is_terminating(old):
            self.on_pod_delete(new)  # counts as deleted from here on
        old_key, new_key = self.owner_key(old), self.owner_key(new)
        if old_key is not None and old_key != new_key:
            self.enqueue(old_key)
        if new_key is not None:
            self.enqueue(new_key)
            owner = self.owners.get(new_key)
            min_ready = ((owner or {}).get("spec") or {}).get("minReadySeconds") or 0
            if min_ready and not is_pod_ready(old) and is_pod_ready(new):
                self.enqueue_after(new_key, min_ready + 1)  # it becomes available then
        elif controller_ref(new) is None and (labels_of(old) != labels_of(new) or controller_ref(old) is not None):
            for owner in selecting(self.owners, new):
                self.enqueue(owner)

    def on_pod_delete(self, pod: Any) -> None:
        pod = unwrap(pod)
        if not isinstance(pod, dict):
            return
        key = self.owner_key(pod)
        if key is not None:
            self.expectations.deletion_observed(key, object_key(pod))
            self.enqueue(key)

    # ------------------------------------------------------------- writes
    async def create_pod(self, pod: dict) -> None:
        """Create one pod; a namespace being deleted wants none, which is no failure."""
        try:
            await self.client.create(pod)
        except errors.ApiError as e:
            if not namespace_terminating(e):
                raise

    async def delete_pods(self, key: str, pods: list[dict]) -> Exception | None:
        """Delete ``pods`` at once (uid preconditions), the deletions already
        expected for ``key``; those that fail will never be observed. The first error."""
        async def delete(pod: dict) -> None:
            meta = pod["metadata"]
            try:
                await self.client.delete("pods", meta["name"], meta.get("namespace"),
                                         preconditions={"uid": meta.get("uid")})
            except errors.ApiError as e:
                self.expectations.deletion_observed(key, object_key(pod))
                if not (errors.is_not_found(e) or errors.is_conflict(e)):
                    raise
        results = await asyncio.gather(*(delete(p) for p in pods), return_exceptions=True)
        return next((r for r in results if isinstance(r, Exception)), None)


def namespace_terminating(e: errors.ApiError) -> bool:
    """Whether a create failed because its namespace is being deleted."""
    causes = ((e.status().get("details") or {}).get("causes") or [])
    return e.code == 403 and any(c.get("reason") == "NamespaceTerminating" for c in causes) or \
        "being terminated" in str(e)
