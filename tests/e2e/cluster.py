"""The component's rendered tenant, run as pods on this machine (issue 7, "End to end").

    render_tenant(tmp, servers, drives, engine_settings)  render under Pulumi mocks -> RenderedTenant
    netns_unavailable()                                   why pods cannot be made here (None: they can)
    PodCluster(tenant, root)                              the pods: one network, mount and UTS namespace each

A pod is what Kubernetes would make of the StatefulSet: its own network namespace (a veth into a bridge of
the root namespace, so every pod listens on `:9000` as rendered), `/etc/hosts` naming every pod of the
headless Service (what cluster DNS answers), its host name set to the pod name, and a private mount
namespace in which each volumeMount's mountPath is a bind mount of a temporary directory. The container
runs as rendered: the image's entrypoint, the args and env verbatim (secretKeyRef values from the rendered
Secret), the image's ENV and WORKDIR, the securityContext's user and group. Nothing is rewritten.
"""

from __future__ import annotations

import contextlib
import fcntl
import http.client
import json
import os
import random
import secrets
import shlex
import shutil
import signal
import ssl
import subprocess
import sys
import tempfile
import time
from collections.abc import Iterator, Mapping
from dataclasses import dataclass
from pathlib import Path
from typing import Any

import yaml

REPO = Path(__file__).resolve().parents[2]
CLUSTER_DOMAIN = "cluster.local"  # the kubelet's default; the component renders the same
BASE_STACK = "existing"           # any conformant cluster: no cloud resources around the tenant


# --- rendering -----------------------------------------------------------------------------------------
@dataclass(frozen=True)
class RenderedTenant:
    """One pool's StatefulSet and the Secrets its env refers to, as the component rendered them."""

    statefulset: dict[str, Any]
    secrets: dict[str, dict[str, str]]
    certificate: dict[str, Any] | None = None   # the cert-manager Certificate whose Secret the pods mount

    @property
    def tls(self) -> bool:
        """Whether the pods talk HTTPS (the rendered drive endpoints are `https://`)."""
        return any("https://" in arg for arg in self.container.get("args", []))

    @property
    def container(self) -> dict[str, Any]:
        [container] = self.statefulset["spec"]["template"]["spec"]["containers"]
        return container

    @property
    def pod_names(self) -> list[str]:
        name = self.statefulset["metadata"]["name"]
        return [f"{name}-{i}" for i in range(int(self.statefulset["spec"]["replicas"]))]

    def fqdn(self, pod: str) -> str:
        """The pod's DNS name under the StatefulSet's governing (headless) Service."""
        meta, spec = self.statefulset["metadata"], self.statefulset["spec"]
        return f"{pod}.{spec['serviceName']}.{meta['namespace']}.svc.{CLUSTER_DOMAIN}"

    def env(self) -> dict[str, str]:
        """The container's env, secretKeyRef values filled in from the rendered Secrets."""
        env: dict[str, str] = {}
        for item in self.container.get("env", []):
            if "value" in item:
                env[item["name"]] = item["value"]
            else:
                ref = item["valueFrom"]["secretKeyRef"]
                env[item["name"]] = self.secrets[ref["name"]][ref["key"]]
        return env


def render_tenant(tmp: Path, servers: int, drives: int, engine_settings: Mapping[str, Any] | None = None,
                  tenant: str = "e2e", tls: bool = True) -> RenderedTenant:
    """Render the `existing` stack with its tenants replaced by one tenant of `servers` x `drives`
    (with `tls` False, the platform's `tls.enabled: false`: plain HTTP, no Certificate). `kms.mode: none`: these
    clusters have no Vault (tests/component/test_contract_e2e.py runs the rendered Vault settings)."""
    from rustfs_component.plan import render_stack

    project = tmp / "project"
    (project / "stacks").mkdir(parents=True, exist_ok=True)
    for name in ("Pulumi.yaml", "__main__.py"):
        shutil.copy(REPO / name, project / name)
    document = yaml.safe_load((REPO / "stacks" / f"Pulumi.{BASE_STACK}.yaml").read_text())
    platform = document["config"]["rustfs-platform:platform"]
    if not tls:
        platform["tls"] = {"enabled": False}
    platform["kms"] = {"mode": "none"}
    platform["tenants"] = [{
        "name": tenant,
        "pools": [{"name": "pool0", "servers": servers, "drives_per_server": drives, "drive_size": "1Gi"}],
        **({"engine_settings": dict(engine_settings)} if engine_settings else {}),
    }]
    (project / "stacks" / f"Pulumi.{BASE_STACK}.yaml").write_text(yaml.safe_dump(document))
    plan = render_stack(BASE_STACK, project)

    def manifest(type_: str, name: str) -> dict[str, Any]:
        [reg] = plan.find(type_, name)
        return plan.raw_inputs(reg.urn)

    platform_name = platform["name"]
    statefulset = manifest("kubernetes:apps/v1:StatefulSet", f"{platform_name}-{tenant}-pool0")
    # Every rendered Secret: the env refers to several (credentials, metrics token...).
    secrets_by_name = {inputs["metadata"]["name"]: inputs.get("stringData") or {}
                       for inputs in (plan.raw_inputs(r.urn) for r in plan.find("kubernetes:core/v1:Secret"))}
    mounted = {v["secret"]["secretName"] for v in statefulset["spec"]["template"]["spec"].get("volumes", [])
               if "secret" in v}
    certificates = [plan.raw_inputs(r.urn) for r in plan.find("kubernetes:cert-manager.io/v1:Certificate")]
    certificate = next((c for c in certificates if c["spec"]["secretName"] in mounted), None)
    return RenderedTenant(statefulset, secrets_by_name, certificate)


# --- the image -----------------------------------------------------------------------------------------
def image_entrypoint() -> list[str]:
    """The image's ENTRYPOINT minus the init (tini), as a command that runs this checkout."""
    text = (REPO / "storage_engine" / "Containerfile").read_text()
    [line] = [ln for ln in text.splitlines() if ln.startswith("ENTRYPOINT")]
    argv: list[str] = json.loads(line.removeprefix("ENTRYPOINT").strip())
    argv = argv[argv.index("--") + 1:] if "--" in argv else argv
    # `rustfs-engine` is the console script of storage_engine.cli:main, i.e. `python -m storage_engine`.
    assert argv[0] == "rustfs-engine", argv
    return [sys.executable, "-m", "storage_engine", *argv[1:]]


def image_env() -> dict[str, str]:
    """The image's ENV, with this venv first on PATH and this checkout as the installed package."""
    return {"PATH": f"{Path(sys.executable).parent}:/usr/local/sbin:/usr/local/bin:/usr/sbin:/usr/bin:/sbin:/bin",
            "PYTHONDONTWRITEBYTECODE": "1", "PYTHONUNBUFFERED": "1", "HOME": "/tmp", "LANG": "C.UTF-8",
            "PYTHONPATH": str(REPO)}


IMAGE_WORKDIR = "/tmp"


# --- namespaces ----------------------------------------------------------------------------------------
def _ip(*args: str) -> None:
    subprocess.run(["ip", *args], check=True, capture_output=True, timeout=30)


def netns_unavailable() -> str | None:
    """Why network namespaces cannot be made here, or None."""
    if os.geteuid() != 0:
        return "network and mount namespaces need root"
    for tool in ("ip", "unshare", "setpriv"):
        if shutil.which(tool) is None:
            return f"`{tool}` is missing (scripts/test installs iproute2)"
    probe = f"rfsprobe{os.getpid()}"
    try:
        _ip("netns", "add", probe)
    except subprocess.CalledProcessError as exc:
        return f"cannot create a network namespace: {exc.stderr.decode(errors='replace').strip()}"
    _ip("netns", "del", probe)
    return None


def _free_subnet() -> str:
    """A 10.77.N.0/24 no interface of this machine uses (several clusters may run at once: the caller
    holds ``_subnet_lock`` until its bridge has the address)."""
    used = subprocess.run(["ip", "-4", "-o", "addr"], check=True, capture_output=True, text=True).stdout
    for third in random.sample(range(0, 250), 250):
        prefix = f"10.77.{third}."
        if f" {prefix}" not in used:
            return prefix
    raise RuntimeError("no free 10.77.N.0/24 subnet")


@contextlib.contextmanager
def _subnet_lock() -> Iterator[None]:
    """Held from choosing a subnet to giving the bridge its address: pytest workers run clusters at once."""
    with open(os.path.join(tempfile.gettempdir(), "rustfs-test-subnets.lock"), "a") as f:
        fcntl.flock(f, fcntl.LOCK_EX)
        yield


_OPEN_CLUSTERS: set[str] = set()
_MADE_MOUNT_POINTS: list[Path] = []


class Pod:
    """One engine process in its own namespaces; restartable on the same volumes."""

    def __init__(self, cluster: PodCluster, index: int, name: str, address: str) -> None:
        self.cluster = cluster
        self.index = index
        self.name = name
        self.address = address
        self.netns = f"{cluster.run_id}-{index}"
        self.root = cluster.root / name
        self.volumes = {m["mountPath"]: self.root / m["name"] for m in cluster.tenant.container["volumeMounts"]}
        self.log_path = self.root / "engine.log"
        self.proc: subprocess.Popen[bytes] | None = None
        self.starts = 0

    @property
    def url(self) -> str:
        return f"{'https' if self.cluster.tenant.tls else 'http'}://{self.address}:{self.port}"

    @property
    def port(self) -> int:
        [port] = [p["containerPort"] for p in self.cluster.tenant.container["ports"]]
        return int(port)

    def drive(self, mount_path: str) -> Path:
        """The temporary directory mounted at `mount_path` (e.g. "/data0") in this pod."""
        return self.volumes[mount_path]

    def command(self) -> list[str]:
        """`ip netns exec` -> private mounts and host name -> the container's user -> entrypoint + args."""
        security = self.cluster.tenant.container.get("securityContext", {})
        uid, gid = security.get("runAsUser", 0), security.get("runAsGroup", 0)
        # Mounts over a parent of our temporary directories (the `tmp` volume on /tmp) go last.
        ordered = sorted(self.volumes.items(), key=lambda item: self.root.is_relative_to(item[0]))
        setup = ["set -e"]
        setup += [f"mount --bind {shlex.quote(str(src))} {shlex.quote(dst)}" for dst, src in ordered]
        setup += [f"hostname {shlex.quote(self.name)}", f"cd {IMAGE_WORKDIR}",
                  f'exec setpriv --reuid={uid} --regid={gid} --clear-groups "$@"']
        return ["ip", "netns", "exec", self.netns, "unshare", "--mount", "--uts", "--propagation", "private",
                "sh", "-c", "\n".join(setup), "sh",
                *image_entrypoint(), *self.cluster.tenant.container["args"]]

    def start(self) -> None:
        assert not self.is_running(), f"{self.name} is already running"
        self.starts += 1
        env = {**image_env(), **self.cluster.tenant.env(), **self.cluster.extra_env}
        with self.log_path.open("ab") as log:
            log.write(f"\n===== start #{self.starts} at {time.strftime('%H:%M:%S')}\n".encode())
            log.flush()
            self.proc = subprocess.Popen(self.command(), env=env, stdout=log, stderr=subprocess.STDOUT,
                                         stdin=subprocess.DEVNULL, start_new_session=True)

    def is_running(self) -> bool:
        return self.proc is not None and self.proc.poll() is None

    def kill(self) -> None:
        """SIGKILL, no chance to clean up (the process chain execs, so the pid is the engine's)."""
        if self.proc is None:
            return
        with contextlib.suppress(ProcessLookupError):
            os.killpg(self.proc.pid, signal.SIGKILL)
        self.proc.wait(10)

    def stop(self, timeout: float = 10) -> None:
        if not self.is_running():
            return
        assert self.proc is not None
        with contextlib.suppress(ProcessLookupError):
            os.killpg(self.proc.pid, signal.SIGTERM)
        try:
            self.proc.wait(timeout)
        except subprocess.TimeoutExpired:
            self.kill()

    def ready_status(self) -> int:
        """The rendered readiness probe's answer (`/rustfs/health/ready`); 0 when nothing answers."""
        return self.probe("readinessProbe")

    def probe(self, kind: str) -> int:
        """The status the rendered probe `kind` ("livenessProbe", ...) gets; 0 when nothing answers."""
        get = self.cluster.tenant.container[kind]["httpGet"]
        path = get["path"]
        if get.get("scheme", "HTTP") == "HTTPS":   # the kubelet does not verify a probe's certificate
            unverified = ssl.create_default_context()
            unverified.check_hostname, unverified.verify_mode = False, ssl.CERT_NONE
            connection: http.client.HTTPConnection = http.client.HTTPSConnection(
                self.address, self.port, timeout=3, context=unverified)
        else:
            connection = http.client.HTTPConnection(self.address, self.port, timeout=3)
        try:
            connection.request("GET", path)
            return connection.getresponse().status
        except (OSError, http.client.HTTPException):
            return 0
        finally:
            connection.close()

    def log_tail(self, lines: int = 40) -> str:
        try:
            text = self.log_path.read_text(errors="replace")
        except OSError:
            return "(no log)"
        return "\n".join(text.splitlines()[-lines:])


class PodCluster:
    """The StatefulSet's pods on a bridge of this machine. Use as a context manager: everything it made
    (processes, namespaces, veths, bridge, /etc/netns entries, mount points) is removed on exit."""

    def __init__(self, tenant: RenderedTenant, root: Path, extra_env: Mapping[str, str] | None = None) -> None:
        self.tenant = tenant
        self.root = root
        # Settings the rendered env does not have (debugging only; tests say why they add one).
        self.extra_env = dict(extra_env or {})
        self.run_id = f"rfs{secrets.token_hex(3)}"
        self.bridge = f"{self.run_id}br"
        self.subnet = ""
        self.pods: list[Pod] = []

    def __enter__(self) -> PodCluster:
        _OPEN_CLUSTERS.add(self.run_id)
        try:
            self._make_network()
        except BaseException:
            self.close()
            raise
        return self

    def __exit__(self, *exc: object) -> None:
        self.close()

    def _make_network(self) -> None:
        _ip("link", "add", self.bridge, "type", "bridge")
        with _subnet_lock():
            self.subnet = _free_subnet()
            _ip("addr", "add", f"{self.subnet}1/24", "dev", self.bridge)
        _ip("link", "set", self.bridge, "up")
        names = self.tenant.pod_names
        self.pods = [Pod(self, i, name, f"{self.subnet}{11 + i}") for i, name in enumerate(names)]
        hosts = "127.0.0.1 localhost\n" + "".join(
            f"{pod.address} {self.tenant.fqdn(pod.name)} {pod.name}\n" for pod in self.pods)
        for pod in self.pods:
            veth = f"{self.run_id}v{pod.index}"
            _ip("netns", "add", pod.netns)
            _ip("link", "add", veth, "type", "veth", "peer", "name", "eth0", "netns", pod.netns)
            _ip("link", "set", veth, "master", self.bridge, "up")
            _ip("-n", pod.netns, "link", "set", "lo", "up")
            _ip("-n", pod.netns, "addr", "add", f"{pod.address}/24", "dev", "eth0")
            _ip("-n", pod.netns, "link", "set", "eth0", "up")
            etc = Path("/etc/netns") / pod.netns
            etc.mkdir(parents=True, exist_ok=True)
            (etc / "hosts").write_text(hosts)
            for mount_path, directory in pod.volumes.items():
                directory.mkdir(parents=True, exist_ok=True)
                os.chown(directory, *self._run_as())
                self._mount_point(Path(mount_path))

    def write_secret(self, secret_name: str, data: Mapping[str, bytes]) -> None:
        """What the kubelet does for a Secret volume of `secret_name` in every pod: the `items` (key -> path)
        with `defaultMode`, behind a `..data` symlink; called again, it rotates them by swapping `..data`."""
        from tests.tls_helpers import write_secret_volume

        for volume in self.tenant.statefulset["spec"]["template"]["spec"].get("volumes", []):
            source = volume.get("secret")
            if not source or source["secretName"] != secret_name:
                continue
            items = source.get("items") or [{"key": key, "path": key} for key in data]
            files = {item["path"]: data[item["key"]] for item in items}
            [mount] = [m["mountPath"] for m in self.tenant.container["volumeMounts"] if m["name"] == volume["name"]]
            for pod in self.pods:
                write_secret_volume(pod.drive(mount), files, int(source.get("defaultMode", 0o644)), self._run_as())

    def _run_as(self) -> tuple[int, int]:
        security = self.tenant.container.get("securityContext", {})
        return int(security.get("runAsUser", 0)), int(security.get("runAsGroup", 0))

    def _mount_point(self, path: Path) -> None:
        """An empty directory to bind onto (only inside the pods' mount namespaces), removed when the last
        cluster of this process closes: removing a mount point detaches it in every namespace."""
        if not path.exists():
            path.mkdir(parents=True)
            _MADE_MOUNT_POINTS.append(path)

    def start(self, order: list[Pod] | None = None, max_gap: float = 2.0) -> list[Pod]:
        """Start the pods in `order` (default: shuffled), 0 to `max_gap` seconds apart; returns the order."""
        order = list(order) if order is not None else random.sample(self.pods, len(self.pods))
        for n, pod in enumerate(order):
            if n:
                time.sleep(random.uniform(0, max_gap))
            pod.start()
        return order

    def wait_ready(self, pods: list[Pod] | None = None, timeout: float = 90) -> None:
        """Until every pod's readiness probe answers 200; fails with the logs when one exits or time runs out."""
        waiting = list(pods or self.pods)
        deadline = time.monotonic() + timeout
        while waiting:
            for pod in list(waiting):
                if not pod.is_running():
                    raise AssertionError(f"{pod.name} exited with {pod.proc and pod.proc.returncode} before it "
                                         f"was ready\n{self.logs()}")
                if pod.ready_status() == 200:
                    waiting.remove(pod)
            if waiting and time.monotonic() > deadline:
                raise AssertionError(f"not ready after {timeout:.0f}s: {[p.name for p in waiting]}\n{self.logs()}")
            if waiting:
                time.sleep(0.25)

    def logs(self, lines: int = 40) -> str:
        return "\n".join(f"--- {pod.name} ({pod.url}) ---\n{pod.log_tail(lines)}" for pod in self.pods)

    def _drain_connections(self, timeout: float = 5.0) -> None:
        """Let the dead processes' connections finish closing while every peer still answers: an orphaned
        socket still retransmitting its FIN keeps a deleted namespace (and its veth) alive for minutes."""
        deadline = time.monotonic() + timeout
        for pod in self.pods:
            while time.monotonic() < deadline:
                sockets = subprocess.run(["ip", "netns", "exec", pod.netns, "ss", "-tanH"],
                                         capture_output=True, text=True, timeout=30).stdout
                if all(line.startswith("TIME-WAIT") for line in sockets.splitlines()):
                    break
                time.sleep(0.1)

    def close(self) -> None:
        for pod in self.pods:
            with contextlib.suppress(Exception):
                pod.kill()
        self._drain_connections()
        for pod in self.pods:
            subprocess.run(["ip", "netns", "del", pod.netns], capture_output=True, timeout=30)
            shutil.rmtree(Path("/etc/netns") / pod.netns, ignore_errors=True)
        subprocess.run(["ip", "link", "del", self.bridge], capture_output=True, timeout=30)
        _OPEN_CLUSTERS.discard(self.run_id)
        while _MADE_MOUNT_POINTS and not _OPEN_CLUSTERS:
            with contextlib.suppress(OSError):
                _MADE_MOUNT_POINTS.pop().rmdir()
