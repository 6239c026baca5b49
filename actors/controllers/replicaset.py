"""The ReplicaSet controller (upstream's ``pkg/controller/replicaset``).

``sync(key)`` reconciles one ReplicaSet from the informers' state:

1. claim pods: active pods of its namespace it controls and its selector
   still matches are kept; those it controls that no longer match are
   released (its ownerReference removed); orphans that match are adopted
   (after a fresh read confirms the ReplicaSet is not being deleted);
2. unless creates or deletes it asked for are still unseen (expectations),
   create the missing pods from the template in slow-start batches (1, 2,
   4, ...; at most 500 per sync) or delete the surplus, least valuable
   first (:func:`~.podutil.deletion_order`);
3. write status (replicas, fullyLabeledReplicas, readyReplicas,
   availableReplicas, observedGeneration, the ReplicaFailure condition)
   when it changed.
"""
from __future__ import annotations

import asyncio
import copy
import time
from typing import Any, Awaitable, Callable

from kubeapi.informer import Indexer
from kubeapi.models.base import format_time

from .base import Writer, by_namespace, labels_of, object_key, replicas_of, spec_selector
from .owned import PodOwnerController
from .podutil import (controller_ref, deletion_order, is_pod_active, is_pod_available, is_pod_ready,
                      is_terminating, owner_reference)
from .refmanager import RefManager

BURST_REPLICAS = 500  # upstream's burstReplicas: creates or deletes per sync


async def slow_start_batch(count: int, initial: int, fn: Callable[[], Awaitable[None]]) -> tuple[int, Exception | None]:
    """Call ``fn`` ``count`` times in batches that double (``initial``, 2x, 4x...),
    stopping after the first batch with a failure: a quota or admission error
    then costs one batch of calls, not ``count``. (successes, first error)."""
    done, size = 0, max(1, initial)
    while done < count:
        n = min(size, count - done)
        results = await asyncio.gather(*(fn() for _ in range(n)), return_exceptions=True)
        failures = [r for r in results if isinstance(r, BaseException)]
        done += n - len(failures)
        if failures:
            err = failures[0]
            if not isinstance(err, Exception):
                raise err
            return done, err
        size *= 2
    return done, None


def pod_from_template(owner: dict, template: dict) -> dict:
    """A new pod for ``owner`` from its pod template (generateName ``<owner>-``)."""
    tmeta = template.get("metadata") or {}
    meta: dict[str, Any] = {"generateName": f"{owner['metadata']['name']}-",
                            "namespace": owner["metadata"].get("namespace"),
                            "ownerReferences": [owner_reference(owner)]}
    for k in ("labels", "annotations", "finalizers"):
        if tmeta.get(k):
            meta[k] = copy.deepcopy(tmeta[k])
    return {"apiVersion": "v1", "kind": "Pod", "metadata": meta, "spec": copy.deepcopy(template.get("spec") or {})}


class ReplicaSetController(PodOwnerController):
    name = "replicaset"
    owner_kind = "ReplicaSet"

    def __init__(self, replicasets: Indexer, pods: Indexer, client: Writer, *,
                 clock: Callable[[], float] = time.monotonic, wall: Callable[[], float] = time.time,
                 burst: int = BURST_REPLICAS) -> None:
        super().__init__(replicasets, pods, client, clock=clock, wall=wall)
        self.replicasets = replicasets
        self.burst = burst

    # ----------------------------------------------------------------- sync
    async def sync(self, key: str) -> None:
        rs = self.replicasets.get(key)
        if rs is None:
            self.expectations.delete(key)
            return
        selector = spec_selector(rs)
        if selector is None:
            return  # validation keeps these out; nothing can be claimed with it
        needs_sync = self.expectations.satisfied(key)
        ns = rs["metadata"].get("namespace", "")
        pods = [p for p in by_namespace(self.pods, ns) if is_pod_active(p)]
        owned = await RefManager(self.client, "pods", rs, "replicasets", selector).claim(pods)
        err: Exception | None = None
        if needs_sync and not is_terminating(rs):
            err = await self._manage(key, rs, owned)
        status = await self._update_status(rs, owned, err)
        min_ready = (rs.get("spec") or {}).get("minReadySeconds") or 0
        if err is None and min_ready and status["readyReplicas"] == replicas_of(rs) \
                and status["availableReplicas"] != replicas_of(rs):
            self.enqueue_after(key, min_ready)
        if err is not None:
            raise err

    async def _manage(self, key: str, rs: dict, owned: list[dict]) -> Exception | None:
        diff = len(owned) - replicas_of(rs)
        if diff < 0:
            n = min(-diff, self.burst)
            self.expectations.expect_creations(key, n)
            template = (rs.get("spec") or {}).get("template") or {}

            done, err = await slow_start_batch(n, 1, lambda: self.create_pod(pod_from_template(rs, template)))
            for _ in range(n - done):  # failed or never tried: the informer will not see these
                self.expectations.creation_observed(key)
            return err
        if diff > 0:
            n = min(diff, self.burst)
            victims = deletion_order(owned, self._related_pods(rs))[:n]
            self.expectations.expect_deletions(key, [object_key(p) for p in victims])
            return await self.delete_pods(key, victims)
        return None

    def _related_pods(self, rs: dict) -> list[dict]:
        """Active pods of the ReplicaSets sharing this one's controller (a
        Deployment's other revisions): a node they crowd is deleted from first."""
        owner = controller_ref(rs)
        if owner is None:
            return []
        ns = rs["metadata"].get("namespace", "")
        siblings = {s["metadata"]["uid"] for s in by_namespace(self.replicasets, ns)
                    if (controller_ref(s) or {}).get("uid") == owner.get("uid")
                    and s["metadata"]["uid"] != rs["metadata"]["uid"]}
        return [p for p in by_namespace(self.pods, ns)
                if is_pod_active(p) and (controller_ref(p) or {}).get("uid") in siblings]

    async def _update_status(self, rs: dict, owned: list[dict], err: Exception | None) -> dict:
        spec = rs.get("spec") or {}
        template_labels = ((spec.get("template") or {}).get("metadata") or {}).get("labels") or {}
        min_ready = spec.get("minReadySeconds") or 0
        now = self.wall()
        old = rs.get("status") or {}
        status: dict[str, Any] = {
            "replicas": len(owned),
            "fullyLabeledReplicas": sum(1 for p in owned
                                        if all(labels_of(p).get(k) == v for k, v in template_labels.items())),
            "readyReplicas": sum(1 for p in owned if is_pod_ready(p)),
            "availableReplicas": sum(1 for p in owned if is_pod_available(p, min_ready, now)),
            "observedGeneration": rs["metadata"].get("generation", 1),
        }
        conditions = [c for c in old.get("conditions") or () if c.get("type") != "ReplicaFailure"]
        if err is not None:
            reason = "FailedCreate" if len(owned) < replicas_of(rs) else "FailedDelete"
            prev = next((c for c in old.get("conditions") or () if c.get("type") == "ReplicaFailure"), None)
            conditions.append({"type": "ReplicaFailure", "status": "True", "reason": reason,
                               "message": str(err),
                               "lastTransitionTime": (prev or {}).get("lastTransitionTime") or format_time(now)})
        if conditions:
            status["conditions"] = conditions
        if all(old.get(k, 0) == v for k, v in status.items() if k != "conditions") \
                and (old.get("conditions") or []) == conditions:
            return status
        await self.client.update_status(dict(rs, status=status))
        return status

