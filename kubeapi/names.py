"""Object names, ``generateName``, labels and annotations, validated as the API server does.

Names end up in URL paths, DNS records (Services, Pods' hostnames, Namespaces) and label
values, so each kind restricts them to a DNS-1123 subdomain, a DNS-1123 label or a DNS-1035
label, and every name must additionally be usable as a URL path segment. The messages match
upstream word for word because kubectl shows them to users unchanged.

Label keys and values reuse the qualified-name and label-value checks of
:mod:`kubeapi.selectors`, so a label accepted on an object is always usable in a selector.

Pure and synchronous: no I/O, no Ray.
"""
from __future__ import annotations

import random
import re
from typing import Callable, Mapping

from kubeapi.field import ErrorList, Path, PathLike, invalid, required, too_long, type_invalid
from kubeapi.selectors import (
    _DNS1123_LABEL_FMT,
    _DNS1123_SUBDOMAIN_FMT,
    _max_len_error,
    _regex_error,
    dns1123_subdomain_errors,
    label_value_errors,
    qualified_name_errors,
)

__all__ = [
    "DNS1035_LABEL",
    "DNS1123_LABEL",
    "DNS1123_SUBDOMAIN",
    "GENERATE_NAME_ALPHABET",
    "MAX_GENERATED_NAME_LENGTH",
    "NameRule",
    "PATH_SEGMENT",
    "TOTAL_ANNOTATION_SIZE_LIMIT",
    "generate_name",
    "is_dns1035_label",
    "is_dns1123_label",
    "is_dns1123_subdomain",
    "is_valid_path_segment_name",
    "is_valid_path_segment_prefix",
    "name_is_dns1035_label",
    "name_is_dns1123_label",
    "name_is_dns1123_subdomain",
    "name_is_path_segment",
    "name_rule_for_kind",
    "validate_annotations",
    "validate_labels",
    "validate_name_fields",
    "validate_object_name",
]

# fullmatch, not re.match with "$": Python's "$" also matches before a trailing newline.
_DNS1123_LABEL_MAX = 63
_DNS1123_LABEL_RE = re.compile(_DNS1123_LABEL_FMT)
_DNS1123_LABEL_MSG = ("a lowercase RFC 1123 label must consist of lower case alphanumeric characters or '-', "
                      "and must start and end with an alphanumeric character")
_DNS1123_SUBDOMAIN_RE = re.compile(_DNS1123_SUBDOMAIN_FMT)

_DNS1035_LABEL_FMT = "[a-z]([-a-z0-9]*[a-z0-9])?"
_DNS1035_LABEL_RE = re.compile(_DNS1035_LABEL_FMT)
_DNS1035_LABEL_MAX = 63
_DNS1035_LABEL_MSG = ("a DNS-1035 label must consist of lower case alphanumeric characters or '-', "
                      "start with an alphabetic character, and end with an alphanumeric character")


def _byte_len(s: str) -> int:
    # Upstream limits count bytes of the UTF-8 encoding, not characters.
    return len(s.encode("utf-8", "surrogatepass"))


def is_dns1123_label(value: str) -> list[str]:
    """Why ``value`` is not a DNS-1123 label (Namespace names, hostnames), or ``[]``."""
    errs: list[str] = []
    if _byte_len(value) > _DNS1123_LABEL_MAX:
        errs.append(_max_len_error(_DNS1123_LABEL_MAX))
    if not _DNS1123_LABEL_RE.fullmatch(value):
        if _DNS1123_SUBDOMAIN_RE.fullmatch(value):
            # A valid subdomain that is not a label: the length was checked, so it is the dots.
            errs.append("must not contain dots")
        else:
            errs.append(_regex_error(_DNS1123_LABEL_MSG, _DNS1123_LABEL_FMT, "my-name", "123-abc"))
    return errs


def is_dns1123_subdomain(value: str) -> list[str]:
    """Why ``value`` is not a DNS-1123 subdomain (most object names), or ``[]``."""
    return dns1123_subdomain_errors(value)


def is_dns1035_label(value: str) -> list[str]:
    """Why ``value`` is not a DNS-1035 label (Service names: must start with a letter), or ``[]``."""
    errs: list[str] = []
    if _byte_len(value) > _DNS1035_LABEL_MAX:
        errs.append(_max_len_error(_DNS1035_LABEL_MAX))
    if not _DNS1035_LABEL_RE.fullmatch(value):
        errs.append(_regex_error(_DNS1035_LABEL_MSG, _DNS1035_LABEL_FMT, "my-name", "abc-123"))
    return errs


_NAME_MAY_NOT_BE = (".", "..")
_NAME_MAY_NOT_CONTAIN = ("/", "%")


def is_valid_path_segment_name(name: str) -> list[str]:
    """Why ``name`` cannot be a URL path segment (``.``, ``..``, contains ``/`` or ``%``), or ``[]``."""
    if name in _NAME_MAY_NOT_BE:
        return [f"may not be '{name}'"]
    return is_valid_path_segment_prefix(name)


def is_valid_path_segment_prefix(prefix: str) -> list[str]:
    """Like :func:`is_valid_path_segment_name` for a ``generateName`` prefix (``.`` is fine there)."""
    return [f"may not contain '{c}'" for c in _NAME_MAY_NOT_CONTAIN if c in prefix]


# --------------------------------------------------------------------------------------------
# Per-kind name rules
# --------------------------------------------------------------------------------------------

NameRule = Callable[[str, bool], list[str]]
"""``rule(name, prefix) -> messages``; ``prefix`` is True when checking a ``generateName``."""


def _mask_trailing_dash(name: str) -> str:
    # A generateName prefix may end in "-" because random characters follow. Upstream makes
    # it checkable by replacing the last *two* characters with "a"; kept for identical results.
    if len(name) > 1 and name.endswith("-"):
        return name[:-2] + "a"
    return name


def name_is_dns1123_subdomain(name: str, prefix: bool) -> list[str]:
    """Rule for most kinds (Pods, ConfigMaps, Deployments, custom resources, ...)."""
    return is_dns1123_subdomain(_mask_trailing_dash(name) if prefix else name)


def name_is_dns1123_label(name: str, prefix: bool) -> list[str]:
    """Rule for kinds whose name becomes a single DNS label (Namespaces, StatefulSets)."""
    return is_dns1123_label(_mask_trailing_dash(name) if prefix else name)


def name_is_dns1035_label(name: str, prefix: bool) -> list[str]:
    """Rule for Services, whose names become DNS labels that must start with a letter."""
    return is_dns1035_label(_mask_trailing_dash(name) if prefix else name)


def name_is_path_segment(name: str, prefix: bool) -> list[str]:
    """Rule for kinds that allow any URL-safe name (RBAC roles and bindings: ``system:...``)."""
    return is_valid_path_segment_prefix(name) if prefix else is_valid_path_segment_name(name)


DNS1123_SUBDOMAIN: NameRule = name_is_dns1123_subdomain
DNS1123_LABEL: NameRule = name_is_dns1123_label
DNS1035_LABEL: NameRule = name_is_dns1035_label
PATH_SEGMENT: NameRule = name_is_path_segment


_NAME_RULES: dict[str, NameRule] = {
    "Namespace": DNS1123_LABEL,
    "StatefulSet": DNS1123_LABEL,
    "Service": DNS1035_LABEL,
    "Role": PATH_SEGMENT,
    "ClusterRole": PATH_SEGMENT,
    "RoleBinding": PATH_SEGMENT,
    "ClusterRoleBinding": PATH_SEGMENT,
}


def name_rule_for_kind(kind: str) -> NameRule:
    """The name rule upstream applies to ``kind``; DNS-1123 subdomain unless known otherwise."""
    return _NAME_RULES.get(kind, DNS1123_SUBDOMAIN)


def validate_object_name(kind_rule: NameRule | str, name: str, prefix: bool = False) -> list[str]:
    """Why ``name`` (or a ``generateName`` prefix, if ``prefix``) is not acceptable, or ``[]``.

    ``kind_rule`` is a rule or a Kind name. The kind's own rule runs first; only if it passes
    is the name checked as a URL path segment, which is the order (and the message set) the
    API server produces.
    """
    rule = name_rule_for_kind(kind_rule) if isinstance(kind_rule, str) else kind_rule
    errs = rule(name, prefix)
    if not errs and rule is not PATH_SEGMENT:
        errs = PATH_SEGMENT(name, prefix)
    return errs


def validate_name_fields(name: str, generate_name: str, kind_rule: NameRule | str,
                         path: PathLike = None) -> ErrorList:
    """Field errors for ``metadata.name`` / ``metadata.generateName`` of a new object.

    Call after generating a name if one was requested (a name is then present); a bad
    ``generateName`` is reported even so, because the generated name inherits its problem.
    """
    base = path if isinstance(path, Path) else Path(path or "metadata")
    errs = ErrorList()
    if generate_name:
        errs.extend(invalid(base.child("generateName"), generate_name, m)
                    for m in validate_object_name(kind_rule, generate_name, prefix=True))
    if not name:
        errs.append(required(base.child("name"), "name or generateName is required"))
    else:
        errs.extend(invalid(base.child("name"), name, m) for m in validate_object_name(kind_rule, name))
    return errs


# --------------------------------------------------------------------------------------------
# generateName
# --------------------------------------------------------------------------------------------

GENERATE_NAME_ALPHABET = "bcdfghjklmnpqrstvwxz2456789"  # no vowels (no words), no 0/1/3 look-alikes
_RANDOM_LENGTH = 5
_MAX_NAME_LENGTH = 63
MAX_GENERATED_NAME_LENGTH = _MAX_NAME_LENGTH - _RANDOM_LENGTH

_default_rng = random.Random()


def generate_name(base: str, rng: random.Random | None = None) -> str:
    """``base`` plus five random characters, ``base`` cut so the result fits in 63 characters.

    Pass a seeded ``rng`` for reproducible names (simulation and tests). The name is not
    checked for collisions; the store's create does that.
    """
    r = rng if rng is not None else _default_rng
    return base[:MAX_GENERATED_NAME_LENGTH] + "".join(r.choice(GENERATE_NAME_ALPHABET)
                                                      for _ in range(_RANDOM_LENGTH))


# --------------------------------------------------------------------------------------------
# Labels and annotations
# --------------------------------------------------------------------------------------------

TOTAL_ANNOTATION_SIZE_LIMIT = 256 * 1024  # bytes of all keys and values together


def validate_labels(labels: Mapping[str, str] | None, path: PathLike = None) -> ErrorList:
    """Field errors for a label map: keys must be qualified names, values valid label values.

    Errors are reported against the map's path itself (``metadata.labels``), as upstream, with
    the offending key or value as the bad value; keys are visited in sorted order so the
    messages are deterministic.
    """
    p = path if path is not None else Path("metadata", "labels")
    errs = ErrorList()
    labels = labels or {}
    for k in sorted(labels, key=str):
        v = labels[k]
        if not isinstance(k, str) or not isinstance(v, str):
            errs.append(type_invalid(p, {str(k): v}, "label keys and values must be strings"))
            continue
        errs.extend(invalid(p, k, m) for m in qualified_name_errors(k))
        errs.extend(invalid(p, v, m) for m in label_value_errors(v))
    return errs


def validate_annotations(annotations: Mapping[str, str] | None, path: PathLike = None) -> ErrorList:
    """Field errors for an annotation map.

    Keys follow the qualified-name rule case-insensitively (``Example.com/Key`` is fine); the
    total size of all keys and values is capped at 256 KiB so annotations cannot bloat objects
    that every watcher receives.
    """
    p = path if path is not None else Path("metadata", "annotations")
    annotations = annotations or {}
    errs = ErrorList()
    total = 0
    for k in sorted(annotations, key=str):
        if not isinstance(k, str) or not isinstance(annotations[k], str):
            errs.append(type_invalid(p, {str(k): annotations[k]}, "annotation keys and values must be strings"))
            continue
        errs.extend(invalid(p, k, m) for m in qualified_name_errors(k.lower()))
        total += _byte_len(k) + _byte_len(annotations[k])
    if total > TOTAL_ANNOTATION_SIZE_LIMIT:
        errs.append(too_long(p, TOTAL_ANNOTATION_SIZE_LIMIT))
    return errs
