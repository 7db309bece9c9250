import os
import tempfile
import unittest
from pathlib import Path

import jobspec


def job(job_id: str, *command: str) -> jobspec.JobSpec:
    return jobspec.parse({"id": job_id, "command": list(command or ["true"])})


class SpoolTest(unittest.TestCase):
    def setUp(self) -> None:
        tmp = tempfile.TemporaryDirectory()
        self.addCleanup(tmp.cleanup)
        self.spool = jobspec.Spool(tmp.name).ensure()

    def test_life_of_a_job(self) -> None:
        self.spool.submit(job("j1", "echo", "hi"))
        self.assertEqual(self.spool.state("j1"), "incoming")
        self.assertEqual(self.spool.waiting(), ["j1"])

        job_id, raw = self.spool.claim()
        self.assertEqual(job_id, "j1")
        self.assertEqual(jobspec.loads(raw).command, ("echo", "hi"))
        self.assertEqual(self.spool.state("j1"), "running")
        self.assertIsNone(self.spool.record("j1"))

        self.spool.finish("j1", {"result": {"ok": True}}, ok=True)
        self.assertEqual(self.spool.state("j1"), "done")
        self.assertEqual(self.spool.record("j1"), {"result": {"ok": True}})
        self.assertEqual(list((self.spool.root / "running").iterdir()), [])

    def test_failed_jobs_go_to_failed(self) -> None:
        self.spool.submit(job("j1"))
        self.spool.claim()
        self.spool.finish("j1", {"result": {"ok": False}}, ok=False)
        self.assertEqual(self.spool.state("j1"), "failed")

    def test_a_job_id_is_used_once(self) -> None:
        self.spool.submit(job("j1"))
        with self.assertRaises(FileExistsError):
            self.spool.submit(job("j1", "other"))
        self.spool.claim()
        self.spool.finish("j1", {}, ok=True)
        with self.assertRaises(FileExistsError):
            self.spool.submit(job("j1"))

    def test_claims_oldest_first_and_each_job_once(self) -> None:
        for n, job_id in enumerate(["c", "a", "b"]):
            path = self.spool.submit(job(job_id))
            os.utime(path, ns=(n * 10**9, n * 10**9))
        claimed = [self.spool.claim()[0] for _ in range(3)]
        self.assertEqual(claimed, ["c", "a", "b"])
        self.assertIsNone(self.spool.claim())

    def test_half_written_submissions_are_not_claimed(self) -> None:
        (self.spool.root / "incoming" / ".j1.json.99.tmp").write_text("{")
        self.assertIsNone(self.spool.claim())
        self.assertEqual(self.spool.waiting(), [])

    def test_unknown_and_malformed_ids(self) -> None:
        self.assertIsNone(self.spool.state("nope"))
        self.assertIsNone(self.spool.state("../../etc/passwd"))
        with self.assertRaises(ValueError):
            self.spool.finish("../x", {}, ok=True)

    def test_ensure_creates_every_state(self) -> None:
        self.assertEqual(
            sorted(p.name for p in Path(self.spool.root).iterdir()), sorted(jobspec.STATES)
        )


if __name__ == "__main__":
    unittest.main()
