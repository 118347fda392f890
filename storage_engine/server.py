"""The engine process: settings + pools -> object layer -> S3 app -> HTTP server, until SIGTERM.

    run_server(settings, pools) -> exit code          (called by ``cli.py``)

With ``settings.workers > 1`` the parent binds and listens (to fail early and to resolve port 0),
prepares the drives once, then forks that many workers. Each worker opens its own object layer and
accepts on the parent's one listening socket. No SO_REUSEPORT: with it, a second, unrelated server
could bind the same port and silently take half the connections; without it, that server fails
with "address in use". The parent forwards SIGTERM/SIGINT, restarts a worker that dies unexpectedly,
and prints ``listening on ...`` once every worker is ready.
"""

from __future__ import annotations

import asyncio
import ctypes
import ctypes.util
import errno
import gc
import logging
import os
import select
import shutil
import signal
import socket
import sys
import tempfile
import time
from collections.abc import Awaitable, Callable, Coroutine
from typing import Any

from storage_engine.audit import AuditLog, install as install_audit
from storage_engine.cluster.endpoints import is_distributed
from storage_engine.config import EngineSettings
from storage_engine.malloc import configure_malloc
from storage_engine.metrics import enable_multiprocess, worker_exited, worker_started as metrics_worker_started
from storage_engine.errors import S3Error
from storage_engine.http.server import ServerLimits, serve
from storage_engine.http.tls import ServerTls, TlsError
from storage_engine.http.types import App
from storage_engine.logs import configure_logging
from storage_engine.topology import Pool

log = logging.getLogger("storage_engine.server")

# ``async (settings, pools) -> (app, close)``: what the worker serves and how to release it.
AppFactory = Callable[[EngineSettings, list[Pool]], Awaitable[tuple[App, Callable[[], Awaitable[None]]]]]

SHUTDOWN_TIMEOUT = 30.0
READY_TIMEOUT = 120.0

class StartupError(Exception):
    """The engine cannot start (drives unusable, bad topology): reported without a traceback."""


def _run(coro: Coroutine[Any, Any, None]) -> None:
    """Run ``coro`` on a fresh uvloop event loop (the fastest loop measured; see PERFORMANCE-NOTES)."""
    import uvloop

    with asyncio.Runner(loop_factory=uvloop.new_event_loop) as runner:
        runner.run(coro)


def _die_with_parent(parent_pid: int) -> None:
    """Linux: a worker gets SIGKILL when the parent dies (kill -9 must not leave orphans serving)."""
    try:
        libc = ctypes.CDLL(ctypes.util.find_library("c") or "libc.so.6", use_errno=True)
        libc.prctl(1, signal.SIGKILL)            # PR_SET_PDEATHSIG
    except (OSError, AttributeError):
        pass
    if os.getppid() != parent_pid:               # the parent died before prctl took effect
        os._exit(1)


def bind_socket(host: str, port: int) -> socket.socket:
    """The one listening socket of this server, shared by its workers.

    SO_REUSEADDR only lets a restart bind past old connections in TIME_WAIT; Linux still refuses
    the port while another socket listens on it.
    """
    family = socket.AF_INET6 if ":" in host else socket.AF_INET
    sock = socket.socket(family, socket.SOCK_STREAM)
    sock.setsockopt(socket.SOL_SOCKET, socket.SO_REUSEADDR, 1)
    sock.bind((host, port))
    sock.listen(1024)
    sock.setblocking(False)
    return sock


async def _build_app(settings: EngineSettings, pools: list[Pool]) -> tuple[App, Callable[[], Awaitable[None]]]:
    from storage_engine.cluster.node import Node

    node = Node(settings, pools)
    node.start()       # serves at once (peers need our drives); S3 waits for the layer, briefly
    return node, node.close


_GC_YOUNG = 10_000


async def _stop_on_fatal(app: App, stop: asyncio.Event) -> BaseException | None:
    """A node that cannot start at all (bad topology, foreign drives) stops the server."""
    wait_started = getattr(app, "wait_started", None)
    if wait_started is None:
        return None
    try:
        await wait_started()
    except (OSError, ValueError, S3Error) as exc:
        stop.set()
        return exc
    return None


async def _worker_main(settings: EngineSettings, pools: list[Pool], sock: socket.socket,
                       on_ready: Callable[[socket.socket], None],
                       app_factory: AppFactory | None = None, tls: ServerTls | None = None) -> None:
    loop = asyncio.get_running_loop()
    stop = asyncio.Event()

    def on_signal(signum: int) -> None:
        if not stop.is_set():
            log.info("%s: finishing in-flight requests, then stopping", signal.Signals(signum).name)
        stop.set()

    for sig in (signal.SIGTERM, signal.SIGINT):
        loop.add_signal_handler(sig, on_signal, sig)
    audit_log = AuditLog.from_settings(settings)      # before the app: S3App takes audit.current()
    audit_log.start()
    install_audit(audit_log)
    loop.add_signal_handler(signal.SIGHUP, audit_log.reopen)
    metrics_worker_started()                         # several workers: flush every second
    build = app_factory or _build_app
    try:
        app, close = await build(settings, pools)
    except (OSError, ValueError, S3Error) as exc:
        await audit_log.close()
        raise StartupError(f"cannot open the drives: {exc}") from exc
    # What the worker has built so far (modules, the app, its caches) lives as long as the worker: kept out
    # of the collector's full passes, which otherwise walk it every time (measured: pauses of 30-45 ms
    # during a 10,000-key populate, 5-14 ms with this).
    gc.freeze()
    # A young generation of 10,000 objects, not 700: a first listing of 10,000 keys makes hundreds of
    # thousands of objects, and each collection they set off walked all of them again (first page
    # 188 against 238 ms, second 29 against 105 ms, in-process); collections show in small PUTs too.
    gc.set_threshold(_GC_YOUNG, *gc.get_threshold()[1:])
    fatal = asyncio.create_task(_stop_on_fatal(app, stop), name="startup-watch")
    watcher = asyncio.create_task(tls.watch(settings.tls_reload_seconds), name="tls-watch") if tls else None
    try:
        await serve(app, settings.host, settings.port, stop=stop, sock=sock, limits=ServerLimits(),
                    on_ready=lambda sockets: on_ready(sockets[0]), shutdown_timeout=SHUTDOWN_TIMEOUT,
                    ssl=tls.context if tls else None)
    finally:
        if watcher is not None:
            watcher.cancel()
            await asyncio.gather(watcher, return_exceptions=True)
        if not fatal.done():
            fatal.cancel()
        error = (await asyncio.gather(fatal, return_exceptions=True))[0]
        await close()
        install_audit(None)
        await audit_log.close()
    if isinstance(error, BaseException) and not isinstance(error, asyncio.CancelledError):
        raise StartupError(f"cannot open the drives: {error}") from error


def _announce(sock: socket.socket, workers: int, tls: ServerTls | None = None) -> None:
    host, port = sock.getsockname()[:2]
    shown = f"[{host}]" if ":" in str(host) else host
    print(f"listening on {'https' if tls else 'http'}://{shown}:{port} ({workers} worker{'s' if workers > 1 else ''})", flush=True)


def worker_count(settings: EngineSettings, pools: list[Pool]) -> int:
    """``settings.workers``, 0 meaning one per CPU this process may use; always 1 in distributed mode."""
    if is_distributed(d for pool in pools for d in pool.drives):
        if settings.workers > 1:
            # Lock tables and open shard handles of the node-to-node API live in one process.
            log.warning("distributed mode runs one process per node; ignoring RUSTFS_WORKERS=%d", settings.workers)
        return 1
    return settings.workers or usable_cpus()


def usable_cpus(cpu_max: str = "/sys/fs/cgroup/cpu.max") -> int:
    """The CPUs this process may run on, capped by its cgroup's CPU quota (a container limited to 2 CPUs on a
    64-core host gets 2 workers, not 64)."""
    cpus = len(os.sched_getaffinity(0))
    try:
        with open(cpu_max) as f:
            quota, period = f.read().split()[:2]
        if quota != "max":
            cpus = min(cpus, max(1, -(-int(quota) // int(period))))
    except (OSError, ValueError):
        pass                              # no cgroup v2 limit readable: the affinity decides
    return cpus


def run_server(settings: EngineSettings, pools: list[Pool], *,
               app_factory: AppFactory | None = None) -> int:
    """Serve the S3 API until SIGTERM/SIGINT; returns the process exit code.

    ``app_factory(settings, pools) -> (app, close)`` (async) replaces the real object layer and S3 app
    in tests of the server itself.
    """
    configure_malloc()
    configure_logging(settings.log_format)
    settings = settings.model_copy(update={"workers": worker_count(settings, pools)})
    try:
        # Bound in the parent: a taken port fails here, at once, with a clear message.
        sock = bind_socket(settings.host, settings.port)
    except OSError as exc:
        reason = "address in use (another server listens on this port)" if exc.errno == errno.EADDRINUSE \
            else exc.strerror or str(exc)
        print(f"error: cannot listen on {settings.address}: {reason}", file=sys.stderr)
        return 1
    try:
        # Loaded once here, so a bad certificate fails at once; each worker watches it for rotations.
        tls = ServerTls.load(settings.tls_path)
    except TlsError as exc:
        sock.close()
        print(f"error: TLS ({settings.tls_path}): {exc}", file=sys.stderr)
        return 1
    if tls is None and settings.tls_path:
        log.warning("no certificate in %s (rustfs_cert.pem, rustfs_key.pem): serving plain HTTP", settings.tls_path)
    try:
        if settings.workers == 1:
            _run(_worker_main(settings, pools, sock, lambda s: _announce(s, 1, tls), app_factory, tls))
            return 0
        if app_factory is None:
            _run(_prepare_drives(settings, pools))   # format once, not raced by N workers
    except StartupError as exc:
        print(f"error: {exc}", file=sys.stderr)
        return 1
    finally:
        if settings.workers == 1:
            sock.close()
    return _supervise(settings, pools, sock, app_factory, tls)


async def _prepare_drives(settings: EngineSettings, pools: list[Pool]) -> None:
    from storage_engine.drives.format import FormatPending, FormatQuorumLost
    from storage_engine.objects.layer import open_object_layer

    try:
        layer = await open_object_layer(pools, settings)
    except (FormatPending, FormatQuorumLost):
        return                                   # each worker waits for quorum, serving 503 meanwhile
    except (OSError, ValueError, S3Error) as exc:
        raise StartupError(f"cannot open the drives: {exc}") from exc
    await layer.close()


def _supervise(settings: EngineSettings, pools: list[Pool], sock: socket.socket,
               app_factory: AppFactory | None, tls: ServerTls | None = None) -> int:
    ready_read, ready_write = os.pipe()
    stopping = False
    children: dict[int, int] = {}                # pid -> worker index

    parent_pid = os.getpid()
    # The workers' metrics live in per-process files here; a scrape sums them (storage_engine/metrics).
    metrics_dir = tempfile.mkdtemp(prefix="rustfs-metrics-")
    enable_multiprocess(metrics_dir)

    def spawn(index: int) -> None:
        pid = os.fork()
        if pid == 0:                             # the worker
            code = 0
            try:
                os.close(ready_read)
                _die_with_parent(parent_pid)
                signal.signal(signal.SIGTERM, signal.SIG_DFL)
                signal.signal(signal.SIGINT, signal.SIG_DFL)

                def ready(_: socket.socket) -> None:
                    os.write(ready_write, b"1")

                _run(_worker_main(settings, pools, sock, ready, app_factory, tls))
            except BaseException:                # a worker must never return into the parent's code
                logging.getLogger("storage_engine.server").exception("worker %d failed", index)
                code = 1
            finally:
                os._exit(code)
        children[pid] = index

    def forward(signum: int, _frame: object) -> None:
        nonlocal stopping
        stopping = True
        for pid in list(children):
            try:
                os.kill(pid, signal.SIGTERM)
            except ProcessLookupError:
                pass

    signal.signal(signal.SIGTERM, forward)
    signal.signal(signal.SIGINT, forward)

    def reopen(signum: int, _frame: object) -> None:     # the workers reopen their audit files
        for pid in list(children):
            try:
                os.kill(pid, signal.SIGHUP)
            except ProcessLookupError:
                pass

    signal.signal(signal.SIGHUP, reopen)
    for index in range(settings.workers):
        spawn(index)
    if not _wait_ready(ready_read, settings.workers, children):
        forward(signal.SIGTERM, None)
    else:
        _announce(sock, settings.workers, tls)
    exit_code = 0
    restarts: list[float] = []
    while children:
        try:
            pid, status = os.wait()
        except ChildProcessError:
            break
        except InterruptedError:                 # pragma: no cover - PEP 475 retries for us
            continue
        index = children.pop(pid, None)
        worker_exited(pid)
        if index is None or stopping:
            continue
        code = os.waitstatus_to_exitcode(status)
        log.error("worker %d (pid %d) exited with %d; restarting it", index, pid, code)
        now = time.monotonic()
        restarts = [t for t in restarts if now - t < 60] + [now]
        if len(restarts) > 10:                   # crash loop: give up rather than spin
            log.error("workers keep dying; shutting down")
            exit_code = 1
            forward(signal.SIGTERM, None)
            continue
        spawn(index)
    os.close(ready_read)
    os.close(ready_write)
    sock.close()
    shutil.rmtree(metrics_dir, ignore_errors=True)
    return exit_code


def _wait_ready(ready_read: int, workers: int, children: dict[int, int]) -> bool:
    deadline = time.monotonic() + READY_TIMEOUT
    got = 0
    while got < workers and time.monotonic() < deadline:
        readable, _, _ = select.select([ready_read], [], [], 0.5)
        if readable:
            got += len(os.read(ready_read, workers))
        elif len(children) < workers:
            return False
        for pid in list(children):
            done, _ = os.waitpid(pid, os.WNOHANG)
            if done:
                children.pop(pid, None)
                return False
    return got >= workers
