"""Issue 9 end to end: the rendered tenant (4 servers x 2 drives) over TLS, with its Certificate rotated.

The Certificate the component renders for the tenant is issued by a test CA (``tests/tls_helpers.py``) for
exactly its rendered ``dnsNames``; its Secret is laid into every pod where the rendered volume mounts it
(the kubelet's layout: ``..data`` symlink, the rendered ``items`` and ``defaultMode``). The 4 engine processes
talk to each other over HTTPS (the rendered ``https://`` drive endpoints, verified against the mounted
``ca.crt``); a client trusting only the test CA does PUT/GET through them by their DNS names (resolved as
cluster DNS would, to the pods' addresses); the certificate is rotated under traffic: no failed request.
Needs root (network namespaces); skipped otherwise.
"""

from __future__ import annotations

import socket
import threading
import time
from collections.abc import Iterator
from pathlib import Path
from typing import Any

import boto3
import pytest
from botocore.config import Config
from cryptography import x509

from tests.tls_helpers import Leaf, TestCA

from .cluster import Pod, PodCluster, RenderedTenant, netns_unavailable, render_tenant
from .helpers import MiB, assert_same, payload

_UNAVAILABLE = netns_unavailable()
pytestmark = pytest.mark.skipif(_UNAVAILABLE is not None, reason=f"pods need network namespaces: {_UNAVAILABLE}")

SERVERS, DRIVES = 4, 2
BUCKET = "tls"
ROTATION_SECONDS = 30.0   # the engine checks its TLS files every 5 s (tls_reload_seconds' default)


@pytest.fixture(scope="module")
def tenant(tmp_path_factory: pytest.TempPathFactory) -> RenderedTenant:
    rendered = render_tenant(tmp_path_factory.mktemp("render-tls"), SERVERS, DRIVES)
    if rendered.certificate is None:
        pytest.skip("the component renders no Certificate mounted into the tenant's pods (issue 9, TLS on)")
    assert rendered.tls, "a Certificate is mounted but the drive endpoints are not https://"
    return rendered


@pytest.fixture(scope="module")
def ca() -> TestCA:
    return TestCA("e2e cluster issuer")


def issue(tenant: RenderedTenant, ca: TestCA) -> tuple[Leaf, dict[str, bytes]]:
    """A certificate for the rendered Certificate's dnsNames, as cert-manager writes its Secret."""
    assert tenant.certificate is not None
    leaf = ca.issue(tenant.certificate["spec"]["dnsNames"])
    return leaf, {"tls.crt": leaf.cert_pem, "tls.key": leaf.key_pem, "ca.crt": ca.cert_pem}


@pytest.fixture(scope="module")
def cluster(tenant: RenderedTenant, ca: TestCA, tmp_path_factory: pytest.TempPathFactory) -> Iterator[PodCluster]:
    assert tenant.certificate is not None
    with PodCluster(tenant, tmp_path_factory.mktemp("tls-pods")) as pods:
        pods.write_secret(tenant.certificate["spec"]["secretName"], issue(tenant, ca)[1])
        pods.start()
        pods.wait_ready()
        yield pods


@pytest.fixture(scope="module")
def cluster_dns(cluster: PodCluster) -> Iterator[dict[str, str]]:
    """The pods' DNS names resolved in this process as cluster DNS would: name -> pod address."""
    names = {cluster.tenant.fqdn(pod.name): pod.address for pod in cluster.pods}
    resolve = socket.getaddrinfo

    def getaddrinfo(host: Any, *args: Any, **kwargs: Any) -> Any:
        return resolve(names.get(host, host), *args, **kwargs)

    with pytest.MonkeyPatch.context() as patch:
        patch.setattr(socket, "getaddrinfo", getaddrinfo)
        yield names


@pytest.fixture(autouse=True)
def _pod_logs_on_failure(request: pytest.FixtureRequest) -> Iterator[None]:
    failed_before = request.session.testsfailed
    yield
    if request.session.testsfailed > failed_before and "cluster" in request.fixturenames:
        print(request.getfixturevalue("cluster").logs(60))


def client(pod: Pod, ca_bundle: Path) -> Any:
    """boto3 trusting only the test CA, addressing the pod by its DNS name; no retries."""
    env = pod.cluster.tenant.env()
    return boto3.Session().client(
        "s3", endpoint_url=f"https://{pod.cluster.tenant.fqdn(pod.name)}:{pod.port}", verify=str(ca_bundle),
        region_name=env.get("RUSTFS_REGION", "us-east-1"),
        aws_access_key_id=env["RUSTFS_ACCESS_KEY"], aws_secret_access_key=env["RUSTFS_SECRET_KEY"],
        config=Config(s3={"addressing_style": "path"}, retries={"max_attempts": 1, "mode": "standard"},
                      connect_timeout=5, read_timeout=60))


def served_serial(pod: Pod, ca: TestCA) -> int:
    """The serial number of the certificate `pod` serves now (a fresh handshake, verified)."""
    name = pod.cluster.tenant.fqdn(pod.name)
    with socket.create_connection((pod.address, pod.port), timeout=5) as raw:
        with ca.client_context().wrap_socket(raw, server_hostname=name) as tls:
            der = tls.getpeercert(binary_form=True)
    assert der is not None
    return x509.load_der_x509_certificate(der).serial_number


def test_pods_talk_https_and_a_client_trusting_only_the_ca_puts_and_gets(
        cluster: PodCluster, cluster_dns: dict[str, str], ca: TestCA, tmp_path: Path) -> None:
    bundle = ca.bundle(tmp_path / "ca.pem")
    p0, p1, p2, p3 = cluster.pods
    client(p0, bundle).create_bucket(Bucket=BUCKET)
    body = payload("tls/large", 0, 6 * MiB + 7)         # erasure-coded across the 4 pods over HTTPS
    client(p1, bundle).put_object(Bucket=BUCKET, Key="large.bin", Body=body)
    assert_same(client(p3, bundle).get_object(Bucket=BUCKET, Key="large.bin")["Body"].read(), body, "via 3")
    assert_same(client(p2, bundle).get_object(Bucket=BUCKET, Key="large.bin")["Body"].read(), body, "via 2")
    assert "refusing peer" not in cluster.logs(400)


def test_the_certificate_is_rotated_under_traffic_without_a_failed_request(
        cluster: PodCluster, cluster_dns: dict[str, str], tenant: RenderedTenant, ca: TestCA,
        tmp_path: Path) -> None:
    bundle = ca.bundle(tmp_path / "ca.pem")
    assert tenant.certificate is not None
    before = {pod.name: served_serial(pod, ca) for pod in cluster.pods}
    stop, failures, done = threading.Event(), [], [0]

    def traffic(pod: Pod, reader: Pod) -> None:
        n = 0
        while not stop.is_set():
            key, data = f"rotation/{pod.name}/{n}", payload("rotation", f"{pod.name}-{n}", 200_000 + n)
            try:
                client(pod, bundle).put_object(Bucket=BUCKET, Key=key, Body=data)   # new connections too
                got = client(reader, bundle).get_object(Bucket=BUCKET, Key=key)["Body"].read()
                if got != data:
                    failures.append(f"{key}: read back differs via {reader.name}")
            except Exception as exc:   # every failure is reported, none retried
                failures.append(f"{key} via {pod.name}/{reader.name}: {exc!r}")
            done[0] += 1
            n += 1

    threads = [threading.Thread(target=traffic, args=(pod, cluster.pods[(i + 1) % SERVERS]), daemon=True)
               for i, pod in enumerate(cluster.pods)]
    for thread in threads:
        thread.start()
    try:
        time.sleep(1)
        leaf, data = issue(tenant, ca)
        cluster.write_secret(tenant.certificate["spec"]["secretName"], data)
        deadline = time.monotonic() + ROTATION_SECONDS
        while any(served_serial(pod, ca) != leaf.serial for pod in cluster.pods):
            assert time.monotonic() < deadline, "the rotated certificate is not served after 30 s"
            time.sleep(0.5)
        time.sleep(1)   # traffic on the new certificate, node-to-node included
    finally:
        stop.set()
        for thread in threads:
            thread.join(90)
    assert not failures, f"{len(failures)} failed of {done[0]}:\n" + "\n".join(failures[:20])
    assert done[0] > 0
    assert all(before[pod.name] != leaf.serial for pod in cluster.pods)
    assert "refusing peer" not in cluster.logs(400)
