"""Per-namespace objects pods rely on: the ``default`` ServiceAccount
(upstream's serviceaccount controller) and the ``kube-root-ca.crt``
ConfigMap holding the cluster CA (upstream's root-ca-cert-publisher), which
the projected token volume ServiceAccount admission mounts reads. Both are
put back if someone deletes or edits them; namespaces being deleted get
nothing new."""
from __future__ import annotations

import time
from abc import abstractmethod
from typing import Any, Callable

from kubeapi import errors
from kubeapi.informer import Indexer

from ..apiserver.serviceaccounts import ROOT_CA_CONFIGMAP
from .base import Controller, Writer, unwrap
from .owned import namespace_terminating
from .podutil import is_terminating

DEFAULT_ACCOUNT = "default"
CA_DESCRIPTION = ("Contains a CA bundle that can be used to verify the kube-apiserver when using internal "
                  "endpoints such as the internal service IP or kubernetes.default.svc. No other usage is "
                  "guaranteed across distributions of Kubernetes clusters.")


class _PerNamespace(Controller):
    """Keys are namespace names; the object kept is ``<namespace>/<self.object_name>``."""

    object_name = ""

    def __init__(self, namespaces: Indexer, objects: Indexer, client: Writer, *,
                 clock: Callable[[], float] = time.monotonic) -> None:
        super().__init__(clock=clock)
        self.namespaces = namespaces
        self.objects = objects
        self.client = client

    def on_namespace(self, ns: Any) -> None:
        if isinstance(ns, dict) and not is_terminating(ns):
            self.enqueue(ns["metadata"]["name"])

    def on_namespace_update(self, old: Any, new: Any) -> None:
        self.on_namespace(new)

    def on_object_update(self, old: Any, new: Any) -> None:
        self.on_object_delete(new)

    def on_object_delete(self, obj: Any) -> None:
        obj = unwrap(obj)
        if isinstance(obj, dict) and obj["metadata"].get("name") == self.object_name:
            self.enqueue(obj["metadata"].get("namespace", ""))

    async def sync(self, key: str) -> None:
        ns = self.namespaces.get(key)
        if ns is None or is_terminating(ns):
            return
        current = self.objects.get(f"{key}/{self.object_name}")
        try:
            await self.ensure(key, current)
        except errors.ApiError as e:
            if not (errors.is_already_exists(e) or errors.is_conflict(e) or namespace_terminating(e)):
                raise  # (already there or changed meanwhile: the informer brings the news)

    @abstractmethod
    async def ensure(self, namespace: str, current: dict | None) -> None:
        """Create or mend the namespace's object (``current``: the lister's copy)."""


class ServiceAccountController(_PerNamespace):
    name = "serviceaccount"
    object_name = DEFAULT_ACCOUNT

    async def ensure(self, namespace: str, current: dict | None) -> None:
        if current is None:
            await self.client.create({"apiVersion": "v1", "kind": "ServiceAccount",
                                      "metadata": {"name": DEFAULT_ACCOUNT, "namespace": namespace}})


class RootCACertPublisher(_PerNamespace):
    name = "root-ca-cert-publisher"
    object_name = ROOT_CA_CONFIGMAP

    def __init__(self, namespaces: Indexer, configmaps: Indexer, client: Writer, root_ca: str, *,
                 clock: Callable[[], float] = time.monotonic) -> None:
        super().__init__(namespaces, configmaps, client, clock=clock)
        self.root_ca = root_ca

    async def ensure(self, namespace: str, current: dict | None) -> None:
        data = {"ca.crt": self.root_ca}
        if current is None:
            await self.client.create({"apiVersion": "v1", "kind": "ConfigMap", "metadata": {
                "name": ROOT_CA_CONFIGMAP, "namespace": namespace,
                "annotations": {"kubernetes.io/description": CA_DESCRIPTION}}, "data": data})
        elif current.get("data") != data:
            await self.client.update(dict(current, data=data))
