"""InterPodAffinity: ``spec.affinity.podAffinity`` / ``podAntiAffinity``
(upstream's ``interpodaffinity`` plugin: filtering.go, scoring.go, plugin.go).

Terms. A ``PodAffinityTerm`` selects pods by ``labelSelector`` (absent:
selects no pod; ``{}``: every pod) in some namespaces: those listed in
``namespaces``, plus those whose labels match ``namespaceSelector`` (``{}``:
every namespace); with neither, the pod's own namespace. ``matchLabelKeys``
/ ``mismatchLabelKeys`` add ``key in (value)`` / ``key notin (value)`` for
the owning pod's value of each key (upstream's API server merges these into
the selector when the pod is created; doing it again here changes nothing).
A term's domain is the value of its ``topologyKey`` label on a node.

Namespace labels come from the handle's ``namespace_labels`` (a mapping
namespace name -> labels, or a callable returning one) when it has it.
Without it a non-empty ``namespaceSelector`` cannot be evaluated and is
ignored: the term covers its ``namespaces`` or, when none are listed, the
owning pod's own namespace. ``namespaceSelector: {}`` (all namespaces) needs
no labels and is always honoured.

Filtering (required terms), on counts PreFilter takes once per pod over the
node list it is given (all nodes):

* the incoming pod's affinity: a node qualifies when it has every term's
  topology key and each term's domain holds a pod matching *all* the terms
  (UnschedulableAndUnresolvable otherwise: evicting pods cannot help). The
  first pod of a group with affinity to itself passes anywhere the keys
  exist, as long as no pod in the cluster matches the terms and it matches
  them itself.
* the incoming pod's anti-affinity: no domain of the node may hold a pod
  matching a term (Unschedulable).
* existing pods' required anti-affinity: the node must not be in the domain
  of a pod whose term matches the incoming pod (Unschedulable).

PreFilter says Skip when none of these can reject a node. The plugin keeps
its counts current when preemption removes or adds pods on a what-if node
(``remove_pod`` / ``add_pod``, upstream's PreFilterExtensions).

Scoring (preferred terms): per domain, the incoming pod's preferred affinity
(+weight) and anti-affinity (-weight) for every existing pod they match, and
symmetrically existing pods' preferred affinity (+weight), preferred
anti-affinity (-weight) and required affinity (+``hardPodAffinityWeight``)
that match the incoming pod, over the handle's snapshot (PreScore is given
only the feasible nodes). A node scores the sum over its domains, then
scores are scaled so the lowest becomes 0 and the highest 100.

Args: ``hardPodAffinityWeight`` (default 1, 0..100) and
``ignorePreferredTermsOfExistingPods`` (default false: when true and the pod
has no preferred terms, scoring is skipped).
"""
from __future__ import annotations

from dataclasses import dataclass, field
from typing import Any, Callable, Iterable, Mapping

from kubeapi.selectors import (LabelSelector, Operator, Requirement, SelectorError, label_selector_from_dict,
                               nothing)

from ..framework import MAX_NODE_SCORE, SUCCESS, ClusterEvent, Code, CycleState, NodeScore, PreFilterResult, Status
from ..nodeinfo import NodeInfo, PodInfo

NAME = "InterPodAffinity"
PRE_FILTER_STATE_KEY = "PreFilter" + NAME
PRE_SCORE_STATE_KEY = "PreScore" + NAME

ERR_REASON_EXISTING_ANTI_AFFINITY_RULES_NOT_MATCH = "node(s) didn't satisfy existing pods anti-affinity rules"
ERR_REASON_AFFINITY_RULES_NOT_MATCH = "node(s) didn't match pod affinity rules"
ERR_REASON_ANTI_AFFINITY_RULES_NOT_MATCH = "node(s) didn't match pod anti-affinity rules"

DEFAULT_HARD_POD_AFFINITY_WEIGHT = 1

NamespaceLabels = Mapping[str, Mapping[str, str]]
TopologyPair = tuple[str, str]


# --------------------------------------------------------------------------------------------
# Affinity terms
# --------------------------------------------------------------------------------------------

LabelMatcher = Callable[[Mapping[str, str]], bool]
_POSITIVE = (Operator.IN, Operator.EQUALS, Operator.DOUBLE_EQUALS)
_NEGATIVE = (Operator.NOT_IN, Operator.NOT_EQUALS)


def compile_selector(sel: LabelSelector) -> LabelMatcher:
    """``sel.matches`` as a closure specialised for the selector (the common
    ``matchLabels`` form is a few dict lookups)."""
    if sel.matches_nothing:
        return lambda labels: False
    if not sel.requirements:
        return lambda labels: True
    equal: list[tuple[str, str]] = []
    checks: list[tuple[int, str, Any]] = []
    for r in sel.requirements:
        op = r.operator
        if op in _POSITIVE and len(r.values) == 1:
            equal.append((r.key, r.values[0]))
        elif op in _POSITIVE:
            checks.append((0, r.key, frozenset(r.values)))
        elif op in _NEGATIVE:
            checks.append((1, r.key, frozenset(r.values)))
        elif op is Operator.EXISTS:
            checks.append((2, r.key, None))
        elif op is Operator.DOES_NOT_EXIST:
            checks.append((3, r.key, None))
        else:
            checks.append((4, r.key, r))
    eq = tuple(equal)
    if not checks:
        if len(eq) == 1:
            k0, v0 = eq[0]
            return lambda labels: labels.get(k0) == v0
        return lambda labels: all(labels.get(k) == v for k, v in eq)
    rest = tuple(checks)

    def match(labels: Mapping[str, str]) -> bool:
        for k, v in eq:
            if labels.get(k) != v:
                return False
        for kind, k, arg in rest:
            if kind == 0:
                if labels.get(k) not in arg:
                    return False
            elif kind == 1:
                if k in labels and labels[k] in arg:
                    return False
            elif kind == 2:
                if k not in labels:
                    return False
            elif kind == 3:
                if k in labels:
                    return False
            elif not arg.matches(labels):
                return False
        return True

    return match


def pod_meta(pi: PodInfo) -> tuple[str, Mapping[str, str]]:
    """(namespace, labels) of a pod, read once for several terms."""
    meta = pi.pod.get("metadata") or {}
    return meta.get("namespace", ""), meta.get("labels") or {}


class AffinityTerm:
    """A parsed ``PodAffinityTerm`` (with its weight for preferred terms).

    ``namespaces`` are matched by name; ``all_namespaces`` stands for
    ``namespaceSelector: {}``; ``namespace_selector`` is a non-empty
    namespaceSelector, matched against namespace labels, and
    ``fallback_namespace`` the namespace that stands in for it when those
    labels are unknown (the owner's, if ``namespaces`` is empty)."""

    __slots__ = ("selector", "topology_key", "namespaces", "all_namespaces", "namespace_selector",
                 "fallback_namespace", "weight", "match_labels")

    def __init__(self, selector: LabelSelector, topology_key: str, namespaces: frozenset[str],
                 all_namespaces: bool = False, namespace_selector: LabelSelector | None = None,
                 fallback_namespace: str | None = None, weight: int = 0) -> None:
        self.selector = selector
        self.topology_key = topology_key
        self.namespaces = namespaces
        self.all_namespaces = all_namespaces
        self.namespace_selector = namespace_selector
        self.fallback_namespace = fallback_namespace
        self.weight = weight
        self.match_labels = compile_selector(selector)

    def matches(self, pod: PodInfo, namespace_labels: Mapping[str, str] | None = None) -> bool:
        """Whether ``pod`` is selected; ``namespace_labels`` are the labels of
        the pod's namespace (None: unknown)."""
        ns, labels = pod_meta(pod)
        return self.matches_meta(ns, labels, namespace_labels)

    def matches_meta(self, ns: str, labels: Mapping[str, str],
                     namespace_labels: Mapping[str, str] | None = None) -> bool:
        """:meth:`matches` for a pod in namespace ``ns`` with ``labels``."""
        if not (self.all_namespaces or ns in self.namespaces):
            sel = self.namespace_selector
            if sel is None:
                return False
            if namespace_labels is None:
                if ns != self.fallback_namespace:
                    return False
            elif not sel.matches(namespace_labels):
                return False
        return self.match_labels(labels)

    def resolved(self, namespace_labels: NamespaceLabels | None) -> AffinityTerm:
        """This term with its namespaceSelector turned into namespace names (as
        upstream does for the incoming pod's terms), so that matching needs no
        namespace labels."""
        sel = self.namespace_selector
        if sel is None:
            return self
        if namespace_labels is None:
            names = set(self.namespaces)
            if self.fallback_namespace is not None:
                names.add(self.fallback_namespace)
        else:
            names = set(self.namespaces)
            names.update(n for n, labels in namespace_labels.items() if sel.matches(labels or {}))
        return AffinityTerm(self.selector, self.topology_key, frozenset(names), weight=self.weight)

    def __repr__(self) -> str:
        return (f"AffinityTerm({str(self.selector)!r}, {self.topology_key!r}, ns={sorted(self.namespaces)}, "
                f"all={self.all_namespaces}, nsSelector={str(self.namespace_selector or '')!r}, w={self.weight})")


def _term_selector(term: Mapping[str, Any], owner_labels: Mapping[str, str], path: str) -> LabelSelector:
    raw = term.get("labelSelector")
    if raw is None:
        return nothing()
    sel = label_selector_from_dict(raw, f"{path}.labelSelector")
    extra: list[Requirement] = []
    for key in term.get("matchLabelKeys") or ():
        if key in owner_labels:
            extra.append(Requirement(key, Operator.IN, (owner_labels[key],)))
    for key in term.get("mismatchLabelKeys") or ():
        if key in owner_labels:
            extra.append(Requirement(key, Operator.NOT_IN, (owner_labels[key],)))
    extra = [r for r in extra if r not in sel.requirements]
    return sel.add(*extra) if extra else sel


def new_affinity_term(term: Mapping[str, Any], owner: PodInfo, weight: int = 0, path: str = "") -> AffinityTerm:
    """Parse one ``PodAffinityTerm`` of ``owner`` (raises ``SelectorError``)."""
    selector = _term_selector(term, owner.labels, path)
    topology_key = term.get("topologyKey") or ""
    names = [n for n in term.get("namespaces") or () if n]
    raw_ns_sel = term.get("namespaceSelector")
    if raw_ns_sel is None:
        return AffinityTerm(selector, topology_key, frozenset(names or (owner.namespace,)), weight=weight)
    ns_sel = label_selector_from_dict(raw_ns_sel, f"{path}.namespaceSelector")
    if ns_sel.is_empty():
        return AffinityTerm(selector, topology_key, frozenset(names), all_namespaces=True, weight=weight)
    return AffinityTerm(selector, topology_key, frozenset(names), namespace_selector=ns_sel,
                        fallback_namespace=None if names else owner.namespace, weight=weight)


@dataclass
class PodAffinityTerms:
    """A pod's parsed affinity terms (upstream keeps these on its PodInfo)."""

    required_affinity: list[AffinityTerm] = field(default_factory=list)
    required_anti_affinity: list[AffinityTerm] = field(default_factory=list)
    preferred_affinity: list[AffinityTerm] = field(default_factory=list)
    preferred_anti_affinity: list[AffinityTerm] = field(default_factory=list)
    error: str = ""


_EMPTY_TERMS = PodAffinityTerms()
_CACHE_ATTR = "_pod_affinity_terms"


def _parse_terms(owner: PodInfo, terms: Iterable[Mapping[str, Any]], path: str,
                 weighted: bool) -> list[AffinityTerm]:
    out = []
    for i, t in enumerate(terms):
        if weighted:
            out.append(new_affinity_term(t.get("podAffinityTerm") or {}, owner, int(t.get("weight") or 0),
                                         f"{path}[{i}].podAffinityTerm"))
        else:
            out.append(new_affinity_term(t, owner, 0, f"{path}[{i}]"))
    return out


def parse_pod_affinity_terms(pi: PodInfo) -> PodAffinityTerms:
    aff = pi.spec.get("affinity") or {}
    pa = aff.get("podAffinity") or {}
    paa = aff.get("podAntiAffinity") or {}
    if not pa and not paa:
        return _EMPTY_TERMS
    out = PodAffinityTerms()
    errors = []
    req = "requiredDuringSchedulingIgnoredDuringExecution"
    pref = "preferredDuringSchedulingIgnoredDuringExecution"
    for attr, src, key, weighted, label in (
            ("required_affinity", pa, req, False, "requiredAffinityTerms"),
            ("required_anti_affinity", paa, req, False, "requiredAntiAffinityTerms"),
            ("preferred_affinity", pa, pref, True, "preferredAffinityTerms"),
            ("preferred_anti_affinity", paa, pref, True, "preferredAntiAffinityTerms")):
        try:
            setattr(out, attr, _parse_terms(pi, src.get(key) or (), key, weighted))
        except (SelectorError, TypeError, ValueError, AttributeError) as e:  # the whole list is dropped
            errors.append(f"{label}: {e}")
    out.error = "; ".join(errors)
    return out


def pod_affinity_terms(pi: PodInfo) -> PodAffinityTerms:
    """``pi``'s parsed terms, parsed once and kept on the PodInfo."""
    d = getattr(pi, "__dict__", None)
    if d is None:
        return parse_pod_affinity_terms(pi)
    t = d.get(_CACHE_ATTR)
    if t is None:
        t = d[_CACHE_ATTR] = parse_pod_affinity_terms(pi)
    return t


def pod_matches_all_terms(terms: list[AffinityTerm], pod: PodInfo) -> bool:
    """True iff there are terms and ``pod`` matches every one (terms already resolved)."""
    if not terms:
        return False
    ns, labels = pod_meta(pod)
    for t in terms:
        if not t.matches_meta(ns, labels):
            return False
    return True


def _bump(counts: dict[TopologyPair, int], labels: Mapping[str, str], key: str, delta: int) -> None:
    value = labels.get(key)
    if value is None:
        return
    pair = (key, value)
    n = counts.get(pair, 0) + delta
    if n == 0:
        counts.pop(pair, None)
    else:
        counts[pair] = n


# --------------------------------------------------------------------------------------------
# Cycle state
# --------------------------------------------------------------------------------------------


class _PreFilterState:
    """Counts per (topology key, value): existing pods whose required
    anti-affinity matches the incoming pod, and existing pods matching the
    incoming pod's required affinity (all terms) and anti-affinity terms."""

    __slots__ = ("existing_anti_affinity_counts", "affinity_counts", "anti_affinity_counts", "pod",
                 "required_affinity", "required_anti_affinity", "namespace_labels")

    def __init__(self, pod: PodInfo, required_affinity: list[AffinityTerm],
                 required_anti_affinity: list[AffinityTerm], namespace_labels: Mapping[str, str] | None) -> None:
        self.pod = pod
        self.required_affinity = required_affinity
        self.required_anti_affinity = required_anti_affinity
        self.namespace_labels = namespace_labels
        self.existing_anti_affinity_counts: dict[TopologyPair, int] = {}
        self.affinity_counts: dict[TopologyPair, int] = {}
        self.anti_affinity_counts: dict[TopologyPair, int] = {}

    def clone(self) -> _PreFilterState:
        c = _PreFilterState(self.pod, self.required_affinity, self.required_anti_affinity, self.namespace_labels)
        c.existing_anti_affinity_counts = dict(self.existing_anti_affinity_counts)
        c.affinity_counts = dict(self.affinity_counts)
        c.anti_affinity_counts = dict(self.anti_affinity_counts)
        return c

    def update_with_pod(self, pi: PodInfo, node: NodeInfo, delta: int) -> None:
        labels = node.labels
        for t in pod_affinity_terms(pi).required_anti_affinity:
            if t.matches(self.pod, self.namespace_labels):
                _bump(self.existing_anti_affinity_counts, labels, t.topology_key, delta)
        if pod_matches_all_terms(self.required_affinity, pi):
            for t in self.required_affinity:
                _bump(self.affinity_counts, labels, t.topology_key, delta)
        for t in self.required_anti_affinity:
            if t.matches(pi, None):
                _bump(self.anti_affinity_counts, labels, t.topology_key, delta)


class _PreScoreState:
    __slots__ = ("topology_score",)

    def __init__(self, topology_score: dict[str, dict[str, int]]) -> None:
        self.topology_score = topology_score

    def clone(self) -> _PreScoreState:
        return self  # read-only after PreScore


def satisfy_existing_pods_anti_affinity(s: _PreFilterState, node: NodeInfo) -> bool:
    counts = s.existing_anti_affinity_counts
    if counts:
        for pair in node.labels.items():
            if counts.get(pair, 0) > 0:
                return False
    return True


def satisfy_pod_anti_affinity(s: _PreFilterState, node: NodeInfo) -> bool:
    counts = s.anti_affinity_counts
    if counts:
        labels = node.labels
        for t in s.required_anti_affinity:
            value = labels.get(t.topology_key)
            if value is not None and counts.get((t.topology_key, value), 0) > 0:
                return False
    return True


def satisfy_pod_affinity(s: _PreFilterState, node: NodeInfo) -> bool:
    pods_exist = True
    labels = node.labels
    counts = s.affinity_counts
    for t in s.required_affinity:
        value = labels.get(t.topology_key)
        if value is None:
            return False  # every topology key must be on the node
        if counts.get((t.topology_key, value), 0) <= 0:
            pods_exist = False
    if not pods_exist:
        # the first pod of a series with affinity to themselves: no pod anywhere
        # matches the terms yet, and the pod matches them itself
        return not counts and pod_matches_all_terms(s.required_affinity, s.pod)
    return True


# --------------------------------------------------------------------------------------------
# The plugin
# --------------------------------------------------------------------------------------------


class InterPodAffinity:
    name = NAME

    def __init__(self, args: dict | None = None, handle: Any = None) -> None:
        args = args or {}
        self.handle = handle
        w = args.get("hardPodAffinityWeight", DEFAULT_HARD_POD_AFFINITY_WEIGHT)
        w = DEFAULT_HARD_POD_AFFINITY_WEIGHT if w is None else int(w)
        if not 0 <= w <= 100:
            raise ValueError(f"hardPodAffinityWeight: Invalid value: {w}: not in valid range [0, 100]")
        self.hard_pod_affinity_weight = w
        self.ignore_preferred_terms_of_existing_pods = bool(args.get("ignorePreferredTermsOfExistingPods", False))

    def events_to_register(self) -> list[ClusterEvent]:
        return [ClusterEvent("Pod", "Add"), ClusterEvent("Pod", "Update"), ClusterEvent("Pod", "Delete"),
                ClusterEvent("Node", "Add"), ClusterEvent("Node", "Update")]

    # ------------------------------------------------------------ namespaces
    def _namespace_map(self) -> NamespaceLabels | None:
        src = getattr(self.handle, "namespace_labels", None)
        if callable(src):
            src = src()
        return src

    @staticmethod
    def _labels_of(ns_map: NamespaceLabels | None, namespace: str) -> Mapping[str, str] | None:
        if ns_map is None:
            return None
        return dict(ns_map.get(namespace) or {})  # an unknown namespace has no labels

    # ---------------------------------------------------------------- filter
    def pre_filter(self, state: CycleState, pod: PodInfo, nodes: list[NodeInfo]
                   ) -> tuple[PreFilterResult | None, Status]:
        terms = pod_affinity_terms(pod)
        if terms.error:
            return None, Status(Code.UNSCHEDULABLE_AND_UNRESOLVABLE, [f"parsing pod: {terms.error}"])
        ns_map = self._namespace_map()
        req_aff = [t.resolved(ns_map) for t in terms.required_affinity]
        req_anti = [t.resolved(ns_map) for t in terms.required_anti_affinity]
        s = _PreFilterState(pod, req_aff, req_anti, self._labels_of(ns_map, pod.namespace))

        # existing pods' required anti-affinity against the incoming pod
        existing = s.existing_anti_affinity_counts
        ns_labels = s.namespace_labels
        pod_ns, pod_labels = pod_meta(pod)
        snapshot = getattr(self.handle, "snapshot", None)
        holders = (snapshot.have_pods_with_required_anti_affinity()
                   if snapshot is not None and nodes is snapshot.list()  # not a what-if list
                   else [n for n in nodes if n.pods_with_required_anti_affinity])
        for ni in holders:
            labels = ni.labels
            for epi in ni.pods_with_required_anti_affinity:
                for t in pod_affinity_terms(epi).required_anti_affinity:
                    value = labels.get(t.topology_key)
                    if value is not None and t.matches_meta(pod_ns, pod_labels, ns_labels):
                        pair = (t.topology_key, value)
                        existing[pair] = existing.get(pair, 0) + 1

        # existing pods matching the incoming pod's required terms
        if req_aff or req_anti:
            aff, anti = s.affinity_counts, s.anti_affinity_counts
            # resolved terms match by namespace name and labels only
            aff_terms = [(t.all_namespaces, t.namespaces, t.match_labels) for t in req_aff]
            aff_keys = [t.topology_key for t in req_aff]
            anti_terms = [(t.all_namespaces, t.namespaces, t.match_labels, t.topology_key) for t in req_anti]
            for ni in nodes:
                labels = ni.labels
                for epi in ni.pods:
                    meta = epi.pod.get("metadata") or {}
                    ens, elabels = meta.get("namespace", ""), meta.get("labels") or {}
                    if aff_terms:
                        for all_ns, names, match in aff_terms:
                            if not ((all_ns or ens in names) and match(elabels)):
                                break
                        else:
                            for key in aff_keys:
                                value = labels.get(key)
                                if value is not None:
                                    pair = (key, value)
                                    aff[pair] = aff.get(pair, 0) + 1
                    for all_ns, names, match, key in anti_terms:
                        if (all_ns or ens in names) and match(elabels):
                            value = labels.get(key)
                            if value is not None:
                                pair = (key, value)
                                anti[pair] = anti.get(pair, 0) + 1

        if not existing and not req_aff and not req_anti:
            return None, Status(Code.SKIP)
        state.write(PRE_FILTER_STATE_KEY, s)
        return None, SUCCESS

    def add_pod(self, state: CycleState, pod: PodInfo, pod_to_add: PodInfo, node: NodeInfo) -> Status:
        """PreFilter extension: ``pod_to_add`` now runs on ``node`` (preemption's what-if)."""
        s = state.get(PRE_FILTER_STATE_KEY)
        if not isinstance(s, _PreFilterState):
            return Status.error(f'error reading "{PRE_FILTER_STATE_KEY}" from cycleState: not found')
        s.update_with_pod(pod_to_add, node, 1)
        return SUCCESS

    def remove_pod(self, state: CycleState, pod: PodInfo, pod_to_remove: PodInfo, node: NodeInfo) -> Status:
        """PreFilter extension: ``pod_to_remove`` no longer runs on ``node``."""
        s = state.get(PRE_FILTER_STATE_KEY)
        if not isinstance(s, _PreFilterState):
            return Status.error(f'error reading "{PRE_FILTER_STATE_KEY}" from cycleState: not found')
        s.update_with_pod(pod_to_remove, node, -1)
        return SUCCESS

    def filter(self, state: CycleState, pod: PodInfo, node: NodeInfo) -> Status:
        s = state.get(PRE_FILTER_STATE_KEY)
        if not isinstance(s, _PreFilterState):
            return Status.error(f'error reading "{PRE_FILTER_STATE_KEY}" from cycleState: not found')
        if not satisfy_pod_affinity(s, node):
            return Status(Code.UNSCHEDULABLE_AND_UNRESOLVABLE, [ERR_REASON_AFFINITY_RULES_NOT_MATCH])
        if not satisfy_pod_anti_affinity(s, node):
            return Status(Code.UNSCHEDULABLE, [ERR_REASON_ANTI_AFFINITY_RULES_NOT_MATCH])
        if not satisfy_existing_pods_anti_affinity(s, node):
            return Status(Code.UNSCHEDULABLE, [ERR_REASON_EXISTING_ANTI_AFFINITY_RULES_NOT_MATCH])
        return SUCCESS

    # ----------------------------------------------------------------- score
    def pre_score(self, state: CycleState, pod: PodInfo, nodes: list[NodeInfo]) -> Status:
        if not nodes:
            return Status(Code.SKIP)
        terms = pod_affinity_terms(pod)
        aff = pod.spec.get("affinity") or {}
        has_constraints = bool(((aff.get("podAffinity") or {}).get("preferredDuringSchedulingIgnoredDuringExecution"))
                               or ((aff.get("podAntiAffinity") or {})
                                   .get("preferredDuringSchedulingIgnoredDuringExecution")))
        if self.ignore_preferred_terms_of_existing_pods and not has_constraints:
            return Status(Code.SKIP)
        if terms.error:
            return Status.error(f"failed to parse pod: {terms.error}")
        snapshot = getattr(self.handle, "snapshot", None)
        if snapshot is not None:
            all_nodes = snapshot.list() if has_constraints else snapshot.have_pods_with_affinity()
        else:
            all_nodes = nodes if has_constraints else [n for n in nodes if n.pods_with_affinity]

        ns_map = self._namespace_map()
        pref_aff = [t.resolved(ns_map) for t in terms.preferred_affinity]
        pref_anti = [t.resolved(ns_map) for t in terms.preferred_anti_affinity]
        ns_labels = self._labels_of(ns_map, pod.namespace)
        pod_ns, pod_labels = pod_meta(pod)
        hard = self.hard_pod_affinity_weight
        topo: dict[str, dict[str, int]] = {}

        def add(t: AffinityTerm, weight: int, labels: Mapping[str, str]) -> None:
            value = labels.get(t.topology_key)
            if value is not None:
                scores = topo.get(t.topology_key)
                if scores is None:
                    scores = topo[t.topology_key] = {}
                scores[value] = scores.get(value, 0) + weight

        for ni in all_nodes:
            labels = ni.labels
            if not labels:
                continue
            for epi in (ni.pods if has_constraints else ni.pods_with_affinity):
                if has_constraints:
                    meta = epi.pod.get("metadata") or {}
                    ens, elabels = meta.get("namespace", ""), meta.get("labels") or {}
                    for t in pref_aff:
                        if t.matches_meta(ens, elabels):
                            add(t, t.weight, labels)
                    for t in pref_anti:
                        if t.matches_meta(ens, elabels):
                            add(t, -t.weight, labels)
                if not epi.has_affinity:
                    continue
                et = pod_affinity_terms(epi)
                if hard > 0:
                    for t in et.required_affinity:
                        if t.matches_meta(pod_ns, pod_labels, ns_labels):
                            add(t, hard, labels)
                for t in et.preferred_affinity:
                    if t.matches_meta(pod_ns, pod_labels, ns_labels):
                        add(t, t.weight, labels)
                for t in et.preferred_anti_affinity:
                    if t.matches_meta(pod_ns, pod_labels, ns_labels):
                        add(t, -t.weight, labels)

        if not topo:
            return Status(Code.SKIP)
        state.write(PRE_SCORE_STATE_KEY, _PreScoreState(topo))
        return SUCCESS

    def score(self, state: CycleState, pod: PodInfo, node: NodeInfo) -> tuple[int, Status]:
        s = state.get(PRE_SCORE_STATE_KEY)
        if not isinstance(s, _PreScoreState):
            return 0, Status.error(f'failed to read "{PRE_SCORE_STATE_KEY}" from cycleState: not found')
        labels = node.labels
        total = 0
        for key, values in s.topology_score.items():
            value = labels.get(key)
            if value is not None:
                total += values.get(value, 0)
        return total, SUCCESS

    def normalize_score(self, state: CycleState, pod: PodInfo, scores: list[NodeScore]) -> Status:
        s = state.get(PRE_SCORE_STATE_KEY)
        if not isinstance(s, _PreScoreState):
            return Status.error(f'failed to read "{PRE_SCORE_STATE_KEY}" from cycleState: not found')
        if not s.topology_score or not scores:
            return SUCCESS
        lo = min(ns.score for ns in scores)
        hi = max(ns.score for ns in scores)
        diff = hi - lo
        for ns in scores:
            ns.score = int(MAX_NODE_SCORE * ((ns.score - lo) / diff)) if diff > 0 else 0
        return SUCCESS


def new(args: dict, handle: Any) -> InterPodAffinity:
    return InterPodAffinity(args, handle)
