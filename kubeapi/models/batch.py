"""batch/v1: Job, with its list and every struct it contains.

Field names, order, shapes and ``omitempty`` behaviour follow upstream's ``k8s.io/api/batch/v1``
(see :mod:`kubeapi.models.base` for the encoding rules). Most JobSpec settings are Go pointers
(``backoffLimit: 0`` and ``suspend: false`` are written); the status counters ``active``,
``succeeded`` and ``failed`` are plain ``int32`` with ``omitempty``.
"""
from pydantic import Field

from .base import Int32, Int64, KubeModel, OmitZero, Time
from .core import PodTemplateSpec
from .meta import KubeObject, LabelSelector, ListMeta, ObjectMeta

__all__ = [
    "Job",
    "JobCondition",
    "JobList",
    "JobSpec",
    "JobStatus",
    "PodFailurePolicy",
    "PodFailurePolicyOnExitCodesRequirement",
    "PodFailurePolicyOnPodConditionsPattern",
    "PodFailurePolicyRule",
    "SuccessPolicy",
    "SuccessPolicyRule",
    "UncountedTerminatedPods",
]


class PodFailurePolicyOnExitCodesRequirement(KubeModel):
    """Matches a failed pod by its containers' exit codes (``In`` or ``NotIn`` ``values``)."""

    container_name: str | None = None
    operator: str
    values: list[Int32]


class PodFailurePolicyOnPodConditionsPattern(KubeModel):
    """Matches a failed pod by a condition it carries (``DisruptionTarget=True``)."""

    type: str
    status: str


class PodFailurePolicyRule(KubeModel):
    """``FailJob``, ``FailIndex``, ``Ignore`` or ``Count`` a pod failure that matches."""

    action: str
    on_exit_codes: PodFailurePolicyOnExitCodesRequirement | None = None
    on_pod_conditions: list[PodFailurePolicyOnPodConditionsPattern] | None = None


class PodFailurePolicy(KubeModel):
    """Rules checked in order against each failed pod; the first match decides."""

    rules: list[PodFailurePolicyRule]


class SuccessPolicyRule(KubeModel):
    """The job succeeds once these indexes (or this many of them) have succeeded."""

    succeeded_indexes: str | None = None
    succeeded_count: Int32 | None = None


class SuccessPolicy(KubeModel):
    """Declares an Indexed job successful before all its indexes complete."""

    rules: list[SuccessPolicyRule]


class JobSpec(KubeModel):
    """How many pods to run to completion, how many at once, and how failures are handled."""

    parallelism: Int32 | None = None
    completions: Int32 | None = None
    active_deadline_seconds: Int64 | None = None
    pod_failure_policy: PodFailurePolicy | None = None
    success_policy: SuccessPolicy | None = None
    backoff_limit: Int32 | None = None
    backoff_limit_per_index: Int32 | None = None
    max_failed_indexes: Int32 | None = None
    selector: LabelSelector | None = None
    manual_selector: bool | None = None
    template: PodTemplateSpec
    ttl_seconds_after_finished: Int32 | None = None
    completion_mode: str | None = None
    suspend: bool | None = None
    pod_replacement_policy: str | None = None
    managed_by: str | None = None


class JobCondition(KubeModel):
    """``Complete``, ``Failed``, ``Suspended``, ``FailureTarget``, ``SuccessCriteriaMet``."""

    type: str
    status: str
    last_probe_time: Time | None = None
    last_transition_time: Time | None = None
    reason: str | None = None
    message: str | None = None


class UncountedTerminatedPods(KubeModel):
    """UIDs of finished pods whose finalizer the job controller has yet to remove."""

    succeeded: list[str] | None = None
    failed: list[str] | None = None


class JobStatus(KubeModel):
    """Pod counts, timing and, for Indexed jobs, which indexes completed or failed."""

    conditions: list[JobCondition] | None = None
    start_time: Time | None = None
    completion_time: Time | None = None
    active: OmitZero[Int32] = None
    succeeded: OmitZero[Int32] = None
    failed: OmitZero[Int32] = None
    terminating: Int32 | None = None
    completed_indexes: str | None = None
    failed_indexes: str | None = None
    uncounted_terminated_pods: UncountedTerminatedPods | None = None
    ready: Int32 | None = None


class Job(KubeObject):
    """Pods that run to completion; retried on failure up to the job's limits."""

    api_version: str = "batch/v1"
    kind: str = "Job"
    metadata: ObjectMeta = Field(default_factory=ObjectMeta)
    spec: JobSpec | None = None
    status: JobStatus | None = None


class JobList(KubeObject):
    api_version: str = "batch/v1"
    kind: str = "JobList"
    metadata: ListMeta = Field(default_factory=ListMeta)
    items: list[Job] = Field(default_factory=list)
