"""Unit tests for kubeapi.quantity: exact Kubernetes resource quantities."""
from __future__ import annotations

from fractions import Fraction

import pytest

from kubeapi.quantity import (
    BINARY_SI,
    DECIMAL_EXPONENT,
    DECIMAL_SI,
    ERR_FORMAT_WRONG,
    ERR_NUMERIC,
    ERR_SUFFIX,
    SPLIT_RE_STRING,
    Quantity,
    QuantityError,
    parse_quantity,
)

MAX_INT64 = 2**63 - 1
REGEX_TEXT = "^([+-]?[0-9.]+)([eEinumkKMGTP]*[-+]?[0-9]*)$"
F = Fraction


def q(s: str | int | float) -> Quantity:
    return parse_quantity(s)


# --------------------------------------------------------------------------
# parsing: valid inputs -> exact value and remembered format
# --------------------------------------------------------------------------

VALID = [
    ("0", F(0), DECIMAL_SI),
    ("1", F(1), DECIMAL_SI),
    ("+1", F(1), DECIMAL_SI),
    ("-1", F(-1), DECIMAL_SI),
    ("-0", F(0), DECIMAL_SI),
    ("250m", F(1, 4), DECIMAL_SI),
    ("1.5", F(3, 2), DECIMAL_SI),
    (".5", F(1, 2), DECIMAL_SI),
    ("5.", F(5), DECIMAL_SI),
    ("007", F(7), DECIMAL_SI),
    ("0.1m", F(1, 10_000), DECIMAL_SI),
    ("1n", F(1, 10**9), DECIMAL_SI),
    ("3u", F(3, 10**6), DECIMAL_SI),
    ("2k", F(2000), DECIMAL_SI),
    ("100M", F(10**8), DECIMAL_SI),
    ("1G", F(10**9), DECIMAL_SI),
    ("1T", F(10**12), DECIMAL_SI),
    ("1P", F(10**15), DECIMAL_SI),
    ("1E", F(10**18), DECIMAL_SI),
    ("1.G", F(10**9), DECIMAL_SI),
    ("1Ki", F(1024), BINARY_SI),
    ("1Mi", F(2**20), BINARY_SI),
    ("1.5Gi", F(3 * 2**29), BINARY_SI),
    ("1Ti", F(2**40), BINARY_SI),
    ("1Pi", F(2**50), BINARY_SI),
    ("1Ei", F(2**60), BINARY_SI),
    ("-1Ki", F(-1024), BINARY_SI),
    ("0Gi", F(0), BINARY_SI),
    ("1e3", F(1000), DECIMAL_EXPONENT),
    ("1E3", F(1000), DECIMAL_EXPONENT),
    ("1e+3", F(1000), DECIMAL_EXPONENT),
    ("1e-3", F(1, 1000), DECIMAL_EXPONENT),
    ("1e03", F(1000), DECIMAL_EXPONENT),
    ("1.5e0", F(3, 2), DECIMAL_EXPONENT),
    ("-2e2", F(-200), DECIMAL_EXPONENT),
    ("18446744073709551616", F(2**64), DECIMAL_SI),  # decimal: not capped
]


@pytest.mark.parametrize("text,value,fmt", VALID)
def test_parse_valid(text: str, value: Fraction, fmt: str) -> None:
    got = q(text)
    assert got.value == value
    assert isinstance(got.value, Fraction)
    assert got.format == fmt


def test_parse_quantity_and_classmethod_agree() -> None:
    assert Quantity.parse("1.5Gi") == parse_quantity("1.5Gi")
    assert Quantity.parse("1.5Gi").format == BINARY_SI


# --------------------------------------------------------------------------
# parsing: invalid inputs and their exact messages
# --------------------------------------------------------------------------

FORMAT_ERRORS = [
    "",
    "1.2.3",
    "1.1.M",
    "1+1.0M",
    "Gi",
    "m",
    "+",
    "-",
    ".",
    "1 Gi",
    " 1",
    "1 ",
    "1\n",
    "1GiB",
    "abc",
    "0.1am",
    "--1",
    "1e3e",
    "\u0661",  # ARABIC-INDIC DIGIT ONE: only ASCII digits count
]

SUFFIX_ERRORS = [
    "1e",
    "1E+",
    "1e-",
    "-3.01e-",
    "1Ki2",
    "1ki",
    "1K",
    "0.1mi",
    ".5i",
    "1i",
    "1eE3",
    "1e99999999999",  # exponent outside int32
]


@pytest.mark.parametrize("text", FORMAT_ERRORS)
def test_format_errors_quote_the_regex(text: str) -> None:
    with pytest.raises(QuantityError) as info:
        q(text)
    assert str(info.value) == ERR_FORMAT_WRONG
    assert REGEX_TEXT in str(info.value)


@pytest.mark.parametrize("text", SUFFIX_ERRORS)
def test_suffix_errors(text: str) -> None:
    with pytest.raises(QuantityError) as info:
        q(text)
    assert str(info.value) == ERR_SUFFIX


def test_error_constants_match_upstream_wording() -> None:
    assert SPLIT_RE_STRING == REGEX_TEXT
    assert ERR_FORMAT_WRONG == f"quantities must match the regular expression '{REGEX_TEXT}'"
    assert ERR_SUFFIX == "unable to parse quantity's suffix"
    assert ERR_NUMERIC == "unable to parse numeric part of quantity"


def test_quantity_error_is_value_error() -> None:
    with pytest.raises(ValueError):
        q("1.2.3")


def test_hostile_exponent_is_refused_quickly() -> None:
    with pytest.raises(QuantityError) as info:
        q("1e2147483647")
    assert str(info.value) == ERR_NUMERIC
    # A vanishing positive value costs nothing and still rounds up to 1n.
    assert q("1e-2147483648").value == F(1, 10**9)
    assert q("0e2147483647").value == 0
    for huge in ("9" * 5000, 10**5000):
        with pytest.raises(QuantityError) as info:
            q(huge)
        assert str(info.value) == ERR_NUMERIC
    # Zeros alone do not count towards the digit budget.
    assert q("0." + "0" * 5000 + "1").value == F(1, 10**9)
    assert q("1." + "0" * 5000).value == 1


def test_parse_rejects_non_numbers() -> None:
    with pytest.raises(TypeError):
        q(True)  # type: ignore[arg-type]
    with pytest.raises(TypeError):
        q(None)  # type: ignore[arg-type]
    with pytest.raises(QuantityError):
        q(float("nan"))
    with pytest.raises(QuantityError):
        q(float("inf"))


def test_json_numbers_parse_through_their_text() -> None:
    assert q(1000).value == 1000 and q(1000).format == DECIMAL_SI
    assert q(-5).value == -5
    assert q(0.1).value == F(1, 10)  # exact decimal, not the binary float
    assert q(0.5).canonical() == "500m"
    assert q(1e-05).format == DECIMAL_EXPONENT  # repr is "1e-05"
    assert q(1e-05).value == F(1, 100_000)
    assert q(1e16).format == DECIMAL_EXPONENT
    assert q(1e16).canonical() == "10e15"


# --------------------------------------------------------------------------
# canonical form
# --------------------------------------------------------------------------

CANONICAL = [
    ("0", "0"),
    ("-0", "0"),
    ("0Gi", "0"),
    ("1", "1"),
    ("+1", "1"),
    ("-1", "-1"),
    ("1000m", "1"),
    ("1500m", "1500m"),
    ("1.5", "1500m"),
    ("0.5", "500m"),
    (".5", "500m"),
    ("5.", "5"),
    ("250m", "250m"),
    ("0.1m", "100u"),
    ("1.2345", "1234500u"),
    ("1n", "1n"),
    ("1000n", "1u"),
    ("1000", "1k"),
    ("1001", "1001"),
    ("1000000", "1M"),
    ("100M", "100M"),
    ("1.5M", "1500k"),
    ("1000M", "1G"),
    ("1.G", "1G"),
    ("1000G", "1T"),
    ("10E", "10E"),
    ("1024", "1024"),
    ("1048576", "1048576"),
    ("18446744073709551616", "18446744073709551616"),
    ("1Ki", "1Ki"),
    ("1Mi", "1Mi"),
    ("1Gi", "1Gi"),
    ("1024Ki", "1Mi"),
    ("2048Ki", "2Mi"),
    ("1025Ki", "1025Ki"),
    ("1024Mi", "1Gi"),
    ("1024Gi", "1Ti"),
    ("100Mi", "100Mi"),
    ("1.5Gi", "1536Mi"),
    ("-1.5Gi", "-1536Mi"),
    ("0.5Gi", "512Mi"),
    ("1.5Ki", "1536"),  # whole, >= 1024, but not a multiple of 1024
    ("0.9765625Ki", "1k"),  # 1000, below 1024: decimal suffixes apply
    ("0.5Ki", "512"),  # below 1024: printed as DecimalSI
    ("0.1Ki", "102400m"),  # fractional: DecimalSI keeps every digit
    ("1.1Ki", "1126400m"),
    (".001Ki", "1024m"),
    (".000001Ki", "1024u"),
    (".000000001Ki", "1024n"),
    (".000000000001Ki", "2n"),  # 1.024n rounds up
    ("1Ei", "1Ei"),
    ("7Ei", "7Ei"),
    ("8Ei", "9223372036854775807"),  # capped at 2**63-1
    ("1e3", "1e3"),
    ("1E3", "1e3"),
    ("1e+3", "1e3"),
    ("1e4", "10e3"),
    ("1e-3", "1e-3"),
    ("1e0", "1"),
    ("100e-2", "1"),
    ("1.5e3", "1500"),
    ("0.5e0", "500e-3"),
    ("1e-9", "1e-9"),
    ("1e-10", "1e-9"),
    ("-2e2", "-200"),
    ("1000E", "1e21"),  # DecimalSI has no suffix above E
    ("0.1n", "1n"),
    ("0.9n", "1n"),
    ("1.5n", "2n"),
    ("-0.1n", "-1n"),
    ("1.0000000001", "1000000001n"),
]


@pytest.mark.parametrize("text,expected", CANONICAL)
def test_canonical(text: str, expected: str) -> None:
    got = q(text)
    assert got.canonical() == expected
    assert str(got) == expected


@pytest.mark.parametrize("text,expected", CANONICAL)
def test_canonical_round_trips(text: str, expected: str) -> None:
    """Parsing the canonical form gives the same value and the same string."""
    again = q(expected)
    assert again == q(text)
    assert again.canonical() == expected


def test_binary_below_one_becomes_decimal_si() -> None:
    assert q(".0001Ki").format == DECIMAL_SI
    assert q("-.0001Ki").format == DECIMAL_SI
    assert q(".001Ki").format == BINARY_SI  # 1.024 is not below one


def test_binary_beyond_ei_keeps_a_suffix() -> None:
    big = Quantity(F(2**71), BINARY_SI)
    assert big.canonical() == "2048Ei"
    assert q(big.canonical()) == Quantity(F(MAX_INT64), BINARY_SI)  # parsing caps


def test_constructor_normalises_value() -> None:
    assert Quantity(3).value == F(3) and isinstance(Quantity(3).value, Fraction)
    assert Quantity(F(1, 3)).value == F(333_333_334, 10**9)  # rounded up to 1n
    assert Quantity(F(-1, 3)).value == F(-333_333_334, 10**9)
    assert Quantity(5).format == DECIMAL_SI
    with pytest.raises(ValueError):
        Quantity(F(1), "Binary")
    with pytest.raises(TypeError):
        Quantity(0.5)  # type: ignore[arg-type]
    with pytest.raises(TypeError):
        Quantity(True)  # type: ignore[arg-type]


def test_frozen() -> None:
    with pytest.raises(AttributeError):
        q("1").value = F(2)  # type: ignore[misc]


# --------------------------------------------------------------------------
# integer accessors
# --------------------------------------------------------------------------

INT_VALUES = [
    # text, value_int, milli_value
    ("0", 0, 0),
    ("1", 1, 1000),
    ("1000m", 1, 1000),
    ("250m", 1, 250),
    ("1.5", 2, 1500),
    ("0.1m", 1, 1),
    ("1n", 1, 1),
    ("1001m", 2, 1001),
    ("1Ki", 1024, 1_024_000),
    ("1.5Gi", 1_610_612_736, 1_610_612_736_000),
    ("-1", -1, -1000),
    ("-250m", -1, -250),
    ("-1.5", -2, -1500),
    ("-0.1m", -1, -1),
    ("8Ei", MAX_INT64, MAX_INT64 * 1000),
    ("10E", 10**19, 10**22),  # exact, no int64 overflow
]


@pytest.mark.parametrize("text,whole,milli", INT_VALUES)
def test_int_accessors_round_away_from_zero(text: str, whole: int, milli: int) -> None:
    got = q(text)
    assert got.value_int() == whole
    assert got.milli_value() == milli


def test_scaled_value_and_nanos() -> None:
    assert q("1.5Gi").scaled_value(6) == 1611  # 1610.612736 rounds up
    assert q("1").scaled_value(-9) == 10**9
    assert q("250m").nanos == 250_000_000
    assert q("-1n").nanos == -1


# --------------------------------------------------------------------------
# comparison
# --------------------------------------------------------------------------


def test_comparisons() -> None:
    assert q("1Gi") > q("1G")
    assert q("1G") < q("1Gi")
    assert q("1000m") == q("1")
    assert q("1Ki") == q("1024")  # equality ignores the format
    assert q("1e3") == q("1k")
    assert q("1") != q("1001m")
    assert q("1n") > q("0")
    assert q("-1") < q("0") <= q("-0")
    assert q("500m") >= q("0.5")
    assert q("1E") < q("1Ei")
    assert sorted([q("1Gi"), q("1"), q("100m"), q("1G"), q("-1Ki")]) == [
        q("-1Ki"), q("100m"), q("1"), q("1G"), q("1Gi"),
    ]
    assert max(q("250m"), q("0.3")) == q("300m")


def test_hash_follows_equality() -> None:
    assert hash(q("1000m")) == hash(q("1"))
    assert hash(q("1Ki")) == hash(q("1024"))
    assert len({q("1"), q("1000m"), q("1e0"), q("2")}) == 2


def test_comparison_with_other_types() -> None:
    assert (q("1") == 1) is False
    with pytest.raises(TypeError):
        q("1") < 2  # type: ignore[operator]


# --------------------------------------------------------------------------
# arithmetic
# --------------------------------------------------------------------------


def test_addition() -> None:
    total = q("1") + q("500m")
    assert total.value == F(3, 2)
    assert total.format == DECIMAL_SI
    assert str(total) == "1500m"
    assert str(q("1Gi") + q("512Mi")) == "1536Mi"
    assert str(q("100m") + q("900m")) == "1"


def test_result_keeps_left_format() -> None:
    left_binary = q("1Ki") + q("1k")
    assert left_binary.format == BINARY_SI and left_binary.value == 2024
    left_decimal = q("1k") + q("1Ki")
    assert left_decimal.format == DECIMAL_SI and left_decimal.value == 2024
    assert str(q("1Gi") + q("1Gi")) == "2Gi"
    assert str(q("1G") + q("1G")) == "2G"


def test_zero_left_operand_adopts_right_format() -> None:
    total = q("0") + q("1Ki")
    assert total.format == BINARY_SI and str(total) == "1Ki"
    acc = Quantity(0)
    for part in ("1Gi", "512Mi", "512Mi"):
        acc = acc + q(part)
    assert str(acc) == "2Gi"


def test_subtraction_and_negation() -> None:
    assert str(q("1Gi") - q("512Mi")) == "512Mi"
    diff = q("1") - q("1500m")
    assert diff.value == F(-1, 2) and str(diff) == "-500m"
    assert str(-q("1.5Gi")) == "-1536Mi"
    assert (q("2Ki") - q("2Ki")).is_zero()
    assert str(q("0") - q("1Ki")) == "-1Ki"


def test_arithmetic_rejects_other_types() -> None:
    with pytest.raises(TypeError):
        q("1") + 1  # type: ignore[operator]
    with pytest.raises(TypeError):
        q("1") - "1"  # type: ignore[operator]


def test_exact_decimal_arithmetic() -> None:
    assert q("0.1") + q("0.2") == q("0.3")
    assert str(q("0.1") + q("0.2")) == "300m"
    acc = q("0")
    for _ in range(10):
        acc = acc + q("0.1")
    assert acc == q("1") and str(acc) == "1"
    assert q("1n") + q("1n") + q("1n") == q("3n")
    assert (q("1E") + q("1n")).canonical() == "1000000000000000000000000001n"


def test_large_values() -> None:
    assert q("8Ei").value == MAX_INT64  # parse caps binary at int64
    assert q("9Ei").value == MAX_INT64
    assert q("-8Ei").value == -MAX_INT64
    assert q("7Ei").value == 7 * 2**60  # below the cap: exact
    assert q("10E").value == 10**19  # decimal is never capped
    assert q("1e30").value == 10**30
    # Addition is not capped, like the reference API's Add.
    total = q("4Ei") + q("4Ei")
    assert total.value == 2**63 and str(total) == "8Ei"


def test_negative_values() -> None:
    assert q("-1.5Gi").value == -3 * 2**29
    assert str(q("-1Mi")) == "-1Mi"
    assert str(q("-100m")) == "-100m"
    assert str(q("-1e3")) == "-1e3"
    assert q("-1") < q("-500m") < q("0")
    assert (q("-1") + q("1")).is_zero()
