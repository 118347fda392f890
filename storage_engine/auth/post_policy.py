"""Browser uploads (POST Object): the form's policy document, its conditions and its signature.

    form fields --> form_signature(fields) --> None: an unsigned form (an anonymous PutObject)
                                           '-> FormSignature (SigV4 or SigV2) --> verify(policy, credentials)
                --> PostPolicy.parse(policy) --> check(fields, bucket, now)   (expiration, conditions,
                                                 extra fields)  --> check_size(size) as the file streams

The policy is a base64 JSON document: ``{"expiration": "2030-01-01T00:00:00Z", "conditions": [...]}``,
each condition an exact match ``{"field": "value"}``, ``["eq", "$field", "value"]``,
``["starts-with", "$field", "prefix"]`` (``""``: any value) or ``["content-length-range", min, max]``.
Field names are case-insensitive, values are not. Every form field must be named by a condition, except
the ones AWS exempts (:data:`EXEMPT_FIELDS`, ``x-ignore-*``). The signature covers the base64 text:
SigV4 ``hex(HMAC-SHA256(signing key, policy))``, SigV2 ``base64(HMAC-SHA1(secret, policy))``.
Errors are AWS's: a failed condition or an expired policy is AccessDenied ("Invalid according to Policy:
..."), a malformed document InvalidPolicyDocument, a size outside the range EntityTooSmall / EntityTooLarge.
"""

from __future__ import annotations

import base64
import binascii
import hashlib
import hmac
import json
from collections.abc import Mapping
from dataclasses import dataclass
from datetime import datetime, timezone
from typing import Literal

from storage_engine.errors import (
    AccessDenied, EntityTooLarge, EntityTooSmall, InvalidArgument, InvalidPolicyDocument, S3Error,
    SignatureDoesNotMatch,
)

from .credentials import Credentials
from .sigv4 import ALGORITHM, sign, signatures_equal, signing_key

__all__ = ["EXEMPT_FIELDS", "Condition", "FormSignature", "PostPolicy", "form_signature"]

# Form fields no condition needs to name (AWS: the signature's own fields and the file).
EXEMPT_FIELDS = frozenset({"file", "policy", "x-amz-signature", "awsaccesskeyid", "signature"})
IGNORED_PREFIX = "x-ignore-"
MAX_POLICY_BYTES = 20 * 1024


@dataclass(frozen=True, slots=True)
class Condition:
    """``op`` on the form field ``field`` (lower case, without ``$``); ``bucket`` is the request's bucket."""
    op: Literal["eq", "starts-with"]
    field: str
    value: str

    def holds(self, actual: str) -> bool:
        if self.op == "eq":
            return actual == self.value
        if self.field == "content-type":     # each of a comma-separated list of types must match
            return all(part.strip().startswith(self.value) for part in actual.split(","))
        return actual.startswith(self.value)

    def describe(self) -> str:
        return json.dumps([self.op, "$" + self.field, self.value])


def _invalid(message: str) -> S3Error:
    return InvalidPolicyDocument(f"Invalid Policy: {message}")


def _policy_failed(message: str) -> S3Error:
    return AccessDenied(f"Invalid according to Policy: {message}")


def _parse_expiration(value: object) -> float:
    if not isinstance(value, str):
        raise _invalid("Invalid 'expiration' value: must be a string.")
    try:
        when = datetime.fromisoformat(value.strip())
        if when.tzinfo is None:
            when = when.replace(tzinfo=timezone.utc)
        return when.timestamp()
    except (ValueError, OverflowError):
        raise _invalid(f"Invalid 'expiration' value: '{value[:64]}'") from None


def _length(value: object) -> int:
    if isinstance(value, bool):
        raise _invalid("Invalid content-length-range: the bounds must be integers.")
    if isinstance(value, int):
        number = value
    elif isinstance(value, str) and value.strip().isdigit():
        number = int(value.strip())
    else:
        raise _invalid("Invalid content-length-range: the bounds must be integers.")
    if number < 0:
        raise _invalid("Invalid content-length-range: the bounds must not be negative.")
    return number


def _field(name: object) -> str:
    if not isinstance(name, str) or not name:
        raise _invalid("Invalid condition: a field name must be a non-empty string.")
    return name.removeprefix("$").lower()


def _parse_condition(item: object) -> tuple[list[Condition], tuple[int, int] | None]:
    if isinstance(item, dict):
        found: list[Condition] = []
        for name, value in item.items():
            if not isinstance(value, str):
                raise _invalid(f"Invalid condition on '{name}': the value must be a string.")
            found.append(Condition("eq", _field(name), value))
        if not found:
            raise _invalid("Invalid condition: an empty object.")
        return found, None
    if isinstance(item, list) and item and isinstance(item[0], str):
        op = item[0].lower()
        if op == "content-length-range":
            if len(item) != 3:
                raise _invalid("Invalid content-length-range: it takes a minimum and a maximum.")
            low, high = _length(item[1]), _length(item[2])
            if low > high:
                raise _invalid("Invalid content-length-range: the minimum exceeds the maximum.")
            return [], (low, high)
        if op in ("eq", "starts-with"):
            if len(item) != 3 or not isinstance(item[1], str) or not item[1].startswith("$") \
                    or not isinstance(item[2], str):
                raise _invalid(f"Invalid '{op}' condition: expected [\"{op}\", \"$field\", \"value\"].")
            return [Condition("eq" if op == "eq" else "starts-with", _field(item[1]), item[2])], None
        raise _invalid(f"Invalid condition operator '{item[0][:32]}'.")
    raise _invalid("Invalid condition: each must be an object or an array.")


@dataclass(frozen=True, slots=True)
class PostPolicy:
    """A parsed policy document: when it expires, its conditions and its content-length-range."""
    expiration: float
    conditions: tuple[Condition, ...]
    length_range: tuple[int, int] | None = None

    @classmethod
    def parse(cls, encoded: str) -> PostPolicy:
        """The form's ``policy`` field (base64 JSON) -> PostPolicy; InvalidPolicyDocument if malformed."""
        if len(encoded) > MAX_POLICY_BYTES:
            raise _invalid("The policy document is too large.")
        try:
            document = json.loads(base64.b64decode(encoded.strip(), validate=True))
        except (binascii.Error, ValueError, RecursionError):
            raise _invalid("Invalid JSON.") from None
        if not isinstance(document, dict):
            raise _invalid("Invalid JSON: the policy must be an object.")
        if "expiration" not in document:
            raise _invalid("Policy missing expiration.")
        conditions = document.get("conditions")
        if not isinstance(conditions, list):
            raise _invalid("Invalid 'conditions' value: must be a List.")
        parsed: list[Condition] = []
        length_range: tuple[int, int] | None = None
        for item in conditions:
            found, lengths = _parse_condition(item)
            parsed += found
            length_range = lengths or length_range
        return cls(_parse_expiration(document["expiration"]), tuple(parsed), length_range)

    def check(self, fields: Mapping[str, str], *, bucket: str, now: float) -> None:
        """The policy against the form fields (lower-case names; ``key`` before ``${filename}``): AccessDenied."""
        if now > self.expiration:
            raise _policy_failed("Policy expired.")
        for condition in self.conditions:
            actual = bucket if condition.field == "bucket" else fields.get(condition.field, "")
            if not condition.holds(actual):
                raise _policy_failed(f"Policy Condition failed: {condition.describe()}")
        named = {condition.field for condition in self.conditions}
        extra = [name for name in fields if name not in named and name not in EXEMPT_FIELDS
                 and not name.startswith(IGNORED_PREFIX)]
        if extra:
            raise _policy_failed("Extra input fields: " + ", ".join(extra))

    def check_size(self, size: int, *, final: bool) -> None:
        """``size`` bytes so far against content-length-range (``final``: the whole file)."""
        if self.length_range is None:
            return
        low, high = self.length_range
        if size > high:
            raise EntityTooLarge(f"Your proposed upload exceeds the maximum allowed size of {high} bytes.")
        if final and size < low:
            raise EntityTooSmall(f"Your proposed upload is smaller than the minimum allowed size of {low} bytes.")


def _required(fields: Mapping[str, str], name: str, display: str) -> str:
    value = fields.get(name)
    if not value:
        raise InvalidArgument(f"Bucket POST must contain a field named '{display}'.  If it is specified, "
                              "please check the order of the fields.")
    return value


@dataclass(frozen=True, slots=True)
class FormSignature:
    """The credentials and signature a signed form carries."""
    version: Literal[2, 4]
    access_key: str
    signature: str
    policy: str                       # the base64 policy document: what was signed
    session_token: str | None = None
    date: str = ""                    # SigV4: the credential scope's date, region and service
    region: str = ""
    service: str = ""

    def verify(self, credentials: Credentials) -> None:
        """SignatureDoesNotMatch unless the signature is the policy's under ``credentials``' secret."""
        if self.version == 4:
            key = signing_key(credentials.secret_key, self.date, self.region, self.service)
            good = signatures_equal(sign(key, self.policy), self.signature)
        else:
            expected = base64.b64encode(hmac.new(credentials.secret_key.encode(), self.policy.encode(),
                                                 hashlib.sha1).digest()).decode()
            good = hmac.compare_digest(expected.encode(), self.signature.encode())
        if not good:
            raise SignatureDoesNotMatch()


def form_signature(fields: Mapping[str, str]) -> FormSignature | None:
    """The form's signature fields (lower-case names), or None for an unsigned form (no policy, no signature)."""
    policy = fields.get("policy")
    token = fields.get("x-amz-security-token") or None
    if "x-amz-signature" in fields or "x-amz-credential" in fields or "x-amz-algorithm" in fields:
        policy = _required(fields, "policy", "policy")
        signature = _required(fields, "x-amz-signature", "x-amz-signature")
        credential = _required(fields, "x-amz-credential", "x-amz-credential")
        algorithm = _required(fields, "x-amz-algorithm", "x-amz-algorithm")
        _required(fields, "x-amz-date", "x-amz-date")
        if algorithm != ALGORITHM:
            raise InvalidArgument(f"Unsupported x-amz-algorithm '{algorithm[:32]}': only {ALGORITHM}.")
        parts = credential.split("/")
        if len(parts) != 5 or parts[4] != "aws4_request" or not parts[0] or len(parts[1]) != 8 \
                or not parts[1].isdigit():
            raise InvalidArgument("Invalid x-amz-credential: expected "
                                  "<access key>/<YYYYMMDD>/<region>/s3/aws4_request.")
        if parts[3] != "s3":
            raise InvalidArgument(f"Invalid x-amz-credential: the service '{parts[3][:32]}' is not s3.")
        return FormSignature(4, parts[0], signature, policy, token, parts[1], parts[2], parts[3])
    if "signature" in fields or "awsaccesskeyid" in fields:
        policy = _required(fields, "policy", "policy")
        signature = _required(fields, "signature", "Signature")
        access_key = _required(fields, "awsaccesskeyid", "AWSAccessKeyId")
        return FormSignature(2, access_key, signature, policy, token)
    if policy:
        raise InvalidArgument("Bucket POST must contain a field named 'x-amz-signature' (or 'Signature' and "
                              "'AWSAccessKeyId') when it has a policy.")
    return None
