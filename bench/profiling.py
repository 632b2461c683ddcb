"""Sampling profiles of the operator process with py-spy (optional: `--profile`)."""

from __future__ import annotations

import shutil
import signal
import subprocess
import sys
from collections import Counter
from pathlib import Path

from bench.common import log


def py_spy_path() -> str | None:
    local = Path(sys.executable).parent / "py-spy"
    return str(local) if local.exists() else shutil.which("py-spy")


class PySpy:
    """`py-spy record --gil --format raw` (collapsed stacks) on a pid until stopped.

    `--gil` samples only the thread holding the GIL: where the Python CPU time goes.
    """

    def __init__(self, pid: int, out_dir: Path, label: str, rate: int = 100) -> None:
        self.pid = pid
        self.path = out_dir / f"profile-{label}.txt"
        self.rate = rate
        self._proc: subprocess.Popen[bytes] | None = None

    def __enter__(self) -> PySpy:
        exe = py_spy_path()
        if exe is None:
            log("py-spy not found; no profile (pip install py-spy)")
            return self
        self.path.parent.mkdir(parents=True, exist_ok=True)
        self._proc = subprocess.Popen(
            [exe, "record", "--pid", str(self.pid), "--gil", "--format", "raw",
             "--rate", str(self.rate),
             "--output", str(self.path)],
            stdout=subprocess.DEVNULL, stderr=subprocess.DEVNULL)
        return self

    def __exit__(self, *exc: object) -> None:
        if self._proc is None:
            return
        self._proc.send_signal(signal.SIGINT)
        try:
            self._proc.wait(30)
        except subprocess.TimeoutExpired:
            self._proc.kill()
            self._proc.wait()
        log(f"profile written: {self.path}")


GENERIC = ("asyncio/", "<frozen runpy>", "threading.py", "concurrent/futures/", "selectors.py",
           "kopf/_core/reactor/running.py", "flowplane/operator/main.py")
"""Frames every sample passes through; left out of the inclusive ranking."""


def summarize(path: Path, top: int = 20) -> list[tuple[str, float, float]]:
    """(frame, inclusive %, self %): the frames with the most self time, then the most
    expensive non-generic frames by inclusive time, in collapsed stacks."""
    inclusive: Counter[str] = Counter()
    own: Counter[str] = Counter()
    total = 0
    for line in path.read_text().splitlines():
        stack, _, count_text = line.rpartition(" ")
        if not stack or not count_text.isdigit():
            continue
        count = int(count_text)
        total += count
        frames = stack.split(";")
        for frame in set(frames):
            inclusive[frame] += count
        own[frames[-1]] += count
    if not total:
        return []
    chosen = [frame for frame, _ in own.most_common(top // 2)]
    for frame, _ in inclusive.most_common():
        if len(chosen) >= top:
            break
        if frame not in chosen and not any(g in frame for g in GENERIC):
            chosen.append(frame)
    rows = [(frame, 100.0 * inclusive[frame] / total, 100.0 * own[frame] / total)
            for frame in chosen]
    return sorted(rows, key=lambda row: (-row[1], -row[2]))


if __name__ == "__main__":
    for frame, incl, self_pct in summarize(Path(sys.argv[1]), int(sys.argv[2])
                                           if len(sys.argv) > 2 else 40):
        print(f"{incl:6.1f}% {self_pct:6.1f}%  {frame}")
