"""The worker loop: claim a job from the spool, run it, record the outcome, repeat.

    python3 -m worker [--spool DIR] [--once] [--poll SECONDS]

Several workers may share one spool: a claim is an atomic rename (see jobspec.spool).
SIGTERM (docker stop) lets the job at hand finish, then the worker exits 0.
"""

from __future__ import annotations

import argparse
import logging
import os
import signal
import subprocess
import threading
import time
from collections.abc import Sequence

import jobspec

log = logging.getLogger("worker")

OUTPUT_TAIL_BYTES = 4096  # of stdout and of stderr, kept in the job's record


def _tail(data: bytes | None) -> str:
    return (data or b"")[-OUTPUT_TAIL_BYTES:].decode("utf-8", errors="replace")


def job_environment(spec: jobspec.JobSpec) -> dict[str, str]:
    """A job's environment: a known minimum plus its own `env`, not the worker's."""
    env = {"PATH": os.environ.get("PATH", os.defpath), "LANG": "C.UTF-8"}
    env.update(spec.env)
    return env


def run_job(spec: jobspec.JobSpec) -> dict[str, object]:
    """Run a job, retrying a failed or timed-out attempt up to `spec.retries` times."""
    attempts: list[dict[str, object]] = []
    for attempt in range(1, spec.retries + 2):
        started = time.monotonic()
        outcome: dict[str, object] = {"attempt": attempt}
        try:
            proc = subprocess.run(
                spec.command,
                stdin=subprocess.DEVNULL,
                capture_output=True,
                timeout=spec.timeout_s,
                env=job_environment(spec),
                check=False,
            )
        except subprocess.TimeoutExpired as err:
            outcome |= {
                "error": f"timed out after {spec.timeout_s:g} s",
                "stdout": _tail(err.stdout),
            }
        except OSError as err:
            # The program is missing or not executable: another attempt would fail the same way.
            outcome |= {"error": f"cannot run {spec.command[0]}: {err.strerror}"}
            attempts.append(outcome | {"seconds": round(time.monotonic() - started, 3)})
            break
        else:
            outcome |= {
                "exit_code": proc.returncode,
                "stdout": _tail(proc.stdout),
                "stderr": _tail(proc.stderr),
            }
        attempts.append(outcome | {"seconds": round(time.monotonic() - started, 3)})
        if outcome.get("exit_code") == 0:
            break
    return {"ok": attempts[-1].get("exit_code") == 0, "attempts": attempts}


class Worker:
    def __init__(self, spool: jobspec.Spool) -> None:
        self.spool = spool

    def run_once(self) -> str | None:
        """Claim and run one job: its id, or None when nothing is waiting."""
        claimed = self.spool.claim()
        if claimed is None:
            return None
        job_id, raw = claimed
        try:
            spec = jobspec.loads(raw)
        except jobspec.SpecError as err:
            # Only a file put in the spool by hand gets here: the scheduler validates too.
            log.warning("job %s is invalid: %s", job_id, err)
            self.spool.finish(job_id, {"result": {"ok": False, "problems": err.problems}}, ok=False)
            return job_id
        log.info("job %s: running %s", job_id, " ".join(spec.command))
        result = run_job(spec)
        self.spool.finish(job_id, {"spec": spec.to_dict(), "result": result}, ok=result["ok"])
        log.info(
            "job %s: %s after %d attempt(s)",
            job_id,
            "done" if result["ok"] else "failed",
            len(result["attempts"]),
        )
        return job_id

    def drain(self) -> int:
        """Run jobs until none is waiting; returns how many ran."""
        count = 0
        while self.run_once() is not None:
            count += 1
        return count

    def serve(self, stop: threading.Event, poll_s: float = 1.0) -> None:
        """Run jobs as they arrive until `stop` is set (between jobs, never during one)."""
        while not stop.is_set():
            if self.run_once() is None:
                stop.wait(poll_s)


def main(argv: Sequence[str] | None = None) -> int:
    parser = argparse.ArgumentParser(prog="worker", description=__doc__.splitlines()[0])
    parser.add_argument(
        "--spool",
        default=os.environ.get("JOBS_SPOOL", "/var/spool/jobs"),
        help="the spool directory shared with the scheduler (default: $JOBS_SPOOL)",
    )
    parser.add_argument("--once", action="store_true", help="run the waiting jobs, then exit")
    parser.add_argument("--poll", type=float, default=1.0, help="seconds between looks")
    args = parser.parse_args(argv)
    logging.basicConfig(level=logging.INFO, format="%(asctime)s %(name)s %(message)s")

    worker = Worker(jobspec.Spool(args.spool).ensure())
    if args.once:
        log.info("ran %d job(s)", worker.drain())
        return 0

    stop = threading.Event()
    for signum in (signal.SIGTERM, signal.SIGINT):
        signal.signal(signum, lambda *_: stop.set())
    log.info("watching %s as uid %d", args.spool, os.getuid())
    worker.serve(stop, args.poll)
    log.info("stopped")
    return 0
