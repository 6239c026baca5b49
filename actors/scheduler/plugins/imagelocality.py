"""ImageLocality: favours nodes that already hold the pod's images (upstream's
``imagelocality`` plugin).

Each image of the pod's init containers and containers found on the node
(names without a tag get ``:latest``) adds its size scaled by its spread
(the fraction of all nodes that have it, so that images present everywhere
do not pull every pod to the same nodes). The sum, clamped to
[23MB, 1000MB x number of containers], maps linearly onto 0..100.

PreScore computes, once per pod, the pod's image names and how many of the
snapshot's nodes hold each; it Skips when no node holds any of them (every
score would be 0).
"""
from __future__ import annotations

from typing import Any

from ..framework import MAX_NODE_SCORE, SUCCESS, ClusterEvent, Code, CycleState, Status
from ..nodeinfo import NodeInfo, PodInfo

NAME = "ImageLocality"
PRE_SCORE_STATE_KEY = "PreScore" + NAME

MB = 1024 * 1024
MIN_THRESHOLD = 23 * MB
MAX_CONTAINER_THRESHOLD = 1000 * MB


def normalized_image_name(name: str) -> str:
    """The name as nodes report it: ``:latest`` added when there is no tag
    (no ``:`` after the last ``/``); digests are kept as they are."""
    if name.rfind(":") <= name.rfind("/"):
        return name + ":latest"
    return name


def pod_image_names(pod: PodInfo) -> list[str]:
    spec = pod.spec
    return [normalized_image_name(c.get("image") or "")
            for cs in (spec.get("initContainers"), spec.get("containers")) for c in cs or ()]


def scaled_image_score(size: int, num_nodes: int, total_num_nodes: int) -> int:
    spread = float(num_nodes) / float(total_num_nodes)
    return int(float(size) * spread)


def calculate_priority(sum_scores: int, num_containers: int) -> int:
    max_threshold = MAX_CONTAINER_THRESHOLD * num_containers
    if sum_scores < MIN_THRESHOLD:
        sum_scores = MIN_THRESHOLD
    elif sum_scores > max_threshold:
        sum_scores = max_threshold
    return MAX_NODE_SCORE * (sum_scores - MIN_THRESHOLD) // (max_threshold - MIN_THRESHOLD)


class _PreScoreState:
    __slots__ = ("images", "num_nodes", "total_num_nodes")

    def __init__(self, images: list[str], num_nodes: dict[str, int], total_num_nodes: int) -> None:
        self.images = images  # one per container, init containers first
        self.num_nodes = num_nodes  # image -> how many nodes hold it
        self.total_num_nodes = total_num_nodes

    def clone(self) -> _PreScoreState:  # read-only once written
        return self


class ImageLocality:
    name = NAME

    def __init__(self, args: dict | None = None, handle: Any = None) -> None:
        self.handle = handle

    def events_to_register(self) -> list[ClusterEvent]:
        return []

    def _state(self, pod: PodInfo, fallback: list[NodeInfo]) -> _PreScoreState:
        """The pod's images and how many of all nodes hold each: the
        snapshot's counts, or counted over ``fallback`` without one."""
        images = pod_image_names(pod)
        snapshot = getattr(self.handle, "snapshot", None)
        if snapshot is not None:
            counts, total = snapshot.image_node_counts(), len(snapshot.list())
        else:
            counts, total = {}, len(fallback)
            for ni in fallback:
                for img in ni.image_states:
                    counts[img] = counts.get(img, 0) + 1
        return _PreScoreState(images, {img: counts.get(img, 0) for img in set(images)}, total)

    def pre_score(self, state: CycleState, pod: PodInfo, nodes: list[NodeInfo]) -> Status:
        s = self._state(pod, nodes)
        if not any(s.num_nodes.values()):
            return Status(Code.SKIP)
        state.write(PRE_SCORE_STATE_KEY, s)
        return SUCCESS

    def score(self, state: CycleState, pod: PodInfo, node: NodeInfo) -> tuple[int, Status]:
        s = state.get(PRE_SCORE_STATE_KEY)
        if not isinstance(s, _PreScoreState):
            s = self._state(pod, [node])
        states = node.image_states
        total = 0
        if states and s.total_num_nodes:
            for img in s.images:
                st = states.get(img)
                if st is not None:
                    total += scaled_image_score(st.size, s.num_nodes.get(img, 0), s.total_num_nodes)
        return calculate_priority(total, len(s.images)), SUCCESS
