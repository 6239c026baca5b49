"""DefaultPreemption: the PostFilter that, when no node fits a pod, looks for
a node where evicting lower-priority pods would make it fit (upstream's
``defaultpreemption`` plugin and ``framework/preemption`` evaluator).

1. Eligibility: a pod with ``preemptionPolicy: Never`` does not preempt
   ("not eligible due to preemptionPolicy=Never."); nor does a pod whose
   nominated node still has a lower-priority pod terminating because of an
   earlier preemption (unless the filters now call that node
   UnschedulableAndUnresolvable).
2. Candidates: only nodes whose filter status is Unschedulable (not
   UnschedulableAndUnresolvable; nodes without a status were ruled out
   before filtering) are examined, starting at a random offset, until
   ``max(minCandidateNodesPercentage% of them, minCandidateNodesAbsolute)``
   candidates are found. On a copy of each node every pod of lower priority
   than the preemptor is removed; if the pod then passes the framework's
   filters, the removed pods are put back from the most important down
   (higher priority, then earlier start), each one staying if the pod still
   fits; the rest are the victims.
3. Choice (upstream's pickOneNodeForPreemption): the node whose highest
   victim priority is lowest, then the smallest sum of victim priorities,
   then the fewest victims, then the latest start time among its
   highest-priority victims, then the first examined.

The result is ``PostFilterResult(node, victims)``; evicting the victims and
setting ``status.nominatedNodeName`` is the caller's job. When no node can
be freed the status is Unschedulable with upstream's message, e.g.
``preemption: 0/3 nodes are available: 1 No preemption victims found for
incoming pod, 2 Preemption is not helpful for scheduling.``

The filters run against a what-if node by :class:`NodeWhatIf`: PreFilter
state of plugins that implement ``add_pod`` / ``remove_pod`` (upstream's
PreFilterExtensions) is updated as pods come and go; the PreFilter of other
plugins is run again over the node list with the what-if node in place.

Not modelled: PodDisruptionBudgets (no victim counts as violating one, so
the PDB criteria never decide), pods nominated to a node (upstream's
filters see higher-priority nominated pods as already there), extenders,
and the eviction itself.

Args: ``minCandidateNodesPercentage`` (default 10, 0..100) and
``minCandidateNodesAbsolute`` (default 100, >= 0; not both 0).
"""
from __future__ import annotations

import math
import random
from dataclasses import dataclass, field
from typing import Any, Mapping

from kubeapi.models.base import parse_time

from ..framework import SUCCESS, Code, CycleState, PostFilterResult, Status, fit_error_message
from ..nodeinfo import NodeInfo, PodInfo

NAME = "DefaultPreemption"

MSG_NOT_ELIGIBLE_NEVER = "not eligible due to preemptionPolicy=Never."
MSG_NOT_ELIGIBLE_TERMINATING = "not eligible due to a terminating pod on the nominated node."
MSG_NO_VICTIMS = "No preemption victims found for incoming pod"
MSG_NOT_HELPFUL = "Preemption is not helpful for scheduling"

_MAX_INT32 = 2**31 - 1


# --------------------------------------------------------------------------------------------
# Pod ordering
# --------------------------------------------------------------------------------------------


def pod_start_time(pi: PodInfo) -> float:
    """``status.startTime`` in seconds; a pod not started yet counts as starting now
    (later than any started pod)."""
    t = parse_time((pi.pod.get("status") or {}).get("startTime"))
    return math.inf if t is None else t


def importance_key(pi: PodInfo) -> tuple[int, float]:
    """Sorts the more important pod first: higher priority, then earlier start."""
    return -pi.priority, pod_start_time(pi)


def earliest_start_of_highest_priority(victims: list[PodInfo]) -> float:
    top = max(p.priority for p in victims)
    return min(pod_start_time(p) for p in victims if p.priority == top)


def terminating_by_preemption(pi: PodInfo) -> bool:
    """Deleted, with a DisruptionTarget condition set by a scheduler's preemption."""
    if not (pi.pod.get("metadata") or {}).get("deletionTimestamp"):
        return False
    for c in (pi.pod.get("status") or {}).get("conditions") or ():
        if c.get("type") == "DisruptionTarget":
            return c.get("status") == "True" and c.get("reason") == "PreemptionByScheduler"
    return False


@dataclass
class Candidate:
    """A node where evicting ``victims`` (most important first) makes the pod fit."""

    name: str
    victims: list[PodInfo] = field(default_factory=list)
    num_pdb_violations: int = 0


def pick_one_node_for_preemption(candidates: list[Candidate]) -> Candidate | None:
    """Upstream's pickOneNodeForPreemption, each criterion applied only to break
    the previous one's ties."""
    if not candidates:
        return None
    score_funcs = (
        lambda c: -c.num_pdb_violations,
        lambda c: -max(p.priority for p in c.victims),
        lambda c: -sum(p.priority + _MAX_INT32 + 1 for p in c.victims),
        lambda c: -len(c.victims),
        lambda c: earliest_start_of_highest_priority(c.victims),
    )
    remaining = candidates
    for f in score_funcs:
        scored = [(f(c), c) for c in remaining]
        best = max(s for s, _ in scored)
        remaining = [c for s, c in scored if s == best]
        if len(remaining) == 1:
            return remaining[0]
    return remaining[0]


# --------------------------------------------------------------------------------------------
# What-if filtering
# --------------------------------------------------------------------------------------------


class NodeWhatIf:
    """Runs a framework's filters for ``pod`` against ``node`` (a copy, changed
    in place by :meth:`remove_pod` / :meth:`add_pod`), keeping the PreFilter
    state in ``state`` (a copy of the cycle's) consistent with the change.

    ``nodes`` is the cluster's node list; the copy stands in for the node of
    the same name when a PreFilter has to be run again."""

    def __init__(self, framework: Any, state: CycleState, pod: PodInfo, node: NodeInfo,
                 nodes: list[NodeInfo] | None = None) -> None:
        self.framework = framework
        self.state = state
        self.pod = pod
        self.node = node
        self._all_nodes = nodes
        self._nodes: list[NodeInfo] | None = None
        self.incremental: list[Any] = []
        self.rerun: list[Any] = []
        for pl in framework.points.get("pre_filter", ()):
            if callable(getattr(pl, "add_pod", None)) and callable(getattr(pl, "remove_pod", None)):
                self.incremental.append(pl)
            else:
                self.rerun.append(pl)
        self._dirty = False

    @classmethod
    def fresh(cls, framework: Any, pod: PodInfo, node: NodeInfo, nodes: list[NodeInfo] | None = None
              ) -> tuple[NodeWhatIf, Status]:
        """A what-if with a new cycle state: every PreFilter run over ``nodes``
        (with ``node`` in place of its namesake)."""
        w = cls(framework, CycleState(), pod, node, nodes)
        return w, w._run_pre_filters(list(framework.points.get("pre_filter", ())))

    def _what_if_nodes(self) -> list[NodeInfo]:
        if self._nodes is None:
            name = self.node.name
            base = self._all_nodes if self._all_nodes is not None else [self.node]
            self._nodes = [self.node if n.name == name else n for n in base]
            if not any(n is self.node for n in self._nodes):
                self._nodes.append(self.node)
        return self._nodes

    def _extension(self, method: str, pi: PodInfo) -> Status:
        for pl in self.incremental:
            if pl.name in self.state.skip_filter:
                continue
            st = getattr(pl, method)(self.state, self.pod, pi, self.node)
            if not st.is_success():
                st.plugin = st.plugin or pl.name
                return st
        return SUCCESS

    def remove_pod(self, pi: PodInfo) -> Status:
        if not self.node.remove_pod(pi.key):
            return Status.error(f"pod {pi.key} not found on node {self.node.name}")
        self._dirty = True
        return self._extension("remove_pod", pi)

    def add_pod(self, pi: PodInfo) -> Status:
        self.node.add_pod(pi)
        self._dirty = True
        return self._extension("add_pod", pi)

    def _run_pre_filters(self, plugins: list[Any] | None = None) -> Status:
        self._dirty = False
        plugins = self.rerun if plugins is None else plugins
        if not plugins:
            return SUCCESS
        nodes = self._what_if_nodes()
        for pl in plugins:
            self.state.skip_filter.discard(pl.name)
            _, st = pl.pre_filter(self.state, self.pod, nodes)
            if st.code == Code.SKIP:
                self.state.skip_filter.add(pl.name)
            elif not st.is_success():
                st.plugin = st.plugin or pl.name
                return st
        return SUCCESS

    def run_filters(self) -> Status:
        """The framework's Filter plugins on the what-if node."""
        if self._dirty and self.rerun:
            st = self._run_pre_filters()
            if not st.is_success():
                return st
        return self.framework.run_filter(self.state, self.pod, self.node)


# --------------------------------------------------------------------------------------------
# The plugin
# --------------------------------------------------------------------------------------------


class DefaultPreemption:
    name = NAME

    def __init__(self, args: dict | None = None, handle: Any = None) -> None:
        args = args or {}
        self.handle = handle
        pct = args.get("minCandidateNodesPercentage")
        absolute = args.get("minCandidateNodesAbsolute")
        self.min_candidate_nodes_percentage = 10 if pct is None else int(pct)
        self.min_candidate_nodes_absolute = 100 if absolute is None else int(absolute)
        errs = []
        if not 0 <= self.min_candidate_nodes_percentage <= 100:
            errs.append(f"minCandidateNodesPercentage: Invalid value: {self.min_candidate_nodes_percentage}: "
                        f"not in valid range [0, 100]")
        if self.min_candidate_nodes_absolute < 0:
            errs.append(f"minCandidateNodesAbsolute: Invalid value: {self.min_candidate_nodes_absolute}: "
                        f"not in valid range [0, inf)")
        if self.min_candidate_nodes_percentage == 0 and self.min_candidate_nodes_absolute == 0:
            errs.append("minCandidateNodesPercentage: Invalid value: 0: cannot be zero at the same time as "
                        "minCandidateNodesAbsolute")
        if errs:
            raise ValueError("; ".join(errs))
        self.rng = random.Random()  # the examination offset (replace for deterministic runs)

    # ------------------------------------------------------------ helpers
    def calculate_num_candidates(self, num_nodes: int) -> int:
        n = num_nodes * self.min_candidate_nodes_percentage // 100
        if n < self.min_candidate_nodes_absolute:
            n = self.min_candidate_nodes_absolute
        return min(n, num_nodes)

    def get_offset_and_num_candidates(self, num_nodes: int) -> tuple[int, int]:
        return self.rng.randrange(num_nodes), self.calculate_num_candidates(num_nodes)

    def pod_eligible_to_preempt_others(self, pod: PodInfo, nominated_status: Status | None) -> tuple[bool, str]:
        if pod.spec.get("preemptionPolicy") == "Never":
            return False, MSG_NOT_ELIGIBLE_NEVER
        nominated = (pod.pod.get("status") or {}).get("nominatedNodeName") or ""
        if nominated:
            # a nominated node the filters rule out for good (or never saw) is no reason to wait
            if nominated_status is None or nominated_status.code == Code.UNSCHEDULABLE_AND_UNRESOLVABLE:
                return True, ""
            snapshot = getattr(self.handle, "snapshot", None)
            ni = snapshot.get(nominated) if snapshot is not None else None
            if ni is not None:
                prio = pod.priority
                for p in ni.pods:
                    if p.priority < prio and terminating_by_preemption(p):
                        return False, MSG_NOT_ELIGIBLE_TERMINATING
        return True, ""

    def select_victims_on_node(self, framework: Any, state: CycleState, pod: PodInfo, node: NodeInfo,
                               nodes: list[NodeInfo]) -> tuple[list[PodInfo], Status]:
        """The fewest (least important) pods to evict from a copy of ``node``
        so that ``pod`` fits; ``state`` is consumed (pass a copy)."""
        what_if = NodeWhatIf(framework, state, pod, node.clone(), nodes)
        prio = pod.priority
        potential = [p for p in what_if.node.pods if p.priority < prio]
        if not potential:
            return [], Status(Code.UNSCHEDULABLE_AND_UNRESOLVABLE, [MSG_NO_VICTIMS])
        for p in potential:
            st = what_if.remove_pod(p)
            if not st.is_success():
                return [], st
        # if the pod does not fit even with all of them gone, this node cannot help (affinity
        # to lower-priority pods is not considered, as upstream)
        st = what_if.run_filters()
        if not st.is_success():
            return [], st
        potential.sort(key=importance_key)
        victims: list[PodInfo] = []
        for p in potential:  # reprieve the most important first
            st = what_if.add_pod(p)
            if not st.is_success():
                return [], st
            if not what_if.run_filters().is_success():
                st = what_if.remove_pod(p)
                if not st.is_success():
                    return [], st
                victims.append(p)
        return victims, Status()

    def dry_run_preemption(self, framework: Any, state: CycleState, pod: PodInfo, potential: list[NodeInfo],
                           nodes: list[NodeInfo], offset: int, num_candidates: int
                           ) -> tuple[list[Candidate], dict[str, Status], list[str]]:
        candidates: list[Candidate] = []
        statuses: dict[str, Status] = {}
        errors: list[str] = []
        n = len(potential)
        for i in range(n):
            ni = potential[(offset + i) % n]
            victims, st = self.select_victims_on_node(framework, state.clone(), pod, ni, nodes)
            if st.is_success() and victims:
                candidates.append(Candidate(ni.name, victims))
                if len(candidates) >= num_candidates:
                    break
                continue
            if st.is_success():
                st = Status.error(f'expected at least one victim pod on node "{ni.name}"')
            if st.code == Code.ERROR:
                errors.append(st.message())
            statuses[ni.name] = st
        return candidates, statuses, errors

    # ------------------------------------------------------------ post filter
    def post_filter(self, state: CycleState, pod: PodInfo, statuses: Mapping[str, Status]
                    ) -> tuple[PostFilterResult | None, Status]:
        result, st = self.preempt(state, pod, statuses)
        if st.reasons:
            return result, Status(st.code, ["preemption: " + st.message()])
        return result, st

    def preempt(self, state: CycleState, pod: PodInfo, statuses: Mapping[str, Status]
                ) -> tuple[PostFilterResult | None, Status]:
        nominated = (pod.pod.get("status") or {}).get("nominatedNodeName") or ""
        ok, msg = self.pod_eligible_to_preempt_others(pod, statuses.get(nominated) if nominated else None)
        if not ok:
            return None, Status(Code.UNSCHEDULABLE, [msg])

        framework = getattr(self.handle, "framework", None)
        snapshot = getattr(self.handle, "snapshot", None)
        if framework is None or snapshot is None:
            return None, Status.error("no framework or snapshot to run the filters with")
        nodes = snapshot.list()
        if not nodes:
            return None, Status.error("no nodes available")

        # nodes where removing pods may help: rejected as Unschedulable (nodes without a
        # status were ruled out before filtering: UnschedulableAndUnresolvable)
        potential = [ni for ni in nodes
                     if (s := statuses.get(ni.name)) is not None and s.code == Code.UNSCHEDULABLE]
        candidates: list[Candidate] = []
        node_statuses: dict[str, Status] = {}
        if potential:
            offset, num = self.get_offset_and_num_candidates(len(potential))
            candidates, node_statuses, errors = self.dry_run_preemption(
                framework, state, pod, potential, nodes, offset, num)
            if errors and not candidates:
                return None, Status.error(errors[0] if len(errors) == 1 else "[" + ", ".join(errors) + "]")

        if not candidates:
            not_helpful = Status(Code.UNSCHEDULABLE_AND_UNRESOLVABLE, [MSG_NOT_HELPFUL])
            every = {ni.name: node_statuses.get(ni.name, not_helpful) for ni in nodes}
            return PostFilterResult(""), Status(Code.UNSCHEDULABLE, [fit_error_message(len(nodes), every)])

        best = candidates[0] if len(candidates) == 1 else pick_one_node_for_preemption(candidates)
        assert best is not None
        return PostFilterResult(best.name, list(best.victims)), Status()


def new(args: dict, handle: Any) -> DefaultPreemption:
    return DefaultPreemption(args, handle)
