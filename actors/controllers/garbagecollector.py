"""The garbage collector (upstream's ``pkg/controller/garbagecollector``).

It keeps a graph of ownerReferences over every watched object (uid -> the
object; owner uid -> its dependents) and reconciles two kinds of keys:

* a **dependent** (``dep:<uid>``): each owner it names is looked up — in the
  graph, and when absent there, with a live read (a watch may lag), the uid
  compared. All owners gone: the dependent is deleted (Background; Foreground
  when an owner it blocks is itself waiting in the foreground). Some gone:
  the dangling references are removed. An owner deleting in the foreground
  takes its blocking dependents with it (Foreground).
* an **owner being deleted** (``own:<uid>``) with a GC finalizer:
  ``orphan`` — its references are removed from every dependent, then the
  finalizer; ``foregroundDeletion`` — its dependents are deleted, and the
  finalizer removed once none that blocks it is left (the apiserver then
  deletes the owner).

A restarted collector rebuilds the graph from its informers' lists, so
dependents of owners deleted while it was down are found all the same.
"""
from __future__ import annotations

import time
from typing import Any, Callable

from kubeapi import errors
from kubeapi.registry import Resource, by_kind

from .base import Controller, Writer, unwrap

FOREGROUND = "foregroundDeletion"
ORPHAN = "orphan"


def _resource_of(ref_or_obj: dict) -> Resource | None:
    api_version = ref_or_obj.get("apiVersion") or ""
    group, _, version = api_version.rpartition("/")
    try:
        return by_kind(group, version, ref_or_obj.get("kind") or "")
    except LookupError:
        return None


class GarbageCollector(Controller):
    name = "garbagecollector"

    def __init__(self, client: Writer, *, clock: Callable[[], float] = time.monotonic) -> None:
        super().__init__(clock=clock)
        self.client = client
        self.objects: dict[str, dict] = {}  # uid -> object
        self.dependents: dict[str, set[str]] = {}  # owner uid -> dependent uids

    # ---------------------------------------------------------------- graph
    def on_add(self, obj: Any) -> None:
        obj, uid = _with_uid(obj)
        if not uid:
            return
        old = self.objects.get(uid)
        self.objects[uid] = obj
        old_owners = {r.get("uid") for r in _refs(old)} if old is not None else set()
        new_owners = {r.get("uid") for r in _refs(obj)}
        for o in old_owners - new_owners:
            self.dependents.get(o, set()).discard(uid)
        for o in new_owners:
            self.dependents.setdefault(o, set()).add(uid)
        if new_owners:
            self.enqueue(f"dep:{uid}")
        meta = obj["metadata"]
        if meta.get("deletionTimestamp") and {FOREGROUND, ORPHAN} & set(meta.get("finalizers") or ()):
            self.enqueue(f"own:{uid}")

    def on_update(self, old: Any, new: Any) -> None:
        self.on_add(new)

    def on_delete(self, obj: Any) -> None:
        obj, uid = _with_uid(obj)
        if not uid:
            return
        self.objects.pop(uid, None)
        for r in _refs(obj):
            self.dependents.get(r.get("uid"), set()).discard(uid)
        for dep in self.dependents.get(uid, ()):  # its dependents lost an owner
            self.enqueue(f"dep:{dep}")
        for owner_uid in {r.get("uid") for r in _refs(obj)}:
            owner = self.objects.get(owner_uid)  # a foreground owner may be waiting for this one
            if owner is not None and FOREGROUND in (owner["metadata"].get("finalizers") or ()):
                self.enqueue(f"own:{owner_uid}")
        if not self.dependents.get(uid):
            self.dependents.pop(uid, None)

    # ----------------------------------------------------------------- sync
    async def sync(self, key: str) -> None:
        kind, _, uid = key.partition(":")
        obj = self.objects.get(uid)
        if obj is None:
            return
        if kind == "dep":
            await self._sync_dependent(obj)
        else:
            await self._sync_owner(obj)

    async def _owner_state(self, dependent: dict, ref: dict) -> str:
        """``live``, ``foreground`` (being deleted, waiting for dependents) or ``gone``."""
        owner = self.objects.get(ref.get("uid") or "")
        if owner is None:
            res = _resource_of(ref)
            if res is None:
                return "live"  # a kind this server does not know: leave the reference be
            ns = dependent["metadata"].get("namespace") if res.namespaced else None
            try:
                owner = await self.client.get(res, ref.get("name") or "", ns)
            except errors.ApiError as e:
                if errors.is_not_found(e):
                    return "gone"
                raise
            if owner["metadata"].get("uid") != ref.get("uid"):
                return "gone"  # another object of the same name
        meta = owner["metadata"]
        if meta.get("deletionTimestamp") and FOREGROUND in (meta.get("finalizers") or ()):
            return "foreground"
        return "live"

    async def _sync_dependent(self, obj: dict) -> None:
        refs = _refs(obj)
        if not refs or obj["metadata"].get("deletionTimestamp"):
            return
        states = [(r, await self._owner_state(obj, r)) for r in refs]
        gone = [r for r, st in states if st == "gone"]
        foreground = [r for r, st in states if st == "foreground"]
        live = [r for r, st in states if st == "live"]
        if not live and not foreground:
            await self._delete(obj, "Background")
        elif not live and any(r.get("blockOwnerDeletion") for r in foreground):
            await self._delete(obj, "Foreground")
        elif gone:
            await self._remove_refs(obj, {r.get("uid") for r in gone})

    async def _sync_owner(self, owner: dict) -> None:
        meta = owner["metadata"]
        if not meta.get("deletionTimestamp"):
            return
        finalizers = meta.get("finalizers") or []
        uid = meta["uid"]
        deps = [self.objects[d] for d in self.dependents.get(uid, ()) if d in self.objects]
        if ORPHAN in finalizers:
            for dep in deps:
                await self._remove_refs(dep, {uid})
            await self._remove_finalizer(owner, ORPHAN)
        elif FOREGROUND in finalizers:
            blocking = [d for d in deps if any(r.get("uid") == uid and r.get("blockOwnerDeletion")
                                               for r in _refs(d))]
            for dep in deps:
                if not dep["metadata"].get("deletionTimestamp"):
                    await self._delete(dep, "Foreground")
            if not blocking:
                await self._remove_finalizer(owner, FOREGROUND)

    # --------------------------------------------------------------- writes
    async def _delete(self, obj: dict, policy: str) -> None:
        res = _resource_of(obj)
        if res is None:
            return
        meta = obj["metadata"]
        try:
            await self.client.delete(res, meta["name"], meta.get("namespace") if res.namespaced else None,
                                     propagation_policy=policy, preconditions={"uid": meta["uid"]})
        except errors.ApiError as e:
            if not (errors.is_not_found(e) or errors.is_conflict(e)):
                raise

    async def _json_patch(self, obj: dict, ops: list[dict]) -> None:
        res = _resource_of(obj)
        if res is None:
            return
        meta = obj["metadata"]
        try:
            await self.client.patch(res, meta["name"], [{"op": "test", "path": "/metadata/uid", "value": meta["uid"]},
                                                        *ops],
                                    meta.get("namespace") if res.namespaced else None, patch_type="json")
        except errors.ApiError as e:
            if not (errors.is_not_found(e) or e.code == 422):
                raise

    async def _remove_refs(self, obj: dict, uids: set[str]) -> None:
        refs = _refs(obj)
        keep = [r for r in refs if r.get("uid") not in uids]
        if len(keep) == len(refs):
            return
        await self._json_patch(obj, [{"op": "test", "path": "/metadata/ownerReferences", "value": refs},
                                     {"op": "replace", "path": "/metadata/ownerReferences", "value": keep}])

    async def _remove_finalizer(self, obj: dict, finalizer: str) -> None:
        fins = obj["metadata"].get("finalizers") or []
        if finalizer not in fins:
            return
        await self._json_patch(obj, [{"op": "test", "path": "/metadata/finalizers", "value": fins},
                                     {"op": "replace", "path": "/metadata/finalizers",
                                      "value": [f for f in fins if f != finalizer]}])


def _with_uid(obj: Any) -> tuple[dict, str]:
    """The object behind a tombstone and its uid ("" when there is none)."""
    obj = unwrap(obj)
    if not isinstance(obj, dict):
        return {}, ""
    return obj, (obj.get("metadata") or {}).get("uid") or ""


def _refs(obj: dict | None) -> list[dict]:
    return list(((obj or {}).get("metadata") or {}).get("ownerReferences") or ())
