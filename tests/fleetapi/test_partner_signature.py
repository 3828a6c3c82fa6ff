"""The partner API's signature over the seed's own example parameters (seed 001, Create
Customer)."""

from __future__ import annotations

import hashlib
import hmac
from urllib.parse import urlencode

import pytest

from driver_agent.fleetapi.partner_signature import (
    canonical_query,
    form_encode,
    signature,
    signed_body,
    verify,
)

SECRET = "my-secret-key"  # the seed's "<YOUR SECRET KEY>"

# The seed's PHP sample, its placeholders filled with fixed values: the access token of the
# seed's JSON example, a `date('Y-m-d H:i:s')` timestamp, company 1.
PHP_SAMPLE = {
    "access_token": "K6PAAwvx6-3PtAA4zvEV",
    "timestamp": "2014-10-27 14:46:50",
    "name": "test c",
    "company_id": "1",
    "email": "abctest@test.com",
    "allow_sending_sms": "true",
}

# The seed's JSON example of Create Customer, without its signature (its secret is not given).
JSON_SAMPLE: dict[str, str | int | float | bool | None] = {
    "name": "Ralph M. Anderson",
    "company_id": 1,
    "address": "3895 Ray Court Pinehurst, NC 28374",
    "address_second_line": "2nd line",
    "phone": "910-295-9731",
    "email": "ralph@domain.com",
    "lat": 32.453453,
    "lng": 34.434233,
    "external_id": "1234",
    "allow_login": True,
    "confirmation_code": "1234",
    "allow_sending_email": False,
    "allow_sending_sms": False,
    "timestamp": "1414421210832",
    "access_token": "K6PAAwvx6-3PtAA4zvEV",
}


def independent(params: dict[str, str], secret: str) -> str:
    """The same rule with the standard library: sorted pairs, urlencode, hmac/hashlib."""
    query = urlencode(sorted(params.items()))
    return hmac.new(secret.encode(), query.encode(), hashlib.sha1).hexdigest()


def test_the_php_sample_canonical_string_derived_by_hand() -> None:
    assert canonical_query(PHP_SAMPLE) == (
        "access_token=K6PAAwvx6-3PtAA4zvEV&allow_sending_sms=true&company_id=1"
        "&email=abctest%40test.com&name=test+c&timestamp=2014-10-27+14%3A46%3A50"
    )


def test_the_php_sample_signature_matches_a_known_vector() -> None:
    # printf '%s' '<the canonical string above>' | openssl dgst -sha1 -hmac 'my-secret-key'
    assert signature(PHP_SAMPLE, SECRET) == "d5bad7194148419f6b825f461099f5769da45ae6"


def test_the_php_sample_signature_matches_the_standard_library() -> None:
    assert signature(PHP_SAMPLE, SECRET) == independent(PHP_SAMPLE, SECRET)


def test_the_json_sample_signature_matches_the_standard_library() -> None:
    as_text = {
        key: ("true" if value else "false") if isinstance(value, bool) else str(value)
        for key, value in JSON_SAMPLE.items()
    }
    assert signature(JSON_SAMPLE, SECRET) == independent(as_text, SECRET)


def test_the_order_of_the_fields_does_not_change_the_signature() -> None:
    reversed_sample = dict(reversed(list(PHP_SAMPLE.items())))
    assert signature(reversed_sample, SECRET) == signature(PHP_SAMPLE, SECRET)


def test_a_signed_body_is_sorted_signed_last_and_verifies() -> None:
    body = signed_body({**PHP_SAMPLE, "phone": None}, SECRET)
    assert list(body) == [*sorted(PHP_SAMPLE), "signature"]
    assert "phone" not in body
    assert body["signature"] == "d5bad7194148419f6b825f461099f5769da45ae6"
    assert verify(body, SECRET)
    assert not verify({**body, "name": "test d"}, SECRET)
    assert not verify(body, "another-key")
    assert not verify(PHP_SAMPLE, SECRET)  # no signature at all


def test_form_encoding_is_phps_urlencode() -> None:
    assert form_encode("a b~c/é") == "a+b%7Ec%2F%C3%A9"
    assert form_encode("A-z_0.9") == "A-z_0.9"


@pytest.mark.parametrize(
    ("params", "message"),
    [
        ({"lat": float("nan")}, "lat: nan cannot be signed"),
        ({"teams": [1, 2]}, "teams: a list cannot be signed"),
    ],
)
def test_values_that_cannot_be_signed_are_refused_by_name(
    params: dict[str, object], message: str
) -> None:
    with pytest.raises(ValueError, match=message):
        signature(params, SECRET)  # type: ignore[arg-type]


def test_no_secret_key_no_signature() -> None:
    with pytest.raises(ValueError, match="secret_key: required"):
        signature(PHP_SAMPLE, "")
