"""Field ownership (``metadata.managedFields``) and server-side apply.

Every tracked write records which manager set which fields: an ``Update``
entry per manager for create/update/patch, an ``Apply`` entry per manager
for server-side apply. A field is a path of steps — ``f:<name>`` into an
object, ``k:{"<key>":…}`` to the element of a keyed list (the merge keys of
:mod:`kubeapi.strategicpatch`), ``v:<value>`` to a value of a set-list;
scalars, atomic lists and keyed-list elements are members of a set. The
wire form is upstream's FieldsV1 (nested ``{"f:spec": {"f:replicas": {}}}``,
``"."`` marking a list element itself).

Apply (:func:`apply`): the applied configuration is merged into the live
object; a field the applier sets to a different value than another manager
owns is a conflict (409 unless ``force``, which takes the field over);
fields this manager applied before and no longer applies, that nobody else
owns, are removed. The applier then owns exactly what it applied.
"""
from __future__ import annotations

import json
from dataclasses import dataclass
from typing import Any, Iterable

from kubeapi import strategicpatch as smp

Step = str  # "f:name" | 'k:{"name":"x"}' | "v:<json>"
Path = tuple[Step, ...]
FieldSet = frozenset[Path]

# never tracked: identity and server-owned bookkeeping
_IGNORED_TOP = {"apiVersion", "kind", "status"}
_IGNORED_META = {"name", "namespace", "uid", "resourceVersion", "generation", "creationTimestamp",
                 "deletionTimestamp", "deletionGracePeriodSeconds", "managedFields", "selfLink",
                 "generateName"}


@dataclass(frozen=True)
class Conflict:
    manager: str
    path: Path
    subresource: str = ""

    def owner(self, api_version: str) -> str:
        """``conflict with "mgr" [with subresource "scale"] using apps/v1``, as upstream words it."""
        sub = f' with subresource "{self.subresource}"' if self.subresource else ""
        return f'conflict with "{self.manager}"{sub} using {api_version}'


class ApplyConflict(Exception):
    def __init__(self, conflicts: list[Conflict], api_version: str) -> None:
        self.conflicts = conflicts
        self.api_version = api_version
        n = len(conflicts)
        lines = [f"{c.owner(api_version)}: {render_path(c.path)}" for c in conflicts]
        msg = f"Apply failed with {n} conflict{'s' if n != 1 else ''}: " + (
            lines[0] if n == 1 else "\n" + "\n".join(f"* {ln}" for ln in lines))
        super().__init__(msg)


def render_path(path: Path) -> str:
    """``.spec.replicas``, ``.spec.template.spec.containers[name="nginx"].image``."""
    out = ""
    for step in path:
        kind, _, rest = step.partition(":")
        if kind == "f":
            out += "." + rest
        elif kind == "k":
            key = json.loads(rest)
            out += "[" + ",".join(f"{k}={json.dumps(v)}" for k, v in key.items()) + "]"
        else:
            out += f"[={rest}]"
    return out


def _fields(typ: str | None) -> dict[str, Any]:
    return smp.TYPES.get(typ or "", {})


def _key_step(key: str, el: dict) -> Step:
    return "k:" + json.dumps({key: el.get(key)}, separators=(",", ":"))


def field_set(obj: dict, kind: str) -> FieldSet:
    """The fields ``obj`` sets (identity and status left out)."""
    out: set[Path] = set()
    top = {k: v for k, v in obj.items() if k not in _IGNORED_TOP}
    meta = top.pop("metadata", None)
    if isinstance(meta, dict):
        m = {k: v for k, v in meta.items() if k not in _IGNORED_META}
        _walk(m, "ObjectMeta", ("f:metadata",), out)
    _walk(top, smp.kind_type(kind), (), out)
    return frozenset(out)


def _walk(node: dict, typ: str | None, path: Path, out: set[Path]) -> None:
    fields = _fields(typ)
    for k, v in node.items():
        p = path + (f"f:{k}",)
        spec = fields.get(k)
        if isinstance(v, dict) and v:
            _walk(v, spec if isinstance(spec, str) else None, p, out)
        elif isinstance(v, list) and isinstance(spec, smp.ListField) and v:
            if spec.key == smp.SET:
                for x in v:
                    out.add(p + ("v:" + json.dumps(x, separators=(",", ":")),))
            else:
                for el in v:
                    if isinstance(el, dict):
                        ep = p + (_key_step(spec.key, el),)
                        out.add(ep)
                        _walk({kk: vv for kk, vv in el.items()}, spec.elem, ep, out)
        else:
            out.add(p)


def to_fields_v1(fs: Iterable[Path]) -> dict:
    root: dict = {}
    for path in sorted(fs):
        node = root
        for step in path:
            node = node.setdefault(step, {})
        if path and path[-1].startswith("k:"):
            node.setdefault(".", {})
    return root


def from_fields_v1(doc: dict) -> FieldSet:
    out: set[Path] = set()

    def walk(node: dict, path: Path) -> None:
        if not node and path:
            out.add(path)
        for step, sub in node.items():
            if step == ".":
                out.add(path)
            else:
                walk(sub if isinstance(sub, dict) else {}, path + (step,))
    walk(doc or {}, ())
    return frozenset(out)


_MISSING = object()


def get_path(obj: Any, path: Path) -> Any:
    cur = obj
    for step in path:
        kind, _, rest = step.partition(":")
        if kind == "f":
            if not isinstance(cur, dict) or rest not in cur:
                return _MISSING
            cur = cur[rest]
        elif kind == "k":
            (k, v), = json.loads(rest).items()
            cur = next((el for el in cur or [] if isinstance(el, dict) and el.get(k) == v), _MISSING) \
                if isinstance(cur, list) else _MISSING
            if cur is _MISSING:
                return _MISSING
        else:
            val = json.loads(rest)
            if not isinstance(cur, list) or val not in cur:
                return _MISSING
            cur = val
    return cur


def remove_path(obj: dict, path: Path) -> None:
    """Delete the field (or list element) at ``path``; empty parents stay."""
    parent: Any = obj
    for step in path[:-1]:
        parent = get_path(parent, (step,))
        if parent is _MISSING:
            return
    kind, _, rest = path[-1].partition(":")
    if kind == "f" and isinstance(parent, dict):
        parent.pop(rest, None)
    elif kind == "k" and isinstance(parent, list):
        (k, v), = json.loads(rest).items()
        parent[:] = [el for el in parent if not (isinstance(el, dict) and el.get(k) == v)]
    elif kind == "v" and isinstance(parent, list):
        val = json.loads(rest)
        parent[:] = [x for x in parent if x != val]


def _merge(live: Any, applied: Any, typ: str | None) -> Any:
    """The applied configuration merged into the live object (structured merge)."""
    if not isinstance(live, dict) or not isinstance(applied, dict):
        return applied
    fields = _fields(typ)
    out = dict(live)
    for k, v in applied.items():
        spec = fields.get(k)
        if isinstance(v, dict):
            out[k] = _merge(live.get(k), v, spec if isinstance(spec, str) else None)
        elif isinstance(v, list) and isinstance(spec, smp.ListField) and isinstance(live.get(k), list):
            cur = list(live[k])
            if spec.key == smp.SET:
                out[k] = cur + [x for x in v if x not in cur]
                continue
            for el in v:
                at = next((i for i, o in enumerate(cur) if isinstance(o, dict) and isinstance(el, dict)
                           and o.get(spec.key) == el.get(spec.key)), None)
                if at is None:
                    cur.append(el)
                else:
                    cur[at] = _merge(cur[at], el, spec.elem)
            out[k] = cur
        else:
            out[k] = v
    return out


def _entries(obj: dict | None) -> list[dict]:
    return [dict(e) for e in ((obj or {}).get("metadata") or {}).get("managedFields") or []]


def _owner(e: dict) -> tuple[str, str]:
    return e.get("manager", ""), e.get("operation", "")


def _set_entries(obj: dict, entries: list[dict]) -> None:
    meta = obj.setdefault("metadata", {})
    kept = [e for e in entries if e.get("fieldsV1")]
    if kept:
        meta["managedFields"] = kept
    else:
        meta.pop("managedFields", None)


def _entry(manager: str, operation: str, api_version: str, fs: FieldSet, now: str,
           subresource: str | None = None) -> dict:
    e = {"manager": manager, "operation": operation, "apiVersion": api_version, "time": now,
         "fieldsType": "FieldsV1", "fieldsV1": to_fields_v1(fs)}
    if subresource:
        e["subresource"] = subresource
    return e


def apply(live: dict | None, applied: dict, kind: str, manager: str, *, force: bool,
          now: str, api_version: str) -> dict:
    """The object after ``manager`` applies ``applied`` (server-side apply).

    Raises :class:`ApplyConflict` when another manager owns a field the
    configuration sets to a different value, unless ``force``."""
    applied_fs = field_set(applied, kind)
    entries = _entries(live)
    me = (manager, "Apply")
    prev: FieldSet = frozenset()
    conflicts: list[Conflict] = []
    for e in entries:
        owned = from_fields_v1(e.get("fieldsV1") or {})
        if _owner(e) == me:
            prev = owned
            continue
        for p in sorted(owned & applied_fs):
            if live is not None and get_path(live, p) != get_path(applied, p) \
                    and not p[-1].startswith("k:"):
                conflicts.append(Conflict(e.get("manager", ""), p, e.get("subresource", "")))
    if conflicts and not force:
        raise ApplyConflict(conflicts, api_version)
    taken = {c.path for c in conflicts}
    others: set[Path] = set()
    new_entries = []
    for e in entries:
        if _owner(e) == me:
            continue
        owned = from_fields_v1(e.get("fieldsV1") or {}) - taken
        others |= owned
        new_entries.append(dict(e, fieldsV1=to_fields_v1(owned)) if taken else e)
    base = json.loads(json.dumps(live)) if live is not None else {}
    body = {k: v for k, v in applied.items() if k != "metadata"}
    meta_applied = {k: v for k, v in (applied.get("metadata") or {}).items() if k != "managedFields"}
    new = _merge(base, body, smp.kind_type(kind))
    new["metadata"] = _merge(base.get("metadata") or {}, meta_applied, "ObjectMeta")
    for p in sorted(prev - applied_fs - others, key=len):  # a list element before its fields
        remove_path(new, p)
    new_entries.append(_entry(manager, "Apply", api_version, applied_fs, now))
    _set_entries(new, new_entries)
    return new


def _changed(old: dict | None, new: dict, kind: str) -> FieldSet:
    new_fs = field_set(new, kind)
    if old is None:
        return new_fs
    return frozenset(p for p in new_fs if get_path(old, p) != get_path(new, p))


def track_update(old: dict | None, new: dict, kind: str, manager: str, *, now: str,
                 api_version: str, subresource: str | None = None) -> None:
    """Record, on ``new`` (in place), that ``manager`` set the fields an update
    (or create, with ``old`` None) changed; they leave their other owners."""
    changed = _changed(old, new, kind)
    entries = _entries(old) if old is not None else []
    me = (manager, "Update")
    mine: FieldSet = frozenset()
    out = []
    for e in entries:
        owned = from_fields_v1(e.get("fieldsV1") or {})
        if _owner(e) == me and e.get("subresource") == subresource:
            mine = owned
            continue
        rest = owned - changed
        out.append(e if rest == owned else dict(e, fieldsV1=to_fields_v1(rest)))
    mine = frozenset(p for p in mine if get_path(new, p) is not _MISSING) | changed
    if mine:
        out.append(_entry(manager, "Update", api_version, mine, now, subresource))
    _set_entries(new, out)
