"""A real Prometheus (Debian's ``prometheus`` package) on a loopback port, scraping engines every second.

    with PrometheusServer(root, targets=["127.0.0.1:9000"], token="...", rules=rules_yaml) as prom:
        prom.wait_for('rustfs_node_online == 1')          # polls the HTTP API, bounded
        prom.query('sum(rustfs_s3_requests_total)')       # -> the API's result list
        prom.alerts()                                     # -> the active alerts (pending and firing)

The configuration is generated: one job (``rustfs``) over ``targets`` at ``/rustfs/metrics``, with the
engines' bearer token when given, scrape and rule evaluation every ``interval`` seconds, and ``rules`` (the
text of a Prometheus rule file) loaded when given. Tests wait on events (``wait_for``), never on time.
``unavailable()`` says why a Prometheus cannot run here (None: it can).
"""

from __future__ import annotations

import json
import shutil
import socket
import subprocess
import time
import urllib.error
import urllib.parse
import urllib.request
from pathlib import Path
from typing import Any

import yaml

from tests.processes import stop_process

BINARY = "prometheus"
START_TIMEOUT = 30.0


def unavailable() -> str | None:
    if shutil.which(BINARY) is None:
        return "no prometheus binary (Debian package 'prometheus'; scripts/test installs it)"
    return None


def _free_port() -> int:
    with socket.socket() as s:
        s.bind(("127.0.0.1", 0))
        return int(s.getsockname()[1])


class PrometheusServer:
    def __init__(self, root: Path, targets: list[str], *, token: str = "", rules: str = "",
                 interval: float = 1.0, labels: dict[str, str] | None = None) -> None:
        self.root = root
        self.port = _free_port()
        self.url = f"http://127.0.0.1:{self.port}"
        self.log_path = root / "prometheus.log"
        self.proc: subprocess.Popen[bytes] | None = None
        root.mkdir(parents=True, exist_ok=True)
        job: dict[str, Any] = {"job_name": "rustfs", "metrics_path": "/rustfs/metrics", "scheme": "http",
                               "static_configs": [{"targets": targets, "labels": labels or {}}]}
        if token:
            job["authorization"] = {"type": "Bearer", "credentials": token}
        every = f"{round(interval * 1000)}ms"        # Prometheus durations take no fractions
        config: dict[str, Any] = {
            "global": {"scrape_interval": every, "scrape_timeout": every, "evaluation_interval": every},
            "scrape_configs": [job],
        }
        if rules:
            (root / "rules.yml").write_text(rules)
            config["rule_files"] = [str(root / "rules.yml")]
        self.config_path = root / "prometheus.yml"
        self.config_path.write_text(yaml.safe_dump(config, sort_keys=False))

    # --- lifecycle ---------------------------------------------------------------------------------
    def start(self) -> PrometheusServer:
        with self.log_path.open("ab") as log:
            self.proc = subprocess.Popen(
                [BINARY, f"--config.file={self.config_path}", f"--storage.tsdb.path={self.root / 'data'}",
                 f"--web.listen-address=127.0.0.1:{self.port}", "--log.level=warn"],
                stdout=log, stderr=subprocess.STDOUT, stdin=subprocess.DEVNULL, start_new_session=True)
        deadline = time.monotonic() + START_TIMEOUT
        while time.monotonic() < deadline:
            if self.proc.poll() is not None:
                raise RuntimeError(f"prometheus exited {self.proc.returncode}:\n{self.log()}")
            try:
                with urllib.request.urlopen(f"{self.url}/-/ready", timeout=2) as answer:
                    if answer.status == 200:
                        return self
            except OSError:
                pass
            time.sleep(0.2)
        raise RuntimeError(f"prometheus not ready after {START_TIMEOUT}s:\n{self.log()}")

    def stop(self) -> None:
        stop_process(self.proc, timeout=15)

    def __enter__(self) -> PrometheusServer:
        return self.start()

    def __exit__(self, *exc: object) -> None:
        self.stop()

    def log(self) -> str:
        return self.log_path.read_text(errors="replace")[-4000:] if self.log_path.exists() else ""

    # --- the HTTP API ------------------------------------------------------------------------------
    def _get(self, path: str, **params: str) -> Any:
        url = f"{self.url}{path}?{urllib.parse.urlencode(params)}" if params else f"{self.url}{path}"
        try:
            with urllib.request.urlopen(url, timeout=10) as answer:
                doc = json.load(answer)
        except urllib.error.HTTPError as exc:
            raise AssertionError(f"prometheus {path} {params}: {exc.code} {exc.read()[:500]!r}") from None
        assert doc["status"] == "success", doc
        return doc["data"]

    def query(self, expr: str) -> list[dict[str, Any]]:
        """Instant query: the result vector, each ``{"metric": {...}, "value": [ts, "text"]}``."""
        return self._get("/api/v1/query", query=expr)["result"]

    def values(self, expr: str) -> dict[tuple[tuple[str, str], ...], float]:
        """The query's samples by their sorted labels (``__name__`` included when kept)."""
        return {tuple(sorted(r["metric"].items())): float(r["value"][1]) for r in self.query(expr)}

    def targets(self) -> list[dict[str, Any]]:
        return self._get("/api/v1/targets")["activeTargets"]

    def alerts(self) -> list[dict[str, Any]]:
        return self._get("/api/v1/alerts")["alerts"]

    def wait_for(self, expr: str, timeout: float = 60.0, what: str = "") -> list[dict[str, Any]]:
        """Poll until ``expr`` returns a non-empty vector; its result. Bounded: AssertionError with the
        targets' state when it never does."""
        deadline = time.monotonic() + timeout
        while True:
            result = self.query(expr)
            if result:
                return result
            if time.monotonic() > deadline:
                targets = [(t["scrapeUrl"], t["health"], t.get("lastError", "")) for t in self.targets()]
                raise AssertionError(f"{what or expr}: no result after {timeout}s; targets: {targets}")
            time.sleep(0.25)

    def wait_alert(self, name: str, state: str = "firing", timeout: float = 60.0) -> dict[str, Any]:
        deadline = time.monotonic() + timeout
        while True:
            found = [a for a in self.alerts() if a["labels"].get("alertname") == name and a["state"] == state]
            if found:
                return found[0]
            if time.monotonic() > deadline:
                raise AssertionError(f"alert {name} not {state} after {timeout}s; alerts: {self.alerts()}")
            time.sleep(0.25)
