import http.client
import json
import logging
import tempfile
import threading
import unittest

import jobspec
from scheduler.app import MAX_BODY_BYTES, SchedulerServer


class SchedulerTest(unittest.TestCase):
    @classmethod
    def setUpClass(cls) -> None:
        logging.getLogger("scheduler").setLevel(logging.WARNING)  # no access log in test output

    def setUp(self) -> None:
        tmp = tempfile.TemporaryDirectory()
        self.addCleanup(tmp.cleanup)
        self.spool = jobspec.Spool(tmp.name).ensure()
        self.server = SchedulerServer(("127.0.0.1", 0), self.spool)
        thread = threading.Thread(
            target=self.server.serve_forever, kwargs={"poll_interval": 0.05}, daemon=True
        )
        thread.start()
        self.addCleanup(self.server.server_close)
        self.addCleanup(self.server.shutdown)

    def request(
        self, method: str, path: str, body: object = None, headers: dict | None = None
    ) -> tuple[int, http.client.HTTPMessage, object]:
        conn = http.client.HTTPConnection(*self.server.server_address, timeout=5)
        self.addCleanup(conn.close)
        if isinstance(body, dict | list):
            body = json.dumps(body)
        conn.request(method, path, body=body, headers=headers or {})
        resp = conn.getresponse()
        return resp.status, resp.headers, json.loads(resp.read())

    def test_healthz(self) -> None:
        self.assertEqual(self.request("GET", "/healthz")[::2], (200, {"status": "ok"}))

    def test_a_valid_job_is_queued_in_the_spool(self) -> None:
        status, headers, body = self.request(
            "POST", "/jobs", {"id": "report", "command": ["report", "--daily"], "retries": 1}
        )
        self.assertEqual((status, body), (201, {"id": "report", "state": "incoming"}))
        self.assertEqual(headers["Location"], "/jobs/report")
        # The worker's side of the contract: the file in the spool parses back to the job.
        job_id, raw = self.spool.claim()
        spec = jobspec.loads(raw)
        self.assertEqual((job_id, spec.command, spec.retries), ("report", ("report", "--daily"), 1))

    def test_an_id_is_assigned_when_missing(self) -> None:
        status, _, body = self.request("POST", "/jobs", {"command": ["true"]})
        self.assertEqual(status, 201)
        self.assertTrue(jobspec.valid_id(body["id"]))
        self.assertEqual(self.spool.waiting(), [body["id"]])

    def test_an_invalid_job_gets_every_problem(self) -> None:
        status, _, body = self.request("POST", "/jobs", {"command": "rm -rf /", "retries": -1})
        self.assertEqual(status, 400)
        self.assertEqual([p.split(":")[0] for p in body["problems"]], ["command", "retries"])
        self.assertEqual(self.spool.waiting(), [])

    def test_bad_bodies(self) -> None:
        self.assertEqual(self.request("POST", "/jobs", "{nope")[0], 400)
        self.assertEqual(self.request("POST", "/jobs", ["a list"])[0], 400)
        big = json.dumps({"command": ["x" * MAX_BODY_BYTES]})
        self.assertEqual(self.request("POST", "/jobs", big)[0], 413)

    def test_a_job_id_is_taken_once(self) -> None:
        self.assertEqual(self.request("POST", "/jobs", {"id": "once", "command": ["true"]})[0], 201)
        self.assertEqual(self.request("POST", "/jobs", {"id": "once", "command": ["true"]})[0], 409)

    def test_job_status_follows_the_spool(self) -> None:
        self.request("POST", "/jobs", {"id": "j1", "command": ["true"]})
        self.assertEqual(self.request("GET", "/jobs")[2], {"waiting": ["j1"]})
        self.assertEqual(self.request("GET", "/jobs/j1")[2]["state"], "incoming")
        self.spool.claim()
        self.assertEqual(self.request("GET", "/jobs/j1")[2]["state"], "running")
        self.spool.finish("j1", {"result": {"ok": True}}, ok=True)
        self.assertEqual(
            self.request("GET", "/jobs/j1")[2],
            {"id": "j1", "state": "done", "record": {"result": {"ok": True}}},
        )

    def test_unknown_paths_and_jobs(self) -> None:
        self.assertEqual(self.request("GET", "/jobs/nope")[0], 404)
        self.assertEqual(self.request("GET", "/jobs/..%2f..%2fetc")[0], 404)
        self.assertEqual(self.request("GET", "/elsewhere")[0], 404)
        self.assertEqual(self.request("POST", "/elsewhere", {})[0], 404)


if __name__ == "__main__":
    unittest.main()
