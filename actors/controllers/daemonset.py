"""The DaemonSet controller (upstream's ``pkg/controller/daemon``).

One pod of the DaemonSet's template per eligible node. A node is eligible
when the daemon pod (the template plus the tolerations daemons always get)
fits it: nodeSelector and required node affinity match, and every NoSchedule
or NoExecute taint is tolerated. A node whose only untolerated taints are
NoSchedule keeps an existing daemon pod but gets no new one; an untolerated
NoExecute taint evicts it.

``sync(key)`` reconciles one DaemonSet from the informers' state:

1. claim pods (adopt matching orphans, release strays) and group them by the
   node they run on or are pinned to;
2. unless creates or deletes it asked for are still unseen (expectations):
   create a pod on each eligible node without one (pinned by a required
   ``metadata.name`` node-affinity term, so the default scheduler binds it),
   delete pods on nodes that are gone or no longer eligible, surplus pods
   (the oldest stays) and failed pods (rate limited per node by a back-off,
   since a kubelet rejecting pods would otherwise meet a create per sync);
3. when nothing was needed, roll old-revision pods forward: with
   ``maxSurge`` 0 delete at most ``maxUnavailable`` counting pods already
   unavailable; with ``maxSurge`` > 0 start the new pod beside the old one
   and delete the old once the new is available (``OnDelete``: replace only
   pods someone else deleted);
4. write status when it changed.
"""
from __future__ import annotations

import copy
import time
from typing import Any, Callable

from kubeapi.informer import Indexer
from kubeapi.models.base import parse_time

from actors.scheduler.plugins.nodeaffinity import OBJECT_NAME_FIELD, RequiredNodeAffinity
from actors.scheduler.plugins.tainttoleration import NO_EXECUTE, NO_SCHEDULE, do_not_schedule_taint, \
    find_matching_untolerated_taint

from .base import Writer, by_namespace, int_or_percent, labels_of, object_key, spec_selector, template_hash
from .owned import PodOwnerController
from .podutil import is_pod_available, is_pod_ready, is_terminating, pod_phase
from .refmanager import RefManager
from .replicaset import pod_from_template, slow_start_batch

BURST_REPLICAS = 250  # upstream's burstReplicas for DaemonSets: creates or deletes per sync
HASH_LABEL = "controller-revision-hash"
GENERATION_LABEL = "pod-template-generation"
TEMPLATE_GENERATION = "deprecated.daemonset.template.generation"
BACKOFF_INITIAL = 1.0
BACKOFF_MAX = 15 * 60.0

# the taints every daemon pod tolerates (node problems must not evict node agents)
_AUTO_TOLERATIONS = [
    {"key": "node.kubernetes.io/not-ready", "operator": "Exists", "effect": NO_EXECUTE},
    {"key": "node.kubernetes.io/unreachable", "operator": "Exists", "effect": NO_EXECUTE},
    {"key": "node.kubernetes.io/disk-pressure", "operator": "Exists", "effect": NO_SCHEDULE},
    {"key": "node.kubernetes.io/memory-pressure", "operator": "Exists", "effect": NO_SCHEDULE},
    {"key": "node.kubernetes.io/pid-pressure", "operator": "Exists", "effect": NO_SCHEDULE},
    {"key": "node.kubernetes.io/unschedulable", "operator": "Exists", "effect": NO_SCHEDULE},
]
_NETWORK_UNAVAILABLE = {"key": "node.kubernetes.io/network-unavailable", "operator": "Exists",
                        "effect": NO_SCHEDULE}


# ---------------------------------------------------------------------- pod shape
def _same_toleration(a: dict, b: dict) -> bool:
    """Upstream's ``MatchToleration``: equal but for tolerationSeconds."""
    return all((a.get(k) or "") == (b.get(k) or "") for k in ("key", "operator", "value", "effect"))


def add_daemon_tolerations(spec: dict) -> None:
    """Add (or replace, dropping any tolerationSeconds) the tolerations
    upstream gives every daemon pod; network-unavailable only for hostNetwork
    pods, which are what bring a node's network up."""
    tols = list(spec.get("tolerations") or ())
    wanted = _AUTO_TOLERATIONS + ([_NETWORK_UNAVAILABLE] if spec.get("hostNetwork") else [])
    for tol in wanted:
        i = next((i for i, t in enumerate(tols) if _same_toleration(t, tol)), None)
        if i is None:
            tols.append(dict(tol))
        else:
            tols[i] = dict(tol)
    spec["tolerations"] = tols


def pin_to_node(affinity: dict | None, node: str) -> dict:
    """``affinity`` with its required node affinity replaced by the single term
    ``metadata.name In [node]``: the scheduler binds the pod there and nowhere
    else (the other terms were already checked against that node)."""
    affinity = copy.deepcopy(affinity) if affinity else {}
    node_aff = affinity.setdefault("nodeAffinity", {}) or {}
    affinity["nodeAffinity"] = node_aff
    node_aff["requiredDuringSchedulingIgnoredDuringExecution"] = {"nodeSelectorTerms": [
        {"matchFields": [{"key": OBJECT_NAME_FIELD, "operator": "In", "values": [node]}]}]}
    return affinity


def target_node(pod: dict) -> str | None:
    """The node a daemon pod runs on, or (not yet bound) the one it is pinned to."""
    spec = pod.get("spec") or {}
    if spec.get("nodeName"):
        return spec["nodeName"]
    required = ((spec.get("affinity") or {}).get("nodeAffinity") or {}) \
        .get("requiredDuringSchedulingIgnoredDuringExecution") or {}
    for term in required.get("nodeSelectorTerms") or ():
        for req in term.get("matchFields") or ():
            if req.get("key") == OBJECT_NAME_FIELD and req.get("operator") == "In":
                values = req.get("values") or []
                return values[0] if len(values) == 1 else None
    return None


def daemon_pod_spec(ds: dict) -> dict:
    """The spec a daemon pod of ``ds`` gets (template plus automatic tolerations)."""
    spec = copy.deepcopy(((ds.get("spec") or {}).get("template") or {}).get("spec") or {})
    add_daemon_tolerations(spec)
    return spec


def should_run(node: dict, pod_spec: dict) -> tuple[bool, bool]:
    """(a daemon pod should be created on ``node``, an existing one may stay)."""
    name = node["metadata"]["name"]
    if pod_spec.get("nodeName") not in (None, "", name):
        return False, False
    if not RequiredNodeAffinity(pod_spec).matches(labels_of(node), name):
        return False, False
    taints = (node.get("spec") or {}).get("taints") or []
    tols = pod_spec.get("tolerations") or []
    if find_matching_untolerated_taint(taints, tols, do_not_schedule_taint) is None:
        return True, True
    return False, find_matching_untolerated_taint(taints, tols, lambda t: t.get("effect") == NO_EXECUTE) is None


def template_generation(ds: dict) -> str | None:
    """The template generation pods are labelled with: upstream's annotation
    when present, else the DaemonSet's generation (which moves with its template)."""
    meta = ds.get("metadata") or {}
    gen = (meta.get("annotations") or {}).get(TEMPLATE_GENERATION) or meta.get("generation")
    return None if gen is None else str(gen)


def is_updated(pod: dict, hash_: str, generation: str | None) -> bool:
    labels = labels_of(pod)
    return bool(hash_) and labels.get(HASH_LABEL) == hash_ or \
        generation is not None and labels.get(GENERATION_LABEL) == generation


def _oldest_first(pods: list[dict]) -> list[dict]:
    """Bound pods first, then by creation time, then name (upstream's podByCreationTimestampAndPhase)."""
    return sorted(pods, key=lambda p: (not (p.get("spec") or {}).get("nodeName"),
                                       parse_time(p["metadata"].get("creationTimestamp")) or 0.0,
                                       p["metadata"]["name"]))


def _surge_and_unavailable(ds: dict, desired: int) -> tuple[int, int]:
    """``maxSurge`` and ``maxUnavailable`` (both rounded up) of a RollingUpdate
    DaemonSet; both 0 would never progress, so unavailable is then 1."""
    strategy = (ds.get("spec") or {}).get("updateStrategy") or {}
    if strategy.get("type", "RollingUpdate") != "RollingUpdate":
        return 0, 0
    ru = strategy.get("rollingUpdate") or {}
    surge = int_or_percent(ru.get("maxSurge"), desired, True)
    unavailable = int_or_percent(ru.get("maxUnavailable", 1), desired, True)
    if desired > 0 and surge == 0 and unavailable == 0:
        unavailable = 1
    return surge, unavailable


def allows_surge(ds: dict) -> bool:
    return _surge_and_unavailable(ds, 1)[0] > 0


# ------------------------------------------------------------------ bookkeeping
class FailedPodBackoff:
    """Per-key exponential back-off (upstream's flowcontrol.Backoff without jitter):
    1 s doubling to 15 min, starting over after twice the maximum of quiet."""

    def __init__(self, clock: Callable[[], float], initial: float = BACKOFF_INITIAL,
                 maximum: float = BACKOFF_MAX) -> None:
        self.clock, self.initial, self.maximum = clock, initial, maximum
        self._entries: dict[str, tuple[float, float]] = {}  # key -> (delay, last update)

    def delay(self, key: str) -> float:
        return self._entries.get(key, (0.0, 0.0))[0]

    def in_backoff(self, key: str) -> bool:
        e = self._entries.get(key)
        return e is not None and self.clock() - e[1] < e[0]

    def next(self, key: str) -> None:
        now = self.clock()
        e = self._entries.get(key)
        if e is None or now - e[1] > 2 * self.maximum:
            self._entries[key] = (self.initial, now)
        else:
            self._entries[key] = (min(e[0] * 2, self.maximum), now)
        for k in [k for k, (_, at) in self._entries.items() if now - at > 2 * self.maximum]:
            del self._entries[k]  # (forget keys quiet long enough to start over anyway)


# ------------------------------------------------------------------- controller
class DaemonSetController(PodOwnerController):
    name = "daemonset"
    owner_kind = "DaemonSet"

    def __init__(self, daemonsets: Indexer, pods: Indexer, nodes: Indexer, client: Writer, *,
                 clock: Callable[[], float] = time.monotonic, wall: Callable[[], float] = time.time,
                 burst: int = BURST_REPLICAS) -> None:
        super().__init__(daemonsets, pods, client, clock=clock, wall=wall)
        self.daemonsets = daemonsets
        self.nodes = nodes
        self.burst = burst
        self.backoff = FailedPodBackoff(clock)

    # ------------------------------------------------------------- handlers
    def on_node_add(self, node: dict) -> None:
        for ds in self.daemonsets.list():
            if should_run(node, daemon_pod_spec(ds))[0]:
                self.enqueue(ds)

    def on_node_update(self, old: dict, new: dict) -> None:
        """Only labels and taints decide eligibility: other changes (status
        heartbeats, conditions) re-enqueue nothing."""
        if labels_of(old) == labels_of(new) and \
                ((old.get("spec") or {}).get("taints") or []) == ((new.get("spec") or {}).get("taints") or []):
            return
        for ds in self.daemonsets.list():
            spec = daemon_pod_spec(ds)
            if should_run(old, spec) != should_run(new, spec):
                self.enqueue(ds)

    def on_node_delete(self, node: Any) -> None:
        for ds in self.daemonsets.list():
            self.enqueue(ds)  # its pods there are now surplus

    # ----------------------------------------------------------------- sync
    async def sync(self, key: str) -> None:
        ds = self.daemonsets.get(key)
        if ds is None:
            self.expectations.delete(key)
            return
        selector = spec_selector(ds)
        if selector is None or is_terminating(ds):
            return  # (being deleted: its status can no longer be trusted, as upstream)
        ns = ds["metadata"].get("namespace", "")
        owned = await RefManager(self.client, "pods", ds, "daemonsets", selector).claim(by_namespace(self.pods, ns))
        by_node: dict[str, list[dict]] = {}
        for p in owned:
            node = target_node(p)
            if node is not None and not (is_terminating(p) and pod_phase(p) in ("Succeeded", "Failed")):
                by_node.setdefault(node, []).append(p)
        nodes = sorted(self.nodes.list(), key=lambda n: n["metadata"]["name"])
        spec = daemon_pod_spec(ds)
        fits = {n["metadata"]["name"]: should_run(n, spec) for n in nodes}
        hash_ = template_hash((ds.get("spec") or {}).get("template") or {},
                              (ds.get("status") or {}).get("collisionCount"))
        if not self.expectations.satisfied(key):
            await self._update_status(ds, fits, by_node, hash_, observe=False)
            return
        err = await self._sync_nodes(key, ds, *self._manage(key, ds, fits, by_node, hash_), hash_)
        strategy = ((ds.get("spec") or {}).get("updateStrategy") or {}).get("type", "RollingUpdate")
        if err is None and strategy == "RollingUpdate" and self.expectations.satisfied(key):
            err = await self._sync_nodes(key, ds, *self._rolling_update(ds, fits, by_node, hash_), hash_)
        await self._update_status(ds, fits, by_node, hash_, observe=True)
        if err is not None:
            raise err

    def _manage(self, key: str, ds: dict, fits: dict[str, tuple[bool, bool]], by_node: dict[str, list[dict]],
                hash_: str) -> tuple[list[str], list[dict]]:
        """(nodes needing a daemon pod, pods to delete) for the nodes' current state."""
        create: list[str] = []
        delete: list[dict] = []
        surge = allows_surge(ds)
        for name, (run, keep) in fits.items():
            pods = by_node.get(name, [])
            if run and not pods:
                create.append(name)
            elif keep:
                running = []
                for p in pods:
                    if is_terminating(p):
                        continue
                    phase = pod_phase(p)
                    if phase == "Failed":
                        if self._failed_pod_deletable(key, ds, name):
                            delete.append(p)
                    elif phase == "Succeeded":
                        delete.append(p)
                    else:
                        running.append(p)
                if len(running) > 1:
                    delete.extend(self._surplus(ds, _oldest_first(running), hash_, surge))
                elif not running and surge and run:
                    create.append(name)  # surging: every node keeps one pod not being deleted
            else:
                delete.extend(p for p in pods if not is_terminating(p))
        for name, pods in sorted(by_node.items()):
            if name not in fits:  # the node is gone: its pods can never run
                delete.extend(p for p in pods if not is_terminating(p))
        return create, delete

    def _failed_pod_deletable(self, key: str, ds: dict, node: str) -> bool:
        """Whether a failed pod on ``node`` may be deleted now; when not, look again
        once the back-off allows (a kubelet rejecting the pod must not meet a hot loop)."""
        bkey = f"{ds['metadata'].get('uid')}/{(ds.get('status') or {}).get('observedGeneration', 0)}/{node}"
        if self.backoff.in_backoff(bkey):
            self.enqueue_after(key, self.backoff.delay(bkey))
            return False
        self.backoff.next(bkey)
        return True

    def _surplus(self, ds: dict, running: list[dict], hash_: str, surge: bool) -> list[dict]:
        """Of several live pods on one node (oldest first), those to delete.
        Without surge all but the oldest; with surge the oldest new-revision pod
        and the oldest old one may both stay while the old one is ready and the
        new one not yet available."""
        if not surge:
            return running[1:]
        gen = template_generation(ds)
        new = next((p for p in running if is_updated(p, hash_, gen)), None)
        old = next((p for p in running if not is_updated(p, hash_, gen)), None)
        out = [p for p in running if p is not new and p is not old]
        min_ready = (ds.get("spec") or {}).get("minReadySeconds") or 0
        if new is not None and old is not None and \
                (not is_pod_ready(old) or is_pod_available(new, min_ready, self.wall())):
            out.append(old)
        return out

    def _rolling_update(self, ds: dict, fits: dict[str, tuple[bool, bool]], by_node: dict[str, list[dict]],
                        hash_: str) -> tuple[list[str], list[dict]]:
        """(nodes to start a new-revision pod on, old pods to delete) for one rolling-update step."""
        desired = sum(1 for run, _ in fits.values() if run)
        max_surge, max_unavailable = _surge_and_unavailable(ds, desired)
        min_ready = (ds.get("spec") or {}).get("minReadySeconds") or 0
        now = self.wall()
        gen = template_generation(ds)
        names = sorted(set(by_node) | {n for n, (run, _) in fits.items() if run})

        def split(pods: list[dict]) -> tuple[dict | None, dict | None, bool]:
            new = old = None
            for p in pods:
                if is_terminating(p):
                    continue
                if is_updated(p, hash_, gen):
                    if new is not None:
                        return None, None, False
                    new = p
                else:
                    if old is not None:
                        return None, None, False
                    old = p
            return new, old, True

        if max_surge == 0:
            unavailable = 0
            replace: list[dict] = []
            candidates: list[dict] = []
            for name in names:
                new, old, ok = split(by_node.get(name, []))
                if not ok or (new is None) == (old is None):
                    unavailable += 1  # the core loop is creating or pruning here
                elif new is not None:
                    unavailable += not is_pod_available(new, min_ready, now)
                elif old is not None and not is_pod_available(old, min_ready, now):
                    replace.append(old)  # unavailable anyway: replace it at once
                    unavailable += 1
                elif old is not None and unavailable < max_unavailable:
                    candidates.append(old)
            room = max(0, min(max_unavailable - unavailable, len(candidates)))
            return [], replace + candidates[:room]

        surged = available = 0
        delete: list[dict] = []
        sunset: list[dict] = []  # available old pods on nodes no longer eligible
        allowed: list[str] = []
        candidate_nodes: list[str] = []
        for name in names:
            new, old, ok = split(by_node.get(name, []))
            if not ok:
                surged += 1
                continue
            live = old if old is not None else new
            if live is not None and is_pod_available(live, min_ready, now):
                available += 1
            run = fits.get(name, (False, False))[0]
            if old is None:
                continue
            if new is None:
                if not is_pod_available(old, min_ready, now):
                    if run:
                        allowed.append(name)
                    else:
                        delete.append(old)
                elif not run:
                    sunset.append(old)
                elif surged < max_surge:
                    candidate_nodes.append(name)
            elif not is_pod_available(new, min_ready, now):
                surged += 1  # waiting for the new pod to become available
            else:
                delete.append(old)
        # keep every node's daemon available: sunset pods go once others are available in their place
        delete.extend(sunset[:max(0, available - desired)])
        room = max(0, min(max_surge - surged, len(candidate_nodes)))
        return allowed + candidate_nodes[:room], delete

    async def _sync_nodes(self, key: str, ds: dict, nodes: list[str], victims: list[dict],
                          hash_: str) -> Exception | None:
        """Create a pinned pod on each of ``nodes`` (slow start) and delete ``victims``,
        at most ``burst`` of each, expecting to see each in the informers."""
        nodes, victims = nodes[:self.burst], victims[:self.burst]
        self.expectations.expect(key, len(nodes), [object_key(p) for p in victims])
        err: Exception | None = None
        if nodes:
            template = copy.deepcopy((ds.get("spec") or {}).get("template") or {})
            template["spec"] = daemon_pod_spec(ds)
            labels = dict((template.get("metadata") or {}).get("labels") or {})
            gen = template_generation(ds)
            if gen is not None:
                labels[GENERATION_LABEL] = gen
            labels[HASH_LABEL] = hash_
            template["metadata"] = dict(template.get("metadata") or {}, labels=labels)
            pending = iter(nodes)

            async def create() -> None:
                pod = pod_from_template(ds, template)
                pod["spec"]["affinity"] = pin_to_node(pod["spec"].get("affinity"), next(pending))
                await self.create_pod(pod)
            done, err = await slow_start_batch(len(nodes), 1, create)
            for _ in range(len(nodes) - done):  # failed or never tried: the informer will not see these
                self.expectations.creation_observed(key)
        return await self.delete_pods(key, victims) or err

    async def _update_status(self, ds: dict, fits: dict[str, tuple[bool, bool]], by_node: dict[str, list[dict]],
                             hash_: str, *, observe: bool) -> None:
        spec = ds.get("spec") or {}
        min_ready = spec.get("minReadySeconds") or 0
        now = self.wall()
        gen = template_generation(ds)
        desired = current = misscheduled = ready = updated = available = 0
        for name, (run, _) in fits.items():
            pods = by_node.get(name)
            if not run:
                misscheduled += bool(pods)
                continue
            desired += 1
            if not pods:
                continue
            current += 1
            pod = _oldest_first(pods)[0]
            if is_pod_ready(pod):
                ready += 1
                available += is_pod_available(pod, min_ready, now)
            updated += is_updated(pod, hash_, gen)
        old = ds.get("status") or {}
        status: dict[str, Any] = {
            "currentNumberScheduled": current, "numberMisscheduled": misscheduled,
            "desiredNumberScheduled": desired, "numberReady": ready,
            "observedGeneration": ds["metadata"].get("generation", 1) if observe else old.get("observedGeneration", 0),
            "updatedNumberScheduled": updated, "numberAvailable": available,
            "numberUnavailable": desired - available,
        }
        for k in ("collisionCount", "conditions"):
            if old.get(k) is not None:
                status[k] = old[k]
        if min_ready and ready != available:
            self.enqueue_after(ds, min_ready)  # they turn available then
        if any(old.get(k, 0) != v for k, v in status.items()):
            await self.client.update_status(dict(ds, status=status))
