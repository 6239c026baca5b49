"""Label selectors and field selectors, with the syntax and semantics of the Kubernetes API.

Every list and watch in the API server, every controller's "which pods are mine", and every
Service's endpoint set is decided by these two small languages, so they have to agree with
upstream byte for byte: a selector that parses here must parse there, match the same objects
and print in the same canonical form (the canonical string is what clients and caches key on).

Label selectors (``app=web,tier in (fe,be),!canary,gen>3``):

* :func:`parse_label_selector` parses the query-string form;
* :func:`label_selector_from_dict` converts the API object form (``matchLabels`` /
  ``matchExpressions``) and validates it with field paths such as
  ``spec.selector.matchExpressions[0].values``;
* :class:`LabelSelector` matches a label map and prints itself canonically.

Field selectors (``metadata.name=web,status.phase!=Running``):

* :func:`parse_field_selector` parses them, honouring the ``\\``-escapes of ``\\``, ``,`` and ``=``;
* :func:`object_fields` extracts the fields a kind exposes for selection, and
  :func:`validate_fields` rejects a selector naming any other field, as the API server does.

Everything here is pure and synchronous: no I/O, no clocks, no Ray.
"""
from __future__ import annotations

import json
import re
from dataclasses import dataclass
from enum import Enum
from typing import Any, Iterable, Mapping, Sequence

__all__ = [
    "FieldRequirement",
    "FieldSelector",
    "LabelSelector",
    "Operator",
    "Requirement",
    "SelectorError",
    "escape_field_value",
    "everything",
    "label_selector_from_dict",
    "label_value_errors",
    "new_requirement",
    "nothing",
    "object_fields",
    "parse_field_selector",
    "parse_label_selector",
    "qualified_name_errors",
    "selector_from_set",
    "supported_field_labels",
    "unescape_field_value",
    "validate_fields",
]


class SelectorError(ValueError):
    """A selector that cannot be parsed, is invalid, or names an unsupported field.

    A ``ValueError`` so that API handlers can turn it into a 400 Bad Request without knowing
    about selectors; ``errors`` keeps the individual messages when several were found at once.
    """

    def __init__(self, message: str, errors: Sequence[str] | None = None) -> None:
        super().__init__(message)
        self.errors: list[str] = list(errors) if errors else [message]


def _aggregate(errors: Sequence[str]) -> str:
    """Join several messages the way the API server reports an aggregate of errors."""
    return errors[0] if len(errors) == 1 else "[" + ", ".join(errors) + "]"


def _raise_if(errors: Sequence[str], prefix: str = "") -> None:
    if errors:
        raise SelectorError(prefix + _aggregate(errors), errors)


# --------------------------------------------------------------------------------------------
# Name and value validation (the rules of qualified names and label values)
# --------------------------------------------------------------------------------------------

_QNAME_CHAR = "[A-Za-z0-9]"
_QNAME_EXT_CHAR = "[-A-Za-z0-9_.]"
_QNAME_FMT = f"({_QNAME_CHAR}{_QNAME_EXT_CHAR}*)?{_QNAME_CHAR}"
_QNAME_RE = re.compile(f"^{_QNAME_FMT}$")
_QNAME_MAX = 63
_QNAME_MSG = ("must consist of alphanumeric characters, '-', '_' or '.', "
              "and must start and end with an alphanumeric character")

_LABEL_VALUE_FMT = f"({_QNAME_FMT})?"
_LABEL_VALUE_RE = re.compile(f"^{_LABEL_VALUE_FMT}$")
_LABEL_VALUE_MAX = 63
_LABEL_VALUE_MSG = ("a valid label must be an empty string or consist of alphanumeric characters, "
                    "'-', '_' or '.', and must start and end with an alphanumeric character")

_DNS1123_LABEL_FMT = "[a-z0-9]([-a-z0-9]*[a-z0-9])?"
_DNS1123_SUBDOMAIN_FMT = f"{_DNS1123_LABEL_FMT}(\\.{_DNS1123_LABEL_FMT})*"
_DNS1123_SUBDOMAIN_RE = re.compile(f"^{_DNS1123_SUBDOMAIN_FMT}$")
_DNS1123_SUBDOMAIN_MAX = 253
_DNS1123_SUBDOMAIN_MSG = ("a lowercase RFC 1123 subdomain must consist of lower case alphanumeric "
                          "characters, '-' or '.', and must start and end with an alphanumeric character")


def _regex_error(msg: str, fmt: str, *examples: str) -> str:
    """Spell a regex failure with examples, in the wording clients already recognise."""
    if not examples:
        return f"{msg} (regex used for validation is '{fmt}')"
    shown = " or ".join(f"'{e}', " for e in examples)
    return f"{msg} (e.g. {shown}regex used for validation is '{fmt}')"


def _max_len_error(n: int) -> str:
    return f"must be no more than {n} characters"


def dns1123_subdomain_errors(value: str) -> list[str]:
    """Why ``value`` is not a DNS-1123 subdomain (label key prefixes, most
    object names), or ``[]``. Lengths count bytes, as upstream's do."""
    errs: list[str] = []
    if len(value.encode()) > _DNS1123_SUBDOMAIN_MAX:
        errs.append(_max_len_error(_DNS1123_SUBDOMAIN_MAX))
    if not _DNS1123_SUBDOMAIN_RE.fullmatch(value):
        errs.append(_regex_error(_DNS1123_SUBDOMAIN_MSG, _DNS1123_SUBDOMAIN_FMT, "example.com"))
    return errs


def qualified_name_errors(value: str) -> list[str]:
    """Why ``value`` is not a qualified name (label key), or ``[]`` if it is one.

    A qualified name is ``[prefix/]name``: the optional prefix a DNS-1123 subdomain, the name
    at most 63 characters of ``[-A-Za-z0-9_.]`` starting and ending alphanumeric.
    """
    errs: list[str] = []
    parts = value.split("/")
    if len(parts) == 1:
        name = parts[0]
    elif len(parts) == 2:
        prefix, name = parts
        if not prefix:
            errs.append("prefix part must be non-empty")
        else:
            errs.extend("prefix part " + m for m in dns1123_subdomain_errors(prefix))
    else:
        return ["a qualified name " + _regex_error(_QNAME_MSG, _QNAME_FMT, "MyName", "my.name", "123-abc")
                + " with an optional DNS subdomain prefix and '/' (e.g. 'example.com/MyName')"]
    if not name:
        errs.append("name part must be non-empty")
    elif len(name) > _QNAME_MAX:
        errs.append("name part " + _max_len_error(_QNAME_MAX))
    if not _QNAME_RE.fullmatch(name):
        errs.append("name part " + _regex_error(_QNAME_MSG, _QNAME_FMT, "MyName", "my.name", "123-abc"))
    return errs


def label_value_errors(value: str) -> list[str]:
    """Why ``value`` is not a valid label value (empty is valid), or ``[]``."""
    errs: list[str] = []
    if len(value) > _LABEL_VALUE_MAX:
        errs.append(_max_len_error(_LABEL_VALUE_MAX))
    if not _LABEL_VALUE_RE.fullmatch(value):
        errs.append(_regex_error(_LABEL_VALUE_MSG, _LABEL_VALUE_FMT, "MyValue", "my_value", "12345"))
    return errs


def _fmt_value(value: Any) -> str:
    """Render a bad value inside an error: strings quoted, collections as JSON."""
    try:
        return json.dumps(value)
    except (TypeError, ValueError):
        return repr(value)


def _invalid(path: str, value: Any, detail: str) -> str:
    return f"{path}: Invalid value: {_fmt_value(value)}: {detail}"


def _required(path: str, detail: str) -> str:
    return f"{path}: Required value: {detail}"


def _forbidden(path: str, detail: str) -> str:
    return f"{path}: Forbidden: {detail}"


def _child(path: str, name: str) -> str:
    return f"{path}.{name}" if path else name


_INT64_RE = re.compile(r"^[+-]?[0-9]+$")


def _parse_int64(s: str) -> int | None:
    """Parse a base-10 int64 strictly (no spaces or underscores, unlike ``int()``)."""
    if not _INT64_RE.fullmatch(s):
        return None
    n = int(s)
    return n if -(2**63) <= n < 2**63 else None


# --------------------------------------------------------------------------------------------
# Label selector model
# --------------------------------------------------------------------------------------------


class Operator(str, Enum):
    """Requirement operators; the values are the spellings used in errors and by ``in``/``notin``."""

    IN = "in"
    NOT_IN = "notin"
    EQUALS = "="
    DOUBLE_EQUALS = "=="
    NOT_EQUALS = "!="
    GREATER_THAN = "gt"
    LESS_THAN = "lt"
    EXISTS = "exists"
    DOES_NOT_EXIST = "!"


_BINARY_OPERATORS = (Operator.IN, Operator.NOT_IN, Operator.EQUALS, Operator.DOUBLE_EQUALS,
                     Operator.NOT_EQUALS, Operator.GREATER_THAN, Operator.LESS_THAN)
_UNARY_OPERATORS = (Operator.EXISTS, Operator.DOES_NOT_EXIST)
_EXPECTED_BINARY = ", ".join(op.value for op in _BINARY_OPERATORS)

# How each operator is written between key and value(s) in the canonical string.
_INFIX = {
    Operator.EQUALS: "=", Operator.DOUBLE_EQUALS: "==", Operator.NOT_EQUALS: "!=",
    Operator.IN: " in ", Operator.NOT_IN: " notin ",
    Operator.GREATER_THAN: ">", Operator.LESS_THAN: "<",
}


@dataclass(frozen=True)
class Requirement:
    """One ``key op values`` term; a selector is the AND of its requirements.

    ``values`` is kept sorted and de-duplicated: matching only asks for membership, and the
    canonical string lists values sorted. Build validated instances with :func:`new_requirement`.
    """

    key: str
    operator: Operator
    values: tuple[str, ...] = ()

    def __post_init__(self) -> None:
        object.__setattr__(self, "values", tuple(sorted(set(self.values))))

    def matches(self, labels: Mapping[str, str]) -> bool:
        """Whether ``labels`` satisfies this term; a missing key satisfies ``!=`` and ``notin``."""
        op = self.operator
        present = self.key in labels
        if op in (Operator.IN, Operator.EQUALS, Operator.DOUBLE_EQUALS):
            return present and labels[self.key] in self.values
        if op in (Operator.NOT_IN, Operator.NOT_EQUALS):
            return not present or labels[self.key] not in self.values
        if op is Operator.EXISTS:
            return present
        if op is Operator.DOES_NOT_EXIST:
            return not present
        # Gt / Lt: both sides must be integers, otherwise the object simply does not match.
        if not present or len(self.values) != 1:
            return False
        have, want = _parse_int64(labels[self.key]), _parse_int64(self.values[0])
        if have is None or want is None:
            return False
        return have > want if op is Operator.GREATER_THAN else have < want

    def __str__(self) -> str:
        if self.operator is Operator.EXISTS:
            return self.key
        if self.operator is Operator.DOES_NOT_EXIST:
            return "!" + self.key
        if self.operator in (Operator.IN, Operator.NOT_IN):
            return f"{self.key}{_INFIX[self.operator]}({','.join(self.values)})"
        return f"{self.key}{_INFIX[self.operator]}{','.join(self.values)}"


def _requirement_errors(key: str, op: Operator | str, values: Sequence[str], path: str) -> list[str]:
    errs: list[str] = []
    key_errs = qualified_name_errors(key)
    if key_errs:
        errs.append(_invalid(_child(path, "key"), key, "; ".join(key_errs)))
    values_path = _child(path, "values")
    if op in (Operator.IN, Operator.NOT_IN):
        if not values:
            errs.append(_invalid(values_path, list(values), "for 'in', 'notin' operators, values set can't be empty"))
    elif op in (Operator.EQUALS, Operator.DOUBLE_EQUALS, Operator.NOT_EQUALS):
        if len(values) != 1:
            errs.append(_invalid(values_path, list(values), "exact-match compatibility requires one single value"))
    elif op in _UNARY_OPERATORS:
        if values:
            errs.append(_invalid(values_path, list(values), "values set must be empty for exists and does not exist"))
    elif op in (Operator.GREATER_THAN, Operator.LESS_THAN):
        if len(values) != 1:
            errs.append(_invalid(values_path, list(values), "for 'Gt', 'Lt' operators, exactly one value is required"))
        for i, v in enumerate(values):
            if _parse_int64(v) is None:
                errs.append(_invalid(f"{values_path}[{i}]", v, "for 'Gt', 'Lt' operators, the value must be an integer"))
    else:
        supported = ", ".join(f'"{o.value}"' for o in (*_BINARY_OPERATORS, *_UNARY_OPERATORS))
        errs.append(f"{_child(path, 'operator')}: Unsupported value: {_fmt_value(str(op))}: "
                    f"supported values: {supported}")
    for i, v in enumerate(values):
        v_errs = label_value_errors(v)
        if v_errs:
            errs.append(_invalid(f"{values_path}[{i}]", v, "; ".join(v_errs)))
    return errs


def new_requirement(key: str, operator: Operator | str, values: Iterable[str] = (), path: str = "") -> Requirement:
    """Build a validated requirement, raising :class:`SelectorError` listing every problem.

    Validation is done here rather than in :class:`Requirement` so that selectors built from
    already-validated data (the parser, the dict form) do not pay for it twice.
    """
    vals = list(values)
    try:
        op = Operator(operator)
    except ValueError:
        op = None
    _raise_if(_requirement_errors(key, op if op is not None else str(operator), vals, path))
    assert op is not None
    return Requirement(key, op, tuple(vals))


@dataclass(frozen=True)
class LabelSelector:
    """A conjunction of requirements over an object's labels.

    Requirements are kept sorted by key (stable for equal keys), which is what makes the string
    form canonical. ``matches_nothing`` models the selector that selects no object at all
    (distinct from the empty selector, which selects every object); it prints as ``""`` like
    its upstream counterpart, so callers that must tell them apart should check the flag.
    """

    requirements: tuple[Requirement, ...] = ()
    matches_nothing: bool = False

    def __post_init__(self) -> None:
        object.__setattr__(self, "requirements", tuple(sorted(self.requirements, key=lambda r: r.key)))

    def matches(self, labels: Mapping[str, str] | None) -> bool:
        """Whether an object with these labels is selected."""
        if self.matches_nothing:
            return False
        labels = labels or {}
        return all(r.matches(labels) for r in self.requirements)

    def is_empty(self) -> bool:
        """True for the select-everything selector (an empty selector, not the nothing selector)."""
        return not self.matches_nothing and not self.requirements

    def add(self, *requirements: Requirement) -> LabelSelector:
        """A new selector that additionally requires ``requirements``."""
        return LabelSelector(self.requirements + tuple(requirements), self.matches_nothing)

    def requires_exact_match(self, key: str) -> str | None:
        """The single value ``key`` must have (``=``, ``==`` or one-value ``in``), if pinned.

        Lets a caller answer a selector from an index instead of scanning every object.
        """
        for r in self.requirements:
            if r.key == key and r.operator in (Operator.EQUALS, Operator.DOUBLE_EQUALS, Operator.IN) \
                    and len(r.values) == 1:
                return r.values[0]
        return None

    def __str__(self) -> str:
        return ",".join(str(r) for r in self.requirements)


def everything() -> LabelSelector:
    """The selector that matches every object."""
    return LabelSelector()


def nothing() -> LabelSelector:
    """The selector that matches no object."""
    return LabelSelector(matches_nothing=True)


def selector_from_set(labels: Mapping[str, str]) -> LabelSelector:
    """An equality selector requiring every ``key=value`` of ``labels`` (a Service's ``spec.selector``)."""
    return LabelSelector(tuple(new_requirement(k, Operator.EQUALS, [v]) for k, v in labels.items()))


# --------------------------------------------------------------------------------------------
# Label selector parser
# --------------------------------------------------------------------------------------------


class _Tok(Enum):
    EOS = "end of string"
    IDENT = "identifier"
    OPEN_PAR = "("
    CLOSED_PAR = ")"
    COMMA = ","
    NOT = "!"
    EQUALS = "="
    DOUBLE_EQUALS = "=="
    NOT_EQUALS = "!="
    GREATER_THAN = ">"
    LESS_THAN = "<"
    IN = "in"
    NOT_IN = "notin"


_WHITESPACE = " \t\r\n"
_SPECIAL = "=!(),><"
_SYMBOLS = {t.value: t for t in (_Tok.OPEN_PAR, _Tok.CLOSED_PAR, _Tok.COMMA, _Tok.NOT, _Tok.EQUALS,
                                 _Tok.DOUBLE_EQUALS, _Tok.NOT_EQUALS, _Tok.GREATER_THAN, _Tok.LESS_THAN)}
_KEYWORDS = {"in": _Tok.IN, "notin": _Tok.NOT_IN}
_TOKEN_OPERATORS = {
    _Tok.IN: Operator.IN, _Tok.NOT_IN: Operator.NOT_IN, _Tok.EQUALS: Operator.EQUALS,
    _Tok.DOUBLE_EQUALS: Operator.DOUBLE_EQUALS, _Tok.NOT_EQUALS: Operator.NOT_EQUALS,
    _Tok.GREATER_THAN: Operator.GREATER_THAN, _Tok.LESS_THAN: Operator.LESS_THAN,
}


def _lex(s: str) -> list[tuple[_Tok, str]]:
    """Split a selector into tokens; whitespace only separates, and anything else is an identifier."""
    tokens: list[tuple[_Tok, str]] = []
    i, n = 0, len(s)
    while True:
        while i < n and s[i] in _WHITESPACE:
            i += 1
        if i >= n:
            tokens.append((_Tok.EOS, ""))
            return tokens
        if s[i] in _SPECIAL:
            # Operators are at most two characters ("==", "!="); take the longest that is known.
            two = s[i:i + 2]
            sym = two if two in _SYMBOLS else s[i]
            tokens.append((_SYMBOLS[sym], sym))
            i += len(sym)
            continue
        j = i
        while j < n and s[j] not in _WHITESPACE and s[j] not in _SPECIAL:
            j += 1
        word = s[i:j]
        tokens.append((_KEYWORDS.get(word, _Tok.IDENT), word))
        i = j


class _Parser:
    """Recursive-descent parser over the token list.

    ``in`` and ``notin`` are keywords only where an operator is expected; everywhere else
    (keys, values) they are ordinary identifiers, so ``in=notin`` is a valid selector.
    """

    def __init__(self, s: str) -> None:
        self.tokens = _lex(s)
        self.pos = 0

    def _peek(self, operator_context: bool = False) -> tuple[_Tok, str]:
        tok, lit = self.tokens[self.pos]
        if not operator_context and tok in (_Tok.IN, _Tok.NOT_IN):
            tok = _Tok.IDENT
        return tok, lit

    def _next(self, operator_context: bool = False) -> tuple[_Tok, str]:
        tok = self._peek(operator_context)
        if self.pos < len(self.tokens) - 1:
            self.pos += 1
        return tok

    def parse(self) -> list[Requirement]:
        reqs: list[Requirement] = []
        while True:
            tok, lit = self._peek()
            if tok is _Tok.EOS:
                return reqs
            if tok not in (_Tok.IDENT, _Tok.NOT):
                raise SelectorError(f"found '{lit}', expected: !, identifier, or 'end of string'")
            try:
                reqs.append(self._requirement())
            except SelectorError as e:
                raise SelectorError(f"unable to parse requirement: {e}", e.errors) from None
            tok, lit = self._next()
            if tok is _Tok.EOS:
                return reqs
            if tok is not _Tok.COMMA:
                raise SelectorError(f"found '{lit}', expected: ',' or 'end of string'")
            tok, lit = self._peek()
            if tok not in (_Tok.IDENT, _Tok.NOT):
                raise SelectorError(f"found '{lit}', expected: identifier after ','")

    def _requirement(self) -> Requirement:
        negated = False
        tok, lit = self._next()
        if tok is _Tok.NOT:
            negated = True
            tok, lit = self._next()
        if tok is not _Tok.IDENT:
            raise SelectorError(f"found '{lit}', expected: identifier")
        key = lit
        key_errs = qualified_name_errors(key)
        if key_errs:
            raise SelectorError(_invalid("key", key, "; ".join(key_errs)))
        if negated:
            return new_requirement(key, Operator.DOES_NOT_EXIST)
        if self._peek()[0] in (_Tok.EOS, _Tok.COMMA):
            return new_requirement(key, Operator.EXISTS)
        tok, lit = self._next(operator_context=True)
        op = _TOKEN_OPERATORS.get(tok)
        if op is None:
            raise SelectorError(f"found '{lit}', expected: {_EXPECTED_BINARY}")
        values = self._value_set() if op in (Operator.IN, Operator.NOT_IN) else self._exact_value()
        return new_requirement(key, op, sorted(values))

    def _exact_value(self) -> set[str]:
        tok, _ = self._peek()
        if tok in (_Tok.EOS, _Tok.COMMA):
            return {""}  # "a=" means the label is present with an empty value
        tok, lit = self._next()
        if tok is not _Tok.IDENT:
            raise SelectorError(f"found '{lit}', expected: identifier")
        return {lit}

    def _value_set(self) -> set[str]:
        tok, lit = self._next()
        if tok is not _Tok.OPEN_PAR:
            raise SelectorError(f"found '{lit}', expected: '('")
        tok, lit = self._peek()
        if tok is _Tok.CLOSED_PAR:
            self._next()
            return {""}  # "()" is the set holding only the empty value
        if tok not in (_Tok.IDENT, _Tok.COMMA):
            raise SelectorError(f"found '{lit}', expected: ',', ')' or identifier")
        values = self._identifier_list()
        tok, lit = self._next()
        if tok is not _Tok.CLOSED_PAR:  # pragma: no cover - the list only returns before ')'
            raise SelectorError(f"found '{lit}', expected: ')'")
        return values

    def _identifier_list(self) -> set[str]:
        """Values between parentheses; an omitted value around a comma is the empty string."""
        values: set[str] = set()
        while True:
            tok, lit = self._next()
            if tok is _Tok.IDENT:
                values.add(lit)
                tok2, lit2 = self._peek()
                if tok2 is _Tok.CLOSED_PAR:
                    return values
                if tok2 is not _Tok.COMMA:
                    raise SelectorError(f"found '{lit2}', expected: ',' or ')'")
            elif tok is _Tok.COMMA:
                if not values:
                    values.add("")  # "(,x)"
                tok2, _ = self._peek()
                if tok2 is _Tok.CLOSED_PAR:
                    values.add("")  # "(x,)"
                    return values
                if tok2 is _Tok.COMMA:
                    self._next()
                    values.add("")  # "(x,,y)"
            else:
                raise SelectorError(f"found '{lit}', expected: ',', or identifier")


def parse_label_selector(selector: str) -> LabelSelector:
    """Parse the string form of a label selector; ``""`` (or only whitespace) selects everything."""
    return LabelSelector(tuple(_Parser(selector).parse()))


# --------------------------------------------------------------------------------------------
# Label selector API object form
# --------------------------------------------------------------------------------------------

_DICT_OPERATORS = {"In": Operator.IN, "NotIn": Operator.NOT_IN,
                   "Exists": Operator.EXISTS, "DoesNotExist": Operator.DOES_NOT_EXIST}


def _is_str_list(v: Any) -> bool:
    return isinstance(v, list) and all(isinstance(x, str) for x in v)


def label_selector_from_dict(d: Mapping[str, Any] | None, path: str = "",
                             empty_matches_all: bool = True) -> LabelSelector:
    """Validate and convert a ``metav1.LabelSelector`` object (``matchLabels`` / ``matchExpressions``).

    ``path`` (e.g. ``"spec.selector"``) prefixes the field paths in error messages so the
    API server can report exactly which field of the submitted object is wrong; every
    problem found is reported at once.

    What an absent or empty selector means depends on where it appears upstream: a
    NetworkPolicy's ``podSelector: {}`` or a policy/v1 PodDisruptionBudget's empty selector
    selects every pod in the namespace, while a Service without a selector selects no pods
    (its endpoints are managed by hand), and workloads (Deployment, ReplicaSet, ...) reject
    an empty selector in validation. ``empty_matches_all`` picks between "everything"
    (default) and "nothing"; rejecting is left to the workload's own validation.
    """
    if d is None:
        return everything() if empty_matches_all else nothing()
    if not isinstance(d, Mapping):
        raise SelectorError(_invalid(path or "<selector>", d, "must be an object"))

    errs: list[str] = []
    reqs: list[Requirement] = []

    labels_path = _child(path, "matchLabels")
    match_labels = d.get("matchLabels") or {}
    if not isinstance(match_labels, Mapping):
        errs.append(_invalid(labels_path, match_labels, "must be a map of strings to strings"))
        match_labels = {}
    for k in sorted(match_labels, key=str):
        v = match_labels[k]
        if not isinstance(k, str) or not isinstance(v, str):
            errs.append(_invalid(labels_path, {str(k): v}, "label keys and values must be strings"))
            continue
        errs.extend(_invalid(labels_path, k, m) for m in qualified_name_errors(k))
        errs.extend(_invalid(labels_path, v, m) for m in label_value_errors(v))
        reqs.append(Requirement(k, Operator.EQUALS, (v,)))

    exprs_path = _child(path, "matchExpressions")
    exprs = d.get("matchExpressions") or []
    if not isinstance(exprs, list):
        errs.append(_invalid(exprs_path, exprs, "must be a list of label selector requirements"))
        exprs = []
    for i, expr in enumerate(exprs):
        p = f"{exprs_path}[{i}]"
        if not isinstance(expr, Mapping):
            errs.append(_invalid(p, expr, "must be an object"))
            continue
        key, op_name, values = expr.get("key", ""), expr.get("operator", ""), expr.get("values") or []
        if not _is_str_list(values):
            errs.append(_invalid(_child(p, "values"), values, "must be a list of strings"))
            values = []
        op = _DICT_OPERATORS.get(op_name) if isinstance(op_name, str) else None
        if op in (Operator.IN, Operator.NOT_IN):
            if not values:
                errs.append(_required(_child(p, "values"), "must be specified when `operator` is 'In' or 'NotIn'"))
        elif op in _UNARY_OPERATORS:
            if values:
                errs.append(_forbidden(_child(p, "values"),
                                       "may not be specified when `operator` is 'Exists' or 'DoesNotExist'"))
        else:
            errs.append(_invalid(_child(p, "operator"), op_name, "not a valid selector operator"))
        if not isinstance(key, str):
            errs.append(_invalid(_child(p, "key"), key, "must be a string"))
            continue
        errs.extend(_invalid(_child(p, "key"), key, m) for m in qualified_name_errors(key))
        for j, v in enumerate(values):
            errs.extend(_invalid(f"{_child(p, 'values')}[{j}]", v, m) for m in label_value_errors(v))
        if op is not None:
            reqs.append(Requirement(key, op, tuple(values)))

    _raise_if(errs)
    if not reqs:
        return everything() if empty_matches_all else nothing()
    return LabelSelector(tuple(reqs))


# --------------------------------------------------------------------------------------------
# Field selectors
# --------------------------------------------------------------------------------------------


def escape_field_value(value: str) -> str:
    """Escape ``\\``, ``,`` and ``=`` so a value can be embedded in a field selector."""
    return value.replace("\\", "\\\\").replace(",", "\\,").replace("=", "\\=")


def unescape_field_value(value: str) -> str:
    """Undo :func:`escape_field_value`; a bare ``,``/``=`` or an unknown escape is an error."""
    if not any(c in value for c in "\\,="):
        return value
    out: list[str] = []
    escaped = False
    for c in value:
        if escaped:
            if c not in "\\,=":
                raise SelectorError(f"invalid field selector: invalid escape sequence: \\{c}")
            out.append(c)
            escaped = False
        elif c == "\\":
            escaped = True
        elif c in ",=":
            raise SelectorError(f"invalid field selector: unescaped character in value: '{c}'")
        else:
            out.append(c)
    if escaped:
        raise SelectorError("invalid field selector: invalid escape sequence: \\")
    return "".join(out)


@dataclass(frozen=True)
class FieldRequirement:
    """``field=value`` (``==`` is the same term) or ``field!=value``.

    A field the object does not expose reads as ``""``, so ``f=`` matches it and ``f!=x`` does.
    """

    field: str
    operator: str  # "=" or "!="
    value: str

    def matches(self, fields: Mapping[str, str]) -> bool:
        equal = fields.get(self.field, "") == self.value
        return equal if self.operator == "=" else not equal

    def __str__(self) -> str:
        return f"{self.field}{self.operator}{escape_field_value(self.value)}"


@dataclass(frozen=True)
class FieldSelector:
    """A conjunction of field requirements, in the order of their sorted source terms."""

    requirements: tuple[FieldRequirement, ...] = ()

    def matches(self, fields: Mapping[str, str]) -> bool:
        return all(r.matches(fields) for r in self.requirements)

    def is_empty(self) -> bool:
        return not self.requirements

    def requires_exact(self, field_name: str) -> str | None:
        """The value ``field_name`` is pinned to by ``=``/``==``, if any.

        Lets a store serve e.g. ``spec.nodeName=n1`` from a per-node index instead of a scan.
        """
        for r in self.requirements:
            if r.field == field_name and r.operator == "=":
                return r.value
        return None

    def __str__(self) -> str:
        return ",".join(str(r) for r in self.requirements)


def _split_field_terms(selector: str) -> list[str]:
    """Split on commas that are not escaped by a backslash."""
    terms: list[str] = []
    start, escaped = 0, False
    for i, c in enumerate(selector):
        if escaped:
            escaped = False
        elif c == "\\":
            escaped = True
        elif c == ",":
            terms.append(selector[start:i])
            start = i + 1
    terms.append(selector[start:])
    return terms


def _split_field_term(term: str) -> tuple[str, str, str] | None:
    """Split at the first operator; at each position ``!=`` and ``==`` win over ``=``."""
    for i in range(len(term)):
        for op in ("!=", "==", "="):
            if term.startswith(op, i):
                return term[:i], op, term[i + len(op):]
    return None


def parse_field_selector(selector: str) -> FieldSelector:
    """Parse ``a=b,c!=d``; no whitespace is trimmed, and ``""`` selects everything.

    Terms are sorted before parsing so that equivalent selectors print identically.
    """
    reqs: list[FieldRequirement] = []
    for term in sorted(_split_field_terms(selector)) if selector else []:
        if not term:
            continue
        parts = _split_field_term(term)
        if parts is None:
            raise SelectorError(f"invalid selector: '{selector}'; can't understand '{term}'")
        lhs, op, rhs = parts
        reqs.append(FieldRequirement(lhs, "!=" if op == "!=" else "=", unescape_field_value(rhs)))
    return FieldSelector(tuple(reqs))


# --------------------------------------------------------------------------------------------
# Selectable fields per kind
# --------------------------------------------------------------------------------------------

_META_FIELDS = frozenset({"metadata.name", "metadata.namespace"})
_CLUSTER_SCOPED = frozenset({"Node", "Namespace"})

_FIELD_LABELS: dict[str, frozenset[str]] = {
    "Pod": _META_FIELDS | {
        "spec.nodeName", "spec.restartPolicy", "spec.schedulerName", "spec.serviceAccountName",
        "spec.hostNetwork", "status.phase", "status.podIP", "status.nominatedNodeName",
    },
    "Event": _META_FIELDS | {
        "involvedObject.kind", "involvedObject.namespace", "involvedObject.name",
        "involvedObject.uid", "involvedObject.apiVersion", "involvedObject.resourceVersion",
        "involvedObject.fieldPath", "reason", "reportingComponent", "source", "type",
    },
    "Node": frozenset({"metadata.name", "spec.unschedulable"}),
    "Namespace": frozenset({"metadata.name", "status.phase"}),
    "Secret": _META_FIELDS | {"type"},
    "ReplicaSet": _META_FIELDS | {"status.replicas"},
    "ReplicationController": _META_FIELDS | {"status.replicas"},
    "Job": _META_FIELDS | {"status.successful"},
}

# Old field names still accepted in selectors, rewritten to their current name.
_LEGACY_FIELD_LABELS: dict[str, dict[str, str]] = {"Pod": {"spec.host": "spec.nodeName"}}


def supported_field_labels(kind: str) -> frozenset[str]:
    """The fields a selector may name for ``kind``; kinds without extras get the metadata pair."""
    return _FIELD_LABELS.get(kind, _META_FIELDS)


def validate_fields(kind: str, selector: FieldSelector) -> FieldSelector:
    """Reject fields ``kind`` cannot be selected by, and rewrite legacy names.

    Without this an unknown field would silently read as ``""`` and match (or not) every
    object, hiding a client's typo.
    """
    supported = supported_field_labels(kind)
    legacy = _LEGACY_FIELD_LABELS.get(kind, {})
    out: list[FieldRequirement] = []
    for r in selector.requirements:
        name = legacy.get(r.field, r.field)
        if name not in supported:
            raise SelectorError(f"field label not supported: {r.field}")
        out.append(r if name == r.field else FieldRequirement(name, r.operator, r.value))
    return FieldSelector(tuple(out))


def _get(obj: Mapping[str, Any] | None, *path: str) -> Any:
    cur: Any = obj
    for p in path:
        if not isinstance(cur, Mapping):
            return None
        cur = cur.get(p)
    return cur


def _text(v: Any) -> str:
    if v is None:
        return ""
    if isinstance(v, bool):
        return "true" if v else "false"
    return str(v)


def _int_text(v: Any) -> str:
    return str(int(v)) if isinstance(v, (int, float)) and not isinstance(v, bool) else "0"


def object_fields(kind: str, obj: Mapping[str, Any]) -> dict[str, str]:
    """The field set a field selector is evaluated against, for an object given as its JSON dict.

    Cluster-scoped kinds (Node, Namespace) have no ``metadata.namespace`` field.
    """
    fields: dict[str, str] = {"metadata.name": _text(_get(obj, "metadata", "name"))}
    if kind not in _CLUSTER_SCOPED:
        fields["metadata.namespace"] = _text(_get(obj, "metadata", "namespace"))

    if kind == "Pod":
        spec, status = _get(obj, "spec") or {}, _get(obj, "status") or {}
        pod_ips = status.get("podIPs") or []
        pod_ip = _get(pod_ips[0], "ip") if pod_ips else status.get("podIP")
        fields.update({
            "spec.nodeName": _text(spec.get("nodeName")),
            "spec.restartPolicy": _text(spec.get("restartPolicy")),
            "spec.schedulerName": _text(spec.get("schedulerName")),
            "spec.serviceAccountName": _text(spec.get("serviceAccountName")),
            "spec.hostNetwork": _text(bool(spec.get("hostNetwork", False))),
            "status.phase": _text(status.get("phase")),
            "status.podIP": _text(pod_ip),
            "status.nominatedNodeName": _text(status.get("nominatedNodeName")),
        })
    elif kind == "Event":
        involved = obj.get("involvedObject") or {}
        # Events from newer reporters leave source.component empty and name the controller instead.
        source = _get(obj, "source", "component") or obj.get("reportingComponent")
        fields.update({f"involvedObject.{k}": _text(involved.get(k)) for k in
                       ("kind", "namespace", "name", "uid", "apiVersion", "resourceVersion", "fieldPath")})
        fields.update({
            "reason": _text(obj.get("reason")),
            "reportingComponent": _text(obj.get("reportingComponent")),
            "source": _text(source),
            "type": _text(obj.get("type")),
        })
    elif kind == "Node":
        fields["spec.unschedulable"] = _text(bool(_get(obj, "spec", "unschedulable")))
    elif kind == "Namespace":
        fields["status.phase"] = _text(_get(obj, "status", "phase"))
    elif kind == "Secret":
        fields["type"] = _text(obj.get("type"))
    elif kind in ("ReplicaSet", "ReplicationController"):
        fields["status.replicas"] = _int_text(_get(obj, "status", "replicas"))
    elif kind == "Job":
        fields["status.successful"] = _int_text(_get(obj, "status", "succeeded"))
    return fields
