"""The StatefulSet controller (upstream's ``pkg/controller/statefulset``).

A StatefulSet's pods have stable identities: ``<set>-<ordinal>`` for the
ordinals ``start .. start+replicas-1``, each with the pod-name and pod-index
labels, ``hostname`` = its name and ``subdomain`` = ``spec.serviceName``.
``sync(key)``, from the informers' state:

1. claims the pods named like its members (adopt matching orphans, release
   strays) and splits them into *replicas* (ordinal in range) and
   *condemned* (out of range, highest first);
2. unless creates or deletes it asked for are still unseen (expectations):
   per replica, in ordinal order, deletes a Failed/Succeeded pod (it is
   recreated under the same name once its deletion is seen), creates a
   missing one and relabels one whose identity drifted; then deletes the
   condemned; then, for ``RollingUpdate``, deletes pods not at the update
   revision from the highest ordinal down to ``partition``, keeping at most
   ``maxUnavailable`` replicas unavailable. ``OrderedReady`` stops at the
   first step that must wait (one create or delete per sync, each after all
   lower ordinals are Running, Ready and available; nothing while a pod
   terminates); ``Parallel`` does every step at once;
3. writes status (counts and revisions) when it changed.

There is no ControllerRevision resource here: a revision is named
``<set>-<hash of the template and collisionCount>``, which is what pods
carry in their ``controller-revision-hash`` label. Without stored revisions
the old template cannot be rebuilt, so every pod is created at the update
revision (upstream recreates pods below the partition at the current one).
``volumeClaimTemplates`` and ``persistentVolumeClaimRetentionPolicy`` are
ignored: there is no PersistentVolumeClaim resource.
"""
from __future__ import annotations

import re
import time
from typing import Any, Callable

from kubeapi import errors
from kubeapi.informer import Indexer
from kubeapi.patch import escape_token

from .base import (Writer, by_namespace, int_or_percent, labels_of, object_key, replicas_of, spec_selector,
                   template_hash)
from .owned import PodOwnerController
from .podutil import is_pod_available, is_pod_ready, is_terminating, pod_phase
from .refmanager import RefManager
from .replicaset import pod_from_template, slow_start_batch

POD_NAME_LABEL = "statefulset.kubernetes.io/pod-name"
POD_INDEX_LABEL = "apps.kubernetes.io/pod-index"
REVISION_LABEL = "controller-revision-hash"

_MEMBER = re.compile(r"^(.*)-([0-9]+)$")

Action = tuple  # ("create", pod) | ("delete", pod) | ("label", pod, {label: value})


# ---------------------------------------------------------------------- helpers
def parent_and_ordinal(pod: dict) -> tuple[str, int]:
    """The set a pod's name says it belongs to and its ordinal (``("", -1)`` if none)."""
    m = _MEMBER.match((pod.get("metadata") or {}).get("name") or "")
    return (m.group(1), int(m.group(2))) if m else ("", -1)


def start_ordinal(sts: dict) -> int:
    return int(((sts.get("spec") or {}).get("ordinals") or {}).get("start") or 0)


def revision_name(sts: dict, collision_count: int = 0) -> str:
    """The name of the revision of the set's current template."""
    template = (sts.get("spec") or {}).get("template") or {}
    return f"{sts['metadata']['name']}-{template_hash(template, collision_count)}"


def pod_revision(pod: dict) -> str:
    return labels_of(pod).get(REVISION_LABEL, "")


def identity_labels(sts: dict, ordinal: int) -> dict[str, str]:
    return {POD_NAME_LABEL: f"{sts['metadata']['name']}-{ordinal}", POD_INDEX_LABEL: str(ordinal)}


def new_pod(sts: dict, ordinal: int, revision: str) -> dict:
    """The pod for ``ordinal`` from the set's template, at ``revision``."""
    spec = sts.get("spec") or {}
    pod = pod_from_template(sts, spec.get("template") or {})
    meta = pod["metadata"]
    del meta["generateName"]
    meta["name"] = f"{sts['metadata']['name']}-{ordinal}"
    meta["labels"] = {**meta.get("labels", {}), **identity_labels(sts, ordinal), REVISION_LABEL: revision}
    pod["spec"]["hostname"] = meta["name"]
    if spec.get("serviceName"):
        pod["spec"]["subdomain"] = spec["serviceName"]
    return pod


def running_and_ready(pod: dict) -> bool:
    return pod_phase(pod) == "Running" and is_pod_ready(pod)


def running_and_available(pod: dict, min_ready_seconds: int, now: float) -> bool:
    return running_and_ready(pod) and is_pod_available(pod, min_ready_seconds, now)


def unavailable(pod: dict | None, min_ready_seconds: int, now: float) -> bool:
    """Missing, terminating, or not Running+Ready for ``minReadySeconds``."""
    return pod is None or is_terminating(pod) or not running_and_available(pod, min_ready_seconds, now)


def _finished(pod: dict) -> bool:
    return pod_phase(pod) in ("Failed", "Succeeded")


# -------------------------------------------------------------------- controller
class StatefulSetController(PodOwnerController):
    name = "statefulset"
    owner_kind = "StatefulSet"

    def __init__(self, statefulsets: Indexer, pods: Indexer, client: Writer, *,
                 clock: Callable[[], float] = time.monotonic, wall: Callable[[], float] = time.time) -> None:
        super().__init__(statefulsets, pods, client, clock=clock, wall=wall)
        self.statefulsets = statefulsets

    # ----------------------------------------------------------------- sync
    async def sync(self, key: str) -> None:
        sts = self.statefulsets.get(key)
        if sts is None:
            self.expectations.delete(key)
            return
        selector = spec_selector(sts)
        if selector is None:
            return  # validation keeps these out; nothing can be claimed with it
        needs_sync = self.expectations.satisfied(key)
        name, ns = sts["metadata"]["name"], sts["metadata"].get("namespace", "")
        members = [p for p in by_namespace(self.pods, ns) if parent_and_ordinal(p)[0] == name]
        pods = await RefManager(self.client, "pods", sts, "statefulsets", selector).claim(members)
        now = self.wall()
        status = self._status(sts, pods, now)
        err: Exception | None = None
        if needs_sync and not is_terminating(sts):
            slots, condemned = self._split(sts, pods)
            err = await self._execute(key, self._plan(sts, slots, condemned, status["updateRevision"], now),
                                      burst=(sts.get("spec") or {}).get("podManagementPolicy") == "Parallel")
        await self._write_status(sts, status)
        min_ready = (sts.get("spec") or {}).get("minReadySeconds") or 0
        if min_ready and status["availableReplicas"] != replicas_of(sts):
            self.enqueue_after(key, min_ready)
        if err is not None:
            raise err

    @staticmethod
    def _split(sts: dict, pods: list[dict]) -> tuple[list[dict | None], list[dict]]:
        """Pods by slot (``None`` where one is missing), and the condemned, highest ordinal first."""
        start, n = start_ordinal(sts), replicas_of(sts)
        slots: list[dict | None] = [None] * n
        condemned = []
        for p in pods:
            ordinal = parent_and_ordinal(p)[1]
            if start <= ordinal < start + n:
                slots[ordinal - start] = p
            elif ordinal >= 0:
                condemned.append(p)
        condemned.sort(key=lambda p: parent_and_ordinal(p)[1], reverse=True)
        return slots, condemned

    def _plan(self, sts: dict, slots: list[dict | None], condemned: list[dict], update_revision: str,
              now: float) -> list[list[Action]]:
        """The writes this sync makes, in phases (replicas, condemned, update); in
        OrderedReady mode the plan ends at the first step that has to wait."""
        spec = sts.get("spec") or {}
        monotonic = spec.get("podManagementPolicy") != "Parallel"
        min_ready = spec.get("minReadySeconds") or 0
        start = start_ordinal(sts)

        replicas: list[Action] = []
        phases = [replicas]
        for i, pod in enumerate(slots):
            if pod is None:
                replicas.append(("create", new_pod(sts, start + i, update_revision)))
                if monotonic:
                    return phases
                continue
            if _finished(pod):
                if not is_terminating(pod):
                    replicas.append(("delete", pod))
                if monotonic:
                    return phases  # recreated once its deletion is seen
                continue
            if monotonic and unavailable(pod, min_ready, now):
                return phases  # every lower ordinal must be Running, Ready and available first
            want = identity_labels(sts, start + i)
            if any(labels_of(pod).get(k) != v for k, v in want.items()):
                replicas.append(("label", pod, want))

        # scale down, highest ordinal first; an unavailable pod is deleted only
        # when it is the lowest-ordinal unavailable one (else it would block forever)
        down: list[Action] = []
        phases.append(down)
        broken = [p for p in slots if unavailable(p, min_ready, now)] + \
            [p for p in reversed(condemned) if unavailable(p, min_ready, now)]
        first_broken = broken[0] if broken else None
        for pod in condemned:
            if is_terminating(pod):
                if monotonic:
                    return phases
                continue
            if monotonic and unavailable(pod, min_ready, now) and pod is not first_broken:
                return phases
            down.append(("delete", pod))
            if monotonic:
                return phases

        strategy = spec.get("updateStrategy") or {}
        if strategy.get("type", "RollingUpdate") != "RollingUpdate":
            return phases  # OnDelete: pods are updated when someone deletes them
        rolling = strategy.get("rollingUpdate") or {}
        partition = int(rolling.get("partition") or 0)
        max_unavailable = max(1, int_or_percent(rolling.get("maxUnavailable", 1), len(slots), False))
        budget = max_unavailable - sum(1 for p in slots if unavailable(p, min_ready, now))
        update: list[Action] = []
        phases.append(update)
        for i in range(len(slots) - 1, partition - 1, -1):
            if budget <= 0:
                break
            pod = slots[i]
            if pod is not None and pod_revision(pod) != update_revision and not is_terminating(pod):
                update.append(("delete", pod))
                budget -= 1
        return phases

    # ---------------------------------------------------------------- writes
    async def _execute(self, key: str, phases: list[list[Action]], burst: bool) -> Exception | None:
        """Run the phases in order, stopping at the first failure; expectations
        are recorded first and given back for every write not made."""
        actions = [a for phase in phases for a in phase]
        creates = sum(1 for a in actions if a[0] == "create")
        deletes = [object_key(a[1]) for a in actions if a[0] == "delete"]
        if creates or deletes:
            self.expectations.expect(key, creates, deletes)
        started: set[int] = set()
        err: Exception | None = None
        for phase in phases:
            err = await self._run_phase(key, phase, burst, started)
            if err is not None:
                break
        for a in actions:
            if id(a) not in started:
                self._observed(key, a)
        return err

    async def _run_phase(self, key: str, phase: list[Action], burst: bool, started: set[int]) -> Exception | None:
        todo = list(phase)

        async def step() -> None:
            action = todo.pop(0)
            started.add(id(action))
            await self._do(key, action)
        if burst:
            return (await slow_start_batch(len(todo), 1, step))[1]
        while todo:
            try:
                await step()
            except Exception as e:  # noqa: BLE001 - returned like slow_start_batch's first failure
                return e
        return None

    def _observed(self, key: str, action: Action) -> None:
        """A write that will never show up in the informer."""
        if action[0] == "create":
            self.expectations.creation_observed(key)
        elif action[0] == "delete":
            self.expectations.deletion_observed(key, object_key(action[1]))

    async def _do(self, key: str, action: Action) -> None:
        verb, pod = action[0], action[1]
        meta = pod["metadata"]
        try:
            if verb == "create":
                await self.create_pod(pod)
            elif verb == "delete":
                await self.client.delete("pods", meta["name"], meta.get("namespace"),
                                         preconditions={"uid": meta.get("uid")})
            else:
                await self._relabel(pod, action[2])
        except errors.ApiError as e:
            if verb == "create" and errors.is_already_exists(e) and object_key(pod) not in self.pods:
                return  # made by an earlier sync: the informer has yet to show it
            self._observed(key, action)
            if verb == "delete" and (errors.is_not_found(e) or errors.is_conflict(e)):
                return  # gone already, or replaced by a pod we have not seen
            raise

    async def _relabel(self, pod: dict, labels: dict[str, str]) -> None:
        """Restore a pod's identity labels (an adopted pod may lack them)."""
        meta = pod["metadata"]
        ops: list[dict] = [{"op": "test", "path": "/metadata/uid", "value": meta.get("uid")}]
        if meta.get("labels"):
            ops += [{"op": "add", "path": f"/metadata/labels/{escape_token(k)}", "value": v}
                    for k, v in labels.items()]
        else:
            ops.append({"op": "add", "path": "/metadata/labels", "value": dict(labels)})
        await self.client.patch("pods", meta["name"], ops, meta.get("namespace"), patch_type="json")

    # ---------------------------------------------------------------- status
    def _status(self, sts: dict, pods: list[dict], now: float) -> dict:
        old = sts.get("status") or {}
        collision = int(old.get("collisionCount") or 0)
        update = revision_name(sts, collision)
        current = old.get("currentRevision") or update
        min_ready = (sts.get("spec") or {}).get("minReadySeconds") or 0
        status: dict[str, Any] = {"observedGeneration": sts["metadata"].get("generation", 1), "replicas": len(pods),
                                  "readyReplicas": 0, "currentReplicas": 0, "updatedReplicas": 0,
                                  "availableReplicas": 0, "currentRevision": current, "updateRevision": update,
                                  "collisionCount": collision}
        for p in pods:
            if running_and_ready(p):
                status["readyReplicas"] += 1
                if running_and_available(p, min_ready, now):
                    status["availableReplicas"] += 1
            if not is_terminating(p):
                status["currentReplicas"] += pod_revision(p) == current
                status["updatedReplicas"] += pod_revision(p) == update
        if status["updatedReplicas"] == status["replicas"] == status["readyReplicas"]:
            status["currentRevision"], status["currentReplicas"] = update, status["updatedReplicas"]  # rollout done
        return status

    async def _write_status(self, sts: dict, status: dict) -> None:
        old = sts.get("status") or {}
        if all(old.get(k, "" if isinstance(v, str) else 0) == v for k, v in status.items()):
            return
        merged = dict(status)
        if old.get("conditions"):
            merged["conditions"] = old["conditions"]
        await self.client.update_status(dict(sts, status=merged))
