"""The apiserver's storage layer: Kubernetes objects in raftstore.

Objects live at the registry's keys (``/registry/pods/<ns>/<name>``) as JSON;
an object's resourceVersion is the raftstore mod revision of its key and is
never stored inside it. Create, update and delete are single raftstore
transactions that compare the key's revision, so concurrent writers get 409
AlreadyExists / Conflict instead of lost updates. Pure over a small async KV
interface: the Ray apiserver passes a RaftStoreClient, tests a LocalKV.
"""
from __future__ import annotations

import asyncio
import base64
import json
import random
import time
import uuid
from typing import Any, AsyncIterator, Callable, Protocol

from kubeapi import errors, field
from kubeapi.models.base import format_time
from kubeapi.names import generate_name
from kubeapi.registry import Resource
from kubeapi.selectors import FieldSelector, LabelSelector, object_fields
from raftstore.mvcc import CompactedError, MVCCStore, prefix_end

from .allocators import Claims, ClaimTaken, claim_keys, claim_value


class KV(Protocol):
    """The part of the raftstore client the storage layer uses."""

    async def range(self, key: bytes, range_end: bytes | None = None, *, revision: int = 0,
                    limit: int = 0, serializable: bool = False) -> dict: ...

    async def txn(self, compare: list[dict], success: list[dict],
                  failure: list[dict] | None = None) -> dict: ...


class LocalKV:
    """A KV on an in-process MVCCStore (tests and the simulator), with
    raftstore's watch: batches of events from a revision on."""

    def __init__(self, store: MVCCStore | None = None) -> None:
        self.store = store or MVCCStore()
        self._changed = asyncio.Event()

    async def watch(self, key: bytes, range_end: bytes | None = None, *, prefix: bool = False,
                    start_revision: int = 0) -> AsyncIterator[list[dict]]:
        if prefix:
            range_end = prefix_end(key)
        nxt = start_revision or self.store.revision + 1
        while True:
            self._changed.clear()
            events, nxt = self.store.watch_events(key, range_end, nxt)
            if events:
                yield events
            else:
                await self._changed.wait()

    async def range(self, key: bytes, range_end: bytes | None = None, *, revision: int = 0,
                    limit: int = 0, serializable: bool = False) -> dict:
        res = self.store.range(key, range_end, revision=revision, limit=limit)
        err = res.get("error")
        if err is not None:
            if err["code"] == "compacted":
                raise CompactedError(err["compact_revision"])
            raise RuntimeError(err)
        return res

    async def txn(self, compare: list[dict], success: list[dict],
                  failure: list[dict] | None = None) -> dict:
        res = self.store.txn(compare, success, failure or [])
        self._changed.set()
        if "error" in res:
            raise RuntimeError(res["error"])
        return res


def _encode(obj: dict) -> bytes:
    meta = obj.get("metadata") or {}
    if "resourceVersion" in meta:
        obj = dict(obj, metadata={k: v for k, v in meta.items() if k != "resourceVersion"})
    return json.dumps(obj, separators=(",", ":"), sort_keys=True).encode()


def _decode(kv: dict) -> dict:
    obj = json.loads(kv["value"])
    obj.setdefault("metadata", {})["resourceVersion"] = str(kv["mod_revision"])
    return obj


def _claim_ops(claims: Claims | None, obj: dict) -> tuple[list[dict], list[dict], list[dict]]:
    """A write's claims as txn parts: compares that each new claim key does
    not exist yet, the ops that create them (owned by ``obj``) and delete the
    released ones, and reads of the new keys for a failed txn to tell which
    was taken."""
    if claims is None:
        return [], [], []
    keys = [k.encode() for k in claims.create]
    value = claim_value(obj)
    return ([{"key": k, "target": "version", "result": "=", "value": 0} for k in keys],
            [{"op": "put", "key": k, "value": value} for k in keys] +
            [{"op": "delete_range", "key": k.encode()} for k in claims.delete],
            [{"op": "range", "key": k} for k in keys])


def _taken_claim(claims: Claims, reads: list[dict]) -> ClaimTaken:
    """The claim a failed txn found taken, from its failure reads."""
    for key, got in zip(claims.create, reads):
        if got["kvs"]:
            return ClaimTaken(key)
    return ClaimTaken(claims.create[0] if claims.create else "")


def _release_ops(res: Resource, obj: dict) -> list[dict]:
    """Deleting ``obj`` for good releases the range values it holds."""
    return [{"op": "delete_range", "key": k.encode()} for k in claim_keys(res.kind, obj)]


def _continue_token(revision: int, next_key: bytes) -> str:
    raw = json.dumps({"v": "meta.k8s.io/v1", "rv": revision,
                      "start": base64.b64encode(next_key).decode()}).encode()
    return base64.urlsafe_b64encode(raw).decode()


def _parse_continue(token: str, prefix: bytes) -> tuple[int, bytes]:
    try:
        d = json.loads(base64.urlsafe_b64decode(token.encode()))
        rev, start = int(d["rv"]), base64.b64decode(d["start"])
    except (ValueError, KeyError, TypeError):
        raise errors.bad_request("continue key is not valid: illegal base64 data or JSON") from None
    if not start.startswith(prefix) or rev <= 0:
        raise errors.bad_request("continue key is not valid: incorrect encoded start key")
    return rev, start


class ObjectStore:
    """CRUD of one kind of object in raftstore, with Kubernetes semantics."""

    def __init__(self, kv: KV, *, clock: Callable[[], float] | None = None,
                 rng: random.Random | None = None) -> None:
        self.kv = kv
        self.clock = clock or time.time
        self.rng = rng or random.Random()

    def now(self) -> str:
        """The store clock's time as objects carry it (``metav1.Time``)."""
        return format_time(self.clock())

    # ------------------------------------------------------------------ read
    async def get(self, res: Resource, namespace: str | None, name: str) -> dict:
        got = await self.kv.range(res.key(namespace, name).encode())
        if not got["kvs"]:
            raise errors.not_found(res.plural, name, res.group)
        return _decode(got["kvs"][0])

    async def list(self, res: Resource, namespace: str | None = None, *,
                   label_selector: LabelSelector | None = None,
                   field_selector: FieldSelector | None = None,
                   limit: int = 0, continue_token: str | None = None,
                   resource_version: str | None = None) -> dict:
        """A ``<Kind>List``: all objects at one revision, filtered, paged by
        ``limit`` with an opaque continue token (the same revision for every page)."""
        prefix = res.list_prefix(namespace).encode()
        end = prefix_end(prefix)
        start, revision = prefix, 0
        if continue_token:
            revision, start = _parse_continue(continue_token, prefix)
        elif resource_version not in (None, "", "0"):
            try:
                revision = int(resource_version)
            except ValueError:
                raise errors.bad_request(f"invalid resource version: {resource_version!r}") from None
        items: list[dict] = []
        page = max(limit, 100) if limit else 0
        next_key: bytes | None = None
        while True:
            try:
                got = await self.kv.range(start, end, revision=revision, limit=page,
                                          serializable=resource_version == "0")
            except CompactedError as e:
                raise errors.expired(f"The provided continue parameter is too old to display a "
                                     f"consistent list result. You can start a new list without "
                                     f"the continue parameter. (compacted to {e.compact_revision})"
                                     if continue_token else
                                     f"too old resource version: {revision} ({e.compact_revision})") from None
            revision = revision or got["revision"]
            kvs = got["kvs"]
            for i, kv in enumerate(kvs):
                obj = _decode(kv)
                if self._matches(res, obj, label_selector, field_selector):
                    items.append(obj)
                    if limit and len(items) == limit:
                        rest = kvs[i + 1:]
                        if rest or got.get("more"):
                            next_key = (rest[0]["key"] if rest else kv["key"] + b"\0")
                        break
            if next_key is not None or not got.get("more") or not kvs:
                break
            start = kvs[-1]["key"] + b"\0"
        meta: dict[str, Any] = {"resourceVersion": str(revision)}
        if next_key is not None:
            meta["continue"] = _continue_token(revision, next_key)
        return {"apiVersion": res.group_version, "kind": f"{res.kind}List", "metadata": meta,
                "items": items}

    @staticmethod
    def _matches(res: Resource, obj: dict, ls: LabelSelector | None, fs: FieldSelector | None) -> bool:
        if ls is not None and not ls.matches(obj.get("metadata", {}).get("labels") or {}):
            return False
        if fs is not None and not fs.matches(object_fields(res.kind, obj)):
            return False
        return True

    # ----------------------------------------------------------------- write
    async def keys(self, prefix: str) -> list[str]:
        """Every key under ``prefix`` (the range claims: one per allocated value)."""
        start = prefix.encode()
        got = await self.kv.range(start, prefix_end(start))
        return [k.decode() if isinstance(k, bytes) else k for k in (kv["key"] for kv in got["kvs"])]

    async def create(self, res: Resource, namespace: str | None, obj: dict, *, uid: str | None = None,
                     name_generated: bool = False, claims: Claims | None = None) -> dict:
        """Store a new object: uid (``uid`` if the caller already chose it),
        creationTimestamp, generation 1, a name from generateName (the
        caller's, if ``name_generated``); 409 AlreadyExists if the key is
        taken, after trying up to 8 generated names. ``claims`` are created
        in the same txn; ClaimTaken when one exists already."""
        obj = json.loads(json.dumps(obj))  # our own copy
        meta = obj.setdefault("metadata", {})
        if res.namespaced:
            meta["namespace"] = namespace
        generated = name_generated or (not meta.get("name") and bool(meta.get("generateName")))
        for attempt in range(8 if generated else 1):
            if generated and (attempt or not meta.get("name")):
                meta["name"] = generate_name(meta["generateName"], self.rng)
            name = meta.get("name")
            if not name:
                raise errors.invalid(res.kind, "", [field.required(
                    "metadata.name", "name or generateName is required")], res.group)
            meta.update(uid=uid or str(uuid.uuid4()), creationTimestamp=self.now(), generation=1)
            meta.pop("resourceVersion", None)
            key = res.key(namespace, name).encode()
            compares, ops, reads = _claim_ops(claims, obj)
            r = await self.kv.txn([{"key": key, "target": "version", "result": "=", "value": 0}, *compares],
                                  [{"op": "put", "key": key, "value": _encode(obj)}, *ops],
                                  [{"op": "range", "key": key}, *reads] if reads else None)
            if r["succeeded"]:
                meta["resourceVersion"] = str(r["revision"])
                return obj
            if reads and not r["responses"][0]["kvs"]:
                raise _taken_claim(claims, r["responses"][1:])
        raise errors.already_exists(res.plural, meta.get("name", ""), res.group)

    async def update(self, res: Resource, namespace: str | None, obj: dict, *,
                     subresource: str | None = None, current: dict | None = None,
                     claims: Claims | None = None) -> dict:
        """Replace an object. With a resourceVersion the write is a
        compare-and-swap on it (409 Conflict when stale). The main resource
        keeps the stored status and the status subresource changes only it;
        metadata.generation moves when the spec changes.

        ``current`` is the caller's copy of the stored object (not modified)
        when it has one: the write then compares against its revision instead
        of reading storage first, and a stale copy gets 409 Conflict.

        ``claims`` are created and released in the same txn (ClaimTaken when
        one exists already); an object whose last finalizer goes is deleted,
        and releases what it holds instead."""
        meta = obj.get("metadata") or {}
        name = meta.get("name")
        if not name:
            raise errors.bad_request("the name of the object must be set")
        if current is None:
            current = await self.get(res, namespace, name)
        rv = meta.get("resourceVersion")
        if rv and rv != current["metadata"]["resourceVersion"]:
            raise errors.conflict(res.plural, name, group=res.group)
        new = json.loads(json.dumps(obj))
        cur_meta = current["metadata"]
        if subresource == "status":
            merged = dict(current, metadata=dict(current["metadata"]))
            merged["status"] = new.get("status")
            new = merged
        elif subresource == "finalize":  # a Namespace's spec.finalizers, and only those
            merged = dict(current, metadata=dict(current["metadata"]))
            merged["spec"] = dict(current.get("spec") or {},
                                  finalizers=list((new.get("spec") or {}).get("finalizers") or []))
            new = merged
        elif subresource == "binding":
            merged = dict(current, metadata=dict(current["metadata"]))
            merged["spec"] = dict(current.get("spec") or {}, nodeName=(new.get("spec") or {}).get("nodeName"))
            # as upstream's binding storage: the pod is now scheduled
            status = dict(current.get("status") or {})
            status["conditions"] = [c for c in status.get("conditions") or () if c.get("type") != "PodScheduled"] \
                + [{"type": "PodScheduled", "status": "True", "lastProbeTime": None,
                    "lastTransitionTime": self.now()}]
            merged["status"] = status
            new = merged
        else:
            if "status" in current:
                new["status"] = current["status"]
            else:
                new.pop("status", None)
            if res.kind == "Namespace":  # its finalizers change through namespaces/finalize only
                new["spec"] = dict(new.get("spec") or {}, finalizers=(current.get("spec") or {}).get("finalizers"))
                if new["spec"]["finalizers"] is None:
                    del new["spec"]["finalizers"]
        nm = new.setdefault("metadata", {})
        for immutable in ("uid", "creationTimestamp", "namespace", "deletionTimestamp"):
            if immutable in cur_meta:
                nm[immutable] = cur_meta[immutable]
        nm["generation"] = cur_meta.get("generation", 1)
        if subresource is None and new.get("spec") != current.get("spec"):  # binding: not a spec change
            nm["generation"] += 1
        key = res.key(namespace, name).encode()
        rev = int(cur_meta["resourceVersion"])
        # the last finalizer of an object being deleted is gone: delete it now
        # (pods in their grace period wait for their kubelet's final delete instead)
        finished = "deletionTimestamp" in cur_meta and not nm.get("finalizers") and \
            (res.kind != "Pod" or not cur_meta.get("deletionGracePeriodSeconds")) and \
            (res.kind != "Namespace" or not (new.get("spec") or {}).get("finalizers"))
        compares, ops, reads = ([], _release_ops(res, current), []) if finished else _claim_ops(claims, new)
        op = {"op": "delete_range", "key": key} if finished else \
            {"op": "put", "key": key, "value": _encode(new)}
        r = await self.kv.txn([{"key": key, "target": "mod", "result": "=", "value": rev}, *compares],
                              [op, *ops], [{"op": "range", "key": key}, *reads] if reads else None)
        if not r["succeeded"]:
            got = r["responses"][0]["kvs"] if reads else None
            if got and got[0]["mod_revision"] == rev:
                raise _taken_claim(claims, r["responses"][1:])
            raise errors.conflict(res.plural, name, group=res.group)
        nm["resourceVersion"] = str(r["revision"])
        return new

    async def delete(self, res: Resource, namespace: str | None, name: str, *,
                     grace_period_seconds: int | None = None,
                     precondition_uid: str | None = None,
                     precondition_resource_version: str | None = None,
                     propagation_policy: str | None = None) -> tuple[dict, bool]:
        """Delete an object; returns (object, gone).

        An object with finalizers, or a pod bound to a node with a grace
        period, is only marked (deletionTimestamp) and stays until its
        finalizers or kubelet finish. ``propagation_policy`` is recorded for
        the garbage collector as upstream does: ``Foreground`` adds the
        ``foregroundDeletion`` finalizer, ``Orphan`` the ``orphan`` one,
        ``Background`` (the default) neither; a second delete may change it.
        """
        current = await self.get(res, namespace, name)
        meta = current["metadata"]
        if precondition_uid and meta.get("uid") != precondition_uid:
            raise errors.conflict(res.plural, name, group=res.group,
                                  reason=f"Precondition failed: UID in precondition: {precondition_uid}, "
                                         f"UID in object meta: {meta.get('uid')}")
        if precondition_resource_version and meta["resourceVersion"] != precondition_resource_version:
            raise errors.conflict(res.plural, name, group=res.group)
        key = res.key(namespace, name).encode()
        rev = int(meta["resourceVersion"])
        spec = current.get("spec") or {}
        graceful = (res.kind == "Pod" and spec.get("nodeName")
                    and (grace_period_seconds if grace_period_seconds is not None else
                         spec.get("terminationGracePeriodSeconds", 30)) > 0)
        finalizers = gc_finalizers(meta.get("finalizers") or [], propagation_policy)
        marking = "deletionTimestamp" not in meta
        if res.kind == "Namespace" and spec.get("finalizers"):
            # the namespace controller empties it first, then deletes it again
            if not marking:
                raise errors.conflict(res.plural, name, reason=NAMESPACE_BEING_EMPTIED)
            graceful = True
        if finalizers or graceful:
            if marking or finalizers != (meta.get("finalizers") or []):
                marked = json.loads(json.dumps(current))
                mm = marked["metadata"]
                mm.setdefault("deletionTimestamp", self.now())
                if finalizers:
                    mm["finalizers"] = finalizers
                else:
                    mm.pop("finalizers", None)
                if res.kind == "Namespace":
                    marked["status"] = dict(marked.get("status") or {}, phase="Terminating")
                elif graceful and marking:
                    mm["deletionGracePeriodSeconds"] = (
                        grace_period_seconds if grace_period_seconds is not None
                        else spec.get("terminationGracePeriodSeconds", 30))
                r = await self.kv.txn([{"key": key, "target": "mod", "result": "=", "value": rev}],
                                      [{"op": "put", "key": key, "value": _encode(marked)}])
                if not r["succeeded"]:
                    raise errors.conflict(res.plural, name, group=res.group)
                mm["resourceVersion"] = str(r["revision"])
                return marked, False
            if not (res.kind == "Pod" and grace_period_seconds == 0 and not finalizers):
                return current, False
        r = await self.kv.txn([{"key": key, "target": "mod", "result": "=", "value": rev}],
                              [{"op": "delete_range", "key": key}, *_release_ops(res, current)])
        if not r["succeeded"]:
            raise errors.conflict(res.plural, name, group=res.group)
        return current, True


NAMESPACE_BEING_EMPTIED = ("The system is ensuring all content is removed from this namespace.  "
                           "Upon completion, this namespace will automatically be purged by the system.")
FOREGROUND_FINALIZER = "foregroundDeletion"
ORPHAN_FINALIZER = "orphan"
PROPAGATION_POLICIES = ("Foreground", "Background", "Orphan")


def gc_finalizers(finalizers: list[str], policy: str | None) -> list[str]:
    """The finalizers after a delete with ``policy`` (None keeps what a
    previous delete asked for; the others replace it)."""
    if policy is None:
        return list(finalizers)
    out = [f for f in finalizers if f not in (FOREGROUND_FINALIZER, ORPHAN_FINALIZER)]
    if policy == "Foreground":
        out.append(FOREGROUND_FINALIZER)
    elif policy == "Orphan":
        out.append(ORPHAN_FINALIZER)
    return out
