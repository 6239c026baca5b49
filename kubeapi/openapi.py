"""OpenAPI documents generated from the registry and the models.

``/openapi/v3`` lists one document per group-version; each has a path for
every served resource and operation, with upstream's extensions
(``x-kubernetes-group-version-kind``, ``x-kubernetes-action``) and the
``fieldValidation`` parameter on writes — kubectl reads that to decide the
server validates fields itself — and the schemas of the objects (what
``kubectl explain`` shows), named as upstream (``io.k8s.api.core.v1.Pod``).
``/openapi/v2`` is the same as one Swagger 2.0 document.
"""
from __future__ import annotations

import hashlib
import inspect
import json
from functools import lru_cache
from typing import Any

from pydantic.json_schema import models_json_schema

from kubeapi import models
from kubeapi import strategicpatch as smp
from kubeapi.models.base import KubeModel
from kubeapi.registry import REGISTRY, Resource

_PACKAGES = {
    "meta": "io.k8s.apimachinery.pkg.apis.meta.v1",
    "core": "io.k8s.api.core.v1", "apps": "io.k8s.api.apps.v1", "batch": "io.k8s.api.batch.v1",
    "coordination": "io.k8s.api.coordination.v1", "discovery": "io.k8s.api.discovery.v1",
    "rbac": "io.k8s.api.rbac.v1", "scheduling": "io.k8s.api.scheduling.v1",
}
SCALE = "io.k8s.api.autoscaling.v1.Scale"
_WRITE_PARAMS = ("dryRun", "fieldManager", "fieldValidation")
_PATCH_TYPES = ("application/json-patch+json", "application/merge-patch+json",
                "application/strategic-merge-patch+json", "application/apply-patch+yaml")


@lru_cache(maxsize=1)
def _model_classes() -> dict[str, type[KubeModel]]:
    """Every model class, by the name pydantic gives it in a schema's ``$defs``
    (module-qualified where two modules define the same name)."""
    found = [cls for mod_name in _PACKAGES for cls in vars(getattr(models, mod_name)).values()
             if inspect.isclass(cls) and issubclass(cls, KubeModel)
             and cls.__module__ == getattr(models, mod_name).__name__]
    names = [c.__name__ for c in found]
    return {(c.__name__ if names.count(c.__name__) == 1 else
             f"{c.__module__.replace('.', '__')}__{c.__name__}"): c for c in found}


def _full_name(cls: type) -> str:
    return f"{_PACKAGES[cls.__module__.rsplit('.', 1)[1]]}.{cls.__name__}"


def _clean(node: Any, rename: dict[str, str], prefix: str) -> Any:
    """Pydantic's JSON schema in Kubernetes' style: optional fields without the
    ``null`` alternative, no titles or null defaults, upstream's names in refs."""
    if isinstance(node, list):
        return [_clean(x, rename, prefix) for x in node]
    if not isinstance(node, dict):
        return node
    if "anyOf" in node:
        alts = [a for a in node["anyOf"] if a != {"type": "null"}]
        if len(alts) == 1:
            merged = {**{k: v for k, v in node.items() if k != "anyOf"}, **alts[0]}
            return _clean(merged, rename, prefix)
    out: dict[str, Any] = {}
    for k, v in node.items():
        if k in ("title", "$defs") or (k == "default" and v is None) or k == "additionalProperties" and v is True:
            continue
        if k == "$ref":
            out[k] = prefix + rename.get(v.rsplit("/", 1)[1], v.rsplit("/", 1)[1])
        else:
            out[k] = _clean(v, rename, prefix)
    return out


@lru_cache(maxsize=2)
def schemas(prefix: str = "#/components/schemas/") -> dict[str, Any]:
    """Every model's schema by upstream name; top-level kinds carry their GVK."""
    classes = _model_classes()
    rename = {name: _full_name(cls) for name, cls in classes.items()}
    _, raw = models_json_schema([(cls, "validation") for cls in classes.values()], by_alias=True,
                                ref_template="#/$defs/{model}")
    out = {rename.get(name, name): _clean(d, rename, prefix) for name, d in (raw.get("$defs") or {}).items()}
    for name, cls in classes.items():
        kind = getattr(cls, "KIND", "")
        if kind and cls.__name__ == kind and rename[name] in out:
            out[rename[name]]["x-kubernetes-group-version-kind"] = [
                {"group": cls.GROUP, "version": cls.VERSION, "kind": kind}]
    for (type_name, field), (key, strategy) in _patch_meta().items():
        prop = next((v for k, v in out.items() if k.endswith("." + type_name)), {}).get(
            "properties", {}).get(field)
        if prop is not None:
            prop["x-kubernetes-patch-strategy"] = strategy
            if key:
                prop["x-kubernetes-patch-merge-key"] = key
    out[SCALE] = {"description": "Scale represents a scaling request for a resource.", "type": "object",
                  "properties": {
                      "apiVersion": {"type": "string"}, "kind": {"type": "string"},
                      "metadata": {"$ref": prefix + "io.k8s.apimachinery.pkg.apis.meta.v1.ObjectMeta"},
                      "spec": {"type": "object", "properties": {"replicas": {"type": "integer"}}},
                      "status": {"type": "object", "properties": {"replicas": {"type": "integer"},
                                                                   "selector": {"type": "string"}}}},
                  "x-kubernetes-group-version-kind": [{"group": "autoscaling", "version": "v1", "kind": "Scale"}]}
    return out


def _patch_meta() -> dict[tuple[str, str], tuple[str, str]]:
    """(model name, field) → (merge key, strategy): the strategic merge patch
    metadata kubectl apply reads from the schemas."""
    meta: dict[tuple[str, str], tuple[str, str]] = {}
    for type_name, fields in smp.TYPES.items():
        for field, spec in fields.items():
            if isinstance(spec, smp.ListField):
                strategy = "merge,retainKeys" if (type_name, field) == ("PodSpec", "volumes") else "merge"
                meta[(type_name, field)] = ("" if spec.key == smp.SET else spec.key, strategy)
    for status in ("DeploymentStatus", "ReplicaSetStatus", "DaemonSetStatus", "StatefulSetStatus",
                   "JobStatus", "ServiceStatus", "NamespaceStatus"):
        meta[(status, "conditions")] = ("type", "merge")
    meta[("DeploymentSpec", "strategy")] = ("", "retainKeys")
    return meta


def _schema_name(res: Resource, list_kind: bool = False) -> str:
    cls = next((c for c in _model_classes().values() if c.__name__ == res.kind + ("List" if list_kind else "")
                and getattr(c, "GROUP", None) == res.group), None)
    return _full_name(cls) if cls is not None else "io.k8s.apimachinery.pkg.apis.meta.v1.Status"


def _base(res: Resource) -> str:
    return f"/apis/{res.group}/{res.version}" if res.group else f"/api/{res.version}"


def _param(name: str, where: str = "query", required: bool = False) -> dict[str, Any]:
    p: dict[str, Any] = {"name": name, "in": where, "schema": {"type": "string"}, "uniqueItems": True}
    if required:
        p["required"] = True
    return p


def _op(res: Resource, action: str, verb_id: str, schema: str, *, write: bool = False,
        body_types: tuple[str, ...] = (), ref_prefix: str) -> dict[str, Any]:
    scope = "Namespaced" if res.namespaced else ""
    op: dict[str, Any] = {
        "operationId": f"{verb_id}{scope}{res.kind}",
        "tags": [f"{res.group.split('.')[0] or 'core'}_{res.version}"],
        "responses": {"200": {"description": "OK", "content": {
            "application/json": {"schema": {"$ref": ref_prefix + schema}}}},
            "401": {"description": "Unauthorized"}},
        "x-kubernetes-action": action,
        "x-kubernetes-group-version-kind": {"group": res.group, "version": res.version, "kind": res.kind},
    }
    if write:
        op["parameters"] = [_param(p) for p in _WRITE_PARAMS]
    if body_types:
        op["requestBody"] = {"required": True, "content": {
            t: {"schema": {"$ref": ref_prefix + schema}} for t in body_types}}
    return op


def _resource_paths(res: Resource, ref_prefix: str) -> dict[str, Any]:
    ns = "/namespaces/{namespace}" if res.namespaced else ""
    coll = f"{_base(res)}{ns}/{res.plural}"
    item = coll + "/{name}"
    obj, lst = _schema_name(res), _schema_name(res, list_kind=True)
    verbs = set(res.verbs)
    params = [_param("namespace", "path", True)] if res.namespaced else []
    paths: dict[str, Any] = {}
    c: dict[str, Any] = {"parameters": list(params)}
    if "list" in verbs:
        c["get"] = _op(res, "list", "list", lst, ref_prefix=ref_prefix)
    if "create" in verbs:
        c["post"] = _op(res, "post", "create", obj, write=True, body_types=("application/json",),
                        ref_prefix=ref_prefix)
    if "deletecollection" in verbs:
        c["delete"] = _op(res, "deletecollection", "deleteCollection", "io.k8s.apimachinery.pkg.apis.meta.v1.Status",
                          ref_prefix=ref_prefix)
    if len(c) > 1:
        paths[coll] = c
    i: dict[str, Any] = {"parameters": [_param("name", "path", True), *params]}
    for verb, method, action, vid, kw in (
            ("get", "get", "get", "read", {}),
            ("update", "put", "put", "replace", {"write": True, "body_types": ("application/json",)}),
            ("patch", "patch", "patch", "patch", {"write": True, "body_types": _PATCH_TYPES}),
            ("delete", "delete", "delete", "delete", {})):
        if verb in verbs:
            i[method] = _op(res, action, vid, obj, ref_prefix=ref_prefix, **kw)
    if len(i) > 1:
        paths[item] = i
    for sub in res.subresources:
        if sub.name not in ("status", "scale"):
            continue
        schema = obj if sub.name == "status" else SCALE
        s: dict[str, Any] = {"parameters": [_param("name", "path", True), *params]}
        s["get"] = _op(res, "get", "read", schema, ref_prefix=ref_prefix)
        s["put"] = _op(res, "put", "replace", schema, write=True, body_types=("application/json",),
                       ref_prefix=ref_prefix)
        s["patch"] = _op(res, "patch", "patch", schema, write=True, body_types=_PATCH_TYPES,
                         ref_prefix=ref_prefix)
        for op in ("get", "put", "patch"):
            s[op]["operationId"] += sub.name.capitalize()
        paths[f"{item}/{sub.name}"] = s
    return paths


def _group_versions() -> list[tuple[str, str]]:
    return list(dict.fromkeys((r.group, r.version) for r in REGISTRY))


def gv_path(group: str, version: str) -> str:
    """``api/v1`` or ``apis/apps/v1``: the key of a group-version in the v3 root."""
    return f"apis/{group}/{version}" if group else f"api/{version}"


@lru_cache(maxsize=None)
def v3_document(group: str, version: str) -> dict[str, Any]:
    """The OpenAPI 3.0 document of one group-version (KeyError if none is served)."""
    resources = [r for r in REGISTRY if r.group == group and r.version == version and r.stored]
    if not resources:
        raise KeyError(gv_path(group, version))
    prefix = "#/components/schemas/"
    paths: dict[str, Any] = {}
    for r in resources:
        paths.update(_resource_paths(r, prefix))
    return {"openapi": "3.0.0", "info": {"title": "Kubernetes", "version": "v1.32.0"},
            "paths": paths, "components": {"schemas": schemas(prefix)}}


@lru_cache(maxsize=None)
def _hash(group: str, version: str) -> str:
    return hashlib.sha512(json.dumps(v3_document(group, version), sort_keys=True).encode()).hexdigest()[:64].upper()


def v3_root() -> dict[str, Any]:
    """``/openapi/v3``: where each group-version's document is, with a content hash."""
    return {"paths": {gv_path(g, v): {"serverRelativeURL": f"/openapi/v3/{gv_path(g, v)}?hash={_hash(g, v)}"}
                      for g, v in _group_versions() if any(r.stored for r in REGISTRY
                                                             if (r.group, r.version) == (g, v))}}


@lru_cache(maxsize=1)
def v2_document() -> dict[str, Any]:
    """``/openapi/v2``: every group-version in one Swagger 2.0 document."""
    prefix = "#/definitions/"
    paths: dict[str, Any] = {}
    for r in REGISTRY:
        if not r.stored:
            continue
        for path, item in _resource_paths(r, prefix).items():
            v2_item: dict[str, Any] = {}
            for method, op in item.items():
                if method == "parameters":
                    v2_item[method] = [{k: v for k, v in p.items() if k != "schema"} | {"type": "string"}
                                       for p in op]
                    continue
                op = dict(op)
                body = op.pop("requestBody", None)
                resp = op["responses"]["200"]["content"]["application/json"]["schema"]
                op["responses"] = {"200": {"description": "OK", "schema": resp},
                                   "401": {"description": "Unauthorized"}}
                params = [{k: v for k, v in p.items() if k != "schema"} | {"type": "string"}
                          for p in op.get("parameters", [])]
                if body is not None:
                    op["consumes"] = list(body["content"])
                    params.append({"name": "body", "in": "body", "required": True,
                                   "schema": next(iter(body["content"].values()))["schema"]})
                if params:
                    op["parameters"] = params
                op["produces"] = ["application/json"]
                v2_item[method] = op
            paths[path] = v2_item
    return {"swagger": "2.0", "info": {"title": "Kubernetes", "version": "v1.32.0"},
            "paths": paths, "definitions": schemas(prefix)}
