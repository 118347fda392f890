"""Parsing what a SigV4 client sent: the Authorization header, or the presigned query parameters.

    Authorization: AWS4-HMAC-SHA256 Credential=AKID/20240501/us-east-1/s3/aws4_request,
                   SignedHeaders=host;x-amz-content-sha256;x-amz-date, Signature=<64 hex>
    ?X-Amz-Algorithm=AWS4-HMAC-SHA256&X-Amz-Credential=...&X-Amz-Date=...&X-Amz-Expires=...
     &X-Amz-SignedHeaders=host&X-Amz-Signature=...
"""

from __future__ import annotations

from dataclasses import dataclass

from storage_engine.errors import (
    AuthorizationHeaderMalformed, AuthorizationQueryParametersError, InvalidRequest, S3Error,
)

from .sigv4 import ALGORITHM, is_hex_signature


@dataclass(slots=True)
class SignedParams:
    access_key: str
    date: str                       # yyyymmdd of the credential scope
    region: str
    service: str
    signed_headers: list[str]
    signature: str
    amz_date: str = ""              # yyyymmddThhmmssZ: the request's timestamp
    presigned: bool = False
    expires: int | None = None      # presigned only: X-Amz-Expires


def _credential(value: str, error: type[S3Error]) -> tuple[str, str, str, str]:
    parts = value.strip().rsplit("/", 4)
    if len(parts) != 5 or parts[4] != "aws4_request" or not all(parts[:4]):
        raise error(f"The credential '{value}' is malformed; expecting "
                    "'<access key>/<YYYYMMDD>/<region>/<service>/aws4_request'.")
    access_key, date, region, service = parts[:4]
    if len(date) != 8 or not date.isdigit():
        raise error(f"The credential date '{date}' is not in YYYYMMDD format.")
    return access_key, date, region, service


def _signed_headers(value: str, error: type[S3Error]) -> list[str]:
    names = [name.strip().lower() for name in value.split(";")]
    if not value or not all(names):
        raise error("SignedHeaders is malformed.")
    return names


def parse_authorization_header(value: str) -> SignedParams:
    algorithm, _, rest = value.strip().partition(" ")
    if algorithm != ALGORITHM:
        raise InvalidRequest("The authorization mechanism you have provided is not supported. "
                             "Please use AWS4-HMAC-SHA256.")
    fields: dict[str, str] = {}
    for item in rest.split(","):
        name, sep, field_value = item.strip().partition("=")
        if not sep or name in fields:
            raise AuthorizationHeaderMalformed(f"The authorization header is malformed near {item.strip()!r}.")
        fields[name] = field_value.strip()
    missing = [name for name in ("Credential", "SignedHeaders", "Signature") if not fields.get(name)]
    if missing:
        raise AuthorizationHeaderMalformed(f"The authorization header is missing {', '.join(missing)}.")
    access_key, date, region, service = _credential(fields["Credential"], AuthorizationHeaderMalformed)
    signature = fields["Signature"]
    if not is_hex_signature(signature):
        raise AuthorizationHeaderMalformed("The signature must be 64 lower-case hex digits.")
    return SignedParams(access_key, date, region, service,
                        _signed_headers(fields["SignedHeaders"], AuthorizationHeaderMalformed), signature)


def parse_presigned_query(query: dict[str, str]) -> SignedParams:
    error = AuthorizationQueryParametersError
    if query.get("X-Amz-Algorithm") != ALGORITHM:
        raise error("X-Amz-Algorithm only supports \"AWS4-HMAC-SHA256\".")
    missing = [name for name in ("X-Amz-Credential", "X-Amz-SignedHeaders", "X-Amz-Signature", "X-Amz-Date")
               if not query.get(name)]
    if missing:
        raise error(f"Query-string authentication requires {', '.join(missing)}.")
    access_key, date, region, service = _credential(query["X-Amz-Credential"], error)
    signature = query["X-Amz-Signature"]
    if not is_hex_signature(signature):
        raise error("X-Amz-Signature must be 64 lower-case hex digits.")
    expires_text = query.get("X-Amz-Expires")
    expires: int | None = None
    if expires_text is not None:
        if not (expires_text.isascii() and expires_text.isdigit()) or len(expires_text) > 12:
            raise error("X-Amz-Expires should be a number.")
        expires = int(expires_text)
    return SignedParams(access_key, date, region, service,
                        _signed_headers(query["X-Amz-SignedHeaders"], error), signature,
                        amz_date=query["X-Amz-Date"], presigned=True, expires=expires)
