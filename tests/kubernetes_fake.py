"""Just enough of Kubernetes for Vault's Kubernetes auth against a real OpenBao: a ServiceAccount token's
shape, and a loopback API answering TokenReview for that one token (Vault asks it whether a JWT is valid).

    jwt = service_account_jwt("tenant-a", "rustfs-tenant-a", audience="vault")
    with token_review_api(jwt, "tenant-a", "rustfs-tenant-a") as api:   # api: "http://127.0.0.1:<port>"
        ... auth/kubernetes/config kubernetes_host=api ...
"""

from __future__ import annotations

import base64
import json
import os
import threading
from collections.abc import Iterator
from contextlib import contextmanager
from http.server import BaseHTTPRequestHandler, ThreadingHTTPServer
from typing import Any

TOKEN_REVIEWS = "/apis/authentication.k8s.io/v1/tokenreviews"


def service_account_jwt(namespace: str, service_account: str, audience: str | None = None) -> str:
    """A projected ServiceAccount token's shape: Vault reads its claims; the API below vouches for it."""
    def part(obj: dict[str, Any]) -> str:
        return base64.urlsafe_b64encode(json.dumps(obj).encode()).rstrip(b"=").decode()
    claims: dict[str, Any] = {
        "iss": "kubernetes/serviceaccount", "sub": f"system:serviceaccount:{namespace}:{service_account}",
        "kubernetes.io/serviceaccount/namespace": namespace,
        "kubernetes.io/serviceaccount/service-account.name": service_account,
        "kubernetes.io/serviceaccount/service-account.uid": "uid-1"}
    if audience is not None:
        claims["aud"] = [audience]
    return f"{part({'alg': 'RS256', 'typ': 'JWT'})}.{part(claims)}.{part({'sig': os.urandom(8).hex()})}"


@contextmanager
def token_review_api(jwt: str, namespace: str, service_account: str) -> Iterator[str]:
    """A loopback Kubernetes API answering TokenReview: ``jwt`` is that ServiceAccount (for the audiences
    asked), any other token is not authenticated."""
    class Handler(BaseHTTPRequestHandler):
        def do_POST(self) -> None:
            review = json.loads(self.rfile.read(int(self.headers.get("Content-Length", "0"))))
            status: dict[str, Any] = {"authenticated": False}
            if self.path == TOKEN_REVIEWS and review["spec"]["token"] == jwt:
                status = {"authenticated": True, "audiences": review["spec"].get("audiences") or [],
                          "user": {"username": f"system:serviceaccount:{namespace}:{service_account}",
                                   "uid": "uid-1",
                                   "groups": ["system:serviceaccounts", f"system:serviceaccounts:{namespace}"]}}
            body = json.dumps({"kind": "TokenReview", "apiVersion": "authentication.k8s.io/v1",
                               "status": status}).encode()
            self.send_response(201)
            self.send_header("Content-Type", "application/json")
            self.send_header("Content-Length", str(len(body)))
            self.end_headers()
            self.wfile.write(body)

        def log_message(self, *args: Any) -> None:
            pass

    server = ThreadingHTTPServer(("127.0.0.1", 0), Handler)
    thread = threading.Thread(target=server.serve_forever, daemon=True)
    thread.start()
    try:
        yield f"http://127.0.0.1:{server.server_address[1]}"
    finally:
        server.shutdown()
        server.server_close()
