"""rbac.authorization.k8s.io/v1: Role, ClusterRole, RoleBinding and ClusterRoleBinding, with
their lists and the rules, subjects and references they contain.

Field names, order, shapes and ``omitempty`` behaviour follow upstream's ``k8s.io/api/rbac/v1``
(see :mod:`kubeapi.models.base` for the encoding rules). A role's ``rules`` and a rule's
``verbs`` have no ``omitempty`` upstream, so they are written even when empty.
"""
from pydantic import Field

from .base import KeepEmpty, KubeModel
from .meta import KubeObject, LabelSelector, ListMeta, ObjectMeta

__all__ = [
    "AggregationRule",
    "ClusterRole",
    "ClusterRoleBinding",
    "ClusterRoleBindingList",
    "ClusterRoleList",
    "PolicyRule",
    "Role",
    "RoleBinding",
    "RoleBindingList",
    "RoleList",
    "RoleRef",
    "Subject",
]


class PolicyRule(KubeModel):
    """Verbs allowed on resources of API groups (or on non-resource URLs such as
    ``/healthz``); ``*`` matches anything."""

    verbs: list[str]
    api_groups: list[str] | None = None
    resources: list[str] | None = None
    resource_names: list[str] | None = None
    non_resource_urls: list[str] | None = Field(default=None, alias="nonResourceURLs")


class Subject(KubeModel):
    """Who a binding grants to: a ``User``, ``Group`` or ``ServiceAccount``."""

    kind: str
    api_group: str | None = None
    name: str
    namespace: str | None = None


class RoleRef(KubeModel):
    """The Role or ClusterRole a binding grants; immutable once the binding exists."""

    api_group: str
    kind: str
    name: str


class AggregationRule(KubeModel):
    """ClusterRoles whose rules the controller copies into this one (``admin``, ``view``)."""

    cluster_role_selectors: list[LabelSelector] | None = None


class Role(KubeObject):
    """Permissions within one namespace."""

    api_version: str = "rbac.authorization.k8s.io/v1"
    kind: str = "Role"
    metadata: ObjectMeta = Field(default_factory=ObjectMeta)
    rules: KeepEmpty[list[PolicyRule]] = None


class RoleList(KubeObject):
    api_version: str = "rbac.authorization.k8s.io/v1"
    kind: str = "RoleList"
    metadata: ListMeta = Field(default_factory=ListMeta)
    items: list[Role] = Field(default_factory=list)


class ClusterRole(KubeObject):
    """Cluster-wide permissions, or a reusable set of namespaced ones."""

    api_version: str = "rbac.authorization.k8s.io/v1"
    kind: str = "ClusterRole"
    metadata: ObjectMeta = Field(default_factory=ObjectMeta)
    rules: KeepEmpty[list[PolicyRule]] = None
    aggregation_rule: AggregationRule | None = None


class ClusterRoleList(KubeObject):
    api_version: str = "rbac.authorization.k8s.io/v1"
    kind: str = "ClusterRoleList"
    metadata: ListMeta = Field(default_factory=ListMeta)
    items: list[ClusterRole] = Field(default_factory=list)


class RoleBinding(KubeObject):
    """Grants a Role or ClusterRole to subjects within the binding's namespace."""

    api_version: str = "rbac.authorization.k8s.io/v1"
    kind: str = "RoleBinding"
    metadata: ObjectMeta = Field(default_factory=ObjectMeta)
    subjects: list[Subject] | None = None
    role_ref: RoleRef


class RoleBindingList(KubeObject):
    api_version: str = "rbac.authorization.k8s.io/v1"
    kind: str = "RoleBindingList"
    metadata: ListMeta = Field(default_factory=ListMeta)
    items: list[RoleBinding] = Field(default_factory=list)


class ClusterRoleBinding(KubeObject):
    """Grants a ClusterRole to subjects across the whole cluster."""

    api_version: str = "rbac.authorization.k8s.io/v1"
    kind: str = "ClusterRoleBinding"
    metadata: ObjectMeta = Field(default_factory=ObjectMeta)
    subjects: list[Subject] | None = None
    role_ref: RoleRef


class ClusterRoleBindingList(KubeObject):
    api_version: str = "rbac.authorization.k8s.io/v1"
    kind: str = "ClusterRoleBindingList"
    metadata: ListMeta = Field(default_factory=ListMeta)
    items: list[ClusterRoleBinding] = Field(default_factory=list)
