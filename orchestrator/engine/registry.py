"""Does a registry answer? One bounded probe per registry, before orch or BuildKit waits on it.

A registry that accepts connections and never answers makes `docker buildx imagetools` wait
forever and BuildKit time out per target with an error about something else. A probe opens a
connection to each registry a run needs, all at once, and waits a few seconds for a first
answer: the reply to `GET /v2/` over plain HTTP on a loopback address (where Docker talks
HTTP), the TLS handshake elsewhere. Any answer counts, an error status or a failed handshake
included: only silence (or a connection that never opens) is a problem here. A refused
connection or an unknown host fails fast on its own, and is reported as such.
"""

from __future__ import annotations

import ipaddress
import ssl
from collections.abc import Callable, Iterable, Mapping
from dataclasses import dataclass
from typing import Any, Literal

import anyio
from anyio.streams.tls import TLSStream

from orchestrator.errors import EngineError

PROBE_TIMEOUT_S = 5.0
DOCKER_HUB = "registry-1.docker.io"
_HUB_NAMES = frozenset({"docker.io", "index.docker.io", "registry-1.docker.io"})
IMAGE_SCHEME = "docker-image://"

Kind = Literal["silent", "unreachable"]


@dataclass(frozen=True, slots=True)
class Problem:
    """A registry that did not answer: `silent` (connected, or connecting, and no answer within
    the timeout) or `unreachable` (refused, unknown host: it failed at once)."""

    host: str  # host[:port] as written
    kind: Kind
    detail: str

    def render(self) -> str:
        return f"the registry {self.host} {self.detail}"


def host_of(ref: str) -> str:
    """The registry a reference lives in, `host[:port]`; Docker Hub's for a bare name."""
    ref = ref.removeprefix(IMAGE_SCHEME)
    first, slash, _ = ref.partition("/")
    if slash and ("." in first or ":" in first or first == "localhost" or first.startswith("[")):
        return DOCKER_HUB if first in _HUB_NAMES else first
    return DOCKER_HUB


def hosts_in_bake(data: Mapping[str, Any]) -> list[str]:
    """The registries a bake file makes BuildKit talk to: registry caches it imports or
    exports, images it pushes, and `docker-image://` contexts with a registry in their name."""
    hosts: list[str] = []
    targets = data.get("target")
    for spec in targets.values() if isinstance(targets, Mapping) else ():
        if not isinstance(spec, Mapping):
            continue
        for entry in [*spec.get("cache-from", ()), *spec.get("cache-to", ())]:
            fields = dict(f.split("=", 1) for f in str(entry).split(",") if "=" in f)
            if fields.get("type") == "registry" and fields.get("ref"):
                hosts.append(host_of(fields["ref"]))
        if any("push=true" in str(o) for o in spec.get("output", ())):
            hosts += [host_of(str(tag)) for tag in spec.get("tags", ())]
        for value in (spec.get("contexts") or {}).values():
            text = str(value)
            if text.startswith(IMAGE_SCHEME) and host_of(text) != DOCKER_HUB:
                hosts.append(host_of(text))
    return list(dict.fromkeys(hosts))


def _address(host: str) -> tuple[str, int | None]:
    if host.startswith("["):
        name, _, rest = host[1:].partition("]")
        return name, int(rest[1:]) if rest.startswith(":") and rest[1:].isdigit() else None
    name, colon, port = host.rpartition(":")
    if colon and port.isdigit():
        return name, int(port)
    return host, None


def plain_http(host: str) -> bool:
    """Whether Docker talks plain HTTP to `host`: a loopback address (an insecure registry by
    default), else HTTPS."""
    name, _ = _address(host)
    if name == "localhost":
        return True
    try:
        return ipaddress.ip_address(name).is_loopback
    except ValueError:
        return False


async def probe_one(host: str, timeout: float = PROBE_TIMEOUT_S) -> Problem | None:
    """None when `host` answers within `timeout`, else what went wrong."""
    name, port = _address(host)
    http = plain_http(host)
    port = port or (80 if http else 443)
    try:
        with anyio.fail_after(timeout):
            stream = await anyio.connect_tcp(name, port)
            async with stream:
                if http:
                    await stream.send(f"GET /v2/ HTTP/1.0\r\nHost: {host}\r\n\r\n".encode())
                    await stream.receive(1)
                else:
                    context = ssl.create_default_context()
                    context.check_hostname = False
                    context.verify_mode = ssl.CERT_NONE
                    try:
                        tls = await TLSStream.wrap(stream, hostname=name, ssl_context=context)
                        await tls.aclose()
                    except (ssl.SSLError, anyio.BrokenResourceError, anyio.EndOfStream):
                        pass  # it answered, if not with TLS: BuildKit will say what it said
    except TimeoutError:
        return Problem(host, "silent", f"did not answer within {timeout:g} s")
    except (anyio.EndOfStream, anyio.BrokenResourceError):
        return None  # it closed the connection: an answer of a kind, and a fast one
    except OSError as exc:
        return Problem(host, "unreachable", f"cannot be reached: {exc.strerror or exc}")
    return None


async def probe(hosts: Iterable[str], timeout: float = PROBE_TIMEOUT_S) -> list[Problem]:
    """Probe every registry in `hosts` at once; the problems, in the order of `hosts`."""
    wanted = list(dict.fromkeys(hosts))
    found: dict[str, Problem] = {}

    async def one(host: str) -> None:
        problem = await probe_one(host, timeout)
        if problem is not None:
            found[host] = problem

    async with anyio.create_task_group() as tg:
        for host in wanted:
            tg.start_soon(one, host)
    return [found[h] for h in wanted if h in found]


class Registries:
    """The answer of each registry, probed once per run however many calls need it."""

    def __init__(self, timeout: float = PROBE_TIMEOUT_S) -> None:
        self.timeout = timeout
        self._seen: dict[str, Problem | None] = {}

    async def require(self, hosts: Iterable[str], doing: str | Callable[[str], str]) -> None:
        """Probe the registries not probed yet, all at once; an EngineError (exit 3) naming
        each that is silent, and what orch was `doing` when it needed them (a function of the
        first silent host, or the same for all)."""
        wanted = list(dict.fromkeys(hosts))
        todo = [h for h in wanted if h not in self._seen]
        if todo:
            problems = {p.host: p for p in await probe(todo, self.timeout)}
            self._seen |= {h: problems.get(h) for h in todo}
        silent = [p for h in wanted if (p := self._seen.get(h)) and p.kind == "silent"]
        if silent:
            said = doing(silent[0].host) if callable(doing) else doing
            raise EngineError(
                f"{said}: " + "; ".join(p.render() for p in silent),
                hint=f"it accepts connections and sends nothing back: check that the registry "
                f"at {silent[0].host} is up (curl {_v2_url(silent[0].host)}), or use another",
            )


def _v2_url(host: str) -> str:
    return f"{'http' if plain_http(host) else 'https'}://{host}/v2/"
