"""A real, local Kubernetes control plane for tests and demos (no Docker, no kind).

Modelled on controller-runtime's ``envtest``: it runs an embedded etcd, a kube-apiserver and a
kube-controller-manager (garbage collector and namespace controller only) as separate
processes of the ``flowplane-controlplane`` multi-call binary built by
``hack/build-controlplane.sh``. This module supervises them: it starts each one (certificates
from :mod:`flowplane_devtools.pki`), waits until it is ready, stops them (SIGTERM, then
SIGKILL; PR_SET_PDEATHSIG should Python die hard) and keeps ``state.json`` in the state
directory so a detached control plane can be attached to again (``flowplane-cluster``).
"""

from __future__ import annotations

import atexit
import contextlib
import ctypes
import datetime as dt
import http.client
import json
import os
import queue
import shutil
import signal
import ssl
import subprocess
import sys
import tempfile
import threading
import time
from collections.abc import Callable, Sequence
from dataclasses import dataclass, field
from pathlib import Path
from typing import Any, Final, TypeVar

from flowplane_devtools.locate import ControlPlaneError, find_binary, find_kubectl, free_ports
from flowplane_devtools.pki import Pki, generate_pki, write_file, write_kubeconfig

__all__ = [
    "CONTROLLERS",
    "DEFAULT_START_TIMEOUT",
    "DEFAULT_STOP_TIMEOUT",
    "SERVICE_CLUSTER_IP_RANGE",
    "STATE_FILE",
    "LocalControlPlane",
]

SERVICE_CLUSTER_IP_RANGE: Final = "10.0.0.0/24"
CONTROLLERS: Final = ("garbage-collector-controller", "namespace-controller")
DEFAULT_START_TIMEOUT: Final = 120.0
DEFAULT_STOP_TIMEOUT: Final = 20.0
LOG_TAIL_LINES: Final = 40

STATE_FILE: Final = "state.json"
"""The state directory's record of ports, pids and argv (:meth:`LocalControlPlane.attach`)."""
_COMPONENT_ORDER: Final = ("etcd", "kube-apiserver", "kube-controller-manager")


def _https_ok(port: int, path: str, context: ssl.SSLContext, timeout: float) -> bool:
    """GET https://127.0.0.1:<port><path> answers 200 "ok" (a component's health check)."""
    conn = http.client.HTTPSConnection("127.0.0.1", port, timeout=timeout, context=context)
    try:
        conn.request("GET", path)
        response = conn.getresponse()
        body = response.read()
    finally:
        conn.close()
    return response.status == 200 and body.strip() == b"ok"



# --------------------------------------------------------------------------------------
# Process management
# --------------------------------------------------------------------------------------

_PR_SET_PDEATHSIG: Final = 1
_T = TypeVar("_T")


class _Spawner:
    """Starts children from one long-lived daemon thread with PR_SET_PDEATHSIG=SIGKILL.

    The kernel sends the death signal when the *thread* that forked the child exits, so
    children must not be spawned from short-lived threads (e.g. a ``threading.Timer`` that
    restarts the apiserver). A daemon thread lives until the interpreter is gone, which is
    exactly when an orphaned etcd/apiserver should die (even after SIGKILL or os._exit).
    """

    _lock = threading.Lock()
    _instance: _Spawner | None = None

    def __init__(self) -> None:
        self._jobs: queue.SimpleQueue[tuple[Callable[[], Any], queue.SimpleQueue[Any]]] = (
            queue.SimpleQueue()
        )
        thread = threading.Thread(target=self._run, name="flowplane-spawner", daemon=True)
        thread.start()

    @classmethod
    def get(cls) -> _Spawner:
        with cls._lock:
            if cls._instance is None:
                cls._instance = _Spawner()
            return cls._instance

    def _run(self) -> None:
        while True:
            job, reply = self._jobs.get()
            try:
                reply.put((True, job()))
            except BaseException as exc:
                reply.put((False, exc))

    def call(self, job: Callable[[], _T]) -> _T:
        reply: queue.SimpleQueue[Any] = queue.SimpleQueue()
        self._jobs.put((job, reply))
        ok, value = reply.get()
        if not ok:
            raise value
        return value  # type: ignore[no-any-return]


def _pdeathsig_preexec() -> Callable[[], None] | None:
    if not sys.platform.startswith("linux"):
        return None
    try:
        libc = ctypes.CDLL(None, use_errno=True)
        prctl = libc.prctl
    except (OSError, AttributeError):
        return None
    parent = os.getpid()

    def preexec() -> None:
        prctl(_PR_SET_PDEATHSIG, signal.SIGKILL, 0, 0, 0)
        if os.getppid() != parent:  # the parent died before prctl took effect
            os._exit(1)

    return preexec


def _pid_alive(pid: int) -> bool:
    try:
        os.kill(pid, 0)
    except ProcessLookupError:
        return False
    except PermissionError:
        return True
    try:  # a zombie is dead for our purposes
        stat = Path(f"/proc/{pid}/stat").read_text()
        return stat.rsplit(")", 1)[1].split()[0] != "Z"
    except (OSError, IndexError):
        return True


def _pid_cmdline(pid: int) -> list[str]:
    try:
        raw = Path(f"/proc/{pid}/cmdline").read_bytes()
    except OSError:
        return []
    return [part.decode(errors="replace") for part in raw.split(b"\0") if part]


def _tail(path: Path, lines: int = LOG_TAIL_LINES) -> str:
    try:
        with path.open("rb") as fh:
            fh.seek(0, os.SEEK_END)
            size = fh.tell()
            fh.seek(max(0, size - 64 * 1024))
            data = fh.read().decode(errors="replace")
    except OSError as exc:
        return f"<cannot read {path}: {exc}>"
    return "\n".join(data.splitlines()[-lines:])


@dataclass
class _Component:
    name: str
    argv: list[str]
    log_path: Path
    marker: str  # a string that appears in the process command line (pid-reuse guard)
    popen: subprocess.Popen[bytes] | None = None
    pid: int | None = None
    started_at: float = 0.0

    def is_ours(self, pid: int) -> bool:
        return any(self.marker in arg for arg in _pid_cmdline(pid))

    def alive(self) -> bool:
        if self.popen is not None:
            return self.popen.poll() is None
        return self.pid is not None and _pid_alive(self.pid) and self.is_ours(self.pid)

    def exit_code(self) -> int | None:
        return self.popen.poll() if self.popen is not None else None

    def start(self, *, detach: bool) -> None:
        self.log_path.parent.mkdir(parents=True, exist_ok=True)
        with self.log_path.open("ab") as log:
            stamp = dt.datetime.now().isoformat(timespec="seconds")
            log.write(f"\n==== {stamp} starting: {' '.join(self.argv)}\n".encode())
            log.flush()
            preexec = None if detach else _pdeathsig_preexec()

            def spawn() -> subprocess.Popen[bytes]:
                return subprocess.Popen(
                    self.argv,
                    stdin=subprocess.DEVNULL,
                    stdout=log,
                    stderr=subprocess.STDOUT,
                    start_new_session=True,  # own process group; Ctrl-C goes to us only
                    preexec_fn=preexec,
                    close_fds=True,
                )

            self.popen = spawn() if preexec is None else _Spawner.get().call(spawn)
        self.pid = self.popen.pid
        self.started_at = time.monotonic()

    def stop(self, timeout: float, *, kill: bool = False) -> None:
        """SIGTERM, then SIGKILL after ``timeout`` seconds (``kill=True``: SIGKILL at once)."""
        pid = self.pid
        if pid is None or not self.alive():
            self._reap()
            self.popen, self.pid = None, None
            return
        self._signal(pid, signal.SIGKILL if kill else signal.SIGTERM)
        if kill or not self._wait(timeout):
            self._signal(pid, signal.SIGKILL)
            if not self._wait(10.0):
                raise ControlPlaneError(f"{self.name} (pid {pid}) did not die after SIGKILL")
        self._reap()
        self.popen, self.pid = None, None

    def _signal(self, pid: int, sig: signal.Signals) -> None:
        with contextlib.suppress(ProcessLookupError, PermissionError):
            # Each component leads its own process group (start_new_session=True).
            if os.getpgid(pid) == pid:
                os.killpg(pid, sig)
            else:
                os.kill(pid, sig)

    def _wait(self, timeout: float) -> bool:
        if self.popen is not None:
            try:
                self.popen.wait(timeout)
                return True
            except subprocess.TimeoutExpired:
                return False
        deadline = time.monotonic() + timeout
        while time.monotonic() < deadline:
            if not self.alive():
                return True
            time.sleep(0.1)
        return not self.alive()

    def _reap(self) -> None:
        if self.popen is not None:
            with contextlib.suppress(subprocess.TimeoutExpired):
                self.popen.wait(1.0)


# --------------------------------------------------------------------------------------
# The control plane
# --------------------------------------------------------------------------------------


@dataclass
class _Ports:
    etcd_client: int
    etcd_peer: int
    apiserver: int
    controller_manager: int


@dataclass
class LocalControlPlane:
    """etcd + kube-apiserver + kube-controller-manager on 127.0.0.1 (envtest style).

    ``state_dir`` holds ``pki/``, ``etcd/`` (data), ``logs/*.log``, ``kubeconfig`` and
    ``state.json``. With ``detach=True`` the processes outlive this Python process (used by
    the ``flowplane-cluster up`` command); otherwise they are stopped by :meth:`stop`, by an
    ``atexit`` hook, and - should Python die hard - by the kernel (PR_SET_PDEATHSIG).
    """

    state_dir: Path | None = None
    binary: Path | None = None
    start_timeout: float = DEFAULT_START_TIMEOUT
    stop_timeout: float = DEFAULT_STOP_TIMEOUT
    detach: bool = False
    controller_manager: bool = True
    extra_apiserver_args: Sequence[str] = ()
    """Appended to kube-apiserver's flags; a repeated flag overrides the default (last wins),
    e.g. ``("--service-cluster-ip-range=10.0.0.0/16",)`` for more than 253 Services."""
    timings: dict[str, float] = field(default_factory=dict)
    _ports: _Ports | None = field(default=None, init=False, repr=False)
    _components: dict[str, _Component] = field(default_factory=dict, init=False, repr=False)
    _owns_state_dir: bool = field(default=False, init=False, repr=False)
    _atexit_registered: bool = field(default=False, init=False, repr=False)

    def __post_init__(self) -> None:
        if self.state_dir is None:
            self.state_dir = Path(tempfile.mkdtemp(prefix="flowplane-cp-"))
            self._owns_state_dir = True
        self.state_dir = Path(self.state_dir).resolve()

    # ---- paths ---------------------------------------------------------------------

    @property
    def root(self) -> Path:
        assert self.state_dir is not None
        return self.state_dir

    @property
    def kubeconfig_path(self) -> Path:
        return self.root / "kubeconfig"

    @property
    def logs_dir(self) -> Path:
        return self.root / "logs"

    @property
    def pki(self) -> Pki:
        return Pki(self.root / "pki")

    @property
    def etcd_data_dir(self) -> Path:
        return self.root / "etcd"

    @property
    def ports(self) -> _Ports:
        if self._ports is None:
            raise ControlPlaneError("the control plane has not been started")
        return self._ports

    @property
    def server(self) -> str:
        """The API server URL, ``https://127.0.0.1:<port>``."""
        return f"https://127.0.0.1:{self.ports.apiserver}"

    @property
    def etcd_url(self) -> str:
        return f"http://127.0.0.1:{self.ports.etcd_client}"

    def log_path(self, component: str) -> Path:
        return self.logs_dir / f"{component}.log"

    def kubectl(self) -> list[str]:
        """argv prefix running the matching kubectl against this cluster."""
        return [*find_kubectl(self._binary()), f"--kubeconfig={self.kubeconfig_path}"]

    def _binary(self) -> Path:
        if self.binary is None:
            self.binary = find_binary()
        return self.binary

    # ---- lifecycle -----------------------------------------------------------------

    def __enter__(self) -> LocalControlPlane:
        self.start()
        return self

    def __exit__(self, *exc_info: object) -> None:
        self.stop()

    @property
    def running(self) -> bool:
        return any(c.alive() for c in self._components.values())

    def start(self) -> None:
        """Generate certificates, pick free ports, start everything and wait until ready."""
        if self.running:
            raise ControlPlaneError(f"control plane in {self.root} is already running")
        binary = self._binary()
        self.root.mkdir(parents=True, exist_ok=True)
        self.logs_dir.mkdir(parents=True, exist_ok=True)
        t0 = time.monotonic()
        generate_pki(self.pki.directory)
        self.timings["certificates"] = time.monotonic() - t0

        attempts = 3
        for attempt in range(1, attempts + 1):
            self._ports = _Ports(*free_ports(4))
            self._components = self._build_components(binary)
            write_kubeconfig(self.kubeconfig_path, self.server, self.pki)
            if not self.detach and not self._atexit_registered:
                atexit.register(self._atexit_stop)
                self._atexit_registered = True
            try:
                self._start_component("etcd", self._etcd_ready)
                self._start_component("kube-apiserver", self._apiserver_ready)
                if self.controller_manager:
                    self._start_component("kube-controller-manager", self._kcm_ready)
            except ControlPlaneError as exc:
                port_clash = "address already in use" in str(exc)
                self._stop_components()
                if port_clash and attempt < attempts:
                    shutil.rmtree(self.etcd_data_dir, ignore_errors=True)
                    continue
                raise
            except BaseException:
                self._stop_components()
                raise
            break
        self.timings["total"] = time.monotonic() - t0
        self._save_state()

    def stop(self, *, remove_data: bool = True) -> None:
        """Stop (controller-manager, apiserver, etcd; SIGTERM then SIGKILL).

        ``remove_data`` deletes the etcd data directory (logs and certificates are kept);
        a state directory created by this object is removed entirely.
        """
        self._stop_components()
        state = self.root / STATE_FILE
        state.unlink(missing_ok=True)
        if remove_data:
            shutil.rmtree(self.etcd_data_dir, ignore_errors=True)
            if self._owns_state_dir:
                shutil.rmtree(self.root, ignore_errors=True)
        if self._atexit_registered:
            atexit.unregister(self._atexit_stop)
            self._atexit_registered = False

    def stop_apiserver(self, *, kill: bool = False) -> None:
        """Stop only kube-apiserver (etcd and the controller-manager keep running).

        Graceful (SIGTERM, open watches are closed within ~2 s) unless ``kill`` is true,
        which simulates a crash with SIGKILL.
        """
        component = self._component("kube-apiserver")
        component.stop(self.stop_timeout, kill=kill)
        self._save_state()

    def start_apiserver(self, timeout: float | None = None) -> None:
        """(Re)start kube-apiserver on the same port with the same etcd and certificates."""
        component = self._component("kube-apiserver")
        if component.alive():
            raise ControlPlaneError("kube-apiserver is already running")
        self._start_component("kube-apiserver", self._apiserver_ready, timeout=timeout)
        self._save_state()

    def is_healthy(self) -> bool:
        """True when every component is alive and the apiserver answers /readyz with ok."""
        if not self._components or not all(c.alive() for c in self._components.values()):
            return False
        try:
            return self._apiserver_ready(timeout=5.0)
        except (OSError, ssl.SSLError, http.client.HTTPException):
            return False

    def component_pids(self) -> dict[str, int | None]:
        return {name: c.pid if c.alive() else None for name, c in self._components.items()}

    def _atexit_stop(self) -> None:
        with contextlib.suppress(Exception):
            self.stop()

    # ---- components ----------------------------------------------------------------

    def _component(self, name: str) -> _Component:
        try:
            return self._components[name]
        except KeyError:
            raise ControlPlaneError(f"{name} is not part of this control plane") from None

    def _build_components(self, binary: Path) -> dict[str, _Component]:
        ports = self.ports
        pki = self.pki
        root = str(self.root)
        etcd_peer = f"http://127.0.0.1:{ports.etcd_peer}"
        components = {
            "etcd": _Component(
                name="etcd",
                argv=[
                    str(binary),
                    "etcd",
                    "--name=flowplane",
                    f"--data-dir={self.etcd_data_dir}",
                    f"--listen-client-urls={self.etcd_url}",
                    f"--advertise-client-urls={self.etcd_url}",
                    f"--listen-peer-urls={etcd_peer}",
                    f"--initial-advertise-peer-urls={etcd_peer}",
                    f"--initial-cluster=flowplane={etcd_peer}",
                    "--initial-cluster-state=new",
                    "--unsafe-no-fsync=true",
                    "--log-level=warn",
                ],
                log_path=self.log_path("etcd"),
                marker=root,
            ),
            "kube-apiserver": _Component(
                name="kube-apiserver",
                argv=[
                    str(binary),
                    "kube-apiserver",
                    f"--etcd-servers={self.etcd_url}",
                    f"--cert-dir={pki.directory}",
                    f"--tls-cert-file={pki.serving_cert}",
                    f"--tls-private-key-file={pki.serving_key}",
                    f"--secure-port={ports.apiserver}",
                    "--bind-address=127.0.0.1",
                    "--advertise-address=127.0.0.1",
                    f"--service-cluster-ip-range={SERVICE_CLUSTER_IP_RANGE}",
                    "--authorization-mode=RBAC",
                    f"--client-ca-file={pki.client_ca_cert}",
                    f"--service-account-issuer={self.server}",
                    f"--service-account-key-file={pki.service_account_pub}",
                    f"--service-account-signing-key-file={pki.service_account_key}",
                    "--disable-admission-plugins=ServiceAccount",
                    "--allow-privileged=true",
                    # 127.0.0.1 is not a valid Endpoints address; without this the apiserver
                    # periodically logs a failure to sync the "kubernetes" Service endpoints.
                    "--endpoint-reconciler-type=none",
                    # Drain watches (e.g. the controller-manager's) quickly on SIGTERM, otherwise
                    # shutdown waits for them for the 60 s server shutdown timeout.
                    "--shutdown-watch-termination-grace-period=2s",
                    *self.extra_apiserver_args,
                ],
                log_path=self.log_path("kube-apiserver"),
                marker=root,
            ),
        }
        if self.controller_manager:
            components["kube-controller-manager"] = _Component(
                name="kube-controller-manager",
                argv=[
                    str(binary),
                    "kube-controller-manager",
                    f"--kubeconfig={self.kubeconfig_path}",
                    "--leader-elect=false",
                    f"--controllers={','.join(CONTROLLERS)}",
                    "--bind-address=127.0.0.1",
                    f"--secure-port={ports.controller_manager}",
                    f"--cert-dir={self.root / 'controller-manager-certs'}",
                    f"--service-account-private-key-file={pki.service_account_key}",
                    f"--root-ca-file={pki.serving_ca_cert}",
                    "--use-service-account-credentials=false",
                ],
                log_path=self.log_path("kube-controller-manager"),
                marker=root,
            )
        return components

    def _start_component(
        self,
        name: str,
        probe: Callable[[float], bool],
        *,
        timeout: float | None = None,
    ) -> None:
        component = self._component(name)
        timeout = self.start_timeout if timeout is None else timeout
        component.start(detach=self.detach)
        deadline = component.started_at + timeout
        last_error = "no answer yet"
        while True:
            if not component.alive():
                raise ControlPlaneError(
                    self._failure(component, f"exited with code {component.exit_code()}")
                )
            try:
                if probe(5.0):
                    break
                last_error = "not ready"
            except (OSError, ssl.SSLError, http.client.HTTPException) as exc:
                last_error = f"{type(exc).__name__}: {exc}"
            if time.monotonic() > deadline:
                component.stop(self.stop_timeout)
                raise ControlPlaneError(
                    self._failure(component, f"not ready after {timeout:.0f}s ({last_error})")
                )
            time.sleep(0.2)
        self.timings[name] = time.monotonic() - component.started_at

    def _stop_components(self) -> None:
        errors: list[str] = []
        for name in reversed(_COMPONENT_ORDER):
            component = self._components.get(name)
            if component is None:
                continue
            try:
                component.stop(self.stop_timeout)
            except ControlPlaneError as exc:
                errors.append(str(exc))
        if errors:
            raise ControlPlaneError("; ".join(errors))

    def _failure(self, component: _Component, what: str) -> str:
        logs = "\n".join(f"  {c.name}: {c.log_path}" for c in self._components.values())
        return (
            f"{component.name} {what}.\n"
            f"Last lines of {component.log_path}:\n{_tail(component.log_path)}\n"
            f"All logs:\n{logs}"
        )

    # ---- probes --------------------------------------------------------------------

    def _etcd_ready(self, timeout: float) -> bool:
        conn = http.client.HTTPConnection("127.0.0.1", self.ports.etcd_client, timeout=timeout)
        try:
            conn.request("GET", "/health")
            response = conn.getresponse()
            body = response.read()
        finally:
            conn.close()
        if response.status != 200:
            return False
        return bool(json.loads(body).get("health") in ("true", True))

    def admin_ssl_context(self) -> ssl.SSLContext:
        """TLS context trusting the serving CA and presenting the admin client certificate."""
        context = ssl.create_default_context(cafile=str(self.pki.serving_ca_cert))
        context.load_cert_chain(str(self.pki.admin_cert), str(self.pki.admin_key))
        return context

    def _apiserver_ready(self, timeout: float) -> bool:
        return _https_ok(self.ports.apiserver, "/readyz", self.admin_ssl_context(), timeout)

    def _kcm_ready(self, timeout: float) -> bool:
        # The controller-manager serves a self-signed certificate; /healthz is always allowed.
        context = ssl.create_default_context()
        context.check_hostname = False
        context.verify_mode = ssl.CERT_NONE
        return _https_ok(self.ports.controller_manager, "/healthz", context, timeout)

    # ---- persisted state (for the detached CLI) --------------------------------------

    def _save_state(self) -> None:
        if self._ports is None:
            return
        state = {
            "binary": str(self._binary()),
            "ports": vars(self._ports),
            "detached": self.detach,
            "components": {
                name: {"pid": c.pid, "argv": c.argv, "log": str(c.log_path), "marker": c.marker}
                for name, c in self._components.items()
            },
            "kubeconfig": str(self.kubeconfig_path),
            "server": self.server,
            "timings": self.timings,
        }
        write_file(self.root / STATE_FILE, json.dumps(state, indent=2).encode())

    @classmethod
    def attach(cls, state_dir: Path | str) -> LocalControlPlane:
        """Rebuild a handle from ``state.json`` (e.g. a cluster started by ``up``)."""
        root = Path(state_dir).resolve()
        path = root / STATE_FILE
        try:
            state = json.loads(path.read_text())
        except (OSError, ValueError) as exc:
            raise ControlPlaneError(f"no control plane state in {root}: {exc}") from exc
        cp = cls(state_dir=root, binary=Path(state["binary"]), detach=True)
        cp._ports = _Ports(**state["ports"])
        cp.controller_manager = "kube-controller-manager" in state["components"]
        cp.timings = dict(state.get("timings", {}))
        for name, info in state["components"].items():
            cp._components[name] = _Component(
                name=name,
                argv=list(info["argv"]),
                log_path=Path(info["log"]),
                marker=str(info["marker"]),
                pid=info["pid"],
            )
        return cp
