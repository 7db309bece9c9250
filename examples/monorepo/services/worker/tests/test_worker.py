import sys
import tempfile
import threading
import unittest

import jobspec
from worker.app import Worker, job_environment, main, run_job

PY = sys.executable


def spec(**fields: object) -> jobspec.JobSpec:
    return jobspec.parse({"id": "job-1", "command": [PY, "-c", "pass"]} | fields)


class RunJobTest(unittest.TestCase):
    def test_success_captures_output(self) -> None:
        result = run_job(spec(command=[PY, "-c", "print('hello')"]))
        self.assertTrue(result["ok"])
        [attempt] = result["attempts"]
        self.assertEqual((attempt["exit_code"], attempt["stdout"]), (0, "hello\n"))

    def test_failure_is_retried(self) -> None:
        result = run_job(spec(command=[PY, "-c", "import sys; sys.exit(3)"], retries=2))
        self.assertFalse(result["ok"])
        self.assertEqual([a["exit_code"] for a in result["attempts"]], [3, 3, 3])

    def test_retry_stops_at_the_first_success(self) -> None:
        with tempfile.TemporaryDirectory() as tmp:
            # Fails once (creating the marker), then succeeds.
            code = (
                "import os, sys; m = sys.argv[1]; "
                "sys.exit(0) if os.path.exists(m) else (open(m, 'w').close(), sys.exit(1))"
            )
            result = run_job(spec(command=[PY, "-c", code, f"{tmp}/marker"], retries=5))
        self.assertTrue(result["ok"])
        self.assertEqual([a["exit_code"] for a in result["attempts"]], [1, 0])

    def test_timeout(self) -> None:
        result = run_job(spec(command=[PY, "-c", "import time; time.sleep(10)"], timeout_s=0.3))
        self.assertFalse(result["ok"])
        self.assertIn("timed out after 0.3 s", result["attempts"][0]["error"])
        self.assertLess(result["attempts"][0]["seconds"], 5)

    def test_missing_program_is_not_retried(self) -> None:
        result = run_job(spec(command=["/no/such/program"], retries=3))
        self.assertFalse(result["ok"])
        self.assertEqual(len(result["attempts"]), 1)
        self.assertIn("cannot run /no/such/program", result["attempts"][0]["error"])

    def test_environment_is_the_jobs_not_the_workers(self) -> None:
        env = job_environment(spec(env={"GREETING": "hi"}))
        self.assertEqual(env["GREETING"], "hi")
        self.assertEqual(set(env), {"PATH", "LANG", "GREETING"})
        code = "import os; print(os.environ['GREETING'])"
        result = run_job(spec(command=[PY, "-c", code], env={"GREETING": "hi"}))
        self.assertEqual(result["attempts"][0]["stdout"], "hi\n")


class WorkerTest(unittest.TestCase):
    def setUp(self) -> None:
        tmp = tempfile.TemporaryDirectory()
        self.addCleanup(tmp.cleanup)
        self.spool = jobspec.Spool(tmp.name).ensure()
        self.worker = Worker(self.spool)

    def submit(self, job_id: str, *command: str, **fields: object) -> None:
        self.spool.submit(jobspec.parse({"id": job_id, "command": list(command)} | fields))

    def test_nothing_waiting(self) -> None:
        self.assertIsNone(self.worker.run_once())

    def test_jobs_end_in_done_or_failed_with_their_record(self) -> None:
        self.submit("good", PY, "-c", "print('ok')")
        self.submit("bad", PY, "-c", "raise SystemExit(2)", retries=1)
        self.assertEqual(self.worker.drain(), 2)
        self.assertEqual(self.spool.state("good"), "done")
        self.assertEqual(self.spool.state("bad"), "failed")
        good = self.spool.record("good")
        self.assertEqual(good["spec"]["id"], "good")
        self.assertEqual(good["result"]["attempts"][0]["stdout"], "ok\n")
        self.assertEqual(len(self.spool.record("bad")["result"]["attempts"]), 2)

    def test_an_invalid_file_in_the_spool_fails_with_its_problems(self) -> None:
        (self.spool.root / "incoming" / "by-hand.json").write_text('{"id": "by-hand"}')
        self.assertEqual(self.worker.run_once(), "by-hand")
        record = self.spool.record("by-hand")
        self.assertFalse(record["result"]["ok"])
        self.assertTrue(record["result"]["problems"][0].startswith("command:"))

    def test_serve_runs_jobs_as_they_arrive_until_stopped(self) -> None:
        stop = threading.Event()
        thread = threading.Thread(target=self.worker.serve, args=(stop, 0.02))
        thread.start()
        try:
            self.submit("late", PY, "-c", "pass")
            for _ in range(250):
                if self.spool.state("late") == "done":
                    break
                stop.wait(0.02)
        finally:
            stop.set()
            thread.join(5)
        self.assertFalse(thread.is_alive())
        self.assertEqual(self.spool.state("late"), "done")

    def test_main_once(self) -> None:
        self.submit("cli", PY, "-c", "pass")
        with self.assertLogs("worker", "INFO") as logs:
            self.assertEqual(main(["--spool", str(self.spool.root), "--once"]), 0)
        self.assertEqual(self.spool.state("cli"), "done")
        self.assertIn("ran 1 job(s)", logs.output[-1])


if __name__ == "__main__":
    unittest.main()
