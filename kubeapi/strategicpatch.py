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
  fields such as a volume source or a deployment strategy); every key the
  patch sets must be listed.

A merged list is ordered as upstream orders it: the patch's elements in the
patch's order (or ``$setElementOrder``'s), the server's other elements kept
where they were relative to those, and elements new to the server ahead of
the server's elements that follow them, so ``kubectl patch`` adding a
container puts it first.

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
    "PodStatus": {"conditions": L("type"), "podIPs": L("ip"), "hostIPs": L("ip")},
    "NodeSpec": {"podCIDRs": L(SET)},
    "NodeStatus": {"conditions": L("type"), "addresses": L("type")},
    "ServiceSpec": {"ports": L("port")},
    "Conditions": CONDITIONS,
    "WorkloadSpec": {"template": "PodTemplateSpec"},
}
_KINDS: dict[str, dict[str, str | ListField]] = {
    "Pod": {"spec": "PodSpec", "status": "PodStatus"},
    "Node": {"spec": "NodeSpec", "status": "NodeStatus"},
    "Service": {"spec": "ServiceSpec", "status": "Conditions"},
    **{k: {"spec": "WorkloadSpec", "status": "Conditions"}
       for k in ("Deployment", "ReplicaSet", "DaemonSet", "StatefulSet", "Job")},
    "Namespace": {"status": "Conditions"},
    "ServiceAccount": {"secrets": L("name")},
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
    if directive is not None:
        raise StrategicPatchError(f"Unknown patch type: {directive} in map: {path or '.'}")
    retain = patch.pop(_RETAIN, None)
    orders = {k[len(_ORDER):]: patch.pop(k) for k in list(patch) if k.startswith(_ORDER)}
    deletes = {k[len(_DELETE_FROM):]: patch.pop(k) for k in list(patch) if k.startswith(_DELETE_FROM)}
    fields = TYPES.get(typ or "", {})
    out = dict(original)
    if retain is not None:
        if not isinstance(retain, list):
            raise StrategicPatchError(f"$retainKeys must be a list in {path or '.'}")
        for k, pv in patch.items():
            if pv is not None and k not in retain:
                raise StrategicPatchError(
                    f"invalid patch format of retainKeys: {k!r} is not in $retainKeys in {path or '.'}")
        out = {k: v for k, v in out.items() if k in retain}
    server = {}  # each ordered list as it was before the patch
    for k, order in orders.items():
        if not isinstance(order, list):
            raise StrategicPatchError(f"{_ORDER}{k} must be a list in {path or '.'}")
        key = _key_of(fields.get(k))
        if isinstance(patch.get(k), list):
            _check_order(patch[k], order, key, f"{path}.{k}" if path else k)
        server[k] = out[k] if isinstance(out.get(k), list) else []
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
        if isinstance(out.get(k), list):
            sub = f"{path}.{k}" if path else k
            out[k] = _normalize(out[k], order, server[k], _key_of(fields.get(k)), sub)
    return out


def _merge_list(original: list, patch: list, spec: ListField, path: str) -> list:
    if spec.key == SET:
        if any(isinstance(x, dict) and x.get(_PATCH) == "replace" for x in patch):
            return _strip(patch)
        merged: list = []
        for x in original + patch:
            if x not in merged:
                merged.append(x)
        return _normalize(merged, patch, original, SET, path)
    items, replace = [], False
    out = list(original)
    for el in patch:
        if not isinstance(el, dict):
            raise StrategicPatchError(f"{path}: expected a map with merge key {spec.key!r}, got {el!r}")
        directive = el.get(_PATCH)
        if directive is None:
            items.append(el)
        elif directive == "delete":
            if spec.key not in el:
                raise StrategicPatchError(f"map: {_strip(el)} does not contain declared merge key: {spec.key}")
            # every element with that key goes, as upstream's deleteMatchingEntries
            out = [o for o in out if not (isinstance(o, dict) and o.get(spec.key) == el[spec.key])]
        elif directive == "replace":
            replace = True
        elif directive == "merge":
            raise StrategicPatchError(f"{path}: merging lists cannot yet be specified in the patch")
        else:
            raise StrategicPatchError(f"Unknown patch type: {directive} in map: {_strip(el)}")
    if replace:
        # the list is the patch's elements; any other $patch element is dropped
        return [_strip(x) for x in items]
    server = list(out)
    for el in items:
        if spec.key not in el:
            raise StrategicPatchError(f"map: {_strip(el)} does not contain declared merge key: {spec.key}")
        key = el[spec.key]
        sub = f"{path}[{spec.key}={key}]"
        at = next((i for i, o in enumerate(out) if isinstance(o, dict) and o.get(spec.key) == key), None)
        if at is None:
            out.append(_merge_map({}, el, spec.elem, sub))
        else:
            out[at] = _merge_map(out[at], el, spec.elem, sub)
    return _normalize(out, items, server, spec.key, path)


def _key_of(spec: Any) -> str:
    return spec.key if isinstance(spec, ListField) else SET


def _ident(x: Any, key: str, path: str) -> Any:
    """What identifies a list element: its merge key's value, or itself in a set."""
    if key == SET:
        return x
    if not isinstance(x, dict) or key not in x:
        raise StrategicPatchError(f"{path}: map: {x!r} does not contain declared merge key: {key}")
    return x[key]


def _index(items: list, x: Any, key: str, path: str) -> int:
    want = _ident(x, key, path)
    return next((i for i, o in enumerate(items) if _ident(o, key, path) == want), -1)


def _check_order(patch: list, order: list, key: str, path: str) -> None:
    """The patch list's elements (deletions aside) must appear in ``order``, in its order."""
    items = [x for x in patch if not (isinstance(x, dict) and _PATCH in x)]
    i = 0
    for o in order:
        if i < len(items) and _ident(items[i], key, path) == _ident(o, key, path):
            i += 1
    if i < len(items):
        raise StrategicPatchError(f"{path}: the order in patch list {_strip(patch)!r} doesn't match "
                                  f"{_ORDER} list {order!r}")


def _normalize(merged: list, order: list, server: list, key: str, path: str) -> list:
    """``merged`` ordered as upstream's normalizeElementOrder: the elements named in
    ``order`` in that order; the others (server-only) in their ``server`` order,
    each placed before the first ordered element that came after it on the server.
    An element new to the server goes before any server-only element that follows."""
    named = sorted((x for x in merged if _index(order, x, key, path) >= 0),
                   key=lambda x: _index(order, x, key, path))
    rest = sorted((x for x in merged if _index(order, x, key, path) < 0),
                  key=lambda x: _index(server, x, key, path))
    out, i, j = [], 0, 0
    while i < len(rest) or j < len(named):
        if j >= len(named):
            out.append(rest[i])
            i += 1
        elif i >= len(rest):
            out.append(named[j])
            j += 1
        else:
            li, ri = _index(server, rest[i], key, path), _index(server, named[j], key, path)
            if li >= 0 and ri >= 0 and li < ri:
                out.append(rest[i])
                i += 1
            else:
                out.append(named[j])
                j += 1
    return out


def apply_strategic_merge_patch(original: dict, patch: Any, kind: str) -> dict:
    """``original`` (an object of ``kind``) with the strategic merge ``patch`` applied."""
    if not isinstance(patch, dict):
        raise StrategicPatchError("a strategic merge patch must be a JSON object")
    out = _merge_map(original, patch, kind_type(kind), "")
    if out is _DELETED:
        raise StrategicPatchError("a strategic merge patch cannot delete the whole object")
    return out
