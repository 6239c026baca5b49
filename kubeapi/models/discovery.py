"""discovery.k8s.io/v1: EndpointSlice, with its list and every struct it contains.

Field names, order, shapes and ``omitempty`` behaviour follow upstream's
``k8s.io/api/discovery/v1`` (see :mod:`kubeapi.models.base` for the encoding rules).
``addressType``, ``endpoints`` and each endpoint's ``addresses`` have no ``omitempty``
upstream; the endpoint conditions are pointers, so ``ready: false`` is written.
"""
from pydantic import Field

from .base import Int32, KeepEmpty, KubeModel
from .core import ObjectReference
from .meta import KubeObject, ListMeta, ObjectMeta

__all__ = [
    "Endpoint",
    "EndpointConditions",
    "EndpointHints",
    "EndpointPort",
    "EndpointSlice",
    "EndpointSliceList",
    "ForNode",
    "ForZone",
]


class EndpointConditions(KubeModel):
    """``ready`` (serving and not terminating), ``serving``, ``terminating``; unset means
    unknown, which consumers treat as ready."""

    ready: bool | None = None
    serving: bool | None = None
    terminating: bool | None = None


class ForZone(KubeModel):
    name: str


class ForNode(KubeModel):
    name: str


class EndpointHints(KubeModel):
    """Topology-aware routing: where this endpoint should preferably be consumed."""

    for_zones: list[ForZone] | None = None
    for_nodes: list[ForNode] | None = None


class Endpoint(KubeModel):
    """One backend (usually a pod): its addresses, readiness and location."""

    addresses: list[str]
    conditions: EndpointConditions | None = None
    hostname: str | None = None
    target_ref: ObjectReference | None = None
    deprecated_topology: dict[str, str] | None = None
    node_name: str | None = None
    zone: str | None = None
    hints: EndpointHints | None = None


class EndpointPort(KubeModel):
    """A port every endpoint of the slice serves; an unset ``port`` means all ports.

    ``name`` is a Go ``*string``: the endpointslice controller writes ``name: ""`` for the
    unnamed port of a single-port Service, so an empty name is kept.
    """

    name: KeepEmpty[str] = None
    protocol: str | None = None
    port: Int32 | None = None
    app_protocol: str | None = None


class EndpointSlice(KubeObject):
    """A shard of a Service's endpoints, all of one address type (``IPv4``, ``IPv6``, ``FQDN``)."""

    api_version: str = "discovery.k8s.io/v1"
    kind: str = "EndpointSlice"
    metadata: ObjectMeta = Field(default_factory=ObjectMeta)
    address_type: str
    endpoints: list[Endpoint] = Field(default_factory=list)
    ports: list[EndpointPort] | None = None


class EndpointSliceList(KubeObject):
    api_version: str = "discovery.k8s.io/v1"
    kind: str = "EndpointSliceList"
    metadata: ListMeta = Field(default_factory=ListMeta)
    items: list[EndpointSlice] = Field(default_factory=list)
