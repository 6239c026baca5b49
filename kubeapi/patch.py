"""PATCH support for the apiserver: JSON Patch (RFC 6902) and JSON Merge Patch (RFC 7386).

Everything here works on plain JSON values (dict with str keys, list, str, int,
float, bool, None) as produced by ``json.loads``.  Inputs are never mutated:
each entry point works on its own private copy, so a failing JSON Patch leaves
the stored object untouched (the patch is all-or-nothing).

Patches come from untrusted clients, so every entry point is guarded: at most
``MAX_PATCH_OPS`` operations, values nested at most ``MAX_NESTING_DEPTH``
containers deep, and at most ``MAX_COPIED_VALUES`` values duplicated by
``copy`` operations.  Guard violations raise :class:`PatchError` whose message
starts with "patch too large" or "nesting too deep".

All failures raise :class:`PatchError` (a ``ValueError``) carrying ``op_index``,
``path`` and a suggested HTTP ``code`` so the apiserver can build a Status:
400 for a malformed patch, 422 for a well-formed patch that cannot be applied,
413 for a patch over the size limits.
"""
from __future__ import annotations

import json
import math
import re
from itertools import accumulate
from typing import Any

__all__ = [
    "MAX_COPIED_VALUES",
    "MAX_NESTING_DEPTH",
    "MAX_PATCH_OPS",
    "PatchError",
    "apply_json_patch",
    "apply_merge_patch",
    "create_merge_patch",
    "decode_patch",
    "escape_token",
    "json_equal",
    "parse_pointer",
    "resolve_pointer",
]

MAX_PATCH_OPS = 10000
"""Most operations one JSON Patch may hold (the limit Kubernetes enforces too)."""

MAX_NESTING_DEPTH = 100
"""Most containers (objects/arrays) nested inside each other in any document,
patch value or result; keeps recursion far below Python's stack limit."""

MAX_COPIED_VALUES = 1_000_000
"""Most JSON values ``copy``/``move`` operations of one patch may duplicate or
scan; stops a short patch from doubling a document thousands of times."""

JSONValue = Any

_ARRAY_INDEX = re.compile(r"0|[1-9][0-9]*")
_BAD_ESCAPE = re.compile(r"~(?![01])")
_JSON_STRING = re.compile(r'"(?:[^"\\]|\\.)*"', re.DOTALL)
_NON_BRACKET = re.compile(r"[^\[\]{}]+")
_OPS = ("add", "remove", "replace", "move", "copy", "test")
_VALUE_OPS = ("add", "replace", "test")
_FROM_OPS = ("move", "copy")

BAD_REQUEST = 400
TOO_LARGE = 413
UNPROCESSABLE = 422


class PatchError(ValueError):
    """A patch could not be decoded or applied.

    ``op_index`` is the failing JSON Patch operation's position (None when the
    failure is not tied to one operation), ``path`` that operation's ``path``
    member (or the pointer at fault), ``reason`` the message without the
    operation prefix, and ``code`` the HTTP status the apiserver should answer.
    """

    def __init__(
        self,
        message: str,
        *,
        op_index: int | None = None,
        path: str | None = None,
        code: int = UNPROCESSABLE,
        reason: str | None = None,
    ) -> None:
        super().__init__(message)
        self.op_index = op_index
        self.path = path
        self.code = code
        self.reason = reason if reason is not None else message


class _Fail(Exception):
    """Internal failure; public entry points re-raise it as PatchError with context."""

    def __init__(self, reason: str, code: int = UNPROCESSABLE) -> None:
        super().__init__(reason)
        self.reason = reason
        self.code = code


class _Budget:
    """Counts values duplicated or scanned by copy/move so the total stays bounded."""

    __slots__ = ("remaining",)

    def __init__(self, limit: int) -> None:
        self.remaining = limit

    def spend(self, n: int) -> None:
        self.remaining -= n
        if self.remaining < 0:
            raise _Fail(
                f"patch too large: copy/move operations would duplicate or scan more "
                f"than {MAX_COPIED_VALUES} values",
                TOO_LARGE,
            )


def _short(value: JSONValue, limit: int = 80) -> str:
    """Value rendered for an error message, truncated so huge values don't bloat Status."""
    try:
        text = json.dumps(value, sort_keys=True)
    except (TypeError, ValueError):
        text = repr(value)
    return text if len(text) <= limit else text[: limit - 3] + "..."


def _too_deep(what: str) -> _Fail:
    return _Fail(f"nesting too deep: {what} nests more than {MAX_NESTING_DEPTH} levels")


def _check_scalar(value: JSONValue) -> None:
    """Reject anything that is not a JSON scalar, so results always serialize."""
    if value is None or isinstance(value, (str, bool, int)):
        return
    if isinstance(value, float):
        if not math.isfinite(value):
            raise _Fail(f"{value!r} is not a JSON number", BAD_REQUEST)
        return
    raise _Fail(f"{type(value).__name__} is not a JSON value", BAD_REQUEST)


def _clone(
    value: JSONValue, max_depth: int, what: str, budget: _Budget | None = None
) -> JSONValue:
    """Deep-copy and validate a JSON value without recursion.

    Iterative so that hostile nesting can't exhaust the Python stack before the
    depth check fires; the copy is what keeps callers' objects unmutated and
    patch values unaliased in results.
    """
    if isinstance(value, dict):
        root: JSONValue = {}
    elif isinstance(value, list):
        root = []
    else:
        _check_scalar(value)
        if budget is not None:
            budget.spend(1)
        return value
    stack: list[tuple[Any, Any, int]] = [(value, root, 1)]
    count = 1
    while stack:
        src, dst, depth = stack.pop()
        if depth > max_depth:
            raise _too_deep(what)
        is_dict = isinstance(src, dict)
        count += len(src)
        for key, item in src.items() if is_dict else enumerate(src):
            if is_dict and not isinstance(key, str):
                raise _Fail(f"object key {key!r} is not a string", BAD_REQUEST)
            if isinstance(item, dict):
                child: JSONValue = {}
                stack.append((item, child, depth + 1))
            elif isinstance(item, list):
                child = []
                stack.append((item, child, depth + 1))
            else:
                _check_scalar(item)
                child = item
            if is_dict:
                dst[key] = child
            else:
                dst.append(child)
    if budget is not None:
        budget.spend(count)
    return root


def _depth(value: JSONValue, budget: _Budget) -> int:
    """Container nesting depth of a value (0 for scalars), charged to the budget."""
    deepest = 0
    stack = [(value, 1)] if isinstance(value, (dict, list)) else []
    while stack:
        node, depth = stack.pop()
        budget.spend(1 + len(node))
        deepest = max(deepest, depth)
        for item in node.values() if isinstance(node, dict) else node:
            if isinstance(item, (dict, list)):
                stack.append((item, depth + 1))
    return deepest


def json_equal(a: JSONValue, b: JSONValue) -> bool:
    """JSON equality as RFC 6902 "test" defines it.

    Unlike Python ``==``, booleans never equal numbers (``true`` != ``1``);
    numbers compare by value, so ``1`` equals ``1.0``.  Callers bound depth first.
    """
    if isinstance(a, bool) or isinstance(b, bool):
        return isinstance(a, bool) and isinstance(b, bool) and a == b
    if a is None or b is None:
        return a is None and b is None
    if isinstance(a, (int, float)) and isinstance(b, (int, float)):
        return a == b
    if isinstance(a, str) or isinstance(b, str):
        return isinstance(a, str) and isinstance(b, str) and a == b
    if isinstance(a, list) and isinstance(b, list):
        return len(a) == len(b) and all(json_equal(x, y) for x, y in zip(a, b))
    if isinstance(a, dict) and isinstance(b, dict):
        return a.keys() == b.keys() and all(json_equal(v, b[k]) for k, v in a.items())
    return False


# --------------------------------------------------------------------------- pointers


def escape_token(token: str) -> str:
    """Escape one reference token for use in a JSON Pointer (``~`` first, then ``/``)."""
    return token.replace("~", "~0").replace("/", "~1")


def _parse_pointer(pointer: Any, label: str) -> list[str]:
    if not isinstance(pointer, str):
        raise _Fail(f"{label} must be a string", BAD_REQUEST)
    if pointer == "":
        return []
    if not pointer.startswith("/"):
        raise _Fail(f"{label} {pointer!r} is not a JSON pointer: must be empty or start with '/'", BAD_REQUEST)
    if _BAD_ESCAPE.search(pointer):
        raise _Fail(f"{label} {pointer!r} has an invalid escape: '~' must be followed by 0 or 1", BAD_REQUEST)
    # Unescape ~1 before ~0 so "~01" becomes "~1", not "/".
    return [t.replace("~1", "/").replace("~0", "~") for t in pointer[1:].split("/")]


def parse_pointer(pointer: str) -> list[str]:
    """Split an RFC 6901 JSON Pointer into unescaped reference tokens."""
    try:
        return _parse_pointer(pointer, "pointer")
    except _Fail as e:
        raise PatchError(e.reason, path=pointer if isinstance(pointer, str) else None, code=e.code) from None


def _get(doc: JSONValue, tokens: list[str], label: str, pointer: str) -> JSONValue:
    """Value at ``tokens``; every step must exist."""
    node = doc
    for token in tokens:
        if isinstance(node, dict):
            if token not in node:
                raise _Fail(f"{label} {pointer!r} does not exist: no member {token!r}")
            node = node[token]
        elif isinstance(node, list):
            if token == "-":
                raise _Fail(f"{label} {pointer!r} does not exist: '-' names the element after the end of the array")
            node = node[_element(token, len(node), label, pointer)]
        else:
            raise _Fail(f"{label} {pointer!r} does not exist: cannot descend into {_short(node, 40)}")
    return node


def _element(token: str, length: int, label: str, pointer: str, insert: bool = False) -> int:
    """Index of an existing array element, or of an insertion point (up to ``length``)."""
    if not _ARRAY_INDEX.fullmatch(token):
        raise _Fail(f"{label} {pointer!r}: {token!r} is not a valid array index")
    bound = length + 1 if insert else length
    # Bound the digit count before int() so giant numerals cost nothing.
    if len(token) > len(str(bound)) or int(token) >= bound:
        raise _Fail(f"{label} {pointer!r}: array index {token} is out of range for an array of {length} elements")
    return int(token)


def _parent(doc: JSONValue, tokens: list[str], label: str, pointer: str) -> dict | list:
    """Container holding the last token of a non-empty pointer."""
    parent = _get(doc, tokens[:-1], label, pointer)
    if not isinstance(parent, (dict, list)):
        raise _Fail(f"{label} {pointer!r} does not exist: parent is {_short(parent, 40)}, not an object or array")
    return parent


def resolve_pointer(doc: JSONValue, pointer: str) -> JSONValue:
    """Value ``pointer`` refers to in ``doc`` (not a copy); PatchError if absent."""
    try:
        return _get(doc, _parse_pointer(pointer, "pointer"), "pointer", pointer)
    except _Fail as e:
        raise PatchError(e.reason, path=pointer if isinstance(pointer, str) else None, code=e.code) from None


# --------------------------------------------------------------------------- JSON Patch


def _add(doc: JSONValue, tokens: list[str], value: JSONValue, pointer: str) -> JSONValue:
    if not tokens:
        return value
    parent = _parent(doc, tokens, "path", pointer)
    key = tokens[-1]
    if isinstance(parent, dict):
        parent[key] = value
    elif key == "-":
        parent.append(value)
    else:
        # Insertion may target one past the last element.
        parent.insert(_element(key, len(parent), "path", pointer, insert=True), value)
    return doc


def _remove(doc: JSONValue, tokens: list[str], label: str, pointer: str) -> JSONValue:
    """Detach and return the value at ``tokens`` (which must exist)."""
    if not tokens:
        raise _Fail(f"{label} {pointer!r}: cannot remove the whole document")
    parent = _parent(doc, tokens, label, pointer)
    key = tokens[-1]
    if isinstance(parent, dict):
        if key not in parent:
            raise _Fail(f"{label} {pointer!r} does not exist: no member {key!r}")
        return parent.pop(key)
    if key == "-":
        raise _Fail(f"{label} {pointer!r} does not exist: '-' names the element after the end of the array")
    return parent.pop(_element(key, len(parent), label, pointer))


def _insert_depth(tokens: list[str], what: str) -> int:
    """Depth budget left for a value placed at ``tokens``."""
    room = MAX_NESTING_DEPTH - len(tokens)
    if room < 0:
        raise _too_deep(what)
    return room


def _apply_op(doc: JSONValue, op: Any, budget: _Budget) -> JSONValue:
    if not isinstance(op, dict):
        raise _Fail(f"operation must be an object, got {_short(op, 40)}", BAD_REQUEST)
    name = op.get("op")
    if name not in _OPS:
        if "op" not in op:
            raise _Fail("operation has no 'op' member", BAD_REQUEST)
        raise _Fail(f"unknown op {_short(name, 40)}; expected one of {', '.join(_OPS)}", BAD_REQUEST)
    if "path" not in op:
        raise _Fail("operation has no 'path' member", BAD_REQUEST)
    pointer = op["path"]
    tokens = _parse_pointer(pointer, "path")
    if name in _VALUE_OPS and "value" not in op:
        raise _Fail(f"'{name}' operation has no 'value' member", BAD_REQUEST)
    if name in _FROM_OPS:
        if "from" not in op:
            raise _Fail(f"'{name}' operation has no 'from' member", BAD_REQUEST)
        source = op["from"]
        from_tokens = _parse_pointer(source, "from")

    if name == "add":
        # Resolve the target before copying the value so a bad path reports first.
        if tokens:
            _parent(doc, tokens, "path", pointer)
        value = _clone(op["value"], _insert_depth(tokens, "value"), "value")
        return _add(doc, tokens, value, pointer)
    if name == "remove":
        _remove(doc, tokens, "path", pointer)
        return doc
    if name == "replace":
        _get(doc, tokens, "path", pointer)  # target must exist
        value = _clone(op["value"], _insert_depth(tokens, "value"), "value")
        if not tokens:
            return value
        parent = _parent(doc, tokens, "path", pointer)
        key = tokens[-1]
        parent[key if isinstance(parent, dict) else _element(key, len(parent), "path", pointer)] = value
        return doc
    if name == "test":
        actual = _get(doc, tokens, "path", pointer)
        expected = _clone(op["value"], MAX_NESTING_DEPTH, "value")
        if not json_equal(actual, expected):
            raise _Fail(f"test failed: expected {_short(expected)}, found {_short(actual)}")
        return doc
    if name == "copy":
        value = _get(doc, from_tokens, "from", source)
        if tokens:
            _parent(doc, tokens, "path", pointer)
        value = _clone(value, _insert_depth(tokens, "result"), "result", budget)
        return _add(doc, tokens, value, pointer)
    # move
    if from_tokens == tokens:
        _get(doc, from_tokens, "from", source)  # must exist; otherwise a no-op
        return doc
    if len(from_tokens) < len(tokens) and tokens[: len(from_tokens)] == from_tokens:
        raise _Fail(f"cannot move {source!r} into its own child {pointer!r}")
    if len(tokens) > len(from_tokens):
        # Moving deeper may push the subtree past the depth limit; measure it.
        subtree = _get(doc, from_tokens, "from", source)
        if len(tokens) + _depth(subtree, budget) > MAX_NESTING_DEPTH:
            raise _too_deep("result")
    value = _remove(doc, from_tokens, "from", source)
    return _add(doc, tokens, value, pointer)


def apply_json_patch(doc: JSONValue, patch: list) -> JSONValue:
    """Apply an RFC 6902 JSON Patch and return the new document.

    ``doc`` and ``patch`` are left untouched; operations run in order on a
    private copy, so either every operation succeeds or PatchError is raised
    (naming the operation index and path) and nothing changed.
    """
    if not isinstance(patch, list):
        raise PatchError(
            f"json patch must be an array of operations, got {type(patch).__name__}",
            code=BAD_REQUEST,
        )
    if len(patch) > MAX_PATCH_OPS:
        raise PatchError(
            f"patch too large: {len(patch)} operations exceed the limit of {MAX_PATCH_OPS}",
            code=TOO_LARGE,
        )
    try:
        result = _clone(doc, MAX_NESTING_DEPTH, "document")
    except _Fail as e:
        raise PatchError(e.reason, code=e.code) from None
    budget = _Budget(MAX_COPIED_VALUES)
    for i, op in enumerate(patch):
        try:
            result = _apply_op(result, op, budget)
        except _Fail as e:
            name = op.get("op") if isinstance(op, dict) else None
            path = op.get("path") if isinstance(op, dict) else None
            path = path if isinstance(path, str) else None
            label = f"{name} {path!r}" if isinstance(name, str) and path is not None else "malformed"
            raise PatchError(
                f"json patch operation {i} ({label}): {e.reason}",
                op_index=i,
                path=path,
                code=e.code,
                reason=e.reason,
            ) from None
    return result


# --------------------------------------------------------------------------- Merge Patch


def _merge(target: JSONValue, patch: JSONValue) -> JSONValue:
    """RFC 7386 MergePatch; both arguments are private copies it may reuse."""
    if not isinstance(patch, dict):
        return patch
    if not isinstance(target, dict):
        target = {}
    for key, value in patch.items():
        if value is None:
            target.pop(key, None)
        else:
            target[key] = _merge(target.get(key), value)
    return target


def apply_merge_patch(doc: JSONValue, patch: JSONValue) -> JSONValue:
    """Apply an RFC 7386 JSON Merge Patch and return the new document.

    Null members delete, objects merge recursively, anything else (arrays
    included) replaces the target whole.  Neither input is mutated.
    """
    try:
        target = _clone(doc, MAX_NESTING_DEPTH, "document")
        copy = _clone(patch, MAX_NESTING_DEPTH, "merge patch")
    except _Fail as e:
        raise PatchError(e.reason, code=e.code) from None
    return _merge(target, copy)


def _diff(original: JSONValue, modified: JSONValue) -> JSONValue:
    if not (isinstance(original, dict) and isinstance(modified, dict)):
        return modified
    patch: dict[str, JSONValue] = {key: None for key in original if key not in modified}
    for key, value in modified.items():
        if key not in original:
            patch[key] = value
            continue
        old = original[key]
        if isinstance(old, dict) and isinstance(value, dict):
            sub = _diff(old, value)
            if sub:
                patch[key] = sub
        elif not json_equal(old, value):
            patch[key] = value
    return patch


def create_merge_patch(original: JSONValue, modified: JSONValue) -> JSONValue:
    """The minimal merge patch turning ``original`` into ``modified`` (used by clients).

    Only changed members appear; removed members map to null; arrays and
    non-object values are sent whole.  ``apply_merge_patch(original, patch)``
    equals ``modified`` whenever ``modified`` has no object member whose value
    is null and differs from ``original``: merge patch spells "delete" as null, so
    "set to null" cannot be expressed (RFC 7386 limitation).  When either side is
    not an object the patch is ``modified`` itself.
    """
    try:
        old = _clone(original, MAX_NESTING_DEPTH, "original")
        new = _clone(modified, MAX_NESTING_DEPTH, "modified")
    except _Fail as e:
        raise PatchError(e.reason, code=e.code) from None
    return _diff(old, new)


# --------------------------------------------------------------------------- decoding


def _reject_duplicates(pairs: list[tuple[str, Any]]) -> dict[str, Any]:
    obj: dict[str, Any] = {}
    for key, value in pairs:
        if key in obj:
            raise _Fail(f"duplicate member {key!r} in a JSON object", BAD_REQUEST)
        obj[key] = value
    return obj


def _reject_constant(name: str) -> Any:
    raise _Fail(f"{name} is not valid JSON", BAD_REQUEST)


def decode_patch(raw: bytes | str) -> JSONValue:
    """Decode a PATCH request body strictly.

    Duplicate object members are rejected (a patch operation with two ``op``
    members is ambiguous, RFC 6902 A.13), as are NaN/Infinity, and nesting is
    checked before parsing so a hostile body can't exhaust the parser's stack.
    """
    try:
        text = raw.decode("utf-8") if isinstance(raw, (bytes, bytearray)) else raw
    except UnicodeDecodeError as e:
        raise PatchError(f"patch is not valid UTF-8: {e}", code=BAD_REQUEST) from None
    brackets = _NON_BRACKET.sub("", _JSON_STRING.sub('""', text))
    steps = (1 if c in "[{" else -1 for c in brackets)
    if max(accumulate(steps), default=0) > MAX_NESTING_DEPTH:
        raise PatchError(
            f"nesting too deep: patch nests more than {MAX_NESTING_DEPTH} levels", code=BAD_REQUEST
        )
    try:
        return json.loads(text, object_pairs_hook=_reject_duplicates, parse_constant=_reject_constant)
    except _Fail as e:
        raise PatchError(e.reason, code=e.code) from None
    except RecursionError:
        raise PatchError(
            f"nesting too deep: patch nests more than {MAX_NESTING_DEPTH} levels", code=BAD_REQUEST
        ) from None
    except ValueError as e:
        raise PatchError(f"patch is not valid JSON: {e}", code=BAD_REQUEST) from None
