"""AssumeRoleWithLDAPIdentity (MinIO's API: LDAPUsername, LDAPPassword) against the running server and a
real slapd (``tests/ldap_server.py``). botocore has no such action, so the form is POSTed unsigned with
httpx, as MinIO's clients do. Policies come from the user's DN and group DNs (``ldap_policies``)."""

from __future__ import annotations

import json
import socket
import xml.etree.ElementTree as ET
from collections.abc import Callable, Iterator
from typing import Any

import boto3
import httpx
import pytest
from botocore.config import Config
from botocore.exceptions import ClientError

from ldap_server import SUFFIX, Slapd
from tests.conftest import EngineServer

NS = "{https://sts.amazonaws.com/doc/2011-06-15/}"


@pytest.fixture(scope="module")
def ldap_engine(engine_factory: Callable[..., EngineServer], slapd: Slapd) -> Iterator[EngineServer]:
    """An engine on the test slapd: group readers -> readonly (its DN spelt in upper case: DNs compare
    case-insensitively), writers -> readwrite; a user in no group maps to nothing."""
    server = engine_factory(name="sts-ldap", env={
        "RUSTFS_LDAP_SERVER_URL": slapd.url, "RUSTFS_LDAP_LOOKUP_BIND_DN": slapd.manager_dn,
        "RUSTFS_LDAP_LOOKUP_BIND_PASSWORD": slapd.manager_password,
        "RUSTFS_LDAP_USER_SEARCH_BASE": f"ou=people,{SUFFIX}",
        "RUSTFS_LDAP_USER_SEARCH_FILTER": "(uid=%s)",
        "RUSTFS_LDAP_GROUP_SEARCH_BASE": f"ou=groups,{SUFFIX}",
        "RUSTFS_LDAP_GROUP_SEARCH_FILTER": "(&(objectClass=groupOfNames)(member=%d))",
        "RUSTFS_LDAP_POLICIES": json.dumps({slapd.group_dn("readers").upper(): ["readonly"],
                                            slapd.group_dn("writers"): ["readwrite"]}),
    })
    s3 = server.client()
    s3.create_bucket(Bucket="ldap-data")
    s3.put_object(Bucket="ldap-data", Key="a.txt", Body=b"from root")
    yield server
    server.stop()


def ldap_login(engine: EngineServer, username: str, password: str, **params: str) -> httpx.Response:
    form = {"Action": "AssumeRoleWithLDAPIdentity", "Version": "2011-06-15", "LDAPUsername": username,
            "LDAPPassword": password, **params}
    return httpx.post(engine.url + "/", data=form, timeout=30)


def credentials(response: httpx.Response) -> dict[str, str]:
    assert response.status_code == 200, response.text
    root = ET.fromstring(response.content)
    creds = root.find(f"{NS}AssumeRoleWithLDAPIdentityResult/{NS}Credentials")
    assert creds is not None, response.text
    return {child.tag.removeprefix(NS): child.text or "" for child in creds}


def error_code(response: httpx.Response) -> str:
    root = ET.fromstring(response.content)
    code = root.find(f"{NS}Error/{NS}Code")
    assert code is not None, response.text
    return code.text or ""


def s3_for(engine: EngineServer, creds: dict[str, str]) -> Any:
    return boto3.client("s3", endpoint_url=engine.url, region_name=engine.region,
                        aws_access_key_id=creds["AccessKeyId"], aws_secret_access_key=creds["SecretAccessKey"],
                        aws_session_token=creds["SessionToken"],
                        config=Config(retries={"max_attempts": 1}, s3={"addressing_style": "path"}))


def denied(call: Callable[[], Any]) -> str:
    with pytest.raises(ClientError) as info:
        call()
    return str(info.value.response["Error"]["Code"])  # pyright: ignore[reportTypedDictNotRequiredAccess]


def test_group_membership_maps_to_policies(ldap_engine: EngineServer) -> None:
    bob = s3_for(ldap_engine, credentials(ldap_login(ldap_engine, "bob", "bob-password")))   # writers
    bob.put_object(Bucket="ldap-data", Key="bob.txt", Body=b"bob")
    assert bob.get_object(Bucket="ldap-data", Key="a.txt")["Body"].read() == b"from root"
    creds = credentials(ldap_login(ldap_engine, "alice", "alice-password", DurationSeconds="900"))
    assert creds["AccessKeyId"].startswith("ASIA") and creds["SessionToken"]
    alice = s3_for(ldap_engine, creds)         # readers and writers: readonly + readwrite
    alice.put_object(Bucket="ldap-data", Key="alice.txt", Body=b"alice")


def test_a_user_mapped_to_no_policy_is_denied(ldap_engine: EngineServer) -> None:
    # o*brien(x) is in no group and its DN is not mapped: no policy -> AccessDenied at the door.
    response = ldap_login(ldap_engine, "o*brien(x)", "obrien-password")
    assert response.status_code == 403 and error_code(response) == "AccessDenied"


@pytest.mark.parametrize(("username", "password"), [
    ("alice", "wrong"), ("nobody", "whatever"), ("*", "alice-password"), ("alice)(uid=*", "alice-password")])
def test_wrong_credentials_are_denied(ldap_engine: EngineServer, username: str, password: str) -> None:
    response = ldap_login(ldap_engine, username, password)
    assert response.status_code == 403 and error_code(response) == "AccessDenied"
    assert "<Type>Sender</Type>" in response.text


def test_missing_password_and_bad_duration(ldap_engine: EngineServer) -> None:
    response = ldap_login(ldap_engine, "alice", "")
    assert response.status_code == 400 and error_code(response) == "MissingParameter"
    response = ldap_login(ldap_engine, "alice", "alice-password", DurationSeconds="60")
    assert response.status_code == 400 and error_code(response) == "ValidationError"


def test_directory_down_is_service_unavailable(engine_factory: Callable[..., EngineServer], slapd: Slapd) -> None:
    """An engine pointed at a port nobody listens on: 503, never a 500 with a traceback."""
    with socket.socket() as s:
        s.bind(("127.0.0.1", 0))
        port = s.getsockname()[1]
    server = engine_factory(name="sts-ldap-down", env={
        "RUSTFS_LDAP_SERVER_URL": f"ldap://127.0.0.1:{port}", "RUSTFS_LDAP_LOOKUP_BIND_DN": slapd.manager_dn,
        "RUSTFS_LDAP_LOOKUP_BIND_PASSWORD": slapd.manager_password,
        "RUSTFS_LDAP_USER_SEARCH_BASE": f"ou=people,{SUFFIX}", "RUSTFS_LDAP_USER_SEARCH_FILTER": "(uid=%s)",
        "RUSTFS_LDAP_POLICIES": json.dumps({slapd.user_dn("alice"): ["readonly"]})})
    try:
        response = ldap_login(server, "alice", "alice-password")
        assert response.status_code == 503 and error_code(response) == "ServiceUnavailable"
        assert "<Type>Receiver</Type>" in response.text and "Traceback" not in response.text
    finally:
        server.stop()
