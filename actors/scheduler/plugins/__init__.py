"""The default plugins, by upstream name, and the default profile (upstream's
v1 defaults: order, and score weights)."""
from __future__ import annotations

from typing import Any

from ..framework import PluginSpec, Profile
from .defaultpreemption import DefaultPreemption
from .imagelocality import ImageLocality
from .interpodaffinity import InterPodAffinity
from .nodeaffinity import NodeAffinity
from .nodename import NodeName
from .nodeports import NodePorts
from .noderesources import BalancedAllocation, Fit
from .nodeunschedulable import NodeUnschedulable
from .podtopologyspread import PodTopologySpread
from .tainttoleration import TaintToleration

REGISTRY: dict[str, Any] = {cls.name: cls for cls in (
    NodeUnschedulable, NodeName, TaintToleration, NodeAffinity, NodePorts, Fit, PodTopologySpread,
    InterPodAffinity, DefaultPreemption, BalancedAllocation, ImageLocality)}

# (name, score weight) in upstream's default order
DEFAULT_PLUGINS: tuple[tuple[str, int], ...] = (
    ("NodeUnschedulable", 1), ("NodeName", 1), ("TaintToleration", 3), ("NodeAffinity", 2),
    ("NodePorts", 1), ("NodeResourcesFit", 1), ("PodTopologySpread", 2), ("InterPodAffinity", 2),
    ("DefaultPreemption", 1), ("NodeResourcesBalancedAllocation", 1), ("ImageLocality", 1),
)


def default_profile(percentage_of_nodes_to_score: int = 0,
                    args: dict[str, dict] | None = None) -> Profile:
    """The default-scheduler profile; ``args`` gives plugins their arguments by name."""
    return Profile("default-scheduler",
                   [PluginSpec(n, w, dict((args or {}).get(n) or {})) for n, w in DEFAULT_PLUGINS],
                   percentage_of_nodes_to_score)
