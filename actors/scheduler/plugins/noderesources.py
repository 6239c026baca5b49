"""NodeResourcesFit and NodeResourcesBalancedAllocation (upstream's
``noderesources`` plugins).

Fit
  * PreFilter: the pod's effective requests (``PodInfo.requests``: containers
    summed, raised to the largest init-container step, sidecars counted
    alongside, plus overhead), with ignored extended resources dropped.
  * Filter: the node must have room for one more pod (``Too many pods``) and,
    for every resource the pod requests, ``allocatable - requested`` at least
    the request (``Insufficient cpu``, ``Insufficient memory``, ``Insufficient
    ephemeral-storage``, ``Insufficient <name>``); every shortfall is listed,
    status Unschedulable (preemption may help).
  * Score (``scoringStrategy``): LeastAllocated (default), MostAllocated or
    RequestedToCapacityRatio over ``resources`` (default cpu and memory, weight
    1). CPU and memory count the non-zero requests (a container without a
    request counts 100m / 200Mi), other resources the plain requests; an
    extended resource the pod does not request, or the node does not have,
    is left out.

  Args: ``ignoredResources`` (extended resource names the filter skips),
  ``ignoredResourceGroups`` (prefixes before the ``/``), ``scoringStrategy``
  ``{type, resources: [{name, weight}], requestedToCapacityRatio: {shape:
  [{utilization, score}]}}``.

BalancedAllocation
  * Score: ``(1 - std) * 100`` where std is the standard deviation of the
    requested/allocatable fractions (each capped at 1) of ``resources``
    (default cpu and memory) after adding the pod, counting plain requests.
"""
from __future__ import annotations

import math
from functools import lru_cache
from typing import Any

from kubeapi.selectors import qualified_name_errors

from ..framework import MAX_NODE_SCORE, SUCCESS, ClusterEvent, Code, CycleState, PreFilterResult, Status
from ..nodeinfo import CPU, EPHEMERAL, MEMORY, NodeInfo, PodInfo, Resource, non_zero_requests

FIT_NAME = "NodeResourcesFit"
BALANCED_ALLOCATION_NAME = "NodeResourcesBalancedAllocation"
FIT_PRE_FILTER_STATE_KEY = "PreFilter" + FIT_NAME
FIT_PRE_SCORE_STATE_KEY = "PreScore" + FIT_NAME
BALANCED_PRE_SCORE_STATE_KEY = "PreScore" + BALANCED_ALLOCATION_NAME

LEAST_ALLOCATED = "LeastAllocated"
MOST_ALLOCATED = "MostAllocated"
REQUESTED_TO_CAPACITY_RATIO = "RequestedToCapacityRatio"

MAX_UTILIZATION = 100
MAX_CUSTOM_PRIORITY_SCORE = 10  # shape scores are 0..10, scaled to 0..MAX_NODE_SCORE
MAX_RESOURCE_WEIGHT = 100

DEFAULT_RESOURCES: tuple[dict, ...] = ({"name": CPU, "weight": 1}, {"name": MEMORY, "weight": 1})

REASON_TOO_MANY_PODS = "Too many pods"

_RESOURCE_DEFAULT_NAMESPACE_PREFIX = "kubernetes.io/"
_DEFAULT_RESOURCE_REQUESTS_PREFIX = "requests."
_HUGEPAGES_PREFIX = "hugepages-"
_ATTACHABLE_VOLUMES_PREFIX = "attachable-volumes-"

# how a scored resource is read from a NodeInfo
_K_CPU, _K_MEMORY, _K_EPHEMERAL, _K_SCALAR, _K_NONE = range(5)


# --------------------------------------------------------------------------------------------
# Resource names (upstream's v1helper)
# --------------------------------------------------------------------------------------------

def is_prefixed_native_resource(name: str) -> bool:
    return _RESOURCE_DEFAULT_NAMESPACE_PREFIX in name


def is_native_resource(name: str) -> bool:
    return "/" not in name or is_prefixed_native_resource(name)


@lru_cache(maxsize=1024)
def is_extended_resource_name(name: str) -> bool:
    """A resource outside the ``kubernetes.io/`` namespace, with a domain,
    whose ``requests.<name>`` quota name is a qualified name."""
    if is_native_resource(name) or name.startswith(_DEFAULT_RESOURCE_REQUESTS_PREFIX):
        return False
    return not qualified_name_errors(_DEFAULT_RESOURCE_REQUESTS_PREFIX + name)


def is_scalar_resource_name(name: str) -> bool:
    return (is_extended_resource_name(name) or name.startswith(_HUGEPAGES_PREFIX)
            or is_prefixed_native_resource(name) or name.startswith(_ATTACHABLE_VOLUMES_PREFIX))


def _resource_kind(name: str) -> int:
    if name == CPU:
        return _K_CPU
    if name == MEMORY:
        return _K_MEMORY
    if name == EPHEMERAL:
        return _K_EPHEMERAL
    if is_scalar_resource_name(name):
        return _K_SCALAR
    return _K_NONE  # e.g. "pods": never scored


# --------------------------------------------------------------------------------------------
# Pod requests for scoring
# --------------------------------------------------------------------------------------------

def pod_non_zero_cpu_memory(pod: PodInfo) -> tuple[int, int]:
    """The pod's (milli CPU, memory) as upstream's ``PodRequests`` with the
    non-zero defaults for containers that request none: containers summed,
    raised to the largest init-container step (sidecars counted alongside),
    plus the overhead."""
    spec = pod.spec
    inits = spec.get("initContainers")
    overhead = spec.get("overhead")
    if not inits and not overhead:
        return pod.non_zero_cpu, pod.non_zero_mem
    cpu, mem = pod.non_zero_cpu, pod.non_zero_mem
    side_cpu = side_mem = 0
    init_cpu = init_mem = 0
    for c in inits or ():
        c_cpu, c_mem = non_zero_requests({"containers": [c]})
        if c.get("restartPolicy") == "Always":
            cpu, mem = cpu + c_cpu, mem + c_mem
            side_cpu, side_mem = side_cpu + c_cpu, side_mem + c_mem
            step_cpu, step_mem = side_cpu, side_mem
        else:
            step_cpu, step_mem = c_cpu + side_cpu, c_mem + side_mem
        init_cpu, init_mem = max(init_cpu, step_cpu), max(init_mem, step_mem)
    cpu, mem = max(cpu, init_cpu), max(mem, init_mem)
    if overhead:
        o_cpu, o_mem = _overhead_cpu_memory(overhead)
        cpu, mem = cpu + o_cpu, mem + o_mem
    return cpu, mem


def _overhead_cpu_memory(overhead: dict) -> tuple[int, int]:
    r = Resource.from_list({k: v for k, v in overhead.items() if k in (CPU, MEMORY)})
    return r.milli_cpu, r.memory


def _go_div(a: int, b: int) -> int:
    """Integer division truncating toward zero (Go's ``/`` on ints)."""
    q = abs(a) // abs(b)
    return q if (a >= 0) == (b > 0) else -q


# --------------------------------------------------------------------------------------------
# Arguments
# --------------------------------------------------------------------------------------------

def _resource_specs(raw: Any, path: str, *, weight_must_be_one: bool = False) -> list[tuple[str, int]]:
    """``[{name, weight}]`` with upstream's v1 defaults (cpu and memory when
    empty, weight 0 -> 1) and validation."""
    items = list(raw or ()) or [dict(r) for r in DEFAULT_RESOURCES]
    out: list[tuple[str, int]] = []
    seen: set[str] = set()
    for i, r in enumerate(items):
        name = str(r.get("name") or "")
        weight = int(r.get("weight") or 0) or 1
        if weight_must_be_one:
            if name in seen:
                raise ValueError(f"{path}[{i}].name: Duplicate value: {name!r}")
            if weight != 1:
                raise ValueError(f"{path}[{i}].weight: Invalid value: {weight}: must be 1")
        elif weight <= 0 or weight > MAX_RESOURCE_WEIGHT:
            raise ValueError(f"{path}[{i}].weight: Invalid value: {weight}: "
                             f"resource weight of {name} not in valid range (0, {MAX_RESOURCE_WEIGHT}]")
        seen.add(name)
        out.append((name, weight))
    return out


def _shape(raw: Any, path: str) -> list[tuple[int, int]]:
    points = list(raw or ())
    if not points:
        raise ValueError(f"{path}: Required value: at least one point must be specified")
    shape = [(int(p.get("utilization") or 0), int(p.get("score") or 0)) for p in points]
    for i in range(1, len(shape)):
        if shape[i - 1][0] >= shape[i][0]:
            raise ValueError(f"{path}[{i}].utilization: Invalid value: {shape[i][0]}: "
                             "utilization values must be sorted in increasing order")
    for i, (u, s) in enumerate(shape):
        if not 0 <= u <= MAX_UTILIZATION:
            raise ValueError(f"{path}[{i}].utilization: Invalid value: {u}: "
                             f"not in valid range [0, {MAX_UTILIZATION}]")
        if not 0 <= s <= MAX_CUSTOM_PRIORITY_SCORE:
            raise ValueError(f"{path}[{i}].score: Invalid value: {s}: "
                             f"not in valid range [0, {MAX_CUSTOM_PRIORITY_SCORE}]")
    return shape


def broken_linear_function(shape: list[tuple[int, int]]):
    """Upstream's ``helper.BuildBrokenLinearFunction`` over (utilization, score)
    points: flat before the first and after the last point, linear between
    (Go integer arithmetic)."""
    def f(p: int) -> int:
        for i, (u, s) in enumerate(shape):
            if p <= u:
                if i == 0:
                    return shape[0][1]
                pu, ps = shape[i - 1]
                return ps + _go_div((s - ps) * (p - pu), u - pu)
        return shape[-1][1]
    return f


# --------------------------------------------------------------------------------------------
# Scorers: each gets [(requested, allocatable, weight)] for the resources with allocatable > 0
# --------------------------------------------------------------------------------------------

def least_allocated_scorer(entries: list[tuple[int, int, int]]) -> int:
    node_score = weight_sum = 0
    for req, cap, w in entries:
        node_score += (0 if req > cap else (cap - req) * MAX_NODE_SCORE // cap) * w
        weight_sum += w
    return node_score // weight_sum if weight_sum else 0


def most_allocated_scorer(entries: list[tuple[int, int, int]]) -> int:
    node_score = weight_sum = 0
    for req, cap, w in entries:
        node_score += (min(req, cap) * MAX_NODE_SCORE // cap) * w
        weight_sum += w
    return node_score // weight_sum if weight_sum else 0


def requested_to_capacity_ratio_scorer(shape: list[tuple[int, int]]):
    scale = MAX_NODE_SCORE // MAX_CUSTOM_PRIORITY_SCORE
    raw = broken_linear_function([(u, s * scale) for u, s in shape])

    def scorer(entries: list[tuple[int, int, int]]) -> int:
        node_score = weight_sum = 0
        for req, cap, w in entries:
            s = raw(MAX_UTILIZATION) if req > cap else raw(req * MAX_UTILIZATION // cap)
            if s > 0:
                node_score += s * w
                weight_sum += w
        if not weight_sum:
            return 0
        return (2 * node_score + weight_sum) // (2 * weight_sum)  # math.Round for non-negatives
    return scorer


def balanced_resource_scorer(entries: list[tuple[int, int, int]]) -> int:
    fractions: list[float] = []
    total = 0.0
    for req, cap, _ in entries:
        f = float(req) / float(cap)
        if f > 1:
            f = 1.0
        total += f
        fractions.append(f)
    std = 0.0
    if len(fractions) == 2:
        std = abs((fractions[0] - fractions[1]) / 2)
    elif len(fractions) > 2:
        mean = total / float(len(fractions))
        acc = 0.0
        for f in fractions:
            acc = acc + (f - mean) * (f - mean)
        std = math.sqrt(acc / float(len(fractions)))
    return int((1 - std) * float(MAX_NODE_SCORE))


class _ResourceAllocationScorer:
    """Upstream's ``resourceAllocationScorer``: reads, per scored resource, the
    node's allocatable and (requested + the pod's request), and hands those
    with allocatable > 0 to ``scorer``."""

    def __init__(self, resources: list[tuple[str, int]], scorer, use_requested: bool) -> None:
        self.resources = [(_resource_kind(n), n, w) for n, w in resources]
        self.scorer = scorer
        self.use_requested = use_requested

    def pod_requests(self, pod: PodInfo) -> list[int]:
        if self.use_requested:
            cpu, mem = pod.requests.milli_cpu, pod.requests.memory
        else:
            cpu, mem = pod_non_zero_cpu_memory(pod)
        out = []
        for kind, name, _ in self.resources:
            if kind == _K_CPU:
                out.append(cpu)
            elif kind == _K_MEMORY:
                out.append(mem)
            else:
                out.append(pod.requests.get(name))
        return out

    def score_all(self, nodes: list[NodeInfo], pod_requests: list[int]) -> list[int]:
        """:meth:`score` for many nodes; inlined for the default cpu+memory
        weight-1 resources with the least-allocated or balanced scorer (the
        hot path: hundreds of nodes per pod)."""
        fast = [(k, w) for k, _, w in self.resources] == [(_K_CPU, 1), (_K_MEMORY, 1)]
        if not fast or self.scorer not in (least_allocated_scorer, balanced_resource_scorer):
            return [self.score(n, pod_requests) for n in nodes]
        pc, pm = pod_requests
        use_requested = self.use_requested
        out = []
        append = out.append
        if self.scorer is least_allocated_scorer:
            for n in nodes:
                a = n.allocatable
                r = n.requested if use_requested else n.non_zero_requested
                cc, cm = a.milli_cpu, a.memory
                rc, rm = r.milli_cpu + pc, r.memory + pm
                total = weights = 0
                if cc > 0:
                    total += 0 if rc > cc else (cc - rc) * 100 // cc
                    weights += 1
                if cm > 0:
                    total += 0 if rm > cm else (cm - rm) * 100 // cm
                    weights += 1
                append(total // weights if weights else 0)
            return out
        for n in nodes:
            a = n.allocatable
            r = n.requested if use_requested else n.non_zero_requested
            cc, cm = a.milli_cpu, a.memory
            if cc > 0 and cm > 0:
                fc = min((r.milli_cpu + pc) / cc, 1.0)
                fm = min((r.memory + pm) / cm, 1.0)
                append(int((1 - abs((fc - fm) / 2)) * 100.0))
            else:
                append(self.score(n, pod_requests))
        return out

    def score(self, node: NodeInfo, pod_requests: list[int]) -> int:
        alloc = node.allocatable
        requested = node.requested if self.use_requested else node.non_zero_requested
        entries: list[tuple[int, int, int]] = []
        for (kind, name, w), preq in zip(self.resources, pod_requests):
            if kind == _K_CPU:
                cap, req = alloc.milli_cpu, requested.milli_cpu + preq
            elif kind == _K_MEMORY:
                cap, req = alloc.memory, requested.memory + preq
            elif kind == _K_EPHEMERAL:
                cap, req = alloc.ephemeral_storage, node.requested.ephemeral_storage + preq
            elif kind == _K_SCALAR:
                if preq == 0:  # an extended resource the pod does not ask for is not scored
                    continue
                cap, req = alloc.scalar.get(name, 0), node.requested.scalar.get(name, 0) + preq
            else:
                continue
            if cap == 0:
                continue
            entries.append((req, cap, w))
        return self.scorer(entries)


class _PreScoreState:
    __slots__ = ("pod_requests",)

    def __init__(self, pod_requests: list[int]) -> None:
        self.pod_requests = pod_requests

    def clone(self) -> _PreScoreState:  # read-only once written
        return self


# --------------------------------------------------------------------------------------------
# Fit
# --------------------------------------------------------------------------------------------

class _FitPreFilterState:
    """The pod's requests as Filter checks them."""

    __slots__ = ("milli_cpu", "memory", "ephemeral_storage", "scalars")

    def __init__(self, milli_cpu: int, memory: int, ephemeral_storage: int,
                 scalars: tuple[tuple[str, int], ...]) -> None:
        self.milli_cpu = milli_cpu
        self.memory = memory
        self.ephemeral_storage = ephemeral_storage
        self.scalars = scalars

    def clone(self) -> _FitPreFilterState:  # read-only once written
        return self


class _AllocationScoring:
    """PreScore / Score of the plugins that score by resource allocation: the
    pod's requests are read once per cycle (under ``_state_key``)."""

    _state_key: str
    scorer: _ResourceAllocationScorer

    def _requests(self, state: CycleState, pod: PodInfo) -> list[int]:
        s = state.get(self._state_key)
        return s.pod_requests if isinstance(s, _PreScoreState) else self.scorer.pod_requests(pod)

    def pre_score(self, state: CycleState, pod: PodInfo, nodes: list[NodeInfo]) -> Status:
        state.write(self._state_key, _PreScoreState(self.scorer.pod_requests(pod)))
        return SUCCESS

    def score(self, state: CycleState, pod: PodInfo, node: NodeInfo) -> tuple[int, Status]:
        return self.scorer.score(node, self._requests(state, pod)), SUCCESS

    def score_nodes(self, state: CycleState, pod: PodInfo, nodes: list[NodeInfo]) -> list[int]:
        return self.scorer.score_all(nodes, self._requests(state, pod))


class Fit(_AllocationScoring):
    name = FIT_NAME
    _state_key = FIT_PRE_SCORE_STATE_KEY

    def __init__(self, args: dict | None = None, handle: Any = None) -> None:
        args = args or {}
        self.handle = handle
        self.ignored_resources: frozenset[str] = frozenset(args.get("ignoredResources") or ())
        groups = list(args.get("ignoredResourceGroups") or ())
        for i, g in enumerate(groups):
            if "/" in g:
                raise ValueError(f"ignoredResourceGroups[{i}]: Invalid value: {g!r}: "
                                 "resource group name can't contain '/'")
        self.ignored_resource_groups: frozenset[str] = frozenset(groups)
        strategy = args.get("scoringStrategy") or {}
        stype = strategy.get("type") or LEAST_ALLOCATED
        resources = _resource_specs(strategy.get("resources"), "scoringStrategy.resources")
        if stype == LEAST_ALLOCATED:
            scorer = least_allocated_scorer
        elif stype == MOST_ALLOCATED:
            scorer = most_allocated_scorer
        elif stype == REQUESTED_TO_CAPACITY_RATIO:
            shape = _shape((strategy.get("requestedToCapacityRatio") or {}).get("shape"),
                           "scoringStrategy.requestedToCapacityRatio.shape")
            scorer = requested_to_capacity_ratio_scorer(shape)
        else:
            raise ValueError(f"scoringStrategy.type: Unsupported value: {stype!r}: supported values: "
                             f'"{LEAST_ALLOCATED}", "{MOST_ALLOCATED}", "{REQUESTED_TO_CAPACITY_RATIO}"')
        self.scoring_strategy = stype
        self.scorer = _ResourceAllocationScorer(resources, scorer, use_requested=False)

    def events_to_register(self) -> list[ClusterEvent]:
        return [ClusterEvent("Pod", "Delete"), ClusterEvent("Node", "Add"), ClusterEvent("Node", "Update")]

    # ---------------------------------------------------------------- filter
    def _ignored(self, name: str) -> bool:
        if not is_extended_resource_name(name):
            return False
        if name in self.ignored_resources:
            return True
        return bool(self.ignored_resource_groups) and name.split("/", 1)[0] in self.ignored_resource_groups

    def _pre_filter_state(self, pod: PodInfo) -> _FitPreFilterState:
        r = pod.requests
        scalars = tuple((n, q) for n, q in r.scalar.items() if q != 0 and not self._ignored(n))
        return _FitPreFilterState(r.milli_cpu, r.memory, r.ephemeral_storage, scalars)

    def pre_filter(self, state: CycleState, pod: PodInfo, nodes: list[NodeInfo]
                   ) -> tuple[PreFilterResult | None, Status]:
        state.write(FIT_PRE_FILTER_STATE_KEY, self._pre_filter_state(pod))
        return None, SUCCESS

    def filter(self, state: CycleState, pod: PodInfo, node: NodeInfo) -> Status:
        s = state.get(FIT_PRE_FILTER_STATE_KEY)
        if not isinstance(s, _FitPreFilterState):
            s = self._pre_filter_state(pod)
        reasons = insufficient_resources(s, node)
        if reasons:
            return Status(Code.UNSCHEDULABLE, reasons)
        return SUCCESS

    # ----------------------------------------------------------------- score


def insufficient_resources(s: _FitPreFilterState, node: NodeInfo) -> list[str]:
    """The reasons the pod does not fit the node, in upstream's order: pods,
    cpu, memory, ephemeral-storage, then the other resources."""
    reasons: list[str] = []
    alloc = node.allocatable
    if len(node.pods) + 1 > alloc.allowed_pod_number:
        reasons.append(REASON_TOO_MANY_PODS)
    if not (s.milli_cpu or s.memory or s.ephemeral_storage or s.scalars):
        return reasons
    req = node.requested
    if s.milli_cpu > 0 and s.milli_cpu > alloc.milli_cpu - req.milli_cpu:
        reasons.append("Insufficient cpu")
    if s.memory > 0 and s.memory > alloc.memory - req.memory:
        reasons.append("Insufficient memory")
    if s.ephemeral_storage > 0 and s.ephemeral_storage > alloc.ephemeral_storage - req.ephemeral_storage:
        reasons.append("Insufficient ephemeral-storage")
    for name, q in s.scalars:
        if q > alloc.scalar.get(name, 0) - req.scalar.get(name, 0):
            reasons.append(f"Insufficient {name}")
    return reasons


# --------------------------------------------------------------------------------------------
# BalancedAllocation
# --------------------------------------------------------------------------------------------

class BalancedAllocation(_AllocationScoring):
    name = BALANCED_ALLOCATION_NAME
    _state_key = BALANCED_PRE_SCORE_STATE_KEY

    def __init__(self, args: dict | None = None, handle: Any = None) -> None:
        self.handle = handle
        resources = _resource_specs((args or {}).get("resources"), "resources", weight_must_be_one=True)
        self.scorer = _ResourceAllocationScorer(resources, balanced_resource_scorer, use_requested=True)

    def events_to_register(self) -> list[ClusterEvent]:
        return []

