"""Owners and ACLs in storage (docs/iam.md "ACLs and owners"): what versions and uploads record, that older
metadata reads (and plain versions pack) unchanged, and ``api.acl.acl_allows`` over a real layer."""

from __future__ import annotations

import hashlib
from collections.abc import Callable
from dataclasses import replace
from typing import Any

import msgpack
import pytest
from storage_helpers import BytesBody

from storage_engine.api.acl import (ALL_USERS, AUTHENTICATED_USERS, ENFORCED, OBJECT_WRITER, Grant, Owner,
                                    acl_allows, bucket_owner, pack_grants, unpack_grants)
from storage_engine.api.context import ReqCtx
from storage_engine.api.router import Endpoint
from storage_engine.erasure.metadata import Version, decode_header, decode_latest, encode_header
from storage_engine.http.types import Headers
from storage_engine.iam.principal import ANONYMOUS, Principal
from storage_engine.objects.layer import ErasureObjectLayer
from storage_engine.objects.multipart import UploadMeta
from storage_engine.objects.types import CompletePart, PutOptions

ALICE = Principal("user", "AKALICE0000000000000", "alice")
BOB = Principal("user", "AKBOB000000000000000", "bob")
OLD_VERSION_KEYS = {"id", "dd", "mt", "sz", "et", "md", "tg", "sc", "in", "ec", "di", "pt", "mp", "ck", "ct"}


# --- metadata -----------------------------------------------------------------------------------------
def test_plain_versions_pack_as_before() -> None:
    plain = Version("null", "d1", 1.0, size=3, etag="e")
    assert set(plain.pack()) == OLD_VERSION_KEYS
    assert Version("null", "d2", 2.0, delete_marker=True).pack() == {"id": "null", "dd": "d2", "mt": 2.0, "dm": True}


def test_owner_and_acl_round_trip() -> None:
    acl = pack_grants([Grant(ALICE.owner_id, "FULL_CONTROL", "alice"), Grant(ALL_USERS, "READ")])
    versions = [Version("v2", "d2", 2.0, delete_marker=True, owner=BOB.owner_id),
                Version("v1", "d1", 1.0, size=3, etag="e", owner=ALICE.owner_id, acl=acl)]
    back = decode_header(encode_header(versions))
    assert back[0].owner == BOB.owner_id and back[0].delete_marker
    assert back[1].owner == ALICE.owner_id and back[1].acl == acl
    listed = decode_latest(encode_header([versions[1]]))     # what a listing reads of it
    assert (listed.owner, listed.size, listed.etag) == (ALICE.owner_id, 3, "e")
    assert decode_latest(encode_header(versions)).delete_marker
    assert unpack_grants(back[1].acl, Owner("x")) == (Grant(ALICE.owner_id, "FULL_CONTROL", "alice"),
                                                       Grant(ALL_USERS, "READ"))


def test_upload_records_keep_their_old_layout() -> None:
    old = ["b", "k", "u", 1.0, "STANDARD", 2, 2, [0, 1, 2, 3], {}, {}, None, None]
    meta = UploadMeta(*old)
    assert meta.pack() == msgpack.packb(old, use_bin_type=True)
    assert UploadMeta.unpack(meta.pack()).owner == ""
    owned = replace(meta, owner=ALICE.owner_id, acl=b"\x90")
    back = UploadMeta.unpack(owned.pack())
    assert (back.owner, back.acl, back.sse) == (ALICE.owner_id, b"\x90", None)
    assert back.info().owner == ALICE.owner_id


# --- the layer ----------------------------------------------------------------------------------------------
def test_layer_records_owner_and_acl(with_layer: Callable[..., Any]) -> None:
    acl = pack_grants([Grant(ALL_USERS, "READ")])

    async def scenario(layer: ErasureObjectLayer) -> None:
        await layer.make_bucket("bkt", owner=ALICE.owner_id, owner_name="alice", ownership=OBJECT_WRITER)
        meta = await layer.buckets.get("bkt")
        assert (meta.owner, meta.owner_name, meta.ownership, meta.acl) == (ALICE.owner_id, "alice", OBJECT_WRITER,
                                                                             None)
        await layer.put_object("bkt", "o", BytesBody(b"abc"), PutOptions(owner=BOB.owner_id, acl=acl))
        info = await layer.get_object_info("bkt", "o")
        assert (info.owner, info.acl) == (BOB.owner_id, acl)
        listed = await layer.list_objects("bkt")
        assert [o.owner for o in listed.objects] == [BOB.owner_id]
        versions = await layer.list_object_versions("bkt")
        assert [v.owner for v in versions.versions] == [BOB.owner_id]
        await layer.set_bucket_versioning("bkt", "Enabled")
        deleted = await layer.delete_object("bkt", "gone", owner=BOB.owner_id)
        versions = await layer.list_object_versions("bkt", prefix="gone")
        assert [(v.version_id, v.delete_marker, v.owner) for v in versions.versions] == [
            (deleted.version_id, True, BOB.owner_id)]
        await layer.set_bucket_versioning("bkt", "Suspended")
        updated = await layer.put_object_acl("bkt", "o", None, None)
        assert updated.acl is None and updated.owner == BOB.owner_id and updated.etag == info.etag

        upload = await layer.new_multipart_upload("bkt", "mp", PutOptions(owner=BOB.owner_id, acl=acl))
        uploads = await layer.list_multipart_uploads("bkt")
        assert [u.owner for u in uploads.uploads] == [BOB.owner_id]
        part = await layer.put_object_part("bkt", "mp", upload, 1, BytesBody(b"x"), PutOptions())
        done = await layer.complete_multipart_upload("bkt", "mp", upload, [CompletePart(1, part.etag)],
                                                     PutOptions())
        assert (done.owner, done.acl) == (BOB.owner_id, acl)
    with_layer(scenario)


# --- acl_allows ---------------------------------------------------------------------------------------------
def _ctx(layer: ErasureObjectLayer, identity: Principal, key: str = "") -> ReqCtx:
    return ReqCtx(layer=layer, settings=layer.settings, endpoint=Endpoint.GetObject, bucket="bkt", key=key,
                  identity=identity, request_id="r", query={}, headers=Headers())


def test_acl_allows(with_layer: Callable[..., Any]) -> None:
    async def allowed(layer: ErasureObjectLayer, who: Principal, action: str, key: str = "") -> bool:
        return await acl_allows(_ctx(layer, who, key), action)

    async def scenario(layer: ErasureObjectLayer) -> None:
        await layer.make_bucket("bkt", owner=ALICE.owner_id, owner_name="alice", ownership=OBJECT_WRITER)
        # Private bucket: nobody but the owner (READ_ACP / WRITE_ACP are the owner's whatever the ACL).
        assert not await allowed(layer, BOB, "s3:ListBucket")
        assert not await allowed(layer, ANONYMOUS, "s3:ListBucket")
        assert await allowed(layer, ALICE, "s3:GetBucketAcl")
        grants = [Grant(ALICE.owner_id, "FULL_CONTROL"), Grant(BOB.owner_id, "WRITE"),
                  Grant(AUTHENTICATED_USERS, "READ"), Grant(ALL_USERS, "READ_ACP")]
        await layer.buckets.update("bkt", lambda m: replace(m, acl=pack_grants(grants)))
        for action in ("s3:ListBucket", "s3:ListBucketVersions", "s3:ListBucketMultipartUploads"):
            assert await allowed(layer, BOB, action)                 # AuthenticatedUsers READ
            assert not await allowed(layer, ANONYMOUS, action)
        assert await allowed(layer, BOB, "s3:PutObject") and await allowed(layer, BOB, "s3:DeleteObject")
        assert not await allowed(layer, ANONYMOUS, "s3:PutObject")
        assert await allowed(layer, ANONYMOUS, "s3:GetBucketAcl")    # AllUsers READ_ACP
        assert not await allowed(layer, BOB, "s3:PutBucketAcl")
        assert not await allowed(layer, BOB, "s3:PutBucketPolicy")   # never an ACL permission
        assert not await allowed(layer, BOB, "s3:GetObject")         # READ on the bucket is not on objects

        # Object ACLs: of the version; FULL_CONTROL means all of READ, READ_ACP, WRITE_ACP.
        await layer.put_object("bkt", "o", BytesBody(b"abc"), PutOptions(owner=ALICE.owner_id, acl=pack_grants(
            [Grant(ALICE.owner_id, "FULL_CONTROL"), Grant(BOB.owner_id, "FULL_CONTROL"), Grant(ALL_USERS, "READ")])))
        for action in ("s3:GetObject", "s3:GetObjectVersion", "s3:GetObjectAcl", "s3:PutObjectAcl"):
            assert await allowed(layer, BOB, action, "o")
        assert await allowed(layer, ANONYMOUS, "s3:GetObject", "o")
        assert not await allowed(layer, ANONYMOUS, "s3:GetObjectAcl", "o")
        assert not await allowed(layer, ANONYMOUS, "s3:GetObject", "missing")

        # IgnorePublicAcls: AllUsers / AuthenticatedUsers grants count for nothing; named grants still do.
        await layer.buckets.update("bkt", lambda m: replace(m, public_access_block=(False, True, False, False)))
        assert not await allowed(layer, ANONYMOUS, "s3:GetObject", "o")
        assert not await allowed(layer, BOB, "s3:ListBucket")
        assert await allowed(layer, BOB, "s3:GetObject", "o")

        # BucketOwnerEnforced: ACLs are disabled.
        await layer.buckets.update("bkt", lambda m: replace(m, ownership=ENFORCED, public_access_block=None))
        assert not await allowed(layer, BOB, "s3:GetObject", "o")
        assert not await allowed(layer, BOB, "s3:PutObject")
    with_layer(scenario)


@pytest.mark.parametrize("root_key", ["rootkey-a", "rootkey-b"])
def test_old_buckets_belong_to_root(with_layer: Callable[..., Any], root_key: str) -> None:
    async def scenario(layer: ErasureObjectLayer) -> None:
        await layer.make_bucket("bkt")
        meta = await layer.buckets.get("bkt")
        assert meta.owner == "" and meta.ownership == ""
        owner = bucket_owner(_ctx(layer, ALICE), meta)
        assert owner == Owner(hashlib.sha256(root_key.encode()).hexdigest(), "rustfs")
    with_layer(scenario, access_key=root_key, secret_key="secret-" + root_key)
