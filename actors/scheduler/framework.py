"""The scheduling framework: extension points, plugin statuses, cycle state,
and the runner that calls a profile's plugins in order (upstream's
``framework.Framework``).

A plugin is a class with a ``name`` and any of the extension-point methods
below; it is built as ``Plugin(args, handle)`` where ``args`` is its
configuration dict and ``handle`` gives read access to the cluster snapshot
(plugins that look across nodes, such as PodTopologySpread, need it).
Everything here is synchronous and pure; binding (I/O) happens in the
scheduler loop.
"""
from __future__ import annotations

import enum
from dataclasses import dataclass, field
from typing import Any, Callable, Iterable, Protocol

from .nodeinfo import NodeInfo, PodInfo

MAX_NODE_SCORE = 100
MIN_NODE_SCORE = 0


class Code(enum.IntEnum):
    SUCCESS = 0
    ERROR = 1
    UNSCHEDULABLE = 2
    UNSCHEDULABLE_AND_UNRESOLVABLE = 3  # preemption on this node cannot help
    WAIT = 4
    SKIP = 5
    PENDING = 6


@dataclass
class Status:
    code: Code = Code.SUCCESS
    reasons: list[str] = field(default_factory=list)
    plugin: str = ""

    @classmethod
    def unschedulable(cls, *reasons: str, resolvable: bool = True) -> Status:
        return cls(Code.UNSCHEDULABLE if resolvable else Code.UNSCHEDULABLE_AND_UNRESOLVABLE, list(reasons))

    @classmethod
    def error(cls, message: str) -> Status:
        return cls(Code.ERROR, [message])

    def is_success(self) -> bool:
        return self.code == Code.SUCCESS

    def is_rejected(self) -> bool:
        return self.code in (Code.UNSCHEDULABLE, Code.UNSCHEDULABLE_AND_UNRESOLVABLE, Code.PENDING)

    def message(self) -> str:
        return ", ".join(self.reasons)


SUCCESS = Status()
SKIP = Status(Code.SKIP)


class CycleState:
    """Per-pod scratch space shared by the plugins of one scheduling cycle."""

    __slots__ = ("_data", "skip_filter", "skip_score", "filters")

    def __init__(self) -> None:
        self._data: dict[str, Any] = {}
        self.skip_filter: set[str] = set()  # plugins whose PreFilter said Skip
        self.skip_score: set[str] = set()
        self.filters: list[Any] | None = None

    def write(self, key: str, value: Any) -> None:
        self._data[key] = value

    def read(self, key: str) -> Any:
        return self._data[key]

    def get(self, key: str, default: Any = None) -> Any:
        return self._data.get(key, default)

    def clone(self) -> CycleState:
        c = CycleState()
        c._data = {k: (v.clone() if hasattr(v, "clone") else v) for k, v in self._data.items()}
        c.skip_filter, c.skip_score = set(self.skip_filter), set(self.skip_score)
        c.filters = self.filters
        return c


@dataclass
class PreFilterResult:
    """Restricts the nodes worth filtering (None: all of them)."""

    node_names: set[str] | None = None


@dataclass
class PostFilterResult:
    """What preemption found: the node to nominate and the pods to evict there."""

    nominated_node_name: str
    victims: list[PodInfo] = field(default_factory=list)


@dataclass
class NodeScore:
    name: str
    score: int


class Snapshot(Protocol):
    """The cluster as one scheduling cycle sees it."""

    def list(self) -> list[NodeInfo]: ...

    def get(self, name: str) -> NodeInfo | None: ...

    def have_pods_with_affinity(self) -> list[NodeInfo]: ...

    def have_pods_with_required_anti_affinity(self) -> list[NodeInfo]: ...

    def image_node_counts(self) -> dict[str, int]: ...


class ListSnapshot:
    """A :class:`Snapshot` over a list of NodeInfos (the scheduler's, and tests').

    The derived views (nodes holding pods with affinity, how many nodes hold
    each image) are computed once and kept until their owner says they are
    stale, as upstream's snapshot keeps them between cycles: scanning 5,000
    nodes for them every cycle would cost more than filtering."""

    def __init__(self, nodes: Iterable[NodeInfo] = ()) -> None:
        self.nodes = list(nodes)
        self._by_name = {n.name: n for n in self.nodes}
        self._affinity: list[NodeInfo] | None = None
        self._anti_affinity: list[NodeInfo] | None = None
        self._images: dict[str, int] | None = None

    def list(self) -> list[NodeInfo]:
        return self.nodes

    def get(self, name: str) -> NodeInfo | None:
        return self._by_name.get(name)

    def have_pods_with_affinity(self) -> list[NodeInfo]:
        if self._affinity is None:
            self._affinity = [n for n in self.nodes if n.pods_with_affinity]
        return self._affinity

    def have_pods_with_required_anti_affinity(self) -> list[NodeInfo]:
        if self._anti_affinity is None:
            self._anti_affinity = [n for n in self.nodes if n.pods_with_required_anti_affinity]
        return self._anti_affinity

    def image_node_counts(self) -> dict[str, int]:
        """Image name -> how many nodes report it (ImageLocality's spread factor)."""
        if self._images is None:
            counts: dict[str, int] = {}
            for n in self.nodes:
                for img in n.image_states:
                    counts[img] = counts.get(img, 0) + 1
            self._images = counts
        return self._images

    def affinity_changed(self) -> None:
        """A pod with (anti-)affinity came or went on some node."""
        self._affinity = self._anti_affinity = None

    def images_changed(self) -> None:
        """Some node's image list changed."""
        self._images = None


class Handle(Protocol):
    """What plugins may use besides their arguments: the cycle's snapshot, and
    the framework itself (preemption re-runs the filters on what-if nodes)."""

    @property
    def snapshot(self) -> Snapshot: ...

    @property
    def framework(self) -> Framework: ...


@dataclass
class SimpleHandle:
    snapshot: Any = None
    framework: Any = None


@dataclass(frozen=True)
class ClusterEvent:
    """A change that may make unschedulable pods schedulable (for queueing hints):
    resource ("Node", "Pod", ...) and action ("Add", "Update", "Delete", "*")."""

    resource: str
    action: str = "*"


class Plugin(Protocol):
    name: str


# extension points: a plugin implements the methods of the points it joins
#   pre_filter(state, pod_info, nodes) -> tuple[PreFilterResult | None, Status]
#   filter(state, pod_info, node_info) -> Status
#   post_filter(state, pod_info, statuses: dict[node name, Status]) -> tuple[PostFilterResult | None, Status]
#   pre_score(state, pod_info, nodes) -> Status
#   score(state, pod_info, node_info) -> tuple[int, Status]
#   normalize_score(state, pod_info, scores: list[NodeScore]) -> Status
#   reserve(state, pod_info, node_name) -> Status ; unreserve(state, pod_info, node_name) -> None
#   permit(state, pod_info, node_name) -> tuple[Status, float]   (timeout seconds for WAIT)
#   pre_bind(state, pod_info, node_name) -> Status
#   events_to_register() -> list[ClusterEvent]
EXTENSION_POINTS = ("pre_filter", "filter", "post_filter", "pre_score", "score", "reserve", "permit",
                    "pre_bind", "bind")

PluginFactory = Callable[[dict, Handle], Any]


@dataclass
class PluginSpec:
    name: str
    weight: int = 1  # for score
    args: dict = field(default_factory=dict)
    points: frozenset[str] | None = None  # the extension points it joins; None: all it implements


@dataclass
class Profile:
    """One scheduler profile: its name and its plugins in order, per extension point
    (a plugin listed once joins every point it implements, as upstream's multiPoint)."""

    scheduler_name: str = "default-scheduler"
    plugins: list[PluginSpec] = field(default_factory=list)
    percentage_of_nodes_to_score: int = 0  # 0: upstream's adaptive default


class Framework:
    """Runs one profile's plugins at each extension point."""

    def __init__(self, profile: Profile, registry: dict[str, PluginFactory], handle: Handle) -> None:
        self.profile = profile
        self.handle = handle
        self.plugins: dict[str, Any] = {}
        self.weights: dict[str, int] = {}
        joins: dict[str, frozenset[str] | None] = {}
        for spec in profile.plugins:
            if spec.name not in registry:
                raise ValueError(f"unknown plugin {spec.name!r}")
            self.plugins[spec.name] = registry[spec.name](dict(spec.args), handle)
            self.weights[spec.name] = spec.weight
            joins[spec.name] = spec.points
        self.points: dict[str, list[Any]] = {
            p: [pl for n, pl in self.plugins.items()
                if callable(getattr(pl, p, None)) and (joins[n] is None or p in joins[n])]  # type: ignore[operator]
            for p in EXTENSION_POINTS}

    def has(self, point: str) -> bool:
        return bool(self.points[point])

    # ---------------------------------------------------------------- filter
    def run_pre_filter(self, state: CycleState, pod: PodInfo, nodes: list[NodeInfo]
                       ) -> tuple[PreFilterResult | None, Status]:
        result: PreFilterResult | None = None
        for pl in self.points["pre_filter"]:
            r, st = pl.pre_filter(state, pod, nodes)
            if st.code == Code.SKIP:
                state.skip_filter.add(pl.name)
                state.filters = None
                continue
            if not st.is_success():
                st.plugin = st.plugin or pl.name
                if st.code == Code.UNSCHEDULABLE:  # nothing a node could change: no point filtering
                    st.code = Code.UNSCHEDULABLE_AND_UNRESOLVABLE
                return None, st
            if r is not None and r.node_names is not None:
                result = PreFilterResult(r.node_names if result is None or result.node_names is None
                                         else result.node_names & r.node_names)
        return result, SUCCESS

    def run_filter(self, state: CycleState, pod: PodInfo, node: NodeInfo) -> Status:
        filters = state.filters
        if filters is None:  # the cycle's filters: those whose PreFilter did not skip
            filters = state.filters = [pl for pl in self.points["filter"] if pl.name not in state.skip_filter]
        for pl in filters:
            st = pl.filter(state, pod, node)
            if st.code:
                st.plugin = st.plugin or pl.name
                return st
        return SUCCESS

    def run_post_filter(self, state: CycleState, pod: PodInfo, statuses: dict[str, Status]
                        ) -> tuple[PostFilterResult | None, Status]:
        last = Status.unschedulable()
        for pl in self.points["post_filter"]:
            result, st = pl.post_filter(state, pod, statuses)
            if st.is_success():
                return result, st
            if st.code == Code.ERROR:
                return None, st
            last = st
        return None, last

    # ----------------------------------------------------------------- score
    def run_pre_score(self, state: CycleState, pod: PodInfo, nodes: list[NodeInfo]) -> Status:
        for pl in self.points["pre_score"]:
            st = pl.pre_score(state, pod, nodes)
            if st.code == Code.SKIP:
                state.skip_score.add(pl.name)
            elif not st.is_success():
                st.plugin = st.plugin or pl.name
                return st
        return SUCCESS

    def run_score(self, state: CycleState, pod: PodInfo, nodes: list[NodeInfo]
                  ) -> tuple[list[int], Status]:
        """Each node's total: every score plugin's normalized score times its weight.
        A plugin may score all nodes at once with ``score_nodes(state, pod, nodes)
        -> list[int]`` (the fast path); else ``score`` is called per node."""
        totals = [0] * len(nodes)
        for pl in self.points["score"]:
            if pl.name in state.skip_score:
                continue
            batch = getattr(pl, "score_nodes", None)
            if batch is not None:
                raw = batch(state, pod, nodes)
            else:
                raw = []
                for ni in nodes:
                    s, st = pl.score(state, pod, ni)
                    if st.code:
                        st.plugin = st.plugin or pl.name
                        return [], st
                    raw.append(s)
            norm = getattr(pl, "normalize_score", None)
            if norm is not None:
                scores = [NodeScore(ni.name, v) for ni, v in zip(nodes, raw)]
                st = norm(state, pod, scores)
                if not st.is_success():
                    st.plugin = st.plugin or pl.name
                    return [], st
                raw = [ns.score for ns in scores]
            w = self.weights.get(pl.name, 1)
            for i, v in enumerate(raw):
                if not MIN_NODE_SCORE <= v <= MAX_NODE_SCORE:
                    return [], Status.error(f"plugin {pl.name} returned an invalid score {v} for node "
                                            f"{nodes[i].name}")
                totals[i] += v * w
        return totals, SUCCESS

    # ---------------------------------------------------- reserve / permit
    def run_reserve(self, state: CycleState, pod: PodInfo, node: str) -> Status:
        for pl in self.points["reserve"]:
            st = pl.reserve(state, pod, node)
            if not st.is_success():
                st.plugin = st.plugin or pl.name
                self.run_unreserve(state, pod, node)
                return st
        return SUCCESS

    def run_unreserve(self, state: CycleState, pod: PodInfo, node: str) -> None:
        for pl in reversed(self.points["reserve"]):
            un = getattr(pl, "unreserve", None)
            if un is not None:
                un(state, pod, node)

    def run_permit(self, state: CycleState, pod: PodInfo, node: str) -> tuple[Status, float]:
        wait = 0.0
        for pl in self.points["permit"]:
            st, timeout = pl.permit(state, pod, node)
            if st.code == Code.WAIT:
                wait = max(wait, timeout)
            elif not st.is_success():
                st.plugin = st.plugin or pl.name
                return st, 0.0
        return (Status(Code.WAIT) if wait else SUCCESS), wait

    def run_pre_bind(self, state: CycleState, pod: PodInfo, node: str) -> Status:
        for pl in self.points["pre_bind"]:
            st = pl.pre_bind(state, pod, node)
            if not st.is_success():
                st.plugin = st.plugin or pl.name
                return st
        return SUCCESS

    def events(self) -> list[ClusterEvent]:
        out: list[ClusterEvent] = []
        for pl in self.plugins.values():
            reg = getattr(pl, "events_to_register", None)
            if reg is not None:
                out.extend(reg())
        return out


def fit_error_message(num_nodes: int, statuses: dict[str, Status], prefilter: Status | None = None) -> str:
    """Upstream's FitError text: ``0/5 nodes are available: 3 Insufficient cpu,
    2 node(s) had untolerated taint {k: v}. preemption: ...`` (reasons counted
    across nodes, sorted by text)."""
    if prefilter is not None and not prefilter.is_success():
        return f"0/{num_nodes} nodes are available: {prefilter.message()}."
    counts: dict[str, int] = {}
    for st in statuses.values():
        for r in st.reasons:
            counts[r] = counts.get(r, 0) + 1
    parts = sorted(f"{n} {r}" for r, n in counts.items())
    return f"0/{num_nodes} nodes are available: {', '.join(parts)}."


def names(nodes: Iterable[NodeInfo]) -> list[str]:
    return [n.name for n in nodes]
