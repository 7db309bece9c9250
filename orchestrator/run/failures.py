"""What kind of failure a build's error is: the build's own fault, or trouble around it.

A failing `RUN` step fails the same way every time: it is never retried. A registry that
answered 503, a connection reset, a BuildKit session lost or one of BuildKit's own bookkeeping
errors can go away on the next attempt. An engine that stopped answering cuts off everything
it was building. Pure: it reads the words BuildKit, buildx and the registry wrote.
"""

from __future__ import annotations

import re
from typing import Literal

Kind = Literal["build", "transient", "engine-gone"]

# The daemon (or the builder's endpoint) is not there any more.
_ENGINE_GONE = re.compile(
    r"error reading from server: EOF"
    r"|Unavailable: connection error"
    r"|Unavailable: error reading from server"
    r"|transport is closing"
    r"|Cannot connect to the Docker daemon"
    r"|Is the docker daemon running"
    r"|the Docker Engine is not answering"
    r"|docker\.sock: connect: (?:connection refused|no such file or directory)"
    r"|(?:dial unix|connect) [^ ]*\.sock[^ ]*: connect: connection refused",
    re.IGNORECASE,
)

# Worth another attempt: the network, a registry's bad moment, BuildKit's own state.
_TRANSIENT = re.compile(
    r"\b50[0234]\b[^\n]*(?:Internal Server Error|Bad Gateway|Service Unavailable|Gateway Time-?out)"
    r"|unexpected status(?: from \w+ request to [^ ]+)?: 5\d\d"
    r"|unexpected status code[^\n]*: 5\d\d"
    r"|status code 5\d\d"
    r"|connection reset by peer"
    r"|broken pipe"
    r"|i/o timeout"
    r"|TLS handshake timeout"
    r"|context deadline exceeded"
    r"|server closed idle connection"
    r"|unexpected EOF"
    r"|no active session"
    r"|EOF: unknown"
    r"|commit failed: (?:EOF|context deadline exceeded)"
    r"|session (?:not found|closed)"
    r"|failed to get session"
    r"|no such job"
    r"|unknown blob [^\n]*in history"
    r"|failed to compute cache key: failed to get state for index"
    r"|failed to solve: rpc error: code = Unavailable"
    # buildx closed its own end while BuildKit still wrote a cache blob to it (a `type=local`
    # export goes through the client); seen once in a chained bake of six targets.
    r"|grpc: the client connection is closing"
    r"|too many requests|toomanyrequests|\b429\b",
    re.IGNORECASE,
)

# A step of the Dockerfile that ran and failed: the build's own fault, whatever it printed.
_STEP_FAILED = re.compile(r"did not complete successfully: exit code: \d+")


def classify(error: str | None, *, failed_step: str | None = None) -> Kind:
    """The kind of a build's failure, from its error (and the step that failed, if any)."""
    text = error or ""
    if _STEP_FAILED.search(text):
        return "build"
    if _ENGINE_GONE.search(text):
        return "engine-gone"
    if _TRANSIENT.search(text):
        return "transient"
    return "build"


def retryable(kind: Kind) -> bool:
    return kind != "build"


def backoff_s(attempt: int, *, base_s: float = 1.0, cap_s: float = 20.0) -> float:
    """How long to wait before attempt `attempt` (2 is the first retry): doubling, capped."""
    if attempt < 2:
        return 0.0
    return min(cap_s, base_s * float(1 << min(attempt - 2, 30)))
