"""`make bench`: the operator's benchmarks on a fresh local control plane -> BENCHMARKS.md.

    .venv/bin/python -m bench.run [--quick] [--out BENCHMARKS.md] [--profile]

Measures, in one run: (1) publish-to-live latency of the operator and (2) of the floor
(the same API writes made directly), (3) cold start of N workflows x 3 versions, (4) API
writes at rest, (5) the compiler, (6) the runtime (event -> 202, accepted events/s,
event -> run Succeeded), each against a direct client making the same API calls. It
starts its own LocalControlPlane in a fresh state directory (under --workdir) and stops
it at the end; operator and runtime logs, raw results (results.json) and profiles stay
in the workdir.
"""

from __future__ import annotations

import argparse
import shlex
import shutil
import sys
import time
import traceback
from dataclasses import dataclass
from datetime import UTC, datetime
from pathlib import Path
from typing import Any

from kubernetes import config as kube_config

from bench import bench_compiler
from bench.coldstart import measure_cold_start
from bench.common import (
    create_namespace,
    delete_namespace,
    dump_json,
    log,
    machine_info,
)
from bench.latency import measure_cold_floor, measure_floor, measure_operator
from bench.profiling import PySpy, summarize
from bench.report import BenchRun, to_json, write
from bench.runtime import measure_runtime
from flowplane_devtools.cluster import LocalControlPlane, repo_root
from flowplane_devtools.kube import install_crds
from flowplane_devtools.operator_process import OperatorProcess

PHASES = ("compiler", "floor", "latency", "runtime", "coldstart")
SERVICE_RANGE = "10.0.0.0/16"


@dataclass(frozen=True)
class Sizes:
    workflows: int  # for the latency runs
    publishes: int
    cold: tuple[int, ...]
    idle_seconds: float
    compile_sizes: tuple[int, ...]
    compile_repeats: int
    runtime_events: int = 200  # sequential events -> 202 (and as many floor creates)
    runtime_burst: int = 400  # events sent with `runtime_concurrency` in flight
    runtime_concurrency: int = 16
    runtime_e2e: int = 50  # sequential events -> run Succeeded (3-step plan)

    @classmethod
    def full(cls) -> Sizes:
        return cls(20, 200, (100, 300, 1000), 60.0, (10, 100, 1000), 30)

    @classmethod
    def quick(cls) -> Sizes:
        return cls(5, 30, (10, 30), 10.0, (10, 100, 1000), 5, 40, 120, 16, 10)


def parse_args(argv: list[str] | None) -> argparse.Namespace:
    p = argparse.ArgumentParser(prog="python -m bench.run", description=__doc__,
                                formatter_class=argparse.RawDescriptionHelpFormatter)
    p.add_argument("--quick", action="store_true",
                   help="tiny sizes (5 workflows / 30 publishes; cold start 10 and 30; 10 s "
                        "idle; runtime 40 / 120 / 10 events)")
    p.add_argument("--out", type=Path, default=repo_root() / "BENCHMARKS.md",
                   help="the report to write (default: %(default)s)")
    p.add_argument("--workdir", type=Path, default=repo_root() / ".cache" / "bench",
                   help="control plane state, operator logs, results.json, profiles")
    p.add_argument("--only", nargs="+", choices=PHASES, default=list(PHASES),
                   help="run only these phases")
    p.add_argument("--cold-sizes", type=int, nargs="+", help="override the cold-start sizes")
    p.add_argument("--idle", type=float, help="override the idle window (seconds)")
    p.add_argument("--skip-cold-floor", action="store_true",
                   help="no cold-start floor (a restart/RSS-only run; ratios need the floor)")
    p.add_argument("--cold-timeout", type=float, default=600.0,
                   help="seconds a cold start may take to converge (default: %(default)s)")
    p.add_argument("--operator-arg", action="append", default=[], metavar="ARG",
                   help="extra flag for every operator started (repeatable), e.g. --workers=8")
    p.add_argument("--operator-env", action="append", default=[], metavar="KEY=VALUE",
                   help="extra environment for every operator started (repeatable)")
    p.add_argument("--runtime-arg", action="append", default=[], metavar="ARG",
                   help="extra flag for the runtime (repeatable)")
    p.add_argument("--runtime-run-history", type=int, metavar="N",
                   help="spec.runHistory of the runtime bench's workflows (default: 50, the "
                        "CRD's default)")
    p.add_argument("--profile", action="store_true",
                   help="record py-spy profiles of the operator (latency, largest cold start) "
                        "and of the runtime (each runtime measurement)")
    return p.parse_args(argv)


def _command(argv: list[str] | None) -> str:
    args = sys.argv[1:] if argv is None else argv
    return shlex.join([".venv/bin/python", "-m", "bench.run", *args])


def main(argv: list[str] | None = None) -> int:
    args = parse_args(argv)
    sizes = Sizes.quick() if args.quick else Sizes.full()
    cold_sizes = tuple(args.cold_sizes) if args.cold_sizes else sizes.cold
    idle = sizes.idle_seconds if args.idle is None else args.idle
    workdir: Path = args.workdir.resolve()
    workdir.mkdir(parents=True, exist_ok=True)
    started = time.monotonic()
    run = BenchRun(command=_command(argv),
                   date=datetime.now(UTC).strftime("%Y-%m-%d %H:%M UTC"),
                   quick=args.quick, machine=machine_info(None))
    phases = set(args.only)

    if "compiler" in phases:
        log(f"compiler: sizes {sizes.compile_sizes}, {sizes.compile_repeats} repeats")
        run.compiler = bench_compiler.main(sizes.compile_sizes, sizes.compile_repeats)

    if phases - {"compiler"}:
        state_dir = workdir / "cluster"
        shutil.rmtree(state_dir, ignore_errors=True)
        # The default /24 Service range holds 253 ClusterIPs: too few for 1000 trigger Services.
        cp = LocalControlPlane(state_dir=state_dir, extra_apiserver_args=(
            f"--service-cluster-ip-range={SERVICE_RANGE}",))
        log(f"starting a local control plane in {state_dir}")
        cp.start()
        try:
            operator = OperatorOptions(
                args=tuple(args.operator_arg),
                env=dict(kv.split("=", 1) for kv in args.operator_env) or None,
                runtime_args=tuple(args.runtime_arg), run_history=args.runtime_run_history)
            _cluster_phases(run, cp, phases, sizes, cold_sizes, idle, workdir, args.profile,
                            operator, args.cold_timeout, cold_floor=not args.skip_cold_floor)
        finally:
            log("stopping the control plane")
            cp.stop(remove_data=True)

    run.duration_seconds = time.monotonic() - started
    write(run, args.out)
    dump_json(workdir / "results.json", to_json(run))
    log(f"wrote {args.out} and {workdir / 'results.json'} "
        f"({run.duration_seconds / 60:.1f} min)")
    return 1 if run.errors else 0


@dataclass(frozen=True)
class OperatorOptions:
    args: tuple[str, ...] = ()
    env: dict[str, str] | None = None
    runtime_args: tuple[str, ...] = ()
    run_history: int | None = None


def _cluster_phases(run: BenchRun, cp: LocalControlPlane, phases: set[str], sizes: Sizes,
                    cold_sizes: tuple[int, ...], idle: float, workdir: Path,
                    profile: bool, options: OperatorOptions,
                    cold_timeout: float = 600.0, *, cold_floor: bool = True) -> None:
    kubeconfig = str(cp.kubeconfig_path)
    api: Any = kube_config.new_client_from_config(config_file=kubeconfig)  # type: ignore[no-untyped-call]
    try:
        install_crds(api, repo_root() / "crds")
        load = run.machine.get("load average at start (1/5/15 min)")
        run.machine = machine_info(api)
        if load:
            run.machine["load average at start (1/5/15 min)"] = load
        logs = workdir / "logs"
        shutil.rmtree(logs, ignore_errors=True)

        def attempt(name: str, fn: Any) -> None:
            try:
                fn()
            except Exception as exc:
                run.errors.append(f"{name}: {type(exc).__name__}: {exc}")
                traceback.print_exc()

        if "floor" in phases:
            def floor() -> None:
                ns = "bench-floor"
                create_namespace(api, ns)
                log(f"floor: {sizes.workflows} workflows, {sizes.publishes} publishes")
                run.floor = measure_floor(api, ns, workflows=sizes.workflows,
                                          publishes=sizes.publishes)
                delete_namespace(api, ns, wait=120)
            attempt("floor", floor)

        if "latency" in phases:
            def latency() -> None:
                ns = "bench-latency"
                create_namespace(api, ns)
                operator = OperatorProcess(kubeconfig, logs / "operator-latency.log",
                                           extra_args=["--namespace", ns, *options.args],
                                           env=options.env)
                operator.start()
                try:
                    log(f"operator: {sizes.workflows} workflows, {sizes.publishes} publishes")
                    assert operator.proc is not None
                    spy = PySpy(operator.proc.pid, workdir, "latency") if profile else None
                    if spy is not None:
                        spy.__enter__()
                    try:
                        run.operator = measure_operator(api, ns, workflows=sizes.workflows,
                                                        publishes=sizes.publishes)
                    finally:
                        if spy is not None:
                            spy.__exit__(None, None, None)
                            run.profiles["latency"] = summarize(spy.path, 25)
                finally:
                    operator.stop()
                delete_namespace(api, ns, wait=120)
            attempt("latency", latency)

        if "runtime" in phases:
            def runtime() -> None:
                ns, floor_ns = "bench-runtime", "bench-runtime-floor"
                for name in (ns, floor_ns):
                    create_namespace(api, name)
                pids = [pid for name, pid in cp.component_pids().items()
                        if name in ("etcd", "kube-apiserver") and pid is not None]
                log(f"runtime: {sizes.runtime_events} sequential events, "
                    f"{sizes.runtime_burst} with {sizes.runtime_concurrency} in flight, "
                    f"{sizes.runtime_e2e} to Succeeded")
                try:
                    run.runtime = measure_runtime(
                        api, kubeconfig, ns, floor_ns, logs, events=sizes.runtime_events,
                        burst=sizes.runtime_burst, concurrency=sizes.runtime_concurrency,
                        e2e_events=sizes.runtime_e2e, control_plane_pids=pids,
                        profile=(lambda pid, label: PySpy(pid, workdir, label))
                        if profile else None, runtime_args=options.runtime_args,
                        run_history=options.run_history)
                    for path in run.runtime.profiles:
                        label = Path(path).stem.removeprefix("profile-")
                        run.profiles[label] = summarize(Path(path), 25)
                finally:
                    for name in (ns, floor_ns):
                        waited = delete_namespace(api, name, wait=180)
                        log(f"deleted namespace {name} in {waited:.1f}s")
            attempt("runtime", runtime)

        if "coldstart" in phases:
            largest = max(cold_sizes)
            for n in cold_sizes:
                def cold(n: int = n) -> None:
                    ns = f"bench-cold-{n}"
                    create_namespace(api, ns)
                    spy = ((lambda pid, label: PySpy(pid, workdir, label))
                           if profile and n == largest else None)
                    pids = [pid for name, pid in cp.component_pids().items()
                            if name in ("etcd", "kube-apiserver") and pid is not None]
                    result = measure_cold_start(
                        api, kubeconfig, ns, n, logs, idle_seconds=idle if n == largest else None,
                        restart=n == largest, control_plane_pids=pids, profile=spy,
                        timeout=cold_timeout,
                        operator_args=options.args, operator_env=options.env)
                    run.cold.append(result)
                    if cold_floor:
                        floor_ns = f"bench-cold-floor-{n}"
                        create_namespace(api, floor_ns)
                        result.floor_seconds, result.floor_writes = measure_cold_floor(
                            api, floor_ns, n)
                        log(f"cold start {n}: floor {result.floor_seconds:.1f}s for "
                            f"{result.floor_writes} direct writes")
                        delete_namespace(api, floor_ns, wait=300)
                    for path in result.profiles:
                        label = Path(path).stem.removeprefix("profile-")
                        run.profiles[label] = summarize(Path(path), 25)
                    if n != cold_sizes[-1]:
                        waited = delete_namespace(api, ns, wait=300)
                        log(f"deleted namespace {ns} in {waited:.1f}s")
                attempt(f"coldstart {n}", cold)
    finally:
        api.close()


if __name__ == "__main__":
    sys.exit(main())
