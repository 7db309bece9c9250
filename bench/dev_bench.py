"""Edit to running container with `orch dev --run` on the example's `worker`.

    python bench/dev_bench.py [--edits N]

A copy of the example (the root plan and examples/) is made a git repository and built once
(`orch build worker`, which fills the caches). Then `orch dev worker --run` runs, and each
edit appends a comment to worker/app.py. Printed, each the median (min-max) over the edits:
- edit -> orch says the new container runs (`docker run -d` has returned);
- edit -> the new container's first log line (the worker is up and watching its spool);
- of that, the build and the container's replacement, as orch dev reports them;
- the same by hand: edit, `orch build worker`, `docker rm -f` and `docker run -d`.
"""

from __future__ import annotations

import argparse
import os
import queue
import re
import shutil
import signal
import statistics
import subprocess
import sys
import tempfile
import threading
import time
import uuid
from pathlib import Path

REPO = Path(__file__).resolve().parent.parent
EDITED = "examples/monorepo/services/worker/worker/app.py"
WAIT_S = 180
_BUILD = re.compile(r"build \d+ ok in ([0-9.]+)s")
_STARTED = re.compile(r"started in ([0-9.]+)s")


def lines_of(stream: object, into: queue.Queue[tuple[float, str]]) -> None:
    for line in stream:  # type: ignore[attr-defined]
        into.put((time.perf_counter(), line.rstrip("\n")))


SEEN: list[str] = []  # every line so far, shown when something fails


def wait_line(lines: queue.Queue[tuple[float, str]], *wanted: str) -> dict[str, float]:
    """The time each of `wanted` was first seen in a line, reading until all were."""
    seen: dict[str, float] = {}
    deadline = time.perf_counter() + WAIT_S
    while not all(w in seen for w in wanted):
        try:
            at, line = lines.get(timeout=max(0.1, deadline - time.perf_counter()))
        except queue.Empty:
            raise SystemExit(f"timed out waiting for {wanted}:\n" + "\n".join(SEEN)) from None
        SEEN.append(line)
        if "FAILED" in line or "error:" in line:
            raise SystemExit("orch dev failed:\n" + "\n".join(SEEN[-40:]))
        for w in wanted:
            if w not in seen and w in line:
                seen[w] = at
                for key, pattern in (("build_s", _BUILD), ("start_s", _STARTED)):
                    match = pattern.search(line)
                    if match:
                        seen[key] = float(match.group(1))
    return seen


def by_hand_round(root: Path, orch: list[str]) -> float:
    """What orch dev saves a person: edit, `orch build worker`, replace the container."""
    name = f"orch-dev-bench-{uuid.uuid4().hex[:8]}"
    image = "orch/worker:latest"
    subprocess.run(["docker", "run", "-d", "--name", name, image], check=True, capture_output=True)
    path = root / EDITED
    edited = time.perf_counter()
    path.write_text(path.read_text() + f"\n# edited {uuid.uuid4().hex}\n")
    subprocess.run([*orch, "build", "worker"], cwd=root, check=True, capture_output=True)
    subprocess.run(["docker", "rm", "-f", name], check=True, capture_output=True)
    subprocess.run(["docker", "run", "-d", "--name", name, image], check=True, capture_output=True)
    took = time.perf_counter() - edited
    subprocess.run(["docker", "rm", "-f", name], check=True, capture_output=True)
    return took


def main() -> None:
    parser = argparse.ArgumentParser(description=__doc__.split("\n", 1)[0])
    parser.add_argument("--edits", type=int, default=5)
    args = parser.parse_args()
    with tempfile.TemporaryDirectory(prefix="orch-dev-bench-") as tmp:
        root = Path(tmp)
        shutil.copy(REPO / "buildplan.yaml", root)
        shutil.copytree(REPO / "examples", root / "examples")
        for git in (["init", "-q"], ["add", "-A"], ["commit", "-qm", "example"]):
            subprocess.run(
                ["git", "-c", "user.name=bench", "-c", "user.email=bench@orch.invalid", *git],
                cwd=root,
                check=True,
            )
        orch = [sys.executable, "-m", "orchestrator"]
        subprocess.run([*orch, "build", "worker"], cwd=root, check=True, capture_output=True)
        proc = subprocess.Popen(
            [*orch, "dev", "worker", "--run"],
            cwd=root,
            stdout=subprocess.PIPE,
            stderr=subprocess.STDOUT,
            text=True,
            env={**os.environ, "PYTHONUNBUFFERED": "1"},
        )
        lines: queue.Queue[tuple[float, str]] = queue.Queue()
        threading.Thread(target=lines_of, args=(proc.stdout, lines), daemon=True).start()
        running, up, builds, starts = [], [], [], []
        try:
            wait_line(lines, "worker: running", "worker | ")
            for _ in range(args.edits):
                time.sleep(1.0)  # the container settles; no burst joins two edits
                path = root / EDITED
                edited = time.perf_counter()
                path.write_text(path.read_text() + f"\n# edited {uuid.uuid4().hex}\n")
                seen = wait_line(lines, "ok in", "worker: running", "worker | ")
                running.append(seen["worker: running"] - edited)
                up.append(seen["worker | "] - edited)
                builds.append(seen["build_s"])
                starts.append(seen["start_s"])
        finally:
            proc.send_signal(signal.SIGINT)
            code = proc.wait(timeout=60)
        if code != 130:
            raise SystemExit(f"orch dev exited {code}, not 130")
        by_hand = [by_hand_round(root, orch) for _ in range(args.edits)]

    def figure(values: list[float]) -> str:
        return f"{statistics.median(values):.2f} s ({min(values):.2f}-{max(values):.2f})"

    print(f"worker, {args.edits} edits of worker/app.py, median (min-max):")
    print(f"  edit -> new container running:     {figure(running)}")
    print(f"  edit -> its first log line:        {figure(up)}")
    print(f"  of which the build (orch dev's):   {figure(builds)}")
    print(f"  of which docker rm -f + run -d:    {figure(starts)}")
    print(f"  by hand, orch build + rm + run:    {figure(by_hand)}")
    print(f"(load average {os.getloadavg()[0]:.1f} on {os.cpu_count()} cores)")


if __name__ == "__main__":
    main()
