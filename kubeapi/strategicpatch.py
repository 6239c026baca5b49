"""Strategic merge patch (``application/strategic-merge-patch+json``), as upstream.

A JSON merge patch, except that lists follow each field's patch strategy
(the ``patchMergeKey`` / ``patchStrategy`` tags of upstream's Go types, kept
in :data:`TYPES` for the kinds served here): lists of objects with a merge
key merge element by element, some lists of scalars merge as sets, all
others are replaced. Directives:

* ``{"$patch": "replace"}`` in an object replaces it; as a list element, the
  list. ``{"$patch": "delete"}`` in an object deletes it; as a keyed list
  element, deletes the element with that key.
* ``"$setElementOrder/<list>": [...]`` orders the resulting list.
* ``"$deleteFromPrimitiveList/<list>": [...]`` removes values from a set-list.
* ``"$retainKeys": [...]`` drops every key of the object not listed (union
  fields such as a volume source or a deployment strategy).

kubectl's client-side ``apply`` and ``patch`` (its default type) send these.
"""
from __future__ import annotations

from dataclasses import dataclass
from typing import Any

__all__ = ["StrategicPatchError", "apply_strategic_merge_patch", "TYPES", "kind_type"]

SET = "<set>"  # a list of scalars merged as a set (patchStrategy merge, no key)


class StrategicPatchError(ValueError):
    """The patch cannot be applied (400 Bad Request / 422 for the caller)."""


@dataclass(frozen=True)
class ListField:
    key: str  # the merge key, or SET
    elem: str | None = None  # the element's type, when it has patched fields itself


L = ListField
OBJECT_META = {"finalizers": L(SET), "ownerReferences": L("uid")}
CONDITIONS = {"conditions": L("type")}
# type name -> field -> nested object type name, or ListField
TYPES: dict[str, dict[str, str | ListField]] = {
    "ObjectMeta": OBJECT_META,
    "PodTemplateSpec": {"metadata": "ObjectMeta", "spec": "PodSpec"},
    "PodSpec": {
        "containers": L("name", "Container"), "initContainers": L("name", "Container"),
        "ephemeralContainers": L("name", "Container"), "volumes": L("name"),
        "imagePullSecrets": L("name"), "hostAliases": L("ip"),
        "topologySpreadConstraints": L("topologyKey"), "resourceClaims": L("name"),
        "schedulingGates": L("name"),
    },
    "Container": {"ports": L("containerPort"), "env": L("name"), "volumeMounts": L("mountPath"),
                  "volumeDevices": L("devicePath")},
    "PodStatus": {"conditions": L("type"), "podIPs": L("ip")},
    "NodeStatus": {"conditions": L("type"), "addresses": L("type")},
    "ServiceSpec": {"ports": L("port")},
    "Conditions": CONDITIONS,
    "WorkloadSpec": {"template": "PodTemplateSpec"},
}
_KINDS: dict[str, dict[str, str]] = {
    "Pod": {"spec": "PodSpec", "status": "PodStatus"},
    "Node": {"status": "NodeStatus"},
    "Service": {"spec": "ServiceSpec", "status": "Conditions"},
    **{k: {"spec": "WorkloadSpec", "status": "Conditions"}
       for k in ("Deployment", "ReplicaSet", "DaemonSet", "StatefulSet", "Job")},
    "Namespace": {"status": "Conditions"},
}
for _kind, _fields in _KINDS.items():
    TYPES[_kind] = {"metadata": "ObjectMeta", **_fields}


def kind_type(kind: str) -> str:
    """The TYPES entry for a top-level kind (metadata only for kinds without lists to merge)."""
    return kind if kind in TYPES else "ObjectMeta@top"


TYPES["ObjectMeta@top"] = {"metadata": "ObjectMeta"}

_PATCH = "$patch"
_RETAIN = "$retainKeys"
_ORDER = "$setElementOrder/"
_DELETE_FROM = "$deleteFromPrimitiveList/"


def _strip(v: Any) -> Any:
    """A patch value used as a plain value: without directives."""
    if isinstance(v, dict):
        return {k: _strip(x) for k, x in v.items() if not k.startswith("$")}
    if isinstance(v, list):
        return [_strip(x) for x in v if not (isinstance(x, dict) and x.get(_PATCH) == "replace"
                                              and len(x) == 1)]
    return v


_DELETED = object()


def _merge_map(original: dict, patch: dict, typ: str | None, path: str) -> Any:
    patch = dict(patch)
    directive = patch.pop(_PATCH, None)
    if directive == "replace":
        return _strip(patch)
    if directive == "delete":
        return _DELETED
    if directive not in (None, "merge"):
        raise StrategicPatchError(f"Unknown patch type: {directive} in map: {path or '.'}")
    retain = patch.pop(_RETAIN, None)
    orders = {k[len(_ORDER):]: patch.pop(k) for k in list(patch) if k.startswith(_ORDER)}
    deletes = {k[len(_DELETE_FROM):]: patch.pop(k) for k in list(patch) if k.startswith(_DELETE_FROM)}
    fields = TYPES.get(typ or "", {})
    out = dict(original)
    if retain is not None:
        if not isinstance(retain, list):
            raise StrategicPatchError(f"$retainKeys must be a list in {path or '.'}")
        out = {k: v for k, v in out.items() if k in retain}
    for k, pv in patch.items():
        sub = f"{path}.{k}" if path else k
        spec = fields.get(k)
        if pv is None:
            out.pop(k, None)
            continue
        ov = out.get(k)
        if isinstance(pv, dict):
            r = _merge_map(ov if isinstance(ov, dict) else {}, pv,
                           spec if isinstance(spec, str) else None, sub)
            if r is _DELETED:
                out.pop(k, None)
            else:
                out[k] = r
        elif isinstance(pv, list) and isinstance(spec, ListField):
            out[k] = _merge_list(ov if isinstance(ov, list) else [], pv, spec, sub)
        else:
            out[k] = _strip(pv)
    for k, values in deletes.items():
        if not isinstance(values, list):
            raise StrategicPatchError(f"{_DELETE_FROM}{k} must be a list")
        kept = [x for x in out.get(k) or [] if x not in values]
        if kept:
            out[k] = kept
        else:
            out.pop(k, None)
    for k, order in orders.items():
        spec = fields.get(k)
        if k in out and isinstance(out[k], list) and isinstance(order, list):
            out[k] = _ordered(out[k], order, spec.key if isinstance(spec, ListField) else SET)
    return out


def _merge_list(original: list, patch: list, spec: ListField, path: str) -> list:
    if any(isinstance(x, dict) and x.get(_PATCH) == "replace" for x in patch):
        return _strip(patch)
    if spec.key == SET:
        out = list(original)
        for x in patch:
            if x not in out:
                out.append(x)
        return out
    out = list(original)
    for el in patch:
        if not isinstance(el, dict):
            raise StrategicPatchError(f"{path}: expected a map with merge key {spec.key!r}, got {el!r}")
        if spec.key not in el:
            raise StrategicPatchError(f"map: {_strip(el)} does not contain declared merge key: {spec.key}")
        key = el[spec.key]
        at = next((i for i, o in enumerate(out) if isinstance(o, dict) and o.get(spec.key) == key), None)
        if el.get(_PATCH) == "delete":
            if at is not None:
                del out[at]
            continue
        if at is None:
            merged = _merge_map({}, el, spec.elem, f"{path}[{spec.key}={key}]")
            if merged is not _DELETED:
                out.append(merged)
        else:
            merged = _merge_map(out[at], el, spec.elem, f"{path}[{spec.key}={key}]")
            if merged is _DELETED:
                del out[at]
            else:
                out[at] = merged
    return out


def _ordered(items: list, order: list, key: str) -> list:
    """``items`` with those named in ``order`` first, in that order; the rest after, as they were."""
    def ident(x: Any) -> Any:
        return x.get(key) if key != SET and isinstance(x, dict) else x
    wanted = [o.get(key) if key != SET and isinstance(o, dict) else o for o in order]
    rank = {repr(w): i for i, w in enumerate(wanted)}
    first = sorted((x for x in items if repr(ident(x)) in rank), key=lambda x: rank[repr(ident(x))])
    return first + [x for x in items if repr(ident(x)) not in rank]


def apply_strategic_merge_patch(original: dict, patch: Any, kind: str) -> dict:
    """``original`` (an object of ``kind``) with the strategic merge ``patch`` applied."""
    if not isinstance(patch, dict):
        raise StrategicPatchError("a strategic merge patch must be a JSON object")
    out = _merge_map(original, patch, kind_type(kind), "")
    if out is _DELETED:
        raise StrategicPatchError("a strategic merge patch cannot delete the whole object")
    return out
