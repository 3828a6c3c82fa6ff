"""The partner API's signed form (seed 001, Create Customer under /partner_api/): pure.

A partner call carries its credentials in the body: `access_token`, `timestamp`, `company_id`
and the call's own fields, plus `signature`, the lowercase hex HMAC-SHA1 of the *canonical
query string* of all the other fields, keyed with the partner's secret key. The seed shows it
twice, and both agree on one rule:

    PHP client:  hash_hmac("sha1", http_build_query($data_string), $secret_key)
    Ruby server: OpenSSL::HMAC.hexdigest("sha1", @partner.hmac_secret,
                                         to_query(canonical_params))

Rails' `to_query` sorts the `key=value` pairs; PHP's `http_build_query` keeps the array's order.
So we sort the fields by key and send the body in that same order (the signature last): a
verifier that sorts and one that keeps the order see the same string. Each key and value is
form-encoded as both do it: letters, digits and `_.-` as they are, a space as `+`, every other
UTF-8 byte as `%XX` (upper-case hex). `~` is the one character the two disagree on (PHP encodes
it, Ruby's CGI.escape does not): we encode it as PHP does and say so here.

Values are flat: strings, integers and finite floats as their decimal text, booleans as
`true`/`false` (what Rails' `to_query` writes for the JSON booleans the server parses; PHP's
sample sends the string "true"); None fields are left out (not sent, not signed). Nested tables
and lists are refused: no documented partner call has them.
"""

from __future__ import annotations

import hashlib
import hmac
import math
from typing import TYPE_CHECKING

if TYPE_CHECKING:
    from collections.abc import Mapping

SIGNATURE_KEY = "signature"
_UNRESERVED = frozenset(b"ABCDEFGHIJKLMNOPQRSTUVWXYZabcdefghijklmnopqrstuvwxyz0123456789_.-")
FlatValue = str | int | float | bool | None


def form_encode(text: str) -> str:
    """PHP's `urlencode` (RFC 1738 form encoding): `a b~c` -> `a+b%7Ec`."""
    out: list[str] = []
    for byte in text.encode("utf-8"):
        if byte in _UNRESERVED:
            out.append(chr(byte))
        elif byte == 0x20:
            out.append("+")
        else:
            out.append(f"%{byte:02X}")
    return "".join(out)


def field_text(key: str, value: FlatValue) -> str:
    """A field's value as the canonical string signs it; ValueError for what cannot be signed."""
    if isinstance(value, bool):
        return "true" if value else "false"
    if isinstance(value, int):
        return str(value)
    if isinstance(value, float):
        if not math.isfinite(value):
            raise ValueError(f"{key}: {value!r} cannot be signed (not a finite number)")
        return repr(value)
    if isinstance(value, str):
        return value
    raise ValueError(f"{key}: a {type(value).__name__} cannot be signed (flat values only)")


def canonical_query(params: Mapping[str, FlatValue]) -> str:
    """The string the signature covers: the fields but `signature`, None ones left out, sorted by
    key, `key=value` form-encoded and joined by `&`."""
    pairs = sorted(
        (key, field_text(key, value))
        for key, value in params.items()
        if value is not None and key != SIGNATURE_KEY
    )
    return "&".join(f"{form_encode(key)}={form_encode(text)}" for key, text in pairs)


def signature(params: Mapping[str, FlatValue], secret_key: str) -> str:
    """Lowercase hex HMAC-SHA1 of `canonical_query(params)` under `secret_key`."""
    if not secret_key:
        raise ValueError("secret_key: required to sign a partner API call")
    digest = hmac.new(secret_key.encode(), canonical_query(params).encode(), hashlib.sha1)
    return digest.hexdigest()


def signed_body(params: Mapping[str, FlatValue], secret_key: str) -> dict[str, FlatValue]:
    """The body to POST: the fields (None ones left out) in key order, then `signature`."""
    body: dict[str, FlatValue] = {
        key: params[key] for key in sorted(params) if params[key] is not None
    }
    body.pop(SIGNATURE_KEY, None)
    body[SIGNATURE_KEY] = signature(body, secret_key)
    return body


def verify(body: Mapping[str, FlatValue], secret_key: str) -> bool:
    """Whether `body`'s `signature` matches its other fields (constant-time comparison)."""
    given = body.get(SIGNATURE_KEY)
    if not isinstance(given, str):
        return False
    return hmac.compare_digest(given, signature(body, secret_key))
