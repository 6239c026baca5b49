"""scheduling.k8s.io/v1: PriorityClass and its list.

A PriorityClass maps a name to the integer priority pods naming it receive: the Priority
admission plugin copies ``value`` and ``preemptionPolicy`` into ``spec.priority`` and
``spec.preemptionPolicy`` of every new pod naming the class, which is what the scheduler's queue
and preemption compare. ``value`` is the one required field (a Go ``int32`` without omitempty, so
``value: 0`` is written); ``globalDefault: false`` and an empty ``description`` are omitted, as
Go's omitempty does.
"""
from pydantic import Field

from .base import Int32, OmitZero
from .meta import KubeObject, ListMeta, ObjectMeta

__all__ = ["PriorityClass", "PriorityClassList"]


class PriorityClass(KubeObject):
    """A named priority value, optionally the cluster's default for pods naming none."""

    api_version: str = "scheduling.k8s.io/v1"
    kind: str = "PriorityClass"
    metadata: ObjectMeta = Field(default_factory=ObjectMeta)
    value: Int32
    global_default: OmitZero[bool] = None
    description: OmitZero[str] = None
    preemption_policy: str | None = None


class PriorityClassList(KubeObject):
    api_version: str = "scheduling.k8s.io/v1"
    kind: str = "PriorityClassList"
    metadata: ListMeta = Field(default_factory=ListMeta)
    items: list[PriorityClass] = Field(default_factory=list)
