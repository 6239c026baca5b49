"""Object names, generateName, labels and annotations: upstream rules and exact messages."""
from __future__ import annotations

import random

import pytest

from kubeapi import names
from kubeapi.field import ErrorType, Path

LABEL_MSG = ("a lowercase RFC 1123 label must consist of lower case alphanumeric characters or '-', and must "
             "start and end with an alphanumeric character (e.g. 'my-name',  or '123-abc', regex used for "
             "validation is '[a-z0-9]([-a-z0-9]*[a-z0-9])?')")
SUBDOMAIN_MSG = ("a lowercase RFC 1123 subdomain must consist of lower case alphanumeric characters, '-' or '.', "
                 "and must start and end with an alphanumeric character (e.g. 'example.com', regex used for "
                 "validation is '[a-z0-9]([-a-z0-9]*[a-z0-9])?(\\.[a-z0-9]([-a-z0-9]*[a-z0-9])?)*')")
DNS1035_MSG = ("a DNS-1035 label must consist of lower case alphanumeric characters or '-', start with an "
               "alphabetic character, and end with an alphanumeric character (e.g. 'my-name',  or 'abc-123', "
               "regex used for validation is '[a-z]([-a-z0-9]*[a-z0-9])?')")
QNAME_PART_MSG = ("name part must consist of alphanumeric characters, '-', '_' or '.', and must start and end "
                  "with an alphanumeric character (e.g. 'MyName',  or 'my.name',  or '123-abc', regex used for "
                  "validation is '([A-Za-z0-9][-A-Za-z0-9_.]*)?[A-Za-z0-9]')")
LABEL_VALUE_MSG = ("a valid label must be an empty string or consist of alphanumeric characters, '-', '_' or '.', "
                   "and must start and end with an alphanumeric character (e.g. 'MyValue',  or 'my_value',  or "
                   "'12345', regex used for validation is '(([A-Za-z0-9][-A-Za-z0-9_.]*)?[A-Za-z0-9])?')")


def too_long(n: int) -> str:
    return f"must be no more than {n} characters"


# --------------------------------------------------------------------------------------------
# DNS names
# --------------------------------------------------------------------------------------------


@pytest.mark.parametrize("value, expected", [
    ("a", []),
    ("my-name", []),
    ("123-abc", []),
    ("0", []),
    ("a" * 63, []),
    ("a" * 64, [too_long(63)]),
    ("a." + "b" * 62, [too_long(63), "must not contain dots"]),
    ("a.b", ["must not contain dots"]),
    ("", [LABEL_MSG]),
    ("A", [LABEL_MSG]),
    ("-a", [LABEL_MSG]),
    ("a-", [LABEL_MSG]),
    ("a_b", [LABEL_MSG]),
    ("a\n", [LABEL_MSG]),
    ("-" * 64, [too_long(63), LABEL_MSG]),
    ("é", [LABEL_MSG]),
])
def test_dns1123_label(value: str, expected: list[str]) -> None:
    assert names.is_dns1123_label(value) == expected


@pytest.mark.parametrize("value, expected", [
    ("example.com", []),
    ("a", []),
    ("a.b.c-d.e1", []),
    ("a" * 253, []),
    (".".join(["a" * 63] * 4)[:253], []),
    ("a" * 254, [too_long(253)]),
    ("", [SUBDOMAIN_MSG]),
    ("Example.com", [SUBDOMAIN_MSG]),
    ("a..b", [SUBDOMAIN_MSG]),
    (".a", [SUBDOMAIN_MSG]),
    ("a.", [SUBDOMAIN_MSG]),
    ("a-.b", [SUBDOMAIN_MSG]),
    ("a/b", [SUBDOMAIN_MSG]),
    ("a\n", [SUBDOMAIN_MSG]),
    ("A" * 254, [too_long(253), SUBDOMAIN_MSG]),
])
def test_dns1123_subdomain(value: str, expected: list[str]) -> None:
    assert names.is_dns1123_subdomain(value) == expected


@pytest.mark.parametrize("value, expected", [
    ("my-name", []),
    ("abc-123", []),
    ("a" * 63, []),
    ("a" * 64, [too_long(63)]),
    ("123-abc", [DNS1035_MSG]),
    ("a.b", [DNS1035_MSG]),
    ("Web", [DNS1035_MSG]),
    ("web-", [DNS1035_MSG]),
    ("", [DNS1035_MSG]),
])
def test_dns1035_label(value: str, expected: list[str]) -> None:
    assert names.is_dns1035_label(value) == expected


@pytest.mark.parametrize("value, as_name, as_prefix", [
    ("ok", [], []),
    ("system:controller:x", [], []),
    (".", ["may not be '.'"], []),
    ("..", ["may not be '..'"], []),
    ("...", [], []),
    ("a/b", ["may not contain '/'"], ["may not contain '/'"]),
    ("a%b", ["may not contain '%'"], ["may not contain '%'"]),
    ("/%", ["may not contain '/'", "may not contain '%'"], ["may not contain '/'", "may not contain '%'"]),
])
def test_path_segment(value: str, as_name: list[str], as_prefix: list[str]) -> None:
    assert names.is_valid_path_segment_name(value) == as_name
    assert names.is_valid_path_segment_prefix(value) == as_prefix


# --------------------------------------------------------------------------------------------
# Object names per kind
# --------------------------------------------------------------------------------------------


@pytest.mark.parametrize("rule, name, prefix, expected", [
    ("Pod", "web-0", False, []),
    ("Pod", "web.example", False, []),
    ("Pod", "Web", False, [SUBDOMAIN_MSG]),
    ("ConfigMap", "a" * 254, False, [too_long(253)]),
    ("Pod", "web-", True, []),           # a generateName prefix may end in '-'
    ("Pod", "web-", False, [SUBDOMAIN_MSG]),
    ("Pod", "a-", True, []),
    ("Pod", "-", True, [SUBDOMAIN_MSG]),  # a lone '-' is not masked
    ("Namespace", "kube-system", False, []),
    ("Namespace", "a.b", False, ["must not contain dots"]),
    ("StatefulSet", "db.x", False, ["must not contain dots"]),
    ("Service", "1web", False, [DNS1035_MSG]),
    ("Service", "web", False, []),
    ("Service", "web-", True, []),
    ("ClusterRole", "system:controller:job", False, []),
    ("ClusterRole", "..", False, ["may not be '..'"]),
    ("ClusterRole", "a/b", True, ["may not contain '/'"]),
    (names.DNS1123_LABEL, "x", False, []),
    (names.PATH_SEGMENT, "Any Name!", False, []),
])
def test_validate_object_name(rule: names.NameRule | str, name: str, prefix: bool, expected: list[str]) -> None:
    assert names.validate_object_name(rule, name, prefix) == expected


def test_prefix_mask_replaces_last_two_characters() -> None:
    # Upstream replaces the last *two* characters of a dash-terminated prefix with "a", so the
    # character before the dash is never checked: "ab-" -> "aa", "a.-" -> "aa", "a..-" -> "a.a",
    # "A-" -> "a" (the invalid 'A' is masked away) but "AB-" -> "Aa" is still caught.
    assert names.validate_object_name("Pod", "a..-", True) == []
    assert names.validate_object_name("Pod", "a.-", True) == []
    assert names.validate_object_name("Pod", "ab-", True) == []
    assert names.validate_object_name("Pod", "A-", True) == []      # "A-" -> "a": the bad 'A' is masked away
    assert names.validate_object_name("Pod", "AB-", True) == [SUBDOMAIN_MSG]


def test_path_segment_rules_apply_after_a_passing_kind_rule() -> None:
    # Every name must also be a URL path segment, whatever the kind's own rule allows.
    def permissive(name: str, prefix: bool) -> list[str]:
        return []

    def strict(name: str, prefix: bool) -> list[str]:
        return ["nope"]

    assert names.validate_object_name(permissive, "a/b") == ["may not contain '/'"]
    assert names.validate_object_name(permissive, "..") == ["may not be '..'"]
    assert names.validate_object_name(permissive, "..", prefix=True) == []
    assert names.validate_object_name(strict, "a/b") == ["nope"]  # kind rule errors come alone


def test_kind_rules() -> None:
    assert names.name_rule_for_kind("Service") is names.DNS1035_LABEL
    assert names.name_rule_for_kind("Namespace") is names.DNS1123_LABEL
    assert names.name_rule_for_kind("RoleBinding") is names.PATH_SEGMENT
    assert names.name_rule_for_kind("Widget") is names.DNS1123_SUBDOMAIN


@pytest.mark.parametrize("name, generate_name, rule, messages", [
    ("web", "", "Pod", []),
    ("web-x7k2p", "web-", "Pod", []),
    ("", "", "Pod", ["metadata.name: Required value: name or generateName is required"]),
    ("Bad", "", "Pod", [f'metadata.name: Invalid value: "Bad": {SUBDOMAIN_MSG}']),
    ("", "Bad", "Pod", [f'metadata.generateName: Invalid value: "Bad": {SUBDOMAIN_MSG}',
                        "metadata.name: Required value: name or generateName is required"]),
    ("a.b", "", "Namespace", ['metadata.name: Invalid value: "a.b": must not contain dots']),
])
def test_validate_name_fields(name: str, generate_name: str, rule: str, messages: list[str]) -> None:
    errs = names.validate_name_fields(name, generate_name, rule)
    assert [e.error() for e in errs] == messages


def test_validate_name_fields_custom_path() -> None:
    errs = names.validate_name_fields("", "", "Pod", Path("spec", "template", "metadata"))
    assert [e.field for e in errs] == ["spec.template.metadata.name"]
    assert errs[0].type is ErrorType.REQUIRED


# --------------------------------------------------------------------------------------------
# generateName
# --------------------------------------------------------------------------------------------


def test_generate_name_alphabet_and_shape() -> None:
    assert names.GENERATE_NAME_ALPHABET == "bcdfghjklmnpqrstvwxz2456789"
    assert names.MAX_GENERATED_NAME_LENGTH == 58
    rng = random.Random(0)
    seen: set[str] = set()
    for _ in range(200):
        n = names.generate_name("web-", rng)
        assert n.startswith("web-") and len(n) == 9
        suffix = n[4:]
        assert set(suffix) <= set(names.GENERATE_NAME_ALPHABET)
        assert names.is_dns1123_label(n) == []
        seen.update(suffix)
    assert len(seen) > 20  # the whole alphabet is used, not a fixed subset


def test_generate_name_is_deterministic_with_seed() -> None:
    a = names.generate_name("pod-", random.Random(42))
    b = names.generate_name("pod-", random.Random(42))
    expected_rng = random.Random(42)
    expected = "pod-" + "".join(expected_rng.choice("bcdfghjklmnpqrstvwxz2456789") for _ in range(5))
    assert a == b == expected
    assert names.generate_name("pod-", random.Random(43)) != a


@pytest.mark.parametrize("base, kept", [
    ("", ""),
    ("x" * 58, "x" * 58),
    ("x" * 59, "x" * 58),
    ("y" * 100, "y" * 58),
])
def test_generate_name_truncates_base(base: str, kept: str) -> None:
    n = names.generate_name(base, random.Random(1))
    assert n[:-5] == kept and len(n) == len(kept) + 5 <= 63


# --------------------------------------------------------------------------------------------
# Labels and annotations
# --------------------------------------------------------------------------------------------


@pytest.mark.parametrize("labels, messages", [
    ({}, []),
    (None, []),
    ({"app": "web", "example.com/tier": "front_end.1", "empty": ""}, []),
    ({"app": "-web"}, [f'metadata.labels: Invalid value: "-web": {LABEL_VALUE_MSG}']),
    ({"app": "v" * 64}, [f'metadata.labels: Invalid value: "{"v" * 64}": {too_long(63)}']),
    ({"bad key": "x"}, [f'metadata.labels: Invalid value: "bad key": {QNAME_PART_MSG}']),
    ({"/x": "y"}, ['metadata.labels: Invalid value: "/x": prefix part must be non-empty']),
    # keys are visited in sorted order, key errors before value errors
    ({"z_": "ok", "a": "bad!"}, [f'metadata.labels: Invalid value: "bad!": {LABEL_VALUE_MSG}',
                                 f'metadata.labels: Invalid value: "z_": {QNAME_PART_MSG}']),
])
def test_validate_labels(labels: dict | None, messages: list[str]) -> None:
    errs = names.validate_labels(labels)
    assert [e.error() for e in errs] == messages
    assert all(e.type is ErrorType.INVALID for e in errs)


def test_validate_labels_path_and_type_guard() -> None:
    errs = names.validate_labels({"a": 1}, Path("spec", "template", "metadata", "labels"))  # type: ignore[dict-item]
    assert [e.error() for e in errs] == [
        'spec.template.metadata.labels: Invalid value: {"a":1}: label keys and values must be strings']


@pytest.mark.parametrize("annotations, messages", [
    ({}, []),
    ({"kubectl.kubernetes.io/last-applied-configuration": "{}", "Example.COM/Key": "v"}, []),
    ({"bad key": "v"}, [f'metadata.annotations: Invalid value: "bad key": {QNAME_PART_MSG}']),
    ({"a": "x" * (262144 - 1)}, []),
    ({"a": "x" * 262144}, ["metadata.annotations: Too long: may not be more than 262144 bytes"]),
    # the limit counts UTF-8 bytes of keys and values together, across all entries
    ({"a": "é" * 131071, "b": ""}, []),
    ({"a": "é" * 131072}, ["metadata.annotations: Too long: may not be more than 262144 bytes"]),
    ({"a": "x" * 131072, "b": "x" * 131071}, ["metadata.annotations: Too long: may not be more than 262144 bytes"]),
])
def test_validate_annotations(annotations: dict, messages: list[str]) -> None:
    errs = names.validate_annotations(annotations)
    assert [e.error() for e in errs] == messages


def test_annotation_size_error_shape() -> None:
    errs = names.validate_annotations({"k": "v" * 300000}, Path("metadata", "annotations"))
    assert len(errs) == 1
    assert errs[0].to_cause() == {"reason": "FieldValueTooLong",
                                  "message": "Too long: may not be more than 262144 bytes",
                                  "field": "metadata.annotations"}
    assert names.TOTAL_ANNOTATION_SIZE_LIMIT == 262144
