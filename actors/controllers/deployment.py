"""The Deployment controller (upstream's ``pkg/controller/deployment``).

A Deployment owns one ReplicaSet per pod template it has had, named
``<deployment>-<pod-template-hash>`` and selecting that hash label, so
revisions never share pods. ``sync(key)``, from the informers' state:

* claims ReplicaSets (adopt matching orphans, release strays), finds the
  *new* one (template equal to the Deployment's, ignoring the hash label)
  and, when rolling out, creates it with the next revision (a rollback is
  the same thing: ``kubectl rollout undo`` copies an old template back, and
  that ReplicaSet becomes new again, its old revision kept in
  ``revision-history``);
* paused, or only ``replicas`` changed: scales (proportionally when several
  ReplicaSets hold pods) and does not roll;
* ``RollingUpdate``: scales the new ReplicaSet up while all pods stay within
  ``replicas + maxSurge``, and old ones down while available pods stay at
  least ``replicas - maxUnavailable`` (unhealthy old pods first);
  ``Recreate``: old ReplicaSets to zero, and the new one only once their
  pods are gone;
* keeps ``revisionHistoryLimit`` old ReplicaSets once a rollout completes;
* writes status as ``kubectl rollout status`` reads it (observedGeneration,
  replicas, updatedReplicas, readyReplicas, availableReplicas,
  unavailableReplicas, the Available and Progressing conditions, with
  ``ProgressDeadlineExceeded`` after ``progressDeadlineSeconds``).
"""
from __future__ import annotations

import copy
import time
from typing import Any, Callable

from kubeapi import errors
from kubeapi.informer import Indexer
from kubeapi.models.base import format_time, parse_time

from .base import (Controller, Writer, by_namespace, int_or_percent, object_key, replicas_of, spec_selector,
                   template_hash, unwrap)
from .owned import controller_key, selecting
from .podutil import controller_ref, is_pod_active, is_terminating, owner_reference
from .refmanager import RefManager

HASH_LABEL = "pod-template-hash"
REVISION = "deployment.kubernetes.io/revision"
REVISION_HISTORY = "deployment.kubernetes.io/revision-history"
DESIRED_REPLICAS = "deployment.kubernetes.io/desired-replicas"
MAX_REPLICAS = "deployment.kubernetes.io/max-replicas"
# Deployment annotations not copied to its ReplicaSets (upstream's skipCopyAnnotation)
_NOT_COPIED = {"kubectl.kubernetes.io/last-applied-configuration", REVISION, REVISION_HISTORY,
               DESIRED_REPLICAS, MAX_REPLICAS, "deprecated.deployment.rollback.to"}


# ---------------------------------------------------------------------- helpers
def _without_hash(template: dict) -> dict:
    t = copy.deepcopy(template)
    labels = (t.get("metadata") or {}).get("labels")
    if labels:
        labels.pop(HASH_LABEL, None)
    return t


def equal_ignore_hash(a: dict, b: dict) -> bool:
    return _without_hash(a) == _without_hash(b)


def _status(rs: dict, field: str) -> int:
    return int((rs.get("status") or {}).get(field) or 0)


def revision_of(rs: dict) -> int:
    try:
        return int(((rs.get("metadata") or {}).get("annotations") or {}).get(REVISION) or 0)
    except ValueError:
        return 0


def surge_and_unavailable(d: dict) -> tuple[int, int]:
    """``maxSurge`` (rounded up) and ``maxUnavailable`` (rounded down) of a
    RollingUpdate Deployment; both 0 would deadlock, so unavailable is then 1."""
    strategy = (d.get("spec") or {}).get("strategy") or {}
    if strategy.get("type", "RollingUpdate") != "RollingUpdate":
        return 0, 0
    ru = strategy.get("rollingUpdate") or {}
    desired = replicas_of(d)
    surge = int_or_percent(ru.get("maxSurge", "25%"), desired, True)
    unavailable = int_or_percent(ru.get("maxUnavailable", "25%"), desired, False)
    if surge == 0 and unavailable == 0:
        unavailable = 1
    return surge, min(unavailable, desired)


def _omit_empty(status: dict) -> dict:
    return {k: v for k, v in status.items() if v not in (0, None, [], "")}


def _by_age(rss: list[dict]) -> list[dict]:
    return sorted(rss, key=lambda r: (parse_time(r["metadata"].get("creationTimestamp")) or 0.0,
                                      r["metadata"]["name"]))


# -------------------------------------------------------------------- controller
class DeploymentController(Controller):
    name = "deployment"

    def __init__(self, deployments: Indexer, replicasets: Indexer, pods: Indexer, client: Writer, *,
                 clock: Callable[[], float] = time.monotonic, wall: Callable[[], float] = time.time) -> None:
        super().__init__(clock=clock)
        self.deployments = deployments
        self.replicasets = replicasets
        self.pods = pods
        self.client = client
        self.wall = wall

    # ------------------------------------------------------------- handlers
    def on_deployment(self, d: Any) -> None:
        self.enqueue(d)

    def on_deployment_update(self, old: Any, new: Any) -> None:
        self.enqueue(new)

    def on_deployment_delete(self, d: Any) -> None:
        self.enqueue(object_key(d))

    def _owner_key(self, rs: dict) -> str | None:
        return controller_key(rs, "Deployment", self.deployments)

    def _for_rs(self, rs: Any) -> None:
        rs = unwrap(rs)
        if not isinstance(rs, dict):
            return
        key = self._owner_key(rs)
        if key is not None:
            self.enqueue(key)
        elif controller_ref(rs) is None:  # an orphan: whoever selects it may adopt it
            for d in selecting(self.deployments, rs):
                self.enqueue(d)

    def on_rs(self, rs: Any) -> None:
        self._for_rs(rs)

    def on_rs_update(self, old: Any, new: Any) -> None:
        if controller_ref(old) != controller_ref(new):
            self._for_rs(old)
        self._for_rs(new)

    def on_rs_delete(self, rs: Any) -> None:
        self._for_rs(rs)

    def on_pod_delete(self, pod: Any) -> None:
        """A Recreate rollout waits for old pods to be gone."""
        pod = unwrap(pod)
        if not isinstance(pod, dict):
            return
        ref = controller_ref(pod)
        if ref is None or ref.get("kind") != "ReplicaSet":
            return
        rs = self.replicasets.get(f"{pod['metadata'].get('namespace')}/{ref.get('name')}")
        if rs is not None:
            key = self._owner_key(rs)
            d = self.deployments.get(key) if key else None
            if d is not None and ((d.get("spec") or {}).get("strategy") or {}).get("type") == "Recreate":
                self.enqueue(key)

    # ----------------------------------------------------------------- sync
    async def sync(self, key: str) -> None:
        d = self.deployments.get(key)
        if d is None:
            return
        selector = spec_selector(d)
        if selector is None:
            return  # validation keeps these out; an empty selector would take every ReplicaSet
        rss = await RefManager(self.client, "replicasets", d, "deployments", selector).claim(
            by_namespace(self.replicasets, d["metadata"].get("namespace", "")))
        if is_terminating(d):
            await self._sync_status(d, rss, None)
            return
        spec = d.get("spec") or {}
        new = self._find_new(d, rss)
        if spec.get("paused") or (new is not None and self._is_scaling_event(d, rss)):
            await self._scale(d, new, rss)
            await self._sync_status(d, rss, new)
            return
        if (spec.get("strategy") or {}).get("type") == "Recreate":
            await self._rollout_recreate(d, rss)
        else:
            await self._rollout_rolling(d, rss)

    # ------------------------------------------------------------ new RS
    @staticmethod
    def _find_new(d: dict, rss: list[dict]) -> dict | None:
        """The oldest ReplicaSet whose template is the Deployment's (upstream: FindNewReplicaSet)."""
        template = (d.get("spec") or {}).get("template") or {}
        same = [rs for rs in _by_age(rss) if equal_ignore_hash((rs.get("spec") or {}).get("template") or {},
                                                                 template)]
        return same[0] if same else None

    async def _new_rs(self, d: dict, rss: list[dict]) -> dict:
        """The new ReplicaSet, created or brought up to the next revision."""
        new = self._find_new(d, rss)
        old = [rs for rs in rss if rs is not new]
        next_rev = max((revision_of(rs) for rs in old), default=0) + 1
        d_annotations = (d["metadata"].get("annotations") or {})
        if new is not None:
            ann = new["metadata"].get("annotations") or {}
            patch: dict[str, str] = {}
            rev = revision_of(new)
            if rev < next_rev:
                # a rollback (or no revision yet): it becomes the newest revision
                history = [h for h in (ann.get(REVISION_HISTORY) or "").split(",") if h]
                if rev:
                    history.append(str(rev))
                patch[REVISION] = str(next_rev)
                if history:
                    patch[REVISION_HISTORY] = ",".join(history)
            for k, v in d_annotations.items():
                if k not in _NOT_COPIED and ann.get(k) != v:
                    patch[k] = v
            if patch:
                meta = new["metadata"]
                new = await self.client.patch("replicasets", meta["name"], {"metadata": {"annotations": patch}},
                                              meta.get("namespace"))
            await self._set_revision(d, revision_of(new))
            return new
        return await self._create_new_rs(d, next_rev)

    async def _create_new_rs(self, d: dict, revision: int) -> dict:
        spec = d.get("spec") or {}
        template = copy.deepcopy(spec.get("template") or {})
        collisions = int((d.get("status") or {}).get("collisionCount") or 0)
        h = template_hash(template, collisions)
        tmeta = template.setdefault("metadata", {})
        tmeta["labels"] = dict(tmeta.get("labels") or {}, **{HASH_LABEL: h})
        selector = copy.deepcopy(spec.get("selector") or {})
        selector["matchLabels"] = dict(selector.get("matchLabels") or {}, **{HASH_LABEL: h})
        surge, _ = surge_and_unavailable(d)
        ann = {k: v for k, v in (d["metadata"].get("annotations") or {}).items() if k not in _NOT_COPIED}
        ann.update({REVISION: str(revision), DESIRED_REPLICAS: str(replicas_of(d)),
                    MAX_REPLICAS: str(replicas_of(d) + surge)})
        rs = {"apiVersion": "apps/v1", "kind": "ReplicaSet",
              "metadata": {"name": f"{d['metadata']['name']}-{h}", "namespace": d["metadata"].get("namespace"),
                           "labels": dict(tmeta["labels"]), "annotations": ann,
                           "ownerReferences": [owner_reference(d)]},
              "spec": {"replicas": 0, "minReadySeconds": spec.get("minReadySeconds") or 0,
                       "selector": selector, "template": template}}
        try:
            made = await self.client.create(rs)
        except errors.ApiError as e:
            if not errors.is_already_exists(e):
                raise
            existing = self.replicasets.get(f"{d['metadata'].get('namespace')}/{rs['metadata']['name']}")
            if existing is not None and controller_ref(existing) and \
                    controller_ref(existing).get("uid") == d["metadata"]["uid"] and \
                    equal_ignore_hash((existing.get("spec") or {}).get("template") or {}, template):
                return existing  # ours already: the informer was behind
            # a hash collision: count it, and the next sync hashes anew
            st = dict(d.get("status") or {}, collisionCount=collisions + 1)
            await self.client.update_status(dict(d, status=st))
            raise
        await self._set_revision(d, revision)
        return made

    async def _set_revision(self, d: dict, revision: int) -> None:
        ann = d["metadata"].get("annotations") or {}
        if ann.get(REVISION) != str(revision):
            meta = d["metadata"]
            await self.client.patch("deployments", meta["name"], {"metadata": {"annotations": {REVISION: str(revision)}}},
                                    meta.get("namespace"))

    # ------------------------------------------------------------- scaling
    @staticmethod
    def _is_scaling_event(d: dict, rss: list[dict]) -> bool:
        """Some active ReplicaSet was sized for another ``replicas`` than the Deployment's."""
        want = str(replicas_of(d))
        for rs in rss:
            if replicas_of(rs) > 0:
                desired = ((rs["metadata"].get("annotations") or {}).get(DESIRED_REPLICAS))
                if desired is not None and desired != want:
                    return True
        return False

    async def _scale_rs(self, rs: dict, size: int, d: dict) -> dict:
        """Set a ReplicaSet's size (and the Deployment size it was set for): a
        merge patch, so the ReplicaSet controller's status writes never conflict."""
        surge, _ = surge_and_unavailable(d)
        ann = rs["metadata"].get("annotations") or {}
        want_ann = {DESIRED_REPLICAS: str(replicas_of(d)), MAX_REPLICAS: str(replicas_of(d) + surge)}
        if replicas_of(rs) == size and all(ann.get(k) == v for k, v in want_ann.items()):
            return rs
        meta = rs["metadata"]
        return await self.client.patch("replicasets", meta["name"],
                                       {"metadata": {"annotations": want_ann}, "spec": {"replicas": size}},
                                       meta.get("namespace"))

    async def _scale(self, d: dict, new: dict | None, rss: list[dict]) -> None:
        """Resize without rolling: the one active ReplicaSet takes all; else
        spread the difference over active ones in proportion to their size."""
        desired = replicas_of(d)
        active = [rs for rs in rss if replicas_of(rs) > 0]
        if not active:
            target = new or (max(rss, key=revision_of) if rss else None)
            if target is not None and desired:
                await self._scale_rs(target, desired, d)
            return
        if len(active) == 1:
            await self._scale_rs(active[0], desired, d)
            return
        if new is not None and replicas_of(new) == desired and _status(new, "availableReplicas") == desired:
            for rs in active:
                if rs is not new:
                    await self._scale_rs(rs, 0, d)
            return
        surge, _ = surge_and_unavailable(d)
        allowed = desired + surge
        current = sum(replicas_of(rs) for rs in active)
        to_add = allowed - current
        if to_add == 0:
            return
        # largest first when growing, smallest first when shrinking; newest first on ties
        order = sorted(active, key=lambda r: (replicas_of(r), revision_of(r)), reverse=to_add > 0)
        sizes = {object_key(rs): replicas_of(rs) for rs in active}
        added = 0
        for rs in order:
            share = int(replicas_of(rs) * to_add / current) if current else 0
            share = max(share, -sizes[object_key(rs)])
            sizes[object_key(rs)] += share
            added += share
        leftover = to_add - added
        first = object_key(order[0])
        sizes[first] = max(0, sizes[first] + leftover)
        for rs in active:
            await self._scale_rs(rs, sizes[object_key(rs)], d)

    # -------------------------------------------------------------- rolling
    async def _rollout_rolling(self, d: dict, rss: list[dict]) -> None:
        new = await self._new_rs(d, rss)
        old = [rs for rs in rss if object_key(rs) != object_key(new)]
        all_rs = old + [new]
        desired = replicas_of(d)
        surge, max_unavailable = surge_and_unavailable(d)
        # scale the new ReplicaSet up (or down, should it have more than wanted)
        new_size = replicas_of(new)
        if new_size > desired:
            await self._scale_rs(new, desired, d)
            return await self._sync_status(d, all_rs, new)
        if new_size < desired:
            # pods a ReplicaSet was told to drop but still has count too: maxSurge
            # bounds the pods that exist, not only the sizes asked for
            current = sum(max(replicas_of(rs), _status(rs, "replicas")) for rs in all_rs)
            room = desired + surge - current
            if room > 0:
                new = await self._scale_rs(new, new_size + min(room, desired - new_size), d)
                return await self._sync_status(d, old + [new], new)
        # scale old ones down as far as availability allows
        old_active = [rs for rs in old if replicas_of(rs) > 0]
        if old_active:
            all_pods = sum(replicas_of(rs) for rs in all_rs)
            min_available = desired - max_unavailable
            new_unavailable = replicas_of(new) - _status(new, "availableReplicas")
            budget = all_pods - min_available - new_unavailable
            if budget > 0:
                scaled = False
                size = {object_key(rs): replicas_of(rs) for rs in old_active}
                # first the old pods that are not available anyway
                for rs in _by_age(old_active):
                    if budget <= 0:
                        break
                    cut = min(budget, size[object_key(rs)] - _status(rs, "availableReplicas"))
                    if cut > 0:
                        size[object_key(rs)] -= cut
                        await self._scale_rs(rs, size[object_key(rs)], d)
                        budget -= cut
                        scaled = True
                # then available ones, oldest first, keeping minAvailable
                available = sum(_status(rs, "availableReplicas") for rs in all_rs)
                room = min(budget, available - min_available)
                for rs in _by_age(old_active):
                    if room <= 0:
                        break
                    cut = min(size[object_key(rs)], room)
                    if cut > 0:
                        size[object_key(rs)] -= cut
                        await self._scale_rs(rs, size[object_key(rs)], d)
                        room -= cut
                        scaled = True
                if scaled:
                    return await self._sync_status(d, all_rs, new)
        if self._complete(d, all_rs, new):
            await self._cleanup(d, old)
        await self._sync_status(d, all_rs, new)

    # ------------------------------------------------------------- recreate
    async def _rollout_recreate(self, d: dict, rss: list[dict]) -> None:
        new = self._find_new(d, rss)
        old = [rs for rs in rss if rs is not new]
        scaled_down = False
        for rs in old:
            if replicas_of(rs) > 0:
                await self._scale_rs(rs, 0, d)
                scaled_down = True
        if scaled_down:
            return await self._sync_status(d, rss, new)
        old_uids = {rs["metadata"]["uid"] for rs in old}
        ns = d["metadata"].get("namespace", "")
        if any(is_pod_active(p) or is_terminating(p) for p in by_namespace(self.pods, ns)
               if (controller_ref(p) or {}).get("uid") in old_uids):
            return await self._sync_status(d, rss, new)  # old pods still there: wait (a pod delete wakes us)
        new = await self._new_rs(d, rss)
        if replicas_of(new) != replicas_of(d):
            new = await self._scale_rs(new, replicas_of(d), d)
        all_rs = old + [new]
        if self._complete(d, all_rs, new):
            await self._cleanup(d, old)
        await self._sync_status(d, all_rs, new)

    # -------------------------------------------------------------- cleanup
    async def _cleanup(self, d: dict, old: list[dict]) -> None:
        """Delete the oldest empty ReplicaSets beyond ``revisionHistoryLimit``."""
        limit = (d.get("spec") or {}).get("revisionHistoryLimit")
        limit = 10 if limit is None else int(limit)
        empty = [rs for rs in _by_age(old) if replicas_of(rs) == 0 and _status(rs, "replicas") == 0
                 and not is_terminating(rs)]
        for rs in sorted(empty, key=revision_of)[:max(0, len(empty) - limit)]:
            meta = rs["metadata"]
            try:
                await self.client.delete("replicasets", meta["name"], meta.get("namespace"),
                                         preconditions={"uid": meta.get("uid")})
            except errors.ApiError as e:
                if not (errors.is_not_found(e) or errors.is_conflict(e)):
                    raise

    # --------------------------------------------------------------- status
    @staticmethod
    def _complete(d: dict, all_rs: list[dict], new: dict | None) -> bool:
        desired = replicas_of(d)
        return (new is not None and _status(new, "replicas") == desired
                and sum(_status(rs, "replicas") for rs in all_rs) == desired
                and sum(_status(rs, "availableReplicas") for rs in all_rs) == desired)

    async def _sync_status(self, d: dict, all_rs: list[dict], new: dict | None) -> None:
        spec = d.get("spec") or {}
        desired = replicas_of(d)
        _, max_unavailable = surge_and_unavailable(d)
        wall = self.wall()
        now = format_time(wall)
        old_status = d.get("status") or {}
        available = sum(_status(rs, "availableReplicas") for rs in all_rs)
        status: dict[str, Any] = {
            "observedGeneration": d["metadata"].get("generation", 1),
            "replicas": sum(_status(rs, "replicas") for rs in all_rs),
            "updatedReplicas": _status(new, "replicas") if new is not None else 0,
            "readyReplicas": sum(_status(rs, "readyReplicas") for rs in all_rs),
            "availableReplicas": available,
            "unavailableReplicas": max(0, desired - available),
        }
        if old_status.get("collisionCount") is not None:
            status["collisionCount"] = old_status["collisionCount"]
        conds = {c["type"]: c for c in old_status.get("conditions") or ()}

        def put(ctype: str, st: str, reason: str, message: str, touch: bool = False) -> None:
            """Set a condition; its times move only when something about it changed."""
            prev = conds.get(ctype)
            flipped = prev is None or prev.get("status") != st
            same = not flipped and prev.get("reason") == reason and prev.get("message") == message
            conds[ctype] = {"type": ctype, "status": st,
                            "lastUpdateTime": prev["lastUpdateTime"] if same and not touch else now,
                            "lastTransitionTime": now if flipped else prev.get("lastTransitionTime", now),
                            "reason": reason, "message": message}

        if available >= desired - max_unavailable:
            put("Available", "True", "MinimumReplicasAvailable", "Deployment has minimum availability.")
        else:
            put("Available", "False", "MinimumReplicasUnavailable", "Deployment does not have minimum availability.")
        deadline = spec.get("progressDeadlineSeconds")
        prog = conds.get("Progressing")
        if spec.get("paused"):
            if prog is None or prog.get("reason") != "DeploymentPaused":
                put("Progressing", "Unknown", "DeploymentPaused", "Deployment is paused")
        elif prog is not None and prog.get("reason") == "DeploymentPaused":
            put("Progressing", "Unknown", "DeploymentResumed", "Deployment is resumed")
        elif deadline is not None and new is not None:
            rs_name = new["metadata"]["name"]
            if self._complete(d, all_rs, new):
                put("Progressing", "True", "NewReplicaSetAvailable",
                    f'ReplicaSet "{rs_name}" has successfully progressed.')
            elif prog is None or f'"{rs_name}"' not in (prog.get("message") or "") \
                    or self._progressed(old_status, status) or prog.get("reason") == "NewReplicaSetAvailable":
                put("Progressing", "True", "NewReplicaSetCreated" if prog is None else "ReplicaSetUpdated",
                    f'ReplicaSet "{rs_name}" is progressing.', touch=True)
            elif prog.get("reason") != "ProgressDeadlineExceeded":
                since = parse_time(prog.get("lastUpdateTime")) or wall
                if since + int(deadline) <= wall:
                    put("Progressing", "False", "ProgressDeadlineExceeded",
                        f'ReplicaSet "{rs_name}" has timed out progressing.')
                else:
                    self.enqueue_after(object_key(d), since + int(deadline) - wall + 1)
        status["conditions"] = [conds[t] for t in ("Available", "Progressing", "ReplicaFailure") if t in conds]
        if _omit_empty(status) == _omit_empty(old_status):
            return  # (the apiserver drops zero counts, as omitempty does: compare without them)
        # computed from the listers, not from this copy's revision: written unconditionally
        # (a spec change meanwhile brings another sync, which writes its generation)
        meta = {k: v for k, v in d["metadata"].items() if k != "resourceVersion"}
        await self.client.update_status(dict(d, metadata=meta, status=status))

    @staticmethod
    def _progressed(old: dict, new: dict) -> bool:
        """Upstream's DeploymentProgressing: more updated, ready or available
        pods, or fewer old ones, than the last status said."""
        old_old = int(old.get("replicas") or 0) - int(old.get("updatedReplicas") or 0)
        new_old = new["replicas"] - new["updatedReplicas"]
        return (new["updatedReplicas"] > int(old.get("updatedReplicas") or 0) or new_old < old_old
                or new["readyReplicas"] > int(old.get("readyReplicas") or 0)
                or new["availableReplicas"] > int(old.get("availableReplicas") or 0))
