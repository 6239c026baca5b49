"""PodTopologySpread: spread matching pods evenly across topology domains
(upstream's ``podtopologyspread`` plugin: filtering.go, scoring.go, common.go).

Hard constraints (``whenUnsatisfiable: DoNotSchedule``):

* PreFilter counts, per constraint, the pods matching its selector (same
  namespace, not terminating) in every domain — a domain being a value of the
  topology key on a node that carries *all* the constraints' keys and passes
  the constraint's node inclusion policies (``nodeAffinityPolicy``, default
  Honor: the node must match the pod's nodeSelector/required affinity;
  ``nodeTaintsPolicy``, default Ignore: with Honor the pod must tolerate the
  node's NoSchedule/NoExecute taints). It keeps the two smallest domains
  (critical paths) for each constraint. Skip when there are none.
* Filter rejects a node lacking a topology key (UnschedulableAndUnresolvable,
  ``... (missing required label)``) and a node where ``matching pods in its
  domain + 1 if the pod matches itself - global minimum > maxSkew``
  (Unschedulable). The global minimum is 0 while there are fewer eligible
  domains than ``minDomains``.

Soft constraints (``ScheduleAnyway``) are scored: a node's score is, summed
over constraints, ``matching pods in its domain * log(domains + 2) +
(maxSkew - 1)`` (hostname domains counted on the node itself), then
normalized so that fewer matching pods score higher; nodes missing a
topology key score 0.

``matchLabelKeys``: the pod's values for those keys are ANDed into the
selector. A ``labelSelector`` that is absent selects no pods; an empty one
selects all but, as upstream, counts none.

Default constraints apply to pods without ``topologySpreadConstraints``.
Args: ``defaultingType`` — ``"System"`` (the default: maxSkew 3 on
``kubernetes.io/hostname`` and 5 on ``topology.kubernetes.io/zone``, both
ScheduleAnyway; with these, nodes without a zone label still get hostname
spreading) or ``"List"`` with ``defaultConstraints`` (constraints without a
labelSelector). Upstream gives default constraints the selector of the
Services, ReplicationControllers, ReplicaSets and StatefulSets that select
the pod (none: no default spreading). Here, if the handle offers
``default_selector(pod) -> LabelSelector | None`` that is used the same way;
otherwise a pod controlled by a ReplicaSet, StatefulSet or
ReplicationController is spread among the pods sharing its labels (leaving
out labels unique to one pod — ``statefulset.kubernetes.io/pod-name``,
``apps.kubernetes.io/pod-index``, ``batch.kubernetes.io/job-completion-index``
— or to one revision, ``controller-revision-hash``), which is what those
controllers' selectors select; a pod without such an owner gets no default
spreading, as upstream when no Service selects it. The scheduler actor
offers the hook, built by :func:`workload_selector` from its informers.
"""
from __future__ import annotations

import math
from dataclasses import dataclass, field
from typing import Any, Callable, Iterable, Mapping

from kubeapi.selectors import (LabelSelector, Operator, SelectorError, label_selector_from_dict, nothing,
                               selector_from_set)

from ..framework import MAX_NODE_SCORE, SUCCESS, ClusterEvent, Code, CycleState, NodeScore, PreFilterResult, Status
from ..nodeinfo import NodeInfo, PodInfo
from .nodeaffinity import RequiredNodeAffinity
from .tainttoleration import do_not_schedule_taint, find_matching_untolerated_taint

NAME = "PodTopologySpread"
PRE_FILTER_STATE_KEY = "PreFilter" + NAME
PRE_SCORE_STATE_KEY = "PreScore" + NAME

ERR_REASON_CONSTRAINTS_NOT_MATCH = "node(s) didn't match pod topology spread constraints"
ERR_REASON_NODE_LABEL_NOT_MATCH = ERR_REASON_CONSTRAINTS_NOT_MATCH + " (missing required label)"

DO_NOT_SCHEDULE = "DoNotSchedule"
SCHEDULE_ANYWAY = "ScheduleAnyway"
HONOR = "Honor"
IGNORE = "Ignore"
SYSTEM_DEFAULTING = "System"
LIST_DEFAULTING = "List"

LABEL_HOSTNAME = "kubernetes.io/hostname"
LABEL_TOPOLOGY_ZONE = "topology.kubernetes.io/zone"

SYSTEM_DEFAULT_CONSTRAINTS: list[dict] = [
    {"topologyKey": LABEL_HOSTNAME, "whenUnsatisfiable": SCHEDULE_ANYWAY, "maxSkew": 3},
    {"topologyKey": LABEL_TOPOLOGY_ZONE, "whenUnsatisfiable": SCHEDULE_ANYWAY, "maxSkew": 5},
]

# labels that differ between pods of the same workload: left out of a selector built from a pod's labels
PER_POD_LABELS = frozenset({
    "statefulset.kubernetes.io/pod-name", "apps.kubernetes.io/pod-index",
    "batch.kubernetes.io/job-completion-index", "controller-revision-hash",
})

_MAX_INT32 = 2**31 - 1
_INVALID_SCORE = -1


Matcher = Callable[[Mapping[str, str]], bool]


def compile_selector(sel: LabelSelector) -> Matcher:
    """A function answering ``sel.matches(labels)`` quickly: the selectors of
    spread constraints are evaluated against every pod of every node."""
    if sel.matches_nothing:
        return lambda labels: False
    eq: list[tuple[str, str]] = []
    other = []
    for r in sel.requirements:
        if r.operator in (Operator.EQUALS, Operator.DOUBLE_EQUALS, Operator.IN) and len(r.values) == 1:
            eq.append((r.key, r.values[0]))
        else:
            other.append(r.matches)
    if not other:
        if not eq:
            return lambda labels: True
        if len(eq) == 1:
            (k, v), = eq
            return lambda labels: labels.get(k) == v
        pairs = tuple(eq)
        return lambda labels: all(labels.get(k) == v for k, v in pairs)
    return sel.matches


SPREAD_OWNER_KINDS = frozenset({"ReplicaSet", "StatefulSet", "ReplicationController"})


@dataclass(frozen=True)
class Constraint:
    """A parsed ``TopologySpreadConstraint``."""

    max_skew: int
    topology_key: str
    selector: LabelSelector
    min_domains: int = 1
    node_affinity_policy: str = HONOR
    node_taints_policy: str = IGNORE
    matches: Matcher = field(default=None, compare=False, hash=False, repr=False)  # type: ignore[assignment]

    def __post_init__(self) -> None:
        if self.matches is None:
            object.__setattr__(self, "matches", compile_selector(self.selector))

    @property
    def counts_nothing(self) -> bool:
        """Upstream counts no pods for an empty (select-all) selector."""
        return self.selector.is_empty()


def _selector(d: Mapping[str, Any] | None) -> LabelSelector:
    """``metav1.LabelSelectorAsSelector``: nil selects nothing, ``{}`` everything."""
    if d is None:
        return nothing()
    return label_selector_from_dict(d)


def _merge_label_set(match_labels: dict[str, str], s: LabelSelector) -> LabelSelector:
    if s.matches_nothing:  # upstream: the Nothing selector has no requirements to merge into
        return s
    return selector_from_set(match_labels).add(*s.requirements)


def filter_constraints(constraints: Iterable[Mapping[str, Any]], pod_labels: Mapping[str, str],
                       action: str) -> list[Constraint]:
    """The constraints with ``whenUnsatisfiable == action``, parsed (raises SelectorError)."""
    out = []
    for c in constraints:
        if (c.get("whenUnsatisfiable") or "") != action:
            continue
        sel = _selector(c.get("labelSelector"))
        keys = c.get("matchLabelKeys") or ()
        if keys:
            ml = {k: pod_labels[k] for k in keys if k in pod_labels}
            if ml:
                sel = _merge_label_set(ml, sel)
        md = c.get("minDomains")
        out.append(Constraint(
            max_skew=int(c.get("maxSkew") or 0),
            topology_key=c.get("topologyKey") or "",
            selector=sel,
            min_domains=1 if md is None else int(md),
            node_affinity_policy=c.get("nodeAffinityPolicy") or HONOR,
            node_taints_policy=c.get("nodeTaintsPolicy") or IGNORE,
        ))
    return out


def node_labels_match_constraints(labels: Mapping[str, str], constraints: Iterable[Constraint]) -> bool:
    """Whether the node carries every constraint's topology key."""
    for c in constraints:
        if c.topology_key not in labels:
            return False
    return True


def _pods_in_namespace(node: NodeInfo, ns: str) -> list[dict]:
    """Labels of the node's pods in ``ns`` that are not terminating."""
    return _pods_in_namespace_list(node.pods, ns)


def count_pods_match_selector(pods: Iterable[PodInfo], c: Constraint, ns: str) -> int:
    """Pods in ``ns``, not terminating, matching the constraint's selector."""
    if c.counts_nothing:
        return 0
    return _count(_pods_in_namespace_list(pods, ns), c)


def _pods_in_namespace_list(pods: Iterable[PodInfo], ns: str) -> list[dict]:
    out = []
    for pi in pods:
        meta = pi.pod.get("metadata") or {}
        if (meta.get("namespace") or "") != ns or meta.get("deletionTimestamp") is not None:
            continue
        out.append(meta.get("labels") or {})
    return out


def _count(labels_list: list[dict], c: Constraint) -> int:
    if c.counts_nothing:
        return 0
    m = c.matches
    n = 0
    for lb in labels_list:
        if m(lb):
            n += 1
    return n


class _NodeCounter:
    """Counts of matching pods on one node, shared by constraints with equal selectors."""

    __slots__ = ("pods", "cache")

    def __init__(self, node: NodeInfo, ns: str) -> None:
        self.pods = _pods_in_namespace(node, ns)
        self.cache: dict[LabelSelector, int] = {}

    def count(self, c: Constraint) -> int:
        n = self.cache.get(c.selector)
        if n is None:
            n = self.cache[c.selector] = _count(self.pods, c)
        return n


class _NodeInclusion:
    """Lazily evaluated, per pod: does a node pass the nodeAffinity / nodeTaints policies?"""

    __slots__ = ("required", "tolerations")

    def __init__(self, pod: PodInfo) -> None:
        req = RequiredNodeAffinity(pod.spec)
        self.required = None if req.is_empty() else req
        self.tolerations = pod.spec.get("tolerations") or ()

    def node_check(self, constraints: list[Constraint], node: NodeInfo) -> list[bool]:
        """For each constraint, whether ``node`` counts towards it."""
        aff_ok: bool | None = None
        taint_ok: bool | None = None
        out = []
        for c in constraints:
            ok = True
            if c.node_affinity_policy == HONOR and self.required is not None:
                if aff_ok is None:
                    aff_ok = self.required.match(node)
                ok = aff_ok
            if ok and c.node_taints_policy == HONOR and node.taints:
                if taint_ok is None:
                    taint_ok = find_matching_untolerated_taint(node.taints, self.tolerations,
                                                               do_not_schedule_taint) is None
                ok = taint_ok
            out.append(ok)
        return out


class _CriticalPaths:
    """The two domains with the fewest matching pods (``paths[0]`` holds the
    minimum; ``paths[1]`` is not guaranteed to be the second minimum)."""

    __slots__ = ("v0", "n0", "v1", "n1")

    def __init__(self) -> None:
        self.v0, self.n0, self.v1, self.n1 = "", _MAX_INT32, "", _MAX_INT32

    def clone(self) -> _CriticalPaths:
        c = _CriticalPaths()
        c.v0, c.n0, c.v1, c.n1 = self.v0, self.n0, self.v1, self.n1
        return c

    def update(self, value: str, num: int) -> None:
        if value == self.v0:
            self.n0 = num
        elif value == self.v1:
            self.n1 = num
        else:
            if num < self.n0:
                self.v1, self.n1 = self.v0, self.n0
                self.v0, self.n0 = value, num
            elif num < self.n1:
                self.v1, self.n1 = value, num
            return
        if self.n0 > self.n1:
            self.v0, self.n0, self.v1, self.n1 = self.v1, self.n1, self.v0, self.n0


class _PreFilterState:
    __slots__ = ("constraints", "critical_paths", "tp_value_to_match_num")

    def __init__(self, constraints: list[Constraint], critical_paths: list[_CriticalPaths],
                 tp_value_to_match_num: list[dict[str, int]]) -> None:
        self.constraints = constraints
        self.critical_paths = critical_paths
        self.tp_value_to_match_num = tp_value_to_match_num

    def clone(self) -> _PreFilterState:
        return _PreFilterState(self.constraints, [p.clone() for p in self.critical_paths],
                               [dict(m) for m in self.tp_value_to_match_num])

    def min_match_num(self, i: int, min_domains: int) -> int:
        """The global minimum for constraint ``i``: 0 while there are fewer domains than minDomains."""
        if len(self.tp_value_to_match_num[i]) < min_domains:
            return 0
        return self.critical_paths[i].n0


class _PreScoreState:
    __slots__ = ("constraints", "ignored_nodes", "topology_value_to_pod_counts", "topology_normalizing_weight")

    def __init__(self) -> None:
        self.constraints: list[Constraint] = []
        self.ignored_nodes: set[str] = set()
        self.topology_value_to_pod_counts: list[dict[str, int]] = []
        self.topology_normalizing_weight: list[float] = []

    def clone(self) -> _PreScoreState:
        return self


def topology_normalizing_weight(size: int) -> float:
    """The weight of a topology with ``size`` domains: log(size + 2)."""
    return math.log(size + 2)


def score_for_count(cnt: int, max_skew: int, weight: float) -> float:
    return cnt * weight + (max_skew - 1)


def workload_selector(pod: Mapping[str, Any], services: Iterable[Mapping[str, Any]],
                      workloads: Iterable[Mapping[str, Any]]) -> LabelSelector | None:
    """Upstream's ``DefaultSelector``: the conjunction of the selectors of the
    Services (``spec.selector``, a label set) and the ReplicaSets and
    StatefulSets (``spec.selector``, a LabelSelector) of the pod's namespace
    that select it; None when none does. Objects from other namespaces, and
    selectors that are empty or invalid, are skipped."""
    meta = pod.get("metadata") or {}
    ns, labels = meta.get("namespace"), meta.get("labels") or {}
    reqs: list = []
    for svc in services:
        sel = (svc.get("spec") or {}).get("selector")
        if (svc.get("metadata") or {}).get("namespace") == ns and sel and isinstance(sel, Mapping):
            s = selector_from_set(sel)
            if s.matches(labels):
                reqs.extend(s.requirements)
    for w in workloads:
        raw = (w.get("spec") or {}).get("selector")
        if (w.get("metadata") or {}).get("namespace") != ns or not raw:
            continue
        try:
            s = label_selector_from_dict(raw, empty_matches_all=False)
        except SelectorError:
            continue
        if not s.is_empty() and s.matches(labels):
            reqs.extend(s.requirements)
    return LabelSelector(tuple(reqs)) if reqs else None


class PodTopologySpread:
    name = NAME

    def __init__(self, args: dict | None = None, handle: Any = None) -> None:
        args = args or {}
        self.handle = handle
        # hard-constraint domain counts kept between cycles, by what they count (see _counts)
        self._count_cache: dict[tuple, tuple[list, list[dict[str, int]], dict[str, tuple]]] = {}
        defaulting = args.get("defaultingType") or SYSTEM_DEFAULTING
        defaults = list(args.get("defaultConstraints") or ())
        if defaulting not in (SYSTEM_DEFAULTING, LIST_DEFAULTING):
            raise ValueError(f'defaultingType: Unsupported value: "{defaulting}": supported values: '
                             f'"{SYSTEM_DEFAULTING}", "{LIST_DEFAULTING}"')
        if defaulting == SYSTEM_DEFAULTING and defaults:
            raise ValueError("defaultConstraints: Invalid value: when .defaultingType is \"System\", "
                             ".defaultConstraints must be empty")
        for i, c in enumerate(defaults):
            if c.get("labelSelector") is not None:
                raise ValueError(f"defaultConstraints[{i}].labelSelector: Forbidden: constraint must not define "
                                 f"a selector, as they deduced for each pod")
            if int(c.get("maxSkew") or 0) <= 0:
                raise ValueError(f"defaultConstraints[{i}].maxSkew: Invalid value: {c.get('maxSkew')}: "
                                 f"not in valid range [1, 2147483647]")
        self.system_defaulted = defaulting == SYSTEM_DEFAULTING
        self.default_constraints: list[dict] = SYSTEM_DEFAULT_CONSTRAINTS if self.system_defaulted else defaults

    def events_to_register(self) -> list[ClusterEvent]:
        return [ClusterEvent("Pod", "Add"), ClusterEvent("Pod", "Update"), ClusterEvent("Pod", "Delete"),
                ClusterEvent("Node", "Add"), ClusterEvent("Node", "Update"), ClusterEvent("Node", "Delete")]

    # ------------------------------------------------------------ constraints
    def default_selector(self, pod: PodInfo) -> LabelSelector:
        """The selector given to default constraints (see the module docstring)."""
        hook = getattr(self.handle, "default_selector", None)
        if callable(hook):
            sel = hook(pod.pod)
            return sel if sel is not None else LabelSelector()
        owners = (pod.pod.get("metadata") or {}).get("ownerReferences") or ()
        if not any(o.get("controller") and o.get("kind") in SPREAD_OWNER_KINDS for o in owners):
            return LabelSelector()
        labels = {k: v for k, v in pod.labels.items() if k not in PER_POD_LABELS}
        return selector_from_set(labels) if labels else LabelSelector()

    def build_default_constraints(self, pod: PodInfo, action: str) -> list[Constraint]:
        constraints = filter_constraints(self.default_constraints, pod.labels, action)
        if not constraints:
            return []
        sel = self.default_selector(pod)
        if sel.is_empty():
            return []
        return [Constraint(c.max_skew, c.topology_key, sel, c.min_domains, c.node_affinity_policy,
                           c.node_taints_policy) for c in constraints]

    def get_constraints(self, pod: PodInfo, action: str = DO_NOT_SCHEDULE) -> list[Constraint]:
        spec_constraints = pod.spec.get("topologySpreadConstraints")
        if spec_constraints:
            return filter_constraints(spec_constraints, pod.labels, action)
        return self.build_default_constraints(pod, action)

    # ---------------------------------------------------------------- filter
    @staticmethod
    def _node_contribution(constraints: list[Constraint], inclusion: _NodeInclusion, node: NodeInfo,
                           ns: str) -> tuple[tuple[int, str, int], ...]:
        """What ``node`` adds to each constraint's domain counts: (index, domain, pods)."""
        labels = node.labels
        if not node_labels_match_constraints(labels, constraints):
            return ()
        included = inclusion.node_check(constraints, node)
        counter = None
        out = []
        for i, c in enumerate(constraints):
            if not included[i]:
                continue
            if counter is None:
                counter = _NodeCounter(node, ns)
            out.append((i, labels[c.topology_key], counter.count(c)))
        return tuple(out)

    def _counts(self, pod: PodInfo, constraints: list[Constraint], all_nodes: list[NodeInfo]
                ) -> list[dict[str, int]]:
        """Matching pods per domain, per constraint. Over the scheduler's own
        snapshot the counts are kept between cycles and only nodes whose
        generation moved are recounted (a cycle changes one node)."""
        n = len(constraints)
        inclusion = _NodeInclusion(pod)
        ns = pod.namespace
        snap = getattr(self.handle, "snapshot", None)
        if snap is None or all_nodes is not snap.list():  # a what-if list: count afresh
            tp: list[dict[str, int]] = [{} for _ in range(n)]
            for node in all_nodes:
                for i, value, num in self._node_contribution(constraints, inclusion, node, ns):
                    tp[i][value] = tp[i].get(value, 0) + num
            return tp
        sig = (ns, tuple((c.topology_key, str(c.selector), c.node_affinity_policy, c.node_taints_policy)
                         for c in constraints),
               repr((pod.spec.get("nodeSelector"), (pod.spec.get("affinity") or {}).get("nodeAffinity"),
                     pod.spec.get("tolerations"))))
        entry = self._count_cache.pop(sig, None)
        if entry is None or entry[0] is not all_nodes:
            entry = (all_nodes, [{} for _ in range(n)], [{} for _ in range(n)], {})
        self._count_cache[sig] = entry  # most recently used last
        while len(self._count_cache) > 64:
            self._count_cache.pop(next(iter(self._count_cache)))
        _, tp, eligible, per_node = entry  # eligible: how many counted nodes each domain has
        for node in all_nodes:
            seen = per_node.get(node.name)
            if seen is not None and seen[0] == node.generation:
                continue
            if seen is not None:
                for i, value, num in seen[1]:
                    tp[i][value] -= num
                    eligible[i][value] -= 1
                    if not eligible[i][value]:  # no node counts for it any more: not a domain now
                        del tp[i][value], eligible[i][value]
            contrib = self._node_contribution(constraints, inclusion, node, ns)
            for i, value, num in contrib:
                tp[i][value] = tp[i].get(value, 0) + num
                eligible[i][value] = eligible[i].get(value, 0) + 1
            per_node[node.name] = (node.generation, contrib)
        return [dict(m) for m in tp]  # the cycle's own copy: preemption's what-ifs change it

    def _cal_pre_filter_state(self, pod: PodInfo, all_nodes: list[NodeInfo]) -> _PreFilterState:
        constraints = self.get_constraints(pod, DO_NOT_SCHEDULE)
        n = len(constraints)
        tp = self._counts(pod, constraints, all_nodes) if n else []
        paths = []
        for i in range(n):
            p = _CriticalPaths()
            for value, num in tp[i].items():
                p.update(value, num)
            paths.append(p)
        return _PreFilterState(constraints, paths, tp)

    def pre_filter(self, state: CycleState, pod: PodInfo, nodes: list[NodeInfo]
                   ) -> tuple[PreFilterResult | None, Status]:
        try:
            s = self._cal_pre_filter_state(pod, nodes)
        except SelectorError as e:
            return None, Status.error(f"get constraints from pod: obtaining pod's hard topology spread "
                                      f"constraints: {e}")
        if not s.constraints:
            return None, Status(Code.SKIP)
        state.write(PRE_FILTER_STATE_KEY, s)
        return None, SUCCESS

    def _update_with_pod(self, s: _PreFilterState | None, updated: PodInfo, preemptor: PodInfo,
                         node: NodeInfo, delta: int) -> None:
        if s is None or updated.namespace != preemptor.namespace or node is None:
            return
        if not node_labels_match_constraints(node.labels, s.constraints):
            return
        included = _NodeInclusion(preemptor).node_check(s.constraints, node)
        labels = updated.labels
        for i, c in enumerate(s.constraints):
            if not c.matches(labels) or not included[i]:
                continue
            v = node.labels[c.topology_key]
            m = s.tp_value_to_match_num[i]
            m[v] = m.get(v, 0) + delta
            s.critical_paths[i].update(v, m[v])

    def add_pod(self, state: CycleState, pod: PodInfo, pod_to_add: PodInfo, node: NodeInfo) -> Status:
        """PreFilter extension: ``pod_to_add`` now runs on ``node`` (preemption's what-if)."""
        s = state.get(PRE_FILTER_STATE_KEY)
        if not isinstance(s, _PreFilterState):
            return Status.error(f'reading "{PRE_FILTER_STATE_KEY}" from cycleState: not found')
        self._update_with_pod(s, pod_to_add, pod, node, 1)
        return SUCCESS

    def remove_pod(self, state: CycleState, pod: PodInfo, pod_to_remove: PodInfo, node: NodeInfo) -> Status:
        """PreFilter extension: ``pod_to_remove`` no longer runs on ``node``."""
        s = state.get(PRE_FILTER_STATE_KEY)
        if not isinstance(s, _PreFilterState):
            return Status.error(f'reading "{PRE_FILTER_STATE_KEY}" from cycleState: not found')
        self._update_with_pod(s, pod_to_remove, pod, node, -1)
        return SUCCESS

    def filter(self, state: CycleState, pod: PodInfo, node: NodeInfo) -> Status:
        s = state.get(PRE_FILTER_STATE_KEY)
        if not isinstance(s, _PreFilterState):
            return Status.error(f'reading "{PRE_FILTER_STATE_KEY}" from cycleState: not found')
        if not s.constraints:
            return SUCCESS
        labels = node.labels
        pod_labels = pod.labels
        for i, c in enumerate(s.constraints):
            tp_val = labels.get(c.topology_key)
            if tp_val is None:
                return Status.unschedulable(ERR_REASON_NODE_LABEL_NOT_MATCH, resolvable=False)
            min_match = s.min_match_num(i, c.min_domains)
            self_match = 1 if c.matches(pod_labels) else 0
            match_num = s.tp_value_to_match_num[i].get(tp_val, 0)
            if match_num + self_match - min_match > c.max_skew:
                return Status.unschedulable(ERR_REASON_CONSTRAINTS_NOT_MATCH)
        return SUCCESS

    # ----------------------------------------------------------------- score
    def _init_pre_score_state(self, s: _PreScoreState, pod: PodInfo, filtered: list[NodeInfo],
                              require_all: bool) -> None:
        s.constraints = self.get_constraints(pod, SCHEDULE_ANYWAY)
        n = len(s.constraints)
        if not n:
            return
        s.topology_value_to_pod_counts = [{} for _ in range(n)]
        topo_size = [0] * n
        for node in filtered:
            labels = node.labels
            if require_all and not node_labels_match_constraints(labels, s.constraints):
                s.ignored_nodes.add(node.name)  # scored 0 later
                continue
            for i, c in enumerate(s.constraints):
                if c.topology_key == LABEL_HOSTNAME:  # per-node counts are taken in Score
                    continue
                value = labels.get(c.topology_key, "")
                m = s.topology_value_to_pod_counts[i]
                if value not in m:
                    m[value] = 0
                    topo_size[i] += 1
        weights = []
        for i, c in enumerate(s.constraints):
            size = topo_size[i]
            if c.topology_key == LABEL_HOSTNAME:
                size = len(filtered) - len(s.ignored_nodes)
            weights.append(topology_normalizing_weight(size))
        s.topology_normalizing_weight = weights

    def pre_score(self, state: CycleState, pod: PodInfo, nodes: list[NodeInfo]) -> Status:
        snapshot = getattr(self.handle, "snapshot", None)
        all_nodes = snapshot.list() if snapshot is not None else nodes
        if not nodes or not all_nodes:
            return Status(Code.SKIP)
        s = _PreScoreState()
        # nodes must carry every topology key, except with the system defaults:
        # nodes without a zone label still get hostname spreading
        require_all = bool(pod.spec.get("topologySpreadConstraints")) or not self.system_defaulted
        try:
            self._init_pre_score_state(s, pod, nodes, require_all)
        except SelectorError as e:
            return Status.error(f"calculating preScoreState: obtaining pod's soft topology spread "
                                f"constraints: {e}")
        if not s.constraints:
            return Status(Code.SKIP)
        constraints = s.constraints
        counts = s.topology_value_to_pod_counts
        if any(counts):  # hostname-only constraints are counted per node in Score
            inclusion = _NodeInclusion(pod)
            ns = pod.namespace
            for node in all_nodes:
                labels = node.labels
                if require_all and not node_labels_match_constraints(labels, constraints):
                    continue
                included = inclusion.node_check(constraints, node)
                counter = None
                for i, c in enumerate(constraints):
                    if not included[i]:
                        continue
                    m = counts[i]
                    value = labels.get(c.topology_key, "")
                    if value not in m:  # no candidate node in that domain (or a hostname constraint)
                        continue
                    if counter is None:
                        counter = _NodeCounter(node, ns)
                    m[value] += counter.count(c)
        state.write(PRE_SCORE_STATE_KEY, s)
        return SUCCESS

    def score(self, state: CycleState, pod: PodInfo, node: NodeInfo) -> tuple[int, Status]:
        s = state.get(PRE_SCORE_STATE_KEY)
        if not isinstance(s, _PreScoreState):
            return 0, Status.error(f'error reading "{PRE_SCORE_STATE_KEY}" from cycleState: not found')
        if node.name in s.ignored_nodes:
            return 0, SUCCESS
        labels = node.labels
        total = 0.0
        for i, c in enumerate(s.constraints):
            tp_val = labels.get(c.topology_key)
            if tp_val is None:
                continue
            if c.topology_key == LABEL_HOSTNAME:
                cnt = count_pods_match_selector(node.pods, c, pod.namespace)
            else:
                cnt = s.topology_value_to_pod_counts[i].get(tp_val, 0)
            total += score_for_count(cnt, c.max_skew, s.topology_normalizing_weight[i])
        return int(math.floor(total + 0.5)), SUCCESS  # Go's math.Round (half away from zero; total >= 0)

    def normalize_score(self, state: CycleState, pod: PodInfo, scores: list[NodeScore]) -> Status:
        s = state.get(PRE_SCORE_STATE_KEY)
        if not isinstance(s, _PreScoreState):
            return Status.error(f'error reading "{PRE_SCORE_STATE_KEY}" from cycleState: not found')
        min_score = None
        max_score = 0
        for ns in scores:
            if ns.name in s.ignored_nodes:
                ns.score = _INVALID_SCORE
                continue
            if min_score is None or ns.score < min_score:
                min_score = ns.score
            if ns.score > max_score:
                max_score = ns.score
        for ns in scores:
            if ns.score == _INVALID_SCORE:
                ns.score = 0
                continue
            if max_score == 0:
                ns.score = MAX_NODE_SCORE
                continue
            ns.score = MAX_NODE_SCORE * (max_score + min_score - ns.score) // max_score
        return SUCCESS


def new(args: dict, handle: Any) -> PodTopologySpread:
    return PodTopologySpread(args, handle)
