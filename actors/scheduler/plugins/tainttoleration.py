"""TaintToleration: keeps pods off nodes whose taints they do not tolerate
(upstream's ``tainttoleration`` plugin).

* Filter: a node with a ``NoSchedule`` or ``NoExecute`` taint that none of the
  pod's tolerations tolerates is rejected, UnschedulableAndUnresolvable, with
  ``node(s) had untolerated taint {key: value}`` naming the first such taint.
* Score: the number of ``PreferNoSchedule`` taints the pod does not tolerate,
  normalized reversed to 0..100 (the node with the most gets 0, none gets 100).

The toleration helpers (``toleration_tolerates_taint``,
``find_matching_untolerated_taint``) follow ``k8s.io/component-helpers``
exactly and are shared with PodTopologySpread (``nodeTaintsPolicy: Honor``).
"""
from __future__ import annotations

from typing import Any, Callable, Iterable

from ..framework import MAX_NODE_SCORE, SUCCESS, ClusterEvent, Code, CycleState, NodeScore, Status
from ..nodeinfo import NodeInfo, PodInfo
from .nodeaffinity import default_normalize_score

NAME = "TaintToleration"
PRE_SCORE_STATE_KEY = "PreScore" + NAME

NO_SCHEDULE = "NoSchedule"
PREFER_NO_SCHEDULE = "PreferNoSchedule"
NO_EXECUTE = "NoExecute"

ERR_REASON_NOT_MATCH = "node(s) had taints that the pod didn't tolerate"


def toleration_tolerates_taint(tol: dict, taint: dict) -> bool:
    """Upstream's ``Toleration.ToleratesTaint``: an empty toleration effect
    matches every effect, an empty key (only valid with ``Exists``) matches
    every key, ``Exists`` ignores the value, ``Equal`` (or no operator)
    compares it; any other operator tolerates nothing."""
    effect = tol.get("effect") or ""
    if effect and effect != (taint.get("effect") or ""):
        return False
    key = tol.get("key") or ""
    if key and key != (taint.get("key") or ""):
        return False
    op = tol.get("operator") or ""
    if op in ("", "Equal"):
        return (tol.get("value") or "") == (taint.get("value") or "")
    if op == "Exists":
        return True
    return False


def tolerations_tolerate_taint(tolerations: Iterable[dict], taint: dict) -> bool:
    return any(toleration_tolerates_taint(t, taint) for t in tolerations)


def do_not_schedule_taint(taint: dict) -> bool:
    """The taints Filter cares about: ``NoSchedule`` and ``NoExecute``."""
    return taint.get("effect") in (NO_SCHEDULE, NO_EXECUTE)


def find_matching_untolerated_taint(taints: Iterable[dict], tolerations: Iterable[dict] | None,
                                    inclusion: Callable[[dict], bool] | None = None) -> dict | None:
    """The first taint passing ``inclusion`` that no toleration tolerates, or None."""
    tols = list(tolerations or ())
    for taint in taints:
        if inclusion is not None and not inclusion(taint):
            continue
        if not tolerations_tolerate_taint(tols, taint):
            return taint
    return None


def _prefer_no_schedule_tolerations(tolerations: Iterable[dict] | None) -> list[dict]:
    """Tolerations that may tolerate a PreferNoSchedule taint (that effect, or none)."""
    return [t for t in tolerations or () if not t.get("effect") or t.get("effect") == PREFER_NO_SCHEDULE]


def count_intolerable_prefer_no_schedule(taints: Iterable[dict], tolerations: list[dict]) -> int:
    return sum(1 for t in taints
               if t.get("effect") == PREFER_NO_SCHEDULE and not tolerations_tolerate_taint(tolerations, t))


class _PreScoreState:
    __slots__ = ("tolerations",)

    def __init__(self, tolerations: list[dict]) -> None:
        self.tolerations = tolerations

    def clone(self) -> _PreScoreState:  # read-only once written
        return self


class TaintToleration:
    name = NAME

    def __init__(self, args: dict | None = None, handle: Any = None) -> None:
        self.handle = handle

    def events_to_register(self) -> list[ClusterEvent]:
        return [ClusterEvent("Node", "Add"), ClusterEvent("Node", "Update")]

    # ---------------------------------------------------------------- filter
    def filter(self, state: CycleState, pod: PodInfo, node: NodeInfo) -> Status:
        if not node.taints:
            return SUCCESS
        taint = find_matching_untolerated_taint(node.taints, pod.spec.get("tolerations"), do_not_schedule_taint)
        if taint is None:
            return SUCCESS
        return Status.unschedulable(
            f"node(s) had untolerated taint {{{taint.get('key') or ''}: {taint.get('value') or ''}}}",
            resolvable=False)

    # ----------------------------------------------------------------- score
    def pre_score(self, state: CycleState, pod: PodInfo, nodes: list[NodeInfo]) -> Status:
        if not any(n.taints for n in nodes):
            return Status(Code.SKIP)  # every node would score the same: nothing to rank
        state.write(PRE_SCORE_STATE_KEY, _PreScoreState(_prefer_no_schedule_tolerations(pod.spec.get("tolerations"))))
        return SUCCESS

    def score(self, state: CycleState, pod: PodInfo, node: NodeInfo) -> tuple[int, Status]:
        s = state.get(PRE_SCORE_STATE_KEY)
        if not isinstance(s, _PreScoreState):
            return 0, Status(Code.ERROR, [f'failed to read "{PRE_SCORE_STATE_KEY}" from cycleState'])
        if not node.taints:
            return 0, SUCCESS
        return count_intolerable_prefer_no_schedule(node.taints, s.tolerations), SUCCESS

    def normalize_score(self, state: CycleState, pod: PodInfo, scores: list[NodeScore]) -> Status:
        return default_normalize_score(MAX_NODE_SCORE, True, scores)


def new(args: dict, handle: Any) -> TaintToleration:
    return TaintToleration(args, handle)
