"""AssumeRoleWithWebIdentity against the running server with boto3's ``sts`` client and a real OpenID
provider (``tests/oidc_server.py``, npm oidc-provider): tokens from its token endpoint map to policies
through the groups claim or the policy claim; forged, expired, foreign-issuer and foreign-audience tokens are
refused with AWS's codes."""

from __future__ import annotations

import json
import socket
import time
from collections.abc import Callable, Iterator
from typing import Any

import boto3
import pytest
from botocore import UNSIGNED
from botocore.config import Config
from botocore.exceptions import ClientError

from oidc_server import OidcServer, new_rsa_jwk
from tests.conftest import EngineServer

ROLE = "arn:aws:iam::000000000000:role/web"


def error_of(call: Callable[[], Any]) -> tuple[str, int]:
    with pytest.raises(ClientError) as info:
        call()
    response: Any = info.value.response
    return response["Error"]["Code"], response["ResponseMetadata"]["HTTPStatusCode"]


@pytest.fixture(scope="module")
def oidc_engine(engine_factory: Callable[..., EngineServer], oidc_server: OidcServer) -> Iterator[EngineServer]:
    """An engine trusting the test provider; the "readers" group maps to readonly, "writers" to readwrite."""
    server = engine_factory(name="sts-oidc", env={
        "RUSTFS_OIDC_ISSUER": oidc_server.issuer, "RUSTFS_OIDC_CLIENT_ID": oidc_server.client_id,
        "RUSTFS_OIDC_USER_CLAIM": "preferred_username",
        "RUSTFS_OIDC_GROUP_POLICIES": json.dumps({"readers": ["readonly"], "writers": ["readwrite"]})})
    s3 = server.client()
    s3.create_bucket(Bucket="web-data")
    s3.put_object(Bucket="web-data", Key="report.txt", Body=b"quarterly")
    yield server
    server.stop()


def anonymous_sts(engine: EngineServer) -> Any:
    return boto3.client("sts", endpoint_url=engine.url, region_name=engine.region,
                        config=Config(signature_version=UNSIGNED, retries={"max_attempts": 1}))


def web_identity(engine: EngineServer, token: str, **params: Any) -> dict[str, Any]:
    return anonymous_sts(engine).assume_role_with_web_identity(
        RoleArn=ROLE, RoleSessionName=params.pop("RoleSessionName", "web-session"), WebIdentityToken=token,
        **params)


def s3_for(engine: EngineServer, creds: dict[str, Any]) -> Any:
    return boto3.client("s3", endpoint_url=engine.url, region_name=engine.region,
                        aws_access_key_id=creds["AccessKeyId"], aws_secret_access_key=creds["SecretAccessKey"],
                        aws_session_token=creds["SessionToken"],
                        config=Config(retries={"max_attempts": 1}, s3={"addressing_style": "path"}))


def claims(idp: OidcServer, **overrides: Any) -> dict[str, Any]:
    now = int(time.time())
    base = {"iss": idp.issuer, "aud": idp.client_id, "sub": "carol", "preferred_username": "carol",
            "iat": now, "exp": now + 300}
    base.update(overrides)
    return {k: v for k, v in base.items() if v is not None}


def test_a_providers_token_maps_its_groups_to_policies(oidc_engine: EngineServer, oidc_server: OidcServer) -> None:
    token = oidc_server.token()           # alice, groups ["readers"] -> readonly
    response = web_identity(oidc_engine, token, DurationSeconds=900)
    assert response["SubjectFromWebIdentityToken"] == "alice"
    assert response["Audience"] == oidc_server.client_id
    assert response["Provider"] == oidc_server.issuer
    assert response["AssumedRoleUser"]["Arn"] == "arn:aws:sts::000000000000:assumed-role/web/web-session"
    creds = response["Credentials"]
    assert creds["AccessKeyId"].startswith("ASIA")
    assert abs(creds["Expiration"].timestamp() - time.time() - 900) < 60
    s3 = s3_for(oidc_engine, creds)
    assert s3.get_object(Bucket="web-data", Key="report.txt")["Body"].read() == b"quarterly"
    assert error_of(lambda: s3.put_object(Bucket="web-data", Key="x", Body=b"x")) == ("AccessDenied", 403)


def test_the_policy_claim_names_policies(oidc_engine: EngineServer, oidc_server: OidcServer) -> None:
    token = oidc_server.sign(claims(oidc_server, policy="readwrite"))
    s3 = s3_for(oidc_engine, web_identity(oidc_engine, token)["Credentials"])
    s3.put_object(Bucket="web-data", Key="by-carol.txt", Body=b"c")
    s3.delete_object(Bucket="web-data", Key="by-carol.txt")


def test_jwt_claims_are_condition_values(oidc_engine: EngineServer, oidc_server: OidcServer) -> None:
    """A managed policy that allows reads only under the caller's own jwt:preferred_username prefix."""
    root_iam = boto3.client("iam", endpoint_url=oidc_engine.url, region_name=oidc_engine.region,
                            aws_access_key_id=oidc_engine.access_key, aws_secret_access_key=oidc_engine.secret_key)
    root_iam.create_policy(PolicyName="own-prefix", PolicyDocument=json.dumps({
        "Version": "2012-10-17", "Statement": [{
            "Effect": "Allow", "Action": "s3:GetObject", "Resource": "arn:aws:s3:::web-data/*",
            "Condition": {"StringEquals": {"jwt:preferred_username": "carol"}}}]}))
    root = oidc_engine.client()
    root.put_object(Bucket="web-data", Key="carol.txt", Body=b"mine")
    carol = s3_for(oidc_engine, web_identity(oidc_engine, oidc_server.sign(
        claims(oidc_server, policy="own-prefix")))["Credentials"])
    assert carol.get_object(Bucket="web-data", Key="carol.txt")["Body"].read() == b"mine"
    dave = s3_for(oidc_engine, web_identity(oidc_engine, oidc_server.sign(
        claims(oidc_server, sub="dave", preferred_username="dave", policy="own-prefix")))["Credentials"])
    assert error_of(lambda: dave.get_object(Bucket="web-data", Key="carol.txt")) == ("AccessDenied", 403)


@pytest.mark.parametrize(("overrides", "code"), [
    ({"exp": int(time.time()) - 3600, "iat": int(time.time()) - 7200}, "ExpiredTokenException"),
    ({"iss": "http://127.0.0.1:1/other-issuer"}, "InvalidIdentityToken"),
    ({"aud": "another-client"}, "InvalidIdentityToken"),
    ({"exp": None}, "InvalidIdentityToken"),
])
def test_bad_tokens_are_refused(oidc_engine: EngineServer, oidc_server: OidcServer, overrides: dict[str, Any],
                                code: str) -> None:
    token = oidc_server.sign(claims(oidc_server, policy="readwrite", **overrides))
    assert error_of(lambda: web_identity(oidc_engine, token)) == (code, 400)


def test_forged_tokens_are_refused(oidc_engine: EngineServer, oidc_server: OidcServer) -> None:
    good = oidc_server.sign(claims(oidc_server, policy="readwrite"))
    header, payload, signature = good.split(".")
    tampered_payload = oidc_server.sign(claims(oidc_server, policy="consoleAdmin")).split(".")[1]
    forged = [
        f"{header}.{tampered_payload}.{signature}",                               # claims changed after signing
        oidc_server.sign(claims(oidc_server, policy="readwrite"), key=new_rsa_jwk("key-1")),   # not its key
        "not.a.jwt",
    ]
    for token in forged:
        assert error_of(lambda: web_identity(oidc_engine, token)) == ("InvalidIdentityToken", 400)


def test_a_token_mapping_to_no_policy_is_denied(oidc_engine: EngineServer, oidc_server: OidcServer) -> None:
    token = oidc_server.sign(claims(oidc_server, groups=["nobody"]))
    assert error_of(lambda: web_identity(oidc_engine, token)) == ("AccessDenied", 403)


def test_duration_is_checked(oidc_engine: EngineServer, oidc_server: OidcServer) -> None:
    token = oidc_server.sign(claims(oidc_server, policy="readonly"))
    assert error_of(lambda: web_identity(oidc_engine, token, DurationSeconds=43201)) == ("ValidationError", 400)


def test_web_identity_without_a_configured_provider(engine: EngineServer, oidc_server: OidcServer) -> None:
    token = oidc_server.sign(claims(oidc_server, policy="readonly"))
    assert error_of(lambda: web_identity(engine, token)) == ("InvalidIdentityToken", 400)


def test_an_unreachable_provider_is_idp_communication_error(engine_factory: Callable[..., EngineServer],
                                                            oidc_server: OidcServer) -> None:
    with socket.socket() as s:
        s.bind(("127.0.0.1", 0))
        issuer = f"http://127.0.0.1:{s.getsockname()[1]}"       # nobody listens there once closed
    server = engine_factory(name="sts-oidc-down", env={"RUSTFS_OIDC_ISSUER": issuer, "RUSTFS_OIDC_CLIENT_ID": "rustfs",
                                                       "RUSTFS_OIDC_GROUP_POLICIES": '{"readers": ["readonly"]}'})
    try:
        token = oidc_server.sign(claims(oidc_server, iss=issuer, aud="rustfs", policy="readonly"))
        assert error_of(lambda: web_identity(server, token)) == ("IDPCommunicationError", 400)
    finally:
        server.stop()
    assert "Unclosed client session" not in server.log_path.read_text()     # closed on shutdown
