"""`make bench` code paths at tiny sizes on the session cluster (numbers only, no timings).

The latency run uses the session's cluster-wide operator. The floor and the cold start
need namespaces no other operator watches, so the session operator is stopped for them
and started again afterwards. The runtime bench starts its own runtime (on its namespace
only); the session operator makes its workflows live.
"""

from __future__ import annotations

import math
from pathlib import Path

from bench import bench_compiler
from bench.coldstart import measure_cold_start
from bench.common import create_namespace, delete_namespace, machine_info
from bench.failover import measure_failover, render, write_section
from bench.latency import measure_cold_floor, measure_floor, measure_operator
from bench.report import BenchRun, write
from bench.runtime import FLOOR_EXEC, FLOOR_TWO, measure_runtime
from kubernetes import client

from flowplane_devtools.operator_process import OperatorProcess


def _finite(value: float | None) -> bool:
    return value is not None and not math.isnan(value) and value >= 0


def test_bench_code_paths(
    api_client: client.ApiClient, kubeconfig: str, namespace: str, crds: None,
    running_operator: OperatorProcess, tmp_path: Path,
) -> None:
    operator = measure_operator(api_client, namespace, workflows=3, publishes=9, settle=0.5)
    assert len(operator.samples) == 9
    assert all(_finite(s.latency) for s in operator.samples)
    assert {s.new_plan for s in operator.samples} == {True, False}

    floor_ns, cold_ns = f"{namespace}-floor", f"{namespace}-cold"
    cold_floor_ns = f"{namespace}-cold-floor"
    running_operator.stop()
    try:
        create_namespace(api_client, floor_ns)
        floor = measure_floor(api_client, floor_ns, workflows=3, publishes=6)
        create_namespace(api_client, cold_ns)
        cold = measure_cold_start(api_client, kubeconfig, cold_ns, 3, tmp_path,
                                  timeout=60, idle_seconds=2, restart=True)
        create_namespace(api_client, cold_floor_ns)
        cold.floor_seconds, cold.floor_writes = measure_cold_floor(api_client, cold_floor_ns, 3)
    finally:
        for ns in (floor_ns, cold_ns, cold_floor_ns):
            delete_namespace(api_client, ns)
        running_operator.start()

    assert len(floor.samples) == 6
    assert all(_finite(s.latency) for s in floor.samples)
    assert _finite(cold.converged_seconds)
    assert cold.converged_count == 3 and cold.services_wired == 3
    assert cold.peak_rss_bytes and cold.peak_rss_bytes > 0
    assert cold.operator["writes"] > 0
    assert cold.idle is not None and _finite(cold.idle.flowplane_writes)
    assert cold.restart is not None and _finite(cold.restart.seconds)
    # The floor makes the writes of each family's first reconcile: what the operator made
    # (less the runtime-endpoint mirror, which may or may not have landed at convergence).
    family_writes = cold.operator["writes"] - cold.operator["endpoint_slice_writes"]
    assert cold.floor_writes == 30 == family_writes
    assert _finite(cold.floor_seconds)

    compiler = bench_compiler.main((10,), 2)
    run = BenchRun(command="pytest", date="now", quick=True, machine=machine_info(api_client),
                   compiler=compiler, floor=floor, operator=operator, cold=[cold])
    out = tmp_path / "BENCHMARKS.md"
    write(run, out)
    text = out.read_text()
    assert "## Results against targets" in text and "publish-to-live p50" in text


def test_runtime_bench_code_paths(
    api_client: client.ApiClient, kubeconfig: str, namespace: str, crds: None,
    running_operator: OperatorProcess, tmp_path: Path,
) -> None:
    floor_ns = f"{namespace}-floor"
    create_namespace(api_client, floor_ns)
    try:
        result = measure_runtime(api_client, kubeconfig, namespace, floor_ns, tmp_path,
                                 events=5, burst=16, concurrency=4, e2e_events=3,
                                 start_operator=False, quiet=0.5)
    finally:
        delete_namespace(api_client, floor_ns)

    expected = {(who, test) for who in ("floor", "runtime") for test in
                ("accept", "throughput", "e2e")}
    expected |= {(who, test) for who in (FLOOR_EXEC, FLOOR_TWO) for test in
                 ("accept", "throughput")}
    assert {(p.who, p.test) for p in result.phases} == expected
    for phase in result.phases:
        assert phase.ok == phase.count, (phase.who, phase.test, phase.statuses)
        assert all(_finite(x) for x in phase.latencies)
        assert phase.rate > 0
        assert phase.api_calls["POST"] >= phase.count  # the apiserver's counter moved
        assert phase.runs_failed == 0
        if phase.who == "runtime":
            assert phase.runs_started == phase.count
    runtime_tput = result.phase("runtime", "throughput")
    assert runtime_tput is not None and _finite(runtime_tput.drain_seconds)
    for who in ("floor", "runtime"):
        e2e = result.phase(who, "e2e")
        assert e2e is not None and len(e2e.accepted_at) == 3
    accept = result.phase("runtime", "accept")
    # Every accepted run was executed through the runtime's own writes: the claim (with
    # the trigger step) and the final status (with the last step) at least.
    assert accept is not None and accept.api_calls["PATCH"] >= 2 * accept.count
    assert "runtime" in accept.cpu

    run = BenchRun(command="pytest", date="now", quick=True, machine=machine_info(api_client),
                   runtime=result)
    out = tmp_path / "BENCHMARKS.md"
    write(run, out)
    text = out.read_text()
    assert "## 6. Runtime" in text
    assert "runtime: event -> 202 p50" in text and "runtime: accepted events/s" in text
    assert "runtime: event -> run Succeeded p50" in text


def test_failover_bench_code_paths(
    api_client: client.ApiClient, kubeconfig: str, namespace: str, crds: None,
    operator: OperatorProcess, tmp_path: Path,
) -> None:
    """The failover bench at 3 workflows and a short lease; its section lands in the notes."""
    operator.stop()  # its own two replicas, alone in the namespace
    try:
        result = measure_failover(api_client, kubeconfig, namespace, tmp_path, 3,
                                  timings=(4.0, 3.0, 1.0))
    finally:
        operator.start()
    assert result.two_active_moments == 0 and result.disagreements == []
    assert result.transitions == 1
    for value in (result.warm_all_live, result.kill_to_first_write,
                  result.first_write_to_all_live, result.kill_to_all_live):
        assert _finite(value)
    # No correct standby writes before the dead leader's lease has expired.
    assert result.kill_to_first_write >= result.kill_to_expiry
    out = tmp_path / "BENCHMARKS.md"
    write(BenchRun(command="pytest", date="now", quick=True, machine={}), out)
    write_section(out, render(result, "pytest"))
    write_section(out, render(result, "pytest again"))  # replaced, not added
    text = out.read_text()
    assert text.count("### Failover") == 1 and "pytest again" in text
    write(BenchRun(command="pytest", date="later", quick=True, machine={}), out)
    assert "### Failover" in out.read_text()  # bench.run keeps it
