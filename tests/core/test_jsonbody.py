"""The shared bounded JSON body decoder: limits, messages, and only `BodyError` on any input."""

from __future__ import annotations

import json

import pytest
from hypothesis import given, settings
from hypothesis import strategies as st

from driver_agent.core.jsonbody import (
    MAX_DEPTH,
    MAX_INT_DIGITS,
    BodyError,
    CappedBody,
    check_json_content_type,
    decode_json,
    decode_json_object,
)

FAST = settings(max_examples=300, deadline=None, derandomize=True)


@pytest.mark.parametrize(
    ("raw", "fragment"),
    [
        pytest.param(b"[" * 100_000, "deeper than 64", id="100000-deep-array"),
        pytest.param(b'{"a":' * 50_000, "deeper than 64", id="50000-deep-object"),
        pytest.param(b"[" * 65 + b"]" * 65, "deeper than 64", id="65-deep"),
        pytest.param(b"7" * 5000, "5000 digits", id="5000-digit-integer"),
        pytest.param(b'{"id": -' + b"9" * 21 + b"}", "21 digits", id="21-digit-integer"),
        pytest.param(b"1e400", "out of range", id="float-overflow"),
        pytest.param(b"0." + b"1" * 100, "102 characters", id="long-float"),
        pytest.param(b"[NaN]", "NaN is not a JSON number", id="nan"),
        pytest.param(b"-Infinity", "Infinity", id="infinity"),
        pytest.param(b'"\xff"', "not UTF-8 (bad byte at offset 1)", id="not-utf8"),
        pytest.param(b'"\xed\xa0\x80"', "not UTF-8", id="encoded-surrogate"),
        pytest.param(b'{"a": "\\ud800"}', "lone UTF-16 surrogate", id="lone-surrogate"),
        pytest.param(b"", "empty body", id="empty"),
        pytest.param(b'{"a": 1', "malformed JSON", id="truncated"),
        pytest.param(b'"' + b"\\" * 10_001, "malformed JSON", id="unterminated-string"),
    ],
)
def test_bad_bodies_are_a_400_naming_the_problem(raw: bytes, fragment: str) -> None:
    with pytest.raises(BodyError) as caught:
        decode_json(raw)
    assert caught.value.status == 400
    assert fragment in caught.value.message


def nested(depth: int) -> list[object]:
    value: list[object] = []
    for _ in range(depth - 1):
        value = [value]
    return value


@pytest.mark.parametrize(
    ("raw", "value"),
    [
        pytest.param(b"[" * MAX_DEPTH + b"]" * MAX_DEPTH, nested(MAX_DEPTH)),
        # brackets inside strings do not count
        pytest.param(b"[" + b",".join([b'"[[[["'] * 40) + b"]", ["[[[["] * 40),
        pytest.param(b"18446744073709551615", 2**64 - 1),  # uint64: 20 digits
        pytest.param(b"-9223372036854775808", -(2**63)),
        pytest.param(b"1.7976931348623157e308", 1.7976931348623157e308),
        pytest.param('\ufeff{"city": "Hämeenlinna"}'.encode(), {"city": "Hämeenlinna"}),
        pytest.param(b'"\\ud83d\\ude00"', "\U0001f600"),  # a surrogate pair is fine
        pytest.param(b'{"a": 1, "a": 2}', {"a": 2}),
    ],
    ids=["64-deep", "brackets-in-strings", "uint64", "int64-min", "max-double", "bom", "pair",
         "duplicate-key"],
)  # fmt: skip
def test_bodies_within_the_limits_decode_as_json_does(raw: bytes, value: object) -> None:
    assert decode_json(raw) == value


def test_an_object_is_required_where_one_is_expected() -> None:
    with pytest.raises(BodyError, match="expected a JSON object, got an array"):
        decode_json_object(b"[]")


@pytest.mark.parametrize(
    ("content_type", "ok"),
    [
        (None, True),
        ("", True),
        ("application/json", True),
        ("Application/JSON; charset=utf-8", True),
        ("application/vnd.api+json", True),
        ("text/plain", False),
        ("application/x-www-form-urlencoded", False),
        ("application/jsonx", False),
        ("multipart/form-data; boundary=x", False),
    ],
)
def test_content_type_json_or_missing_else_415(content_type: str | None, ok: bool) -> None:
    if ok:
        check_json_content_type(content_type)
        return
    with pytest.raises(BodyError) as caught:
        check_json_content_type(content_type)
    assert caught.value.status == 415
    assert "is not application/json" in caught.value.message


def test_a_capped_body_refuses_the_first_byte_past_the_cap_and_a_declared_length_over_it() -> None:
    capped = CappedBody(10)
    capped.check_declared("10")
    capped.add(b"12345")
    capped.add(b"67890")
    assert capped.body() == b"1234567890"
    with pytest.raises(BodyError) as caught:
        capped.add(b"x")
    assert (caught.value.status, caught.value.message) == (413, "larger than 10 bytes")
    for declared in ("11", "1" * 40):
        with pytest.raises(BodyError):
            CappedBody(10).check_declared(declared)
    for ignored in (None, "", "abc", "-5", "٣"):
        CappedBody(10).check_declared(ignored)  # not a length: the bytes are counted instead


_scalars = (
    st.none()
    | st.booleans()
    | st.integers(min_value=-(10**MAX_INT_DIGITS) + 1, max_value=10**MAX_INT_DIGITS - 1)
    | st.floats(allow_nan=False, allow_infinity=False)
    | st.text(max_size=20)
)
_json_values = st.recursive(
    _scalars,
    lambda inner: (
        st.lists(inner, max_size=4) | st.dictionaries(st.text(max_size=6), inner, max_size=4)
    ),
    max_leaves=30,
)


@FAST
@given(_json_values)
def test_any_json_within_the_limits_round_trips(value: object) -> None:
    text = json.dumps(value, ensure_ascii=False)
    try:
        text.encode("utf-8")
    except UnicodeEncodeError:  # a generated lone surrogate: refused, as documented
        with pytest.raises(BodyError):
            decode_json(json.dumps(value).encode())
        return
    assert decode_json(text.encode()) == value


def decoded_or_refused(raw: bytes) -> None:
    """Decodes, or raises `BodyError` with 400: any other exception fails the test."""
    status = None
    try:
        decode_json(raw)
    except BodyError as exc:
        status = exc.status
    assert status in (None, 400)


@FAST
@given(st.binary(max_size=300))
def test_any_bytes_decode_or_raise_body_error_only(raw: bytes) -> None:
    decoded_or_refused(raw)


@FAST
@given(st.text(alphabet='[]{}",:\\0123456789.eE+-truefalsnu ', max_size=400))
def test_json_shaped_noise_decodes_or_raises_body_error_only(text: str) -> None:
    decoded_or_refused(text.encode())
