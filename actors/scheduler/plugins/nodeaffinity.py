"""NodeAffinity: ``spec.nodeSelector`` and ``spec.affinity.nodeAffinity``
(upstream's ``nodeaffinity`` plugin, with the node-selector matching of
``k8s.io/component-helpers/scheduling/corev1/nodeaffinity``).

* PreFilter: Skip when the pod has neither a nodeSelector nor required node
  affinity (and no ``addedAffinity`` is configured); when every required term
  names nodes through ``matchFields`` (``metadata.name In [...]``) the
  candidate nodes are narrowed to those names (a PreFilterResult), and terms
  that name disjoint nodes make the pod unschedulable outright.
* Filter: the node must match the nodeSelector (every label equal) and at
  least one required term (terms ORed; a term's expressions and fields
  ANDed; an empty term matches nothing). A term that does not parse (an
  unknown operator, ``Gt`` with a non-integer, ...) matches no node.
* Score: the sum of the weights of the preferred terms the node matches,
  normalized to 0..100 (the best node gets 100).

Plugin args: ``addedAffinity`` (a NodeAffinity object applied to every pod
of the profile: its required terms are an extra filter, its preferred terms
add to the score).
"""
from __future__ import annotations

from dataclasses import dataclass, field
from typing import Any, Iterable, Mapping

from kubeapi.selectors import LabelSelector, Operator, SelectorError, new_requirement

from ..framework import (MAX_NODE_SCORE, SUCCESS, ClusterEvent, Code, CycleState, NodeScore, PreFilterResult,
                         Status)
from ..nodeinfo import NodeInfo, PodInfo

NAME = "NodeAffinity"
PRE_FILTER_STATE_KEY = "PreFilter" + NAME
PRE_SCORE_STATE_KEY = "PreScore" + NAME

ERR_REASON_POD = "node(s) didn't match Pod's node affinity/selector"
ERR_REASON_ENFORCED = "node(s) didn't match scheduler-enforced node affinity"
ERR_REASON_CONFLICT = "pod affinity terms conflict"

OBJECT_NAME_FIELD = "metadata.name"

_LABEL_OPERATORS = {
    "In": Operator.IN, "NotIn": Operator.NOT_IN, "Exists": Operator.EXISTS,
    "DoesNotExist": Operator.DOES_NOT_EXIST, "Gt": Operator.GREATER_THAN, "Lt": Operator.LESS_THAN,
}
_VALID_LABEL_OPERATORS = '"In", "NotIn", "Exists", "DoesNotExist", "Gt", "Lt"'


def default_normalize_score(max_priority: int, reverse: bool, scores: list[NodeScore]) -> Status:
    """Upstream's ``helper.DefaultNormalizeScore``: scale to 0..max_priority by
    the highest score (integer division), optionally reversed; all zeros stay 0
    (or become max_priority when reversed)."""
    max_count = 0
    for s in scores:
        if s.score > max_count:
            max_count = s.score
    if max_count == 0:
        if reverse:
            for s in scores:
                s.score = max_priority
        return SUCCESS
    for s in scores:
        num = max_priority * s.score
        v = num // max_count if num >= 0 else -((-num) // max_count)  # Go truncates toward zero
        s.score = max_priority - v if reverse else v
    return SUCCESS


# --------------------------------------------------------------------------------------------
# Node selector terms
# --------------------------------------------------------------------------------------------


def _path(base: str, i: int) -> str:
    return f"{base}[{i}]" if base else f"[{i}]"


@dataclass
class NodeSelectorTerm:
    """One parsed ``NodeSelectorTerm``: ``match_labels`` from matchExpressions,
    ``match_fields`` from matchFields as (field, operator, value) triples
    (In → equal, NotIn → not equal; exactly one value each), and the parse
    errors that make the term match nothing."""

    match_labels: LabelSelector | None = None
    match_fields: list[tuple[str, str, str]] | None = None
    errors: list[str] = field(default_factory=list)

    @classmethod
    def parse(cls, term: Mapping[str, Any] | None, path: str = "") -> NodeSelectorTerm:
        t = cls()
        term = term or {}
        exprs = term.get("matchExpressions") or []
        if exprs:
            reqs = []
            base = f"{path}.matchExpressions" if path else "matchExpressions"
            for i, e in enumerate(exprs):
                p = _path(base, i)
                op = _LABEL_OPERATORS.get(e.get("operator"))
                if op is None:
                    t.errors.append(f'{p}.operator: Unsupported value: "{e.get("operator") or ""}": '
                                    f'supported values: {_VALID_LABEL_OPERATORS}')
                    continue
                try:
                    reqs.append(new_requirement(e.get("key") or "", op, list(e.get("values") or ()), path=p))
                except SelectorError as err:
                    t.errors.append(str(err))
            if not t.errors:
                t.match_labels = LabelSelector(tuple(reqs))
        fields = term.get("matchFields") or []
        if fields:
            out = []
            errs = []
            base = f"{path}.matchFields" if path else "matchFields"
            for i, f in enumerate(fields):
                p = _path(base, i)
                op = f.get("operator")
                values = list(f.get("values") or ())
                if op in ("In", "NotIn"):
                    if len(values) != 1:
                        errs.append(f"{p}.values: Invalid value: {values!r}: must have one element")
                    else:
                        out.append((f.get("key") or "", op, values[0]))
                else:
                    errs.append(f'{p}.operator: Unsupported value: "{op or ""}": supported values: "In", "NotIn"')
            if errs:
                t.errors.extend(errs)
            else:
                t.match_fields = out
        return t

    def matches(self, labels: Mapping[str, str], node_name: str) -> bool:
        if self.errors:
            return False
        if self.match_labels is not None and not self.match_labels.matches(labels):
            return False
        if self.match_fields is not None and node_name:  # a node without a name has no fields to select on
            for key, op, value in self.match_fields:
                have = node_name if key == OBJECT_NAME_FIELD else ""
                if (have == value) != (op == "In"):
                    return False
        return True


def _is_empty_term(term: Mapping[str, Any] | None) -> bool:
    return not term or (not term.get("matchExpressions") and not term.get("matchFields"))


class NodeSelector:
    """A ``v1.NodeSelector``: its terms ORed; empty terms are dropped (they
    select nothing). Terms that fail to parse match nothing; ``errors`` lists why."""

    __slots__ = ("terms",)

    def __init__(self, ns: Mapping[str, Any] | None, path: str = "") -> None:
        base = f"{path}.nodeSelectorTerms" if path else "nodeSelectorTerms"
        self.terms = [NodeSelectorTerm.parse(t, _path(base, i))
                      for i, t in enumerate((ns or {}).get("nodeSelectorTerms") or ()) if not _is_empty_term(t)]

    @property
    def errors(self) -> list[str]:
        return [e for t in self.terms for e in t.errors]

    def matches(self, labels: Mapping[str, str], node_name: str) -> bool:
        for t in self.terms:
            if t.matches(labels, node_name):
                return True
        return False

    def match(self, node: NodeInfo) -> bool:
        return self.matches(node.labels, node.name)


def new_node_selector(ns: Mapping[str, Any], path: str = "") -> NodeSelector:
    """A strictly parsed NodeSelector: raises ``ValueError`` listing every parse error."""
    sel = NodeSelector(ns, path)
    errs = sel.errors
    if errs:
        raise ValueError("; ".join(errs))
    return sel


class PreferredSchedulingTerms:
    """``[]PreferredSchedulingTerm``: terms with weight 0 or no requirements are
    skipped; any parse error is raised (``ValueError``)."""

    __slots__ = ("terms",)

    def __init__(self, terms: Iterable[Mapping[str, Any]] | None, path: str = "") -> None:
        self.terms: list[tuple[NodeSelectorTerm, int]] = []
        errs: list[str] = []
        for i, term in enumerate(terms or ()):
            weight = int(term.get("weight") or 0)
            pref = term.get("preference") or {}
            if weight == 0 or _is_empty_term(pref):
                continue
            parsed = NodeSelectorTerm.parse(pref, _path(path, i))
            if parsed.errors:
                errs.extend(parsed.errors)
            else:
                self.terms.append((parsed, weight))
        if errs:
            raise ValueError("; ".join(errs))

    def score(self, node: NodeInfo) -> int:
        labels, name = node.labels, node.name
        return sum(w for t, w in self.terms if t.matches(labels, name))


class RequiredNodeAffinity:
    """A pod's ``spec.nodeSelector`` ANDed with its required node affinity
    (upstream's ``GetRequiredNodeAffinity``); parse errors make terms match nothing."""

    __slots__ = ("node_selector", "affinity")

    def __init__(self, pod_spec: Mapping[str, Any]) -> None:
        ns = pod_spec.get("nodeSelector")
        self.node_selector: tuple[tuple[str, str], ...] | None = tuple(ns.items()) if ns else None
        aff = (pod_spec.get("affinity") or {}).get("nodeAffinity") or {}
        req = aff.get("requiredDuringSchedulingIgnoredDuringExecution")
        self.affinity: NodeSelector | None = NodeSelector(req) if req is not None else None

    @classmethod
    def of(cls, pod: PodInfo) -> RequiredNodeAffinity:
        return cls(pod.spec)

    def is_empty(self) -> bool:
        """Matches every node."""
        return self.node_selector is None and self.affinity is None

    def matches(self, labels: Mapping[str, str], node_name: str) -> bool:
        if self.node_selector is not None:
            for k, v in self.node_selector:
                if labels.get(k) != v:
                    return False
        if self.affinity is not None:
            return self.affinity.matches(labels, node_name)
        return True

    def match(self, node: NodeInfo) -> bool:
        return self.matches(node.labels, node.name)


# --------------------------------------------------------------------------------------------
# The plugin
# --------------------------------------------------------------------------------------------


class _PreFilterState:
    __slots__ = ("required",)

    def __init__(self, required: RequiredNodeAffinity) -> None:
        self.required = required

    def clone(self) -> _PreFilterState:  # not affected by pod additions or removals
        return self


class _PreScoreState:
    __slots__ = ("preferred",)

    def __init__(self, preferred: PreferredSchedulingTerms | None) -> None:
        self.preferred = preferred

    def clone(self) -> _PreScoreState:
        return self


def _pod_preferred(pod: PodInfo) -> PreferredSchedulingTerms | None:
    aff = (pod.spec.get("affinity") or {}).get("nodeAffinity") or {}
    terms = aff.get("preferredDuringSchedulingIgnoredDuringExecution")
    if terms is None:
        return None
    return PreferredSchedulingTerms(terms)


class NodeAffinity:
    name = NAME

    def __init__(self, args: dict | None = None, handle: Any = None) -> None:
        self.handle = handle
        self.added_node_selector: NodeSelector | None = None
        self.added_pref_terms: PreferredSchedulingTerms | None = None
        added = (args or {}).get("addedAffinity")
        if added:
            req = added.get("requiredDuringSchedulingIgnoredDuringExecution")
            if req is not None:
                try:
                    self.added_node_selector = new_node_selector(
                        req, "addedAffinity.requiredDuringSchedulingIgnoredDuringExecution")
                except ValueError as e:
                    raise ValueError(f"parsing addedAffinity.requiredDuringSchedulingIgnoredDuringExecution: {e}") \
                        from None
            pref = added.get("preferredDuringSchedulingIgnoredDuringExecution")
            if pref:
                try:
                    self.added_pref_terms = PreferredSchedulingTerms(
                        pref, "addedAffinity.preferredDuringSchedulingIgnoredDuringExecution")
                except ValueError as e:
                    raise ValueError(f"parsing addedAffinity.preferredDuringSchedulingIgnoredDuringExecution: {e}") \
                        from None

    def events_to_register(self) -> list[ClusterEvent]:
        return [ClusterEvent("Node", "Add"), ClusterEvent("Node", "Update")]

    # ---------------------------------------------------------------- filter
    def pre_filter(self, state: CycleState, pod: PodInfo, nodes: list[NodeInfo]
                   ) -> tuple[PreFilterResult | None, Status]:
        spec = pod.spec
        required = ((spec.get("affinity") or {}).get("nodeAffinity") or {}) \
            .get("requiredDuringSchedulingIgnoredDuringExecution")
        if required is None and self.added_node_selector is None and spec.get("nodeSelector") is None:
            return None, Status(Code.SKIP)
        state.write(PRE_FILTER_STATE_KEY, _PreFilterState(RequiredNodeAffinity(spec)))
        terms = (required or {}).get("nodeSelectorTerms") or []
        if not terms:
            return None, SUCCESS
        # affinity to specific nodes by name narrows the nodes worth filtering
        node_names: set[str] | None = None
        for t in terms:
            term_names: set[str] | None = None
            for r in t.get("matchFields") or ():
                if r.get("key") == OBJECT_NAME_FIELD and r.get("operator") == "In":
                    s = set(r.get("values") or ())
                    term_names = s if term_names is None else term_names & s
            if term_names is None:
                return None, SUCCESS  # a term not naming nodes: any node may match (terms are ORed)
            node_names = term_names if node_names is None else node_names | term_names
        if node_names is not None and not node_names:
            return None, Status.unschedulable(ERR_REASON_CONFLICT, resolvable=False)
        if node_names:
            return PreFilterResult(node_names), SUCCESS
        return None, SUCCESS

    def filter(self, state: CycleState, pod: PodInfo, node: NodeInfo) -> Status:
        if self.added_node_selector is not None and not self.added_node_selector.match(node):
            return Status.unschedulable(ERR_REASON_ENFORCED, resolvable=False)
        s = state.get(PRE_FILTER_STATE_KEY)
        required = s.required if isinstance(s, _PreFilterState) else RequiredNodeAffinity(pod.spec)
        if not required.match(node):
            return Status.unschedulable(ERR_REASON_POD, resolvable=False)
        return SUCCESS

    # ----------------------------------------------------------------- score
    def pre_score(self, state: CycleState, pod: PodInfo, nodes: list[NodeInfo]) -> Status:
        try:
            preferred = _pod_preferred(pod)
        except ValueError as e:
            return Status.error(str(e))
        if preferred is None and self.added_pref_terms is None:
            return Status(Code.SKIP)
        state.write(PRE_SCORE_STATE_KEY, _PreScoreState(preferred))
        return SUCCESS

    def score(self, state: CycleState, pod: PodInfo, node: NodeInfo) -> tuple[int, Status]:
        count = 0
        if self.added_pref_terms is not None:
            count += self.added_pref_terms.score(node)
        s = state.get(PRE_SCORE_STATE_KEY)
        if isinstance(s, _PreScoreState):
            preferred = s.preferred
        else:
            try:
                preferred = _pod_preferred(pod)
            except ValueError as e:
                return 0, Status.error(str(e))
        if preferred is not None:
            count += preferred.score(node)
        return count, SUCCESS

    def normalize_score(self, state: CycleState, pod: PodInfo, scores: list[NodeScore]) -> Status:
        return default_normalize_score(MAX_NODE_SCORE, False, scores)


def new(args: dict, handle: Any) -> NodeAffinity:
    return NodeAffinity(args, handle)
