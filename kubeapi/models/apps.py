"""apps/v1: Deployment, ReplicaSet, DaemonSet, StatefulSet and ControllerRevision, with their
lists and every struct they contain.

Field names, order, shapes and ``omitempty`` behaviour follow upstream's ``k8s.io/api/apps/v1``
(see :mod:`kubeapi.models.base` for the encoding rules). Counters that upstream declares as
plain ``int32`` with ``omitempty`` (``readyReplicas``, ``minReadySeconds``...) are
:data:`~kubeapi.models.base.OmitZero`; pointers (``replicas``, ``revisionHistoryLimit``,
``collisionCount``) keep an explicit ``0``.
"""
from pydantic import Field

from .base import Int32, Int64, IntOrString, KubeModel, OmitZero, Opaque, Time
from .core import PersistentVolumeClaim, PodTemplateSpec
from .meta import KubeObject, LabelSelector, ListMeta, ObjectMeta

__all__ = [
    "ControllerRevision",
    "ControllerRevisionList",
    "DaemonSet",
    "DaemonSetCondition",
    "DaemonSetList",
    "DaemonSetSpec",
    "DaemonSetStatus",
    "DaemonSetUpdateStrategy",
    "Deployment",
    "DeploymentCondition",
    "DeploymentList",
    "DeploymentSpec",
    "DeploymentStatus",
    "DeploymentStrategy",
    "ReplicaSet",
    "ReplicaSetCondition",
    "ReplicaSetList",
    "ReplicaSetSpec",
    "ReplicaSetStatus",
    "RollingUpdateDaemonSet",
    "RollingUpdateDeployment",
    "RollingUpdateStatefulSetStrategy",
    "StatefulSet",
    "StatefulSetCondition",
    "StatefulSetList",
    "StatefulSetOrdinals",
    "StatefulSetPersistentVolumeClaimRetentionPolicy",
    "StatefulSetSpec",
    "StatefulSetStatus",
    "StatefulSetUpdateStrategy",
]

# --------------------------------------------------------------------------------------------
# Deployment
# --------------------------------------------------------------------------------------------


class RollingUpdateDeployment(KubeModel):
    """How far a rollout may dip below and rise above the desired count (``25%`` or ``1``)."""

    max_unavailable: IntOrString | None = None
    max_surge: IntOrString | None = None


class DeploymentStrategy(KubeModel):
    """``RollingUpdate`` (the default) or ``Recreate``."""

    type: str | None = None
    rolling_update: RollingUpdateDeployment | None = None


class DeploymentSpec(KubeModel):
    """Desired replicas of a pod template, and how to move from one template to the next."""

    replicas: Int32 | None = None
    selector: LabelSelector
    template: PodTemplateSpec
    strategy: DeploymentStrategy | None = None
    min_ready_seconds: OmitZero[Int32] = None
    revision_history_limit: Int32 | None = None
    paused: OmitZero[bool] = None
    progress_deadline_seconds: Int32 | None = None


class DeploymentCondition(KubeModel):
    """``Available``, ``Progressing`` or ``ReplicaFailure``."""

    type: str
    status: str
    last_update_time: Time | None = None
    last_transition_time: Time | None = None
    reason: str | None = None
    message: str | None = None


class DeploymentStatus(KubeModel):
    """What the deployment controller last observed across the deployment's ReplicaSets."""

    observed_generation: OmitZero[Int64] = None
    replicas: OmitZero[Int32] = None
    updated_replicas: OmitZero[Int32] = None
    ready_replicas: OmitZero[Int32] = None
    available_replicas: OmitZero[Int32] = None
    unavailable_replicas: OmitZero[Int32] = None
    terminating_replicas: Int32 | None = None
    conditions: list[DeploymentCondition] | None = None
    collision_count: Int32 | None = None


class Deployment(KubeObject):
    """Declarative updates of stateless pods, through one ReplicaSet per template revision."""

    api_version: str = "apps/v1"
    kind: str = "Deployment"
    metadata: ObjectMeta = Field(default_factory=ObjectMeta)
    spec: DeploymentSpec | None = None
    status: DeploymentStatus | None = None


class DeploymentList(KubeObject):
    api_version: str = "apps/v1"
    kind: str = "DeploymentList"
    metadata: ListMeta = Field(default_factory=ListMeta)
    items: list[Deployment] = Field(default_factory=list)


# --------------------------------------------------------------------------------------------
# ReplicaSet
# --------------------------------------------------------------------------------------------


class ReplicaSetSpec(KubeModel):
    """Keeps ``replicas`` pods matching ``selector`` alive, creating them from ``template``."""

    replicas: Int32 | None = None
    min_ready_seconds: OmitZero[Int32] = None
    selector: LabelSelector
    template: PodTemplateSpec | None = None


class ReplicaSetCondition(KubeModel):
    """``ReplicaFailure`` (quota exceeded, pod creation refused...)."""

    type: str
    status: str
    last_transition_time: Time | None = None
    reason: str | None = None
    message: str | None = None


class ReplicaSetStatus(KubeModel):
    """Counts of the ReplicaSet's pods; ``replicas`` is always written, even when zero."""

    replicas: Int32
    fully_labeled_replicas: OmitZero[Int32] = None
    ready_replicas: OmitZero[Int32] = None
    available_replicas: OmitZero[Int32] = None
    terminating_replicas: Int32 | None = None
    observed_generation: OmitZero[Int64] = None
    conditions: list[ReplicaSetCondition] | None = None


class ReplicaSet(KubeObject):
    """A fixed-size set of identical pods; usually owned and scaled by a Deployment."""

    api_version: str = "apps/v1"
    kind: str = "ReplicaSet"
    metadata: ObjectMeta = Field(default_factory=ObjectMeta)
    spec: ReplicaSetSpec | None = None
    status: ReplicaSetStatus | None = None


class ReplicaSetList(KubeObject):
    api_version: str = "apps/v1"
    kind: str = "ReplicaSetList"
    metadata: ListMeta = Field(default_factory=ListMeta)
    items: list[ReplicaSet] = Field(default_factory=list)


# --------------------------------------------------------------------------------------------
# DaemonSet
# --------------------------------------------------------------------------------------------


class RollingUpdateDaemonSet(KubeModel):
    """How many nodes may lack a ready pod, or run two, during an update."""

    max_unavailable: IntOrString | None = None
    max_surge: IntOrString | None = None


class DaemonSetUpdateStrategy(KubeModel):
    """``RollingUpdate`` (the default) or ``OnDelete``."""

    type: str | None = None
    rolling_update: RollingUpdateDaemonSet | None = None


class DaemonSetSpec(KubeModel):
    """One pod from ``template`` on every node the pod can run on."""

    selector: LabelSelector
    template: PodTemplateSpec
    update_strategy: DaemonSetUpdateStrategy | None = None
    min_ready_seconds: OmitZero[Int32] = None
    revision_history_limit: Int32 | None = None


class DaemonSetCondition(KubeModel):
    type: str
    status: str
    last_transition_time: Time | None = None
    reason: str | None = None
    message: str | None = None


class DaemonSetStatus(KubeModel):
    """Per-node counts; the first four are always written, even when zero."""

    current_number_scheduled: Int32
    number_misscheduled: Int32
    desired_number_scheduled: Int32
    number_ready: Int32
    observed_generation: OmitZero[Int64] = None
    updated_number_scheduled: OmitZero[Int32] = None
    number_available: OmitZero[Int32] = None
    number_unavailable: OmitZero[Int32] = None
    collision_count: Int32 | None = None
    conditions: list[DaemonSetCondition] | None = None


class DaemonSet(KubeObject):
    """A node daemon (log shipper, CNI agent, kube-proxy) run on every eligible node."""

    api_version: str = "apps/v1"
    kind: str = "DaemonSet"
    metadata: ObjectMeta = Field(default_factory=ObjectMeta)
    spec: DaemonSetSpec | None = None
    status: DaemonSetStatus | None = None


class DaemonSetList(KubeObject):
    api_version: str = "apps/v1"
    kind: str = "DaemonSetList"
    metadata: ListMeta = Field(default_factory=ListMeta)
    items: list[DaemonSet] = Field(default_factory=list)


# --------------------------------------------------------------------------------------------
# StatefulSet
# --------------------------------------------------------------------------------------------


class RollingUpdateStatefulSetStrategy(KubeModel):
    """Only ordinals at or above ``partition`` are updated (staged rollouts)."""

    partition: Int32 | None = None
    max_unavailable: IntOrString | None = None


class StatefulSetUpdateStrategy(KubeModel):
    """``RollingUpdate`` (the default) or ``OnDelete``."""

    type: str | None = None
    rolling_update: RollingUpdateStatefulSetStrategy | None = None


class StatefulSetPersistentVolumeClaimRetentionPolicy(KubeModel):
    """Whether claims from ``volumeClaimTemplates`` are ``Retain``ed or ``Delete``d."""

    when_deleted: str | None = None
    when_scaled: str | None = None


class StatefulSetOrdinals(KubeModel):
    """The first ordinal of the set's pods; upstream writes ``start`` even when zero."""

    start: Int32 | None = None


class StatefulSetSpec(KubeModel):
    """Pods with stable names (``web-0``, ``web-1``...) and per-pod storage."""

    replicas: Int32 | None = None
    selector: LabelSelector
    template: PodTemplateSpec
    volume_claim_templates: list[PersistentVolumeClaim] | None = None
    service_name: str | None = None
    pod_management_policy: str | None = None
    update_strategy: StatefulSetUpdateStrategy | None = None
    revision_history_limit: Int32 | None = None
    min_ready_seconds: OmitZero[Int32] = None
    persistent_volume_claim_retention_policy: StatefulSetPersistentVolumeClaimRetentionPolicy | None = None
    ordinals: StatefulSetOrdinals | None = None


class StatefulSetCondition(KubeModel):
    type: str
    status: str
    last_transition_time: Time | None = None
    reason: str | None = None
    message: str | None = None


class StatefulSetStatus(KubeModel):
    """Counts and the current/update revisions (ControllerRevision names) of the set.

    ``replicas`` and ``availableReplicas`` have no ``omitempty`` upstream.
    """

    observed_generation: OmitZero[Int64] = None
    replicas: Int32
    ready_replicas: OmitZero[Int32] = None
    current_replicas: OmitZero[Int32] = None
    updated_replicas: OmitZero[Int32] = None
    current_revision: str | None = None
    update_revision: str | None = None
    collision_count: Int32 | None = None
    conditions: list[StatefulSetCondition] | None = None
    available_replicas: Int32 | None = None


class StatefulSet(KubeObject):
    """Ordered, uniquely named pods with stable storage (databases, quorum systems)."""

    api_version: str = "apps/v1"
    kind: str = "StatefulSet"
    metadata: ObjectMeta = Field(default_factory=ObjectMeta)
    spec: StatefulSetSpec | None = None
    status: StatefulSetStatus | None = None


class StatefulSetList(KubeObject):
    api_version: str = "apps/v1"
    kind: str = "StatefulSetList"
    metadata: ListMeta = Field(default_factory=ListMeta)
    items: list[StatefulSet] = Field(default_factory=list)


# --------------------------------------------------------------------------------------------
# ControllerRevision
# --------------------------------------------------------------------------------------------


class ControllerRevision(KubeObject):
    """An immutable snapshot of a DaemonSet's or StatefulSet's template, used to roll back.

    ``data`` is the serialized patch as given (a ``runtime.RawExtension``); ``revision`` is
    always written.
    """

    api_version: str = "apps/v1"
    kind: str = "ControllerRevision"
    metadata: ObjectMeta = Field(default_factory=ObjectMeta)
    data: Opaque = None
    revision: Int64


class ControllerRevisionList(KubeObject):
    api_version: str = "apps/v1"
    kind: str = "ControllerRevisionList"
    metadata: ListMeta = Field(default_factory=ListMeta)
    items: list[ControllerRevision] = Field(default_factory=list)
