"""The contract between the component and the engine, end to end.

Render a tenant of 1 server x 4 drives under Pulumi mocks (the `dev` tenant of stacks/Pulumi.existing.yaml),
then start the engine exactly as that StatefulSet's container would run: the image's entrypoint, the
container's args and env (secretKeyRef values filled in from the rendered Secret, i.e. the mocked random
outputs), volume mounts mapped to temporary directories, and only the listen address moved to a free
loopback port. TLS is on (the default): the tenant's Certificate Secret is made by a test CA (`tests/tls_helpers`,
for the Certificate's dnsNames plus 127.0.0.1, the loopback standing in for the Service address) and written through
the StatefulSet's Secret volume `items` into its mount; the rendered probes must answer over the scheme they name,
and a boto3 round trip must work trusting only that CA.

Vault is on (the default): the engine's rendered KMS settings point at a real OpenBao (standing in for the Vault
Service) that the `vault-configure` script has configured for the tenant, and the engine logs in with Kubernetes auth,
its projected token a JWT that a fake TokenReview API vouches for; the object on the drives is ciphertext.
"""

from __future__ import annotations

import json
import os
import re
import socket
import subprocess
import sys
import time
import urllib.error
import urllib.request
from pathlib import Path
from typing import Any

import boto3
import pytest
from botocore.config import Config

from rustfs_component.plan import Plan, render_stack
from rustfs_component.services.vault_configure import VaultTenant, configure_script
from storage_engine.config import env_name

sys.path.insert(0, str(Path(__file__).resolve().parents[1]))
from kubernetes_fake import service_account_jwt, token_review_api  # noqa: E402
from openbao_server import OpenBao, bao_binary  # noqa: E402
from tls_helpers import TestCA  # noqa: E402

REPO = Path(__file__).resolve().parents[2]
TENANT, POOL = "dev", "pool0"
START_TIMEOUT = 60.0


def _free_port() -> int:
    with socket.socket() as s:
        s.bind(("127.0.0.1", 0))
        return int(s.getsockname()[1])


def _entrypoint() -> list[str]:
    """The image's ENTRYPOINT, minus the init (tini), as a command that runs from this checkout."""
    text = (REPO / "storage_engine" / "Containerfile").read_text()
    [line] = [ln for ln in text.splitlines() if ln.startswith("ENTRYPOINT")]
    argv: list[str] = json.loads(line.removeprefix("ENTRYPOINT").strip())
    if "--" in argv:
        argv = argv[argv.index("--") + 1:]
    # `rustfs-engine` is the console script of storage_engine.cli:main, i.e. `python -m storage_engine`.
    assert argv[0] in ("rustfs-engine", "python"), argv
    return [sys.executable, "-m", "storage_engine"] if argv[0] == "rustfs-engine" else [sys.executable, *argv[1:]]


def _manifest(plan: Plan, type_: str, name: str) -> dict[str, Any]:
    [reg] = plan.find(type_, name)
    return plan.raw_inputs(reg.urn)


@pytest.fixture(scope="module")
def rendered() -> tuple[dict[str, Any], dict[str, Any]]:
    plan = render_stack("existing", REPO)
    statefulset = _manifest(plan, "kubernetes:apps/v1:StatefulSet", f"rustfs-{TENANT}-{POOL}")
    secret = _manifest(plan, "kubernetes:core/v1:Secret", f"rustfs-{TENANT}-credentials")
    assert statefulset["spec"]["replicas"] == 1
    assert len(statefulset["spec"]["volumeClaimTemplates"]) == 4
    [certificate] = [plan.raw_inputs(r.urn) for r in plan.find("kubernetes:cert-manager.io/v1:Certificate")
                     if plan.raw_inputs(r.urn)["metadata"]["name"] == f"{TENANT}-tls"]
    secrets = {s["metadata"]["name"]: s["stringData"] for s in (plan.raw_inputs(r.urn)
               for r in plan.find("kubernetes:core/v1:Secret")) if "stringData" in s}  # e.g. the metrics token
    return statefulset, {**secrets, secret["metadata"]["name"]: secret["stringData"], "__certificate__": certificate}


def _write_tls_secret(pod: dict[str, Any], container: dict[str, Any], certificate: dict[str, Any], tmp: Path) -> TestCA:
    """cert-manager's Secret (tls.crt, tls.key, ca.crt), from a test CA, written through the pod's Secret volume."""
    ca = TestCA()
    leaf = ca.issue([*certificate["spec"]["dnsNames"], "127.0.0.1"])
    secret = {"tls.crt": leaf.cert_pem, "tls.key": leaf.key_pem, "ca.crt": ca.cert_pem}
    [volume] = [v for v in pod["volumes"] if v.get("secret", {}).get("secretName") == certificate["spec"]["secretName"]]
    [mount] = [m for m in container["volumeMounts"] if m["name"] == volume["name"]]
    for item in volume["secret"]["items"]:
        (tmp / mount["mountPath"].lstrip("/") / item["path"]).write_bytes(secret[item["key"]])
    return ca


def _process_env(container: dict[str, Any], secrets: dict[str, dict[str, str]], tmp: Path) -> dict[str, str]:
    env = {"PATH": os.environ.get("PATH", ""), "TMPDIR": str(tmp / "tmp"), "PYTHONPATH": str(REPO)}
    mounts = [m["mountPath"] for m in container["volumeMounts"]]
    for item in container.get("env", []):
        if "value" in item and any(item["value"] == m or item["value"].startswith(m + "/") for m in mounts):
            env[item["name"]] = str(tmp / item["value"].lstrip("/"))  # a path in a volume, mapped like the mounts
        elif "value" in item:
            env[item["name"]] = item["value"]
        else:
            ref = item["valueFrom"]["secretKeyRef"]
            env[item["name"]] = secrets[ref["name"]][ref["key"]]
    return env


def _args(container: dict[str, Any], tmp: Path, port: int) -> list[str]:
    """The container's args with mount paths under `tmp` and the address on loopback."""
    args = list(container["args"])
    mounts = sorted((m["mountPath"] for m in container["volumeMounts"]), key=len, reverse=True)
    out: list[str] = []
    for index, arg in enumerate(args):
        if index > 0 and args[index - 1] == "--address":
            assert arg == ":9000"
            out.append(f"127.0.0.1:{port}")
        elif arg.startswith("/"):
            # A drive expression such as /data{0...3}: every drive it expands to must be a volume mount.
            assert re.sub(r"\{0\.\.\.(\d+)\}", "0", arg) in mounts, (arg, mounts)
            out.append(str(tmp) + arg)
        else:
            out.append(arg)
    return out


def _configure_vault(bao: OpenBao, tenant: VaultTenant, api: str, ca: TestCA, tmp: Path) -> None:
    """The vault-configure script (for an existing Vault: the token from a file) run against OpenBao, `vault` -> `bao`."""
    shim = tmp / "vault-bin"
    shim.mkdir()
    (shim / "vault").symlink_to(bao_binary())
    (tmp / "vault-token").write_text(bao.root_token)
    (tmp / "kube-ca.crt").write_bytes(ca.cert_pem)
    (tmp / "configure.sh").write_text(configure_script([tenant], mode="existing"))
    done = subprocess.run(
        ["sh", str(tmp / "configure.sh")], capture_output=True, text=True, timeout=120,
        env={"PATH": f"{shim}:/usr/bin:/bin", "HOME": str(tmp), "VAULT_ADDR": bao.address, "WORK": str(tmp),
             "TOKEN_FILE": str(tmp / "vault-token"), "KUBERNETES_HOST": api,
             "KUBERNETES_CA_FILE": str(tmp / "kube-ca.crt"), "WAIT_TRIES": "5", "WAIT_SECONDS": "1"})
    assert done.returncode == 0, done.stderr


def _get(url: str, context: Any = None) -> int:
    try:
        with urllib.request.urlopen(url, timeout=2, context=context) as response:
            return int(response.status)
    except urllib.error.HTTPError as error:
        return int(error.code)
    except OSError:
        return 0


def test_engine_runs_with_the_rendered_container(rendered: tuple[dict[str, Any], dict[str, Any]], tmp_path: Path) -> None:
    statefulset, secrets = rendered
    pod = statefulset["spec"]["template"]["spec"]
    [container] = pod["containers"]
    assert "command" not in container  # the image's entrypoint runs, with the rendered args
    for mount in container["volumeMounts"]:
        (tmp_path / mount["mountPath"].lstrip("/")).mkdir(parents=True, exist_ok=True)
    ca = _write_tls_secret(pod, container, secrets["__certificate__"], tmp_path)
    scheme = container["readinessProbe"]["httpGet"]["scheme"].lower()
    assert scheme == "https"  # TLS is on by default
    context = ca.client_context()
    port = _free_port()
    env = _process_env(container, secrets, tmp_path)
    # Vault: the Service's address becomes the OpenBao's; the projected token file holds the tenant's JWT.
    assert env[env_name("kms_backend")] == "vault"
    assert env[env_name("kms_vault_address")] == "https://vault.vault.svc:8200"
    namespace, account = statefulset["metadata"]["namespace"], pod["serviceAccountName"]
    bao = OpenBao(tmp_path / "bao")
    bao.start()
    [token] = [source["serviceAccountToken"] for volume in pod["volumes"]
               for source in volume.get("projected", {}).get("sources", []) if "serviceAccountToken" in source]
    jwt = service_account_jwt(namespace, account, token["audience"])
    Path(env[env_name("kms_vault_kubernetes_jwt_file")]).write_text(jwt)
    env[env_name("kms_vault_address")] = bao.address
    api = token_review_api(jwt, namespace, account)
    _configure_vault(bao, VaultTenant(TENANT, namespace, account), api.__enter__(), TestCA(), tmp_path)
    argv = [*_entrypoint(), *_args(container, tmp_path, port)]
    log = (tmp_path / "engine.log").open("wb")
    process = subprocess.Popen(argv, env=env, cwd=tmp_path, stdout=log, stderr=subprocess.STDOUT)
    try:
        base = f"{scheme}://127.0.0.1:{port}"
        ready = container["readinessProbe"]["httpGet"]["path"]
        live = container["livenessProbe"]["httpGet"]["path"]
        deadline = time.monotonic() + START_TIMEOUT
        while _get(base + ready, context) != 200:
            if process.poll() is not None or time.monotonic() > deadline:
                pytest.fail(f"engine did not become ready (exit {process.poll()}):\n"
                            + (tmp_path / "engine.log").read_text()[-4000:])
            time.sleep(0.2)
        assert _get(base + live, context) == 200

        access_key, secret_key = env["RUSTFS_ACCESS_KEY"], env["RUSTFS_SECRET_KEY"]
        s3 = boto3.client("s3", endpoint_url=base, aws_access_key_id=access_key, aws_secret_access_key=secret_key,
                          region_name=env.get("RUSTFS_REGION", "us-east-1"), verify=str(ca.bundle(tmp_path / "ca.pem")),
                          config=Config(s3={"addressing_style": "path"}, retries={"max_attempts": 1}))
        s3.create_bucket(Bucket="contract")
        body = os.urandom(3 * 1024 * 1024 + 17)
        s3.put_object(Bucket="contract", Key="dir/object.bin", Body=body)
        head = s3.head_object(Bucket="contract", Key="dir/object.bin")
        assert head.get("ServerSideEncryption") == "AES256"  # encrypt everything, under the tenant's Vault key
        assert s3.get_object(Bucket="contract", Key="dir/object.bin")["Body"].read() == body
        stored = b"".join(f.read_bytes() for i in range(4) for f in (tmp_path / f"data{i}").rglob("*") if f.is_file())
        assert body[:4096] not in stored and body[-4096:] not in stored  # ciphertext on the drives
        assert [o["Key"] for o in s3.list_objects_v2(Bucket="contract")["Contents"]] == ["dir/object.bin"]
        s3.delete_object(Bucket="contract", Key="dir/object.bin")
        s3.delete_bucket(Bucket="contract")
        # The data landed on the four mapped volumes.
        assert all(any((tmp_path / f"data{i}").iterdir()) for i in range(4))
    finally:
        process.terminate()
        try:
            process.wait(timeout=15)
        except subprocess.TimeoutExpired:
            process.kill()
            process.wait()
        log.close()
        api.__exit__(None, None, None)
        bao.stop()
