"""Multipart uploads through boto3: parts, copies of ranges, listings, completion checks, checksums."""

from __future__ import annotations

import hashlib
from typing import Any

import pytest
from botocore.exceptions import ClientError

from .test_boto3_objects import error_of

MIB = 1 << 20


def _multipart_etag(parts: list[bytes]) -> str:
    digest = hashlib.md5(b"".join(hashlib.md5(p).digest() for p in parts)).hexdigest()
    return f'"{digest}-{len(parts)}"'


def test_multipart_round_trip(client: Any, bkt: str) -> None:
    parts = [b"a" * (5 * MIB), b"b" * (5 * MIB), b"tail"]
    upload = client.create_multipart_upload(Bucket=bkt, Key="mp", ContentType="text/csv", Metadata={"m": "1"})
    upload_id = upload["UploadId"]
    listed = client.list_multipart_uploads(Bucket=bkt)
    assert [u["UploadId"] for u in listed["Uploads"]] == [upload_id]
    etags = []
    for number, data in enumerate(parts, start=1):
        etags.append(client.upload_part(Bucket=bkt, Key="mp", UploadId=upload_id, PartNumber=number,
                                        Body=data)["ETag"])
    assert etags[0] == f'"{hashlib.md5(parts[0]).hexdigest()}"'
    listed_parts = client.list_parts(Bucket=bkt, Key="mp", UploadId=upload_id)
    assert [(p["PartNumber"], p["Size"], p["ETag"]) for p in listed_parts["Parts"]] == [
        (i + 1, len(d), e) for i, (d, e) in enumerate(zip(parts, etags))]
    page = client.list_parts(Bucket=bkt, Key="mp", UploadId=upload_id, MaxParts=2)
    assert page["IsTruncated"] and page["NextPartNumberMarker"] == 2
    rest = client.list_parts(Bucket=bkt, Key="mp", UploadId=upload_id, PartNumberMarker=2)
    assert [p["PartNumber"] for p in rest["Parts"]] == [3]

    done = client.complete_multipart_upload(Bucket=bkt, Key="mp", UploadId=upload_id, MultipartUpload={
        "Parts": [{"PartNumber": i + 1, "ETag": e} for i, e in enumerate(etags)]})
    assert done["ETag"] == _multipart_etag(parts)
    head = client.head_object(Bucket=bkt, Key="mp")
    assert head["ContentLength"] == sum(map(len, parts)) and head["ContentType"] == "text/csv"
    assert head["Metadata"] == {"m": "1"}
    part2 = client.get_object(Bucket=bkt, Key="mp", PartNumber=2)
    assert part2["PartsCount"] == 3 and part2["ContentLength"] == 5 * MIB
    assert part2["Body"].read() == parts[1]
    ranged = client.get_object(Bucket=bkt, Key="mp", Range=f"bytes={5 * MIB - 2}-{5 * MIB + 1}")
    assert ranged["Body"].read() == b"aabb"
    assert client.list_multipart_uploads(Bucket=bkt).get("Uploads", []) == []


def test_multipart_errors(client: Any, bkt: str) -> None:
    upload_id = client.create_multipart_upload(Bucket=bkt, Key="e")["UploadId"]
    e1 = client.upload_part(Bucket=bkt, Key="e", UploadId=upload_id, PartNumber=1, Body=b"small")["ETag"]
    e2 = client.upload_part(Bucket=bkt, Key="e", UploadId=upload_id, PartNumber=2, Body=b"small too")["ETag"]
    cases = [
        ([{"PartNumber": 1, "ETag": e1}, {"PartNumber": 2, "ETag": e2}], ("EntityTooSmall", 400)),
        ([{"PartNumber": 2, "ETag": e2}, {"PartNumber": 1, "ETag": e1}], ("InvalidPartOrder", 400)),
        ([{"PartNumber": 1, "ETag": '"00000000000000000000000000000000"'}], ("InvalidPart", 400)),
        ([{"PartNumber": 3, "ETag": e1}], ("InvalidPart", 400)),
    ]
    for parts, expected in cases:
        with pytest.raises(ClientError) as exc:
            client.complete_multipart_upload(Bucket=bkt, Key="e", UploadId=upload_id,
                                             MultipartUpload={"Parts": parts})
        assert error_of(exc) == expected, parts
    with pytest.raises(ClientError) as exc:
        client.upload_part(Bucket=bkt, Key="e", UploadId=upload_id, PartNumber=10001, Body=b"x")
    assert error_of(exc) == ("InvalidArgument", 400)
    client.abort_multipart_upload(Bucket=bkt, Key="e", UploadId=upload_id)
    with pytest.raises(ClientError) as exc:
        client.upload_part(Bucket=bkt, Key="e", UploadId=upload_id, PartNumber=1, Body=b"x")
    assert error_of(exc) == ("NoSuchUpload", 404)
    with pytest.raises(ClientError) as exc:
        client.list_parts(Bucket=bkt, Key="e", UploadId="no-such-upload")
    assert error_of(exc) == ("NoSuchUpload", 404)


def test_single_small_part_completes(client: Any, bkt: str) -> None:
    upload_id = client.create_multipart_upload(Bucket=bkt, Key="one")["UploadId"]
    etag = client.upload_part(Bucket=bkt, Key="one", UploadId=upload_id, PartNumber=1, Body=b"only")["ETag"]
    client.complete_multipart_upload(Bucket=bkt, Key="one", UploadId=upload_id,
                                     MultipartUpload={"Parts": [{"PartNumber": 1, "ETag": etag}]})
    assert client.get_object(Bucket=bkt, Key="one")["Body"].read() == b"only"


def test_upload_part_copy(client: Any, bkt: str) -> None:
    source = bytes(range(256)) * (24 * 1024)          # 6 MiB
    client.put_object(Bucket=bkt, Key="src", Body=source)
    upload_id = client.create_multipart_upload(Bucket=bkt, Key="dst")["UploadId"]
    first = client.upload_part_copy(Bucket=bkt, Key="dst", UploadId=upload_id, PartNumber=1,
                                    CopySource={"Bucket": bkt, "Key": "src"},
                                    CopySourceRange=f"bytes=0-{5 * MIB - 1}")
    second = client.upload_part_copy(Bucket=bkt, Key="dst", UploadId=upload_id, PartNumber=2,
                                     CopySource={"Bucket": bkt, "Key": "src"},
                                     CopySourceRange=f"bytes={5 * MIB}-{len(source) - 1}")
    assert first["CopyPartResult"]["ETag"] == f'"{hashlib.md5(source[:5 * MIB]).hexdigest()}"'
    with pytest.raises(ClientError) as exc:
        client.upload_part_copy(Bucket=bkt, Key="dst", UploadId=upload_id, PartNumber=3,
                                CopySource={"Bucket": bkt, "Key": "src"}, CopySourceRange=f"bytes=0-{len(source)}")
    assert error_of(exc) == ("InvalidRange", 416)
    client.complete_multipart_upload(Bucket=bkt, Key="dst", UploadId=upload_id, MultipartUpload={"Parts": [
        {"PartNumber": 1, "ETag": first["CopyPartResult"]["ETag"]},
        {"PartNumber": 2, "ETag": second["CopyPartResult"]["ETag"]}]})
    assert client.get_object(Bucket=bkt, Key="dst")["Body"].read() == source


def test_multipart_with_checksums(client: Any, bkt: str) -> None:
    upload = client.create_multipart_upload(Bucket=bkt, Key="ck", ChecksumAlgorithm="CRC32")
    assert upload.get("ChecksumAlgorithm") == "CRC32"
    upload_id = upload["UploadId"]
    data = [b"x" * (5 * MIB), b"y" * 10]
    parts = []
    for number, chunk in enumerate(data, start=1):
        result = client.upload_part(Bucket=bkt, Key="ck", UploadId=upload_id, PartNumber=number, Body=chunk,
                                    ChecksumAlgorithm="CRC32")
        assert result.get("ChecksumCRC32")
        parts.append({"PartNumber": number, "ETag": result["ETag"], "ChecksumCRC32": result["ChecksumCRC32"]})
    listed = client.list_parts(Bucket=bkt, Key="ck", UploadId=upload_id)
    assert [p.get("ChecksumCRC32") for p in listed["Parts"]] == [p["ChecksumCRC32"] for p in parts]
    client.complete_multipart_upload(Bucket=bkt, Key="ck", UploadId=upload_id, MultipartUpload={"Parts": parts})
    assert client.get_object(Bucket=bkt, Key="ck")["Body"].read() == b"".join(data)


def test_upload_file_transfer_manager(client: Any, bkt: str, tmp_path: Any) -> None:
    """boto3's managed transfer: multipart upload and ranged, concurrent download."""
    from boto3.s3.transfer import TransferConfig

    path = tmp_path / "blob"
    data = hashlib.sha256(b"seed").digest() * (11 * MIB // 32)
    path.write_bytes(data)
    config = TransferConfig(multipart_threshold=5 * MIB, multipart_chunksize=5 * MIB, max_concurrency=2)
    client.upload_file(str(path), bkt, "blob", Config=config)
    assert client.head_object(Bucket=bkt, Key="blob")["ETag"].endswith('-3"')
    out = tmp_path / "out"
    client.download_file(bkt, "blob", str(out), Config=config)
    assert out.read_bytes() == data


def test_copy_of_multipart_object_is_single_part(client: Any, bkt: str) -> None:
    parts = [b"p" * (5 * MIB), b"q" * 100]
    upload_id = client.create_multipart_upload(Bucket=bkt, Key="mp")["UploadId"]
    etags = [client.upload_part(Bucket=bkt, Key="mp", UploadId=upload_id, PartNumber=i + 1, Body=d)["ETag"]
             for i, d in enumerate(parts)]
    client.complete_multipart_upload(Bucket=bkt, Key="mp", UploadId=upload_id, MultipartUpload={
        "Parts": [{"PartNumber": i + 1, "ETag": e} for i, e in enumerate(etags)]})
    copied = client.copy_object(Bucket=bkt, Key="copy", CopySource={"Bucket": bkt, "Key": "mp"})
    assert copied["CopyObjectResult"]["ETag"] == f'"{hashlib.md5(b"".join(parts)).hexdigest()}"'
    got = client.get_object(Bucket=bkt, Key="copy", Range="bytes=5242870-5242889")
    assert got["Body"].read() == b"p" * 10 + b"q" * 10
    head = client.head_object(Bucket=bkt, Key="copy", PartNumber=1)
    assert head["ContentLength"] == sum(map(len, parts))
