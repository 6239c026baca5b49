"""Pydantic models of the API objects, field for field as upstream's JSON.

``base`` holds the shared machinery (wire names, scalar types, :func:`to_json`,
:func:`unknown_fields`); each group/version has its own module (``meta`` for meta/v1,
``core`` for core/v1), and a new group is added the same way: models subclass
:class:`KubeModel`, top-level kinds subclass :class:`KubeObject` and fix ``api_version`` and
``kind`` as defaults.
"""
from . import core, meta
from .base import KubeModel, to_camel, to_json, unknown_fields
from .core import (
    Binding,
    ConfigMap,
    ConfigMapList,
    Endpoints,
    EndpointsList,
    Event,
    EventList,
    Namespace,
    NamespaceList,
    Node,
    NodeList,
    Pod,
    PodList,
    Secret,
    SecretList,
    Service,
    ServiceAccount,
    ServiceAccountList,
    ServiceList,
)
from .meta import (
    DeleteOptions,
    KubeObject,
    ListMeta,
    ObjectMeta,
    Status,
    TypeMeta,
    WatchEvent,
)

__all__ = [
    "Binding",
    "ConfigMap",
    "ConfigMapList",
    "DeleteOptions",
    "Endpoints",
    "EndpointsList",
    "Event",
    "EventList",
    "KubeModel",
    "KubeObject",
    "ListMeta",
    "Namespace",
    "NamespaceList",
    "Node",
    "NodeList",
    "ObjectMeta",
    "Pod",
    "PodList",
    "Secret",
    "SecretList",
    "Service",
    "ServiceAccount",
    "ServiceAccountList",
    "ServiceList",
    "Status",
    "TypeMeta",
    "WatchEvent",
    "core",
    "meta",
    "to_camel",
    "to_json",
    "unknown_fields",
]
