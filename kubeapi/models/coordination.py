"""coordination.k8s.io/v1: Lease and its list.

Leases carry node heartbeats (``kube-node-lease``) and leader election. The times are
``metav1.MicroTime`` (RFC 3339 with microseconds); every spec field is a Go pointer, so
``leaseTransitions: 0`` is written.
"""
from pydantic import Field

from .base import Int32, KubeModel, MicroTime
from .meta import KubeObject, ListMeta, ObjectMeta

__all__ = ["Lease", "LeaseList", "LeaseSpec"]


class LeaseSpec(KubeModel):
    """Who holds the lease, since when, for how long, and when it was last renewed."""

    holder_identity: str | None = None
    lease_duration_seconds: Int32 | None = None
    acquire_time: MicroTime | None = None
    renew_time: MicroTime | None = None
    lease_transitions: Int32 | None = None
    strategy: str | None = None
    preferred_holder: str | None = None


class Lease(KubeObject):
    """A named, time-limited claim (a kubelet's heartbeat, a controller's leadership)."""

    api_version: str = "coordination.k8s.io/v1"
    kind: str = "Lease"
    metadata: ObjectMeta = Field(default_factory=ObjectMeta)
    spec: LeaseSpec | None = None


class LeaseList(KubeObject):
    api_version: str = "coordination.k8s.io/v1"
    kind: str = "LeaseList"
    metadata: ListMeta = Field(default_factory=ListMeta)
    items: list[Lease] = Field(default_factory=list)
