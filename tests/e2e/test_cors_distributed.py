"""CORS rules and bucket tags are cluster-wide: on four local nodes (tests/local_cluster.py), what one node puts
another reads, another's preflight answers from, and a delete through a third is seen by all."""

from __future__ import annotations

import http.client
from pathlib import Path

from tests.local_cluster import LocalNode, local_cluster

RULES = [{"AllowedOrigins": ["https://app.example.com"], "AllowedMethods": ["GET", "PUT"],
          "ExposeHeaders": ["ETag"], "MaxAgeSeconds": 60}]
TAGS = [{"Key": "team", "Value": "data"}]


def preflight(node: LocalNode, path: str) -> tuple[int, dict[str, str]]:
    conn = http.client.HTTPConnection("127.0.0.1", node.port, timeout=30)
    try:
        conn.request("OPTIONS", path, headers={"Origin": "https://app.example.com",
                                               "Access-Control-Request-Method": "PUT"})
        resp = conn.getresponse()
        resp.read()
        return resp.status, {k.lower(): v for k, v in resp.getheaders()}
    finally:
        conn.close()


def test_cors_and_tags_put_through_one_node_are_seen_through_another(tmp_path: Path) -> None:
    env = {"RUSTFS_ACCESS_KEY": "cors-dist-access", "RUSTFS_SECRET_KEY": "cors-dist-secret-0123456789",
           "RUSTFS_AUDIT_STDOUT": "false"}
    with local_cluster(tmp_path, env) as nodes:
        first, second = nodes[0].client(), nodes[1].client()
        first.create_bucket(Bucket="shared")
        first.put_bucket_cors(Bucket="shared", CORSConfiguration={"CORSRules": RULES})
        first.put_bucket_tagging(Bucket="shared", Tagging={"TagSet": TAGS})
        assert second.get_bucket_cors(Bucket="shared")["CORSRules"] == RULES
        assert second.get_bucket_tagging(Bucket="shared")["TagSet"] == TAGS
        status, headers = preflight(nodes[3], "/shared/upload.bin")
        assert status == 200 and headers["access-control-allow-origin"] == "https://app.example.com"
        assert headers["access-control-max-age"] == "60"
        nodes[2].client().delete_bucket_cors(Bucket="shared")
        nodes[2].client().delete_bucket_tagging(Bucket="shared")
        for node in nodes:
            assert preflight(node, "/shared/upload.bin")[0] == 403
            client = node.client()
            for call in (client.get_bucket_cors, client.get_bucket_tagging):
                try:
                    call(Bucket="shared")
                except client.exceptions.ClientError as exc:
                    assert exc.response["Error"]["Code"] in ("NoSuchCORSConfiguration", "NoSuchTagSet")
                else:
                    raise AssertionError(f"{call.__name__} through {node.address} still finds the configuration")
