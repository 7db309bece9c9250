"""The scheduler's HTTP API, on the standard library's threading HTTP server.

GET  /healthz     200 {"status": "ok"}
POST /jobs        a job spec (JSON; "id" optional) -> 201 {"id", "state"}, 400 with
                  {"problems": [...]} when it does not validate, 409 when the id is taken
GET  /jobs        {"waiting": [ids]}
GET  /jobs/{id}   {"id", "state", "record"}: record is the outcome once finished; 404

python3 -m scheduler [--host H] [--port P] [--spool DIR]
"""

from __future__ import annotations

import argparse
import json
import logging
import os
import signal
from collections.abc import Sequence
from http import HTTPStatus
from http.server import BaseHTTPRequestHandler, ThreadingHTTPServer

import jobspec

log = logging.getLogger("scheduler")

MAX_BODY_BYTES = 64 * 1024
DRAIN_MAX_BYTES = 1024 * 1024


class Handler(BaseHTTPRequestHandler):
    server_version = "scheduler/0.1"
    server: SchedulerServer

    def _reply(
        self, status: HTTPStatus, body: object, headers: dict[str, str] | None = None
    ) -> None:
        data = json.dumps(body).encode() + b"\n"
        self.send_response(status)
        self.send_header("Content-Type", "application/json")
        self.send_header("Content-Length", str(len(data)))
        for name, value in (headers or {}).items():
            self.send_header(name, value)
        self.end_headers()
        self.wfile.write(data)

    def _error(self, status: HTTPStatus, message: str, **extra: object) -> None:
        self._reply(status, {"error": message, **extra})

    def do_GET(self) -> None:
        spool = self.server.spool
        if self.path == "/healthz":
            self._reply(HTTPStatus.OK, {"status": "ok"})
        elif self.path == "/jobs":
            self._reply(HTTPStatus.OK, {"waiting": spool.waiting()})
        elif self.path.startswith("/jobs/"):
            job_id = self.path.removeprefix("/jobs/")
            state = spool.state(job_id)  # None for an id that is not well-formed, too
            if state is None:
                self._error(HTTPStatus.NOT_FOUND, f"no job {job_id!r}")
            else:
                record = spool.record(job_id)
                self._reply(HTTPStatus.OK, {"id": job_id, "state": state, "record": record})
        else:
            self._error(HTTPStatus.NOT_FOUND, "not found")

    def do_POST(self) -> None:
        if self.path != "/jobs":
            self._error(HTTPStatus.NOT_FOUND, "not found")
            return
        try:
            length = int(self.headers["Content-Length"])
        except (TypeError, ValueError):
            self._error(HTTPStatus.LENGTH_REQUIRED, "a Content-Length header is required")
            return
        if length > MAX_BODY_BYTES:
            # Read (and drop) a moderately large body before answering: closing a socket with
            # unread data resets the connection, and the client may never see the 413.
            if length <= DRAIN_MAX_BYTES:
                self.rfile.read(length)
            self._reply(
                HTTPStatus.REQUEST_ENTITY_TOO_LARGE,
                {"error": f"a job spec is at most {MAX_BODY_BYTES} bytes"},
                {"Connection": "close"},  # the handler closes the connection after this reply
            )
            return
        body = self.rfile.read(length)
        try:
            data = json.loads(body)
        except (json.JSONDecodeError, UnicodeDecodeError) as err:
            self._error(HTTPStatus.BAD_REQUEST, "the body is not JSON", problems=[str(err)])
            return
        if isinstance(data, dict) and "id" not in data:
            data["id"] = jobspec.new_id()
        try:
            spec = jobspec.parse(data)
        except jobspec.SpecError as err:
            self._error(HTTPStatus.BAD_REQUEST, "invalid job spec", problems=err.problems)
            return
        try:
            self.server.spool.submit(spec)
        except FileExistsError:
            self._error(HTTPStatus.CONFLICT, f"job {spec.id!r} exists")
            return
        log.info("queued job %s: %s", spec.id, " ".join(spec.command))
        self._reply(
            HTTPStatus.CREATED,
            {"id": spec.id, "state": "incoming"},
            {"Location": f"/jobs/{spec.id}"},
        )

    def log_message(self, format: str, *args: object) -> None:
        log.info("%s %s", self.address_string(), format % args)


class SchedulerServer(ThreadingHTTPServer):
    daemon_threads = True

    def __init__(self, address: tuple[str, int], spool: jobspec.Spool) -> None:
        super().__init__(address, Handler)
        self.spool = spool


def main(argv: Sequence[str] | None = None) -> int:
    parser = argparse.ArgumentParser(prog="scheduler", description=__doc__.splitlines()[0])
    # All interfaces: in a container, the published port arrives on eth0.
    parser.add_argument("--host", default="0.0.0.0", help="address to listen on")  # noqa: S104
    parser.add_argument("--port", type=int, default=8081)
    parser.add_argument(
        "--spool",
        default=os.environ.get("JOBS_SPOOL", "/var/spool/jobs"),
        help="the spool directory shared with the workers (default: $JOBS_SPOOL)",
    )
    args = parser.parse_args(argv)
    logging.basicConfig(level=logging.INFO, format="%(asctime)s %(name)s %(message)s")

    server = SchedulerServer((args.host, args.port), jobspec.Spool(args.spool).ensure())

    def stop(signum: int, _frame: object) -> None:
        raise SystemExit(0)  # out of serve_forever, in the main thread

    signal.signal(signal.SIGTERM, stop)
    log.info("listening on %s:%d, spool %s", args.host, server.server_address[1], args.spool)
    try:
        server.serve_forever()
    except KeyboardInterrupt:
        pass
    finally:
        server.server_close()
        log.info("stopped")
    return 0
