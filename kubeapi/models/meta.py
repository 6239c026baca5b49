"""meta/v1: the metadata, list, selector, options and status types every API group shares.

Field names, shapes and ``omitempty`` behaviour follow upstream's ``k8s.io/apimachinery``
types; see :mod:`kubeapi.models.base` for how those are encoded.
"""
from typing import Any, ClassVar

from pydantic import Field

from .base import Int32, Int64, KubeModel, OmitZero, Time

__all__ = [
    "Condition",
    "DeleteOptions",
    "KubeObject",
    "LabelSelector",
    "LabelSelectorRequirement",
    "ListMeta",
    "ObjectMeta",
    "OwnerReference",
    "Preconditions",
    "Status",
    "StatusCause",
    "StatusDetails",
    "TypeMeta",
    "WatchEvent",
]


class TypeMeta(KubeModel):
    """``apiVersion`` and ``kind``, which say how to read the rest of a document."""

    api_version: str | None = None
    kind: str | None = None


class KubeObject(TypeMeta):
    """Base of every top-level kind.

    A subclass gives ``api_version`` and ``kind`` their fixed values as defaults; the class
    constants ``GROUP``, ``VERSION`` and ``KIND`` are derived from them, so the two can
    never disagree and the resource registry can read a model's identity without an instance.
    """

    GROUP: ClassVar[str] = ""
    VERSION: ClassVar[str] = ""
    KIND: ClassVar[str] = ""

    @classmethod
    def __pydantic_init_subclass__(cls, **kwargs: Any) -> None:
        super().__pydantic_init_subclass__(**kwargs)
        api_version = cls.model_fields["api_version"].default
        kind = cls.model_fields["kind"].default
        if not (isinstance(api_version, str) and api_version and isinstance(kind, str) and kind):
            raise TypeError(f"{cls.__name__} must give api_version and kind fixed defaults")
        group, _, version = api_version.rpartition("/")
        cls.GROUP, cls.VERSION, cls.KIND = group, version, kind


class OwnerReference(KubeModel):
    """Names the object that owns this one; the garbage collector follows these."""

    api_version: str
    kind: str
    name: str
    uid: str
    controller: bool | None = None
    block_owner_deletion: bool | None = None


class ObjectMeta(KubeModel):
    """Identity, labels and lifecycle bookkeeping carried by every persisted object."""

    name: str | None = None
    generate_name: str | None = None
    namespace: str | None = None
    self_link: str | None = None
    uid: str | None = None
    resource_version: str | None = None
    generation: OmitZero[Int64] = None
    creation_timestamp: Time | None = None
    deletion_timestamp: Time | None = None
    deletion_grace_period_seconds: Int64 | None = None
    labels: dict[str, str] | None = None
    annotations: dict[str, str] | None = None
    owner_references: list[OwnerReference] | None = None
    finalizers: list[str] | None = None
    # Server-side apply bookkeeping: written by the server, kept verbatim.
    managed_fields: list[dict[str, Any]] | None = None


class ListMeta(KubeModel):
    """Metadata of a list: its resourceVersion (to watch from) and paging token."""

    self_link: str | None = None
    resource_version: str | None = None
    continue_: str | None = Field(default=None, alias="continue")
    remaining_item_count: Int64 | None = None


class LabelSelectorRequirement(KubeModel):
    """One ``key op values`` term of a label selector."""

    key: str
    operator: str
    values: list[str] | None = None


class LabelSelector(KubeModel):
    """A label query; the terms are ANDed. Empty matches everything, absent matches nothing."""

    match_labels: dict[str, str] | None = None
    match_expressions: list[LabelSelectorRequirement] | None = None


class Preconditions(KubeModel):
    """What must still hold for a delete to proceed (guards against deleting a successor)."""

    uid: str | None = None
    resource_version: str | None = None


class DeleteOptions(TypeMeta):
    """Body of a DELETE. Not a fixed kind: clients send it under any group's version."""

    grace_period_seconds: Int64 | None = None
    preconditions: Preconditions | None = None
    orphan_dependents: bool | None = None
    propagation_policy: str | None = None
    dry_run: list[str] | None = None
    ignore_store_read_error_with_cluster_breaking_potential: bool | None = None


class StatusCause(KubeModel):
    """One reason an operation failed, with the field it concerns (``spec.replicas``)."""

    reason: str | None = None
    message: str | None = None
    field: str | None = None


class StatusDetails(KubeModel):
    """Which object a failure concerns, and the individual causes."""

    name: str | None = None
    group: str | None = None
    kind: str | None = None
    uid: str | None = None
    causes: list[StatusCause] | None = None
    retry_after_seconds: OmitZero[Int32] = None


class Status(KubeObject):
    """The result of an operation that returns no object; the body of every API error."""

    api_version: str = "v1"
    kind: str = "Status"
    metadata: ListMeta = Field(default_factory=ListMeta)
    status: str | None = None
    message: str | None = None
    reason: str | None = None
    details: StatusDetails | None = None
    code: OmitZero[Int32] = None


class WatchEvent(KubeModel):
    """One event of a watch stream: ``ADDED``, ``MODIFIED``, ``DELETED``, ``BOOKMARK`` or
    ``ERROR``. The object stays plain JSON: a stream mixes kinds and a Status on error."""

    type: str
    object: dict[str, Any]


class Condition(KubeModel):
    """The standard condition shape of newer APIs (all fields but one are required)."""

    type: str
    status: str
    observed_generation: OmitZero[Int64] = None
    last_transition_time: Time
    reason: str
    message: str
