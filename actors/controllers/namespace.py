"""The namespace controller (upstream's ``pkg/controller/namespace``).

Deleting a Namespace only marks it (deletionTimestamp, phase Terminating)
while its ``spec.finalizers`` hold ``kubernetes``. This controller then
empties it: every namespaced kind is deleted by collection, and what is
still there (pods in their grace period, objects with finalizers) is looked
at again later. Once nothing is left it removes ``kubernetes`` through
``namespaces/finalize`` and deletes the namespace for good. The status
conditions say why a namespace is still Terminating, as upstream's do.
"""
from __future__ import annotations

import logging
import time
from typing import Any, Callable, Protocol

from kubeapi import errors
from kubeapi.informer import Indexer
from kubeapi.models.base import format_time
from kubeapi.registry import REGISTRY, Resource

from .base import Controller, Writer, object_key
from .podutil import is_terminating

log = logging.getLogger("raykube.controllers")

FINALIZER = "kubernetes"
RECHECK_SECONDS = 2.0  # how soon to look again at content still going away

# what a namespace holds: every stored namespaced kind that can be deleted
NAMESPACED = tuple(r for r in REGISTRY if r.stored and r.namespaced and "delete" in r.verbs)

CONTENT_REMAINING = "NamespaceContentRemaining"
FINALIZERS_REMAINING = "NamespaceFinalizersRemaining"
CONTENT_FAILURE = "NamespaceDeletionContentFailure"
CONDITION_TYPES = (CONTENT_FAILURE, CONTENT_REMAINING, FINALIZERS_REMAINING)


class NamespaceWriter(Writer, Protocol):
    async def list(self, resource: Any, namespace: str | None = None, **kw: Any) -> dict: ...

    async def delete_collection(self, resource: Any, namespace: str | None = None, **kw: Any) -> dict: ...


class NamespaceController(Controller):
    name = "namespace"

    def __init__(self, namespaces: Indexer, client: NamespaceWriter, *, recheck: float = RECHECK_SECONDS,
                 resources: tuple[Resource, ...] = NAMESPACED,
                 clock: Callable[[], float] = time.monotonic, wall: Callable[[], float] = time.time) -> None:
        super().__init__(clock=clock)
        self.namespaces = namespaces
        self.client = client
        self.recheck = recheck
        self.resources = resources
        self.wall = wall

    def on_namespace(self, ns: Any) -> None:
        if isinstance(ns, dict) and is_terminating(ns):
            self.enqueue(ns)

    def on_namespace_update(self, old: Any, new: Any) -> None:
        self.on_namespace(new)

    def on_namespace_delete(self, ns: Any) -> None:
        self.queue.forget(object_key(ns))

    async def sync(self, key: str) -> None:
        ns = self.namespaces.get(key)
        if ns is None or not is_terminating(ns):
            return
        if FINALIZER in ((ns.get("spec") or {}).get("finalizers") or ()):
            remaining, finalizers, failures = await self._empty(key)
            await self._set_conditions(ns, remaining, finalizers, failures)
            if remaining or failures:
                self.enqueue_after(key, self.recheck)
                return
            await self._finalize(ns)
        try:
            await self.client.delete("namespaces", key, preconditions={"uid": ns["metadata"].get("uid")})
        except errors.ApiError as e:
            if not (errors.is_not_found(e) or errors.is_conflict(e)):
                raise

    async def _empty(self, namespace: str) -> tuple[dict[str, int], dict[str, int], list[str]]:
        """Delete everything in ``namespace``: what is left per resource, the
        finalizers holding it, and the errors met."""
        remaining: dict[str, int] = {}
        finalizers: dict[str, int] = {}
        failures: list[str] = []
        for res in self.resources:
            try:
                if "deletecollection" in res.verbs:
                    await self.client.delete_collection(res, namespace)
                left = (await self.client.list(res, namespace))["items"]
                for obj in left:
                    if not is_terminating(obj):  # created meanwhile, or no collection delete
                        await self.client.delete(res, obj["metadata"]["name"], namespace)
            except errors.ApiError as e:
                if errors.is_not_found(e):
                    continue
                failures.append(f"{res.plural}: {e}")
                continue
            if left:
                remaining[_resource_name(res)] = len(left)
                for obj in left:
                    for f in obj["metadata"].get("finalizers") or ():
                        finalizers[f] = finalizers.get(f, 0) + 1
        return remaining, finalizers, failures

    async def _set_conditions(self, ns: dict, remaining: dict[str, int], finalizers: dict[str, int],
                              failures: list[str]) -> None:
        now = format_time(self.wall())
        status = ns.get("status") or {}
        old = {c.get("type"): c for c in status.get("conditions") or ()}
        wanted = {
            CONTENT_FAILURE: ("ContentDeletionFailed", "; ".join(failures)) if failures
            else ("ContentDeleted", "All content successfully deleted, may be waiting on finalization"),
            CONTENT_REMAINING: ("SomeResourcesRemain", "Some resources are remaining: " + ", ".join(
                f"{r} has {n} resource instances" for r, n in sorted(remaining.items()))) if remaining
            else ("ContentRemoved", "All content successfully removed"),
            FINALIZERS_REMAINING: ("SomeFinalizersRemain", "Some content in the namespace has finalizers "
                                   "remaining: " + ", ".join(f"{f} in {n} resource instances"
                                                            for f, n in sorted(finalizers.items())))
            if finalizers else ("ContentHasNoFinalizers", "All content-preserving finalizers finished"),
        }
        conditions = [c for c in status.get("conditions") or () if c.get("type") not in CONDITION_TYPES]
        for ctype in CONDITION_TYPES:
            reason, message = wanted[ctype]
            truth = "True" if reason in ("ContentDeletionFailed", "SomeResourcesRemain",
                                         "SomeFinalizersRemain") else "False"
            prev = old.get(ctype) or {}
            since = prev.get("lastTransitionTime") if prev.get("status") == truth else now
            conditions.append({"type": ctype, "status": truth, "reason": reason, "message": message,
                               "lastTransitionTime": since})
        if conditions == status.get("conditions") and status.get("phase") == "Terminating":
            return
        try:
            await self.client.update_status(dict(ns, status=dict(status, phase="Terminating",
                                                                 conditions=conditions)))
        except errors.ApiError as e:
            if not (errors.is_not_found(e) or errors.is_conflict(e)):
                raise

    async def _finalize(self, ns: dict) -> None:
        spec = ns.get("spec") or {}
        meta = {k: v for k, v in ns["metadata"].items() if k != "resourceVersion"}  # only ours change
        done = dict(ns, metadata=meta,
                    spec=dict(spec, finalizers=[f for f in spec.get("finalizers") or () if f != FINALIZER]))
        await self.client.update(done, subresource="finalize")


def _resource_name(res: Resource) -> str:
    return f"{res.plural}.{res.group}" if res.group else res.plural
