"""Published ports as `docker run -p` reads them, parsed once when the plan or the command
line gives them, so that a wrong one is an error at its place, not a failed `docker run`.

    [IP:][HOST_PORT:]CONTAINER_PORT[/PROTOCOL]

Each port is a number from 1 to 65535 or a range `LOW-HIGH`; an empty host port
(`127.0.0.1::80`) lets Docker pick one; a host range must be as long as the container range.
"""

from __future__ import annotations

import ipaddress
import re
from dataclasses import dataclass

PROTOCOLS = ("tcp", "udp", "sctp")
EXAMPLE = '"8080:80" (host 8080 to container 80), "127.0.0.1:8080:80" or "80/udp"'
_RANGE = re.compile(r"([0-9]+)(?:-([0-9]+))?\Z")


@dataclass(frozen=True, slots=True)
class PortMapping:
    """One published port (or range): `str()` is the `-p` value."""

    container: str  # "80" or "8000-8010"
    host: str = ""  # "": Docker picks a free one
    ip: str = ""  # "": every address
    protocol: str = "tcp"

    def __str__(self) -> str:
        ip = f"[{self.ip}]" if ":" in self.ip else self.ip
        text = self.container
        if self.ip:
            text = f"{ip}:{self.host}:{text}"
        elif self.host:
            text = f"{self.host}:{text}"
        return text if self.protocol == "tcp" else f"{text}/{self.protocol}"


def parse_port(text: str) -> PortMapping:
    """The mapping `text` writes; a ValueError saying what is wrong with it."""
    body, slash, protocol = text.strip().partition("/")
    if slash and protocol not in PROTOCOLS:
        raise ValueError(f"unknown protocol {protocol!r}: use one of {', '.join(PROTOCOLS)}")
    ip = ""
    if body.startswith("["):  # [IPv6]:HOST:CONTAINER
        close = body.find("]")
        if close < 0 or body[close + 1 : close + 2] != ":":
            raise ValueError("an IPv6 address is written in brackets, then ':': [::1]:8080:80")
        ip, rest = body[1:close], body[close + 2 :]
        parts = rest.split(":")
        if len(parts) != 2:
            raise ValueError("after the address come HOST_PORT:CONTAINER_PORT")
        host, container = parts
    else:
        parts = body.split(":")
        if len(parts) > 3:
            raise ValueError("too many ':' (an IPv6 address goes in brackets: [::1]:8080:80)")
        *front, container = parts
        host = front[-1] if front else ""
        ip = front[0] if len(front) == 2 else ""
        if len(front) == 1 and not host:
            raise ValueError("the host port before ':' is empty")
    if ip:
        try:
            ipaddress.ip_address(ip)
        except ValueError:
            raise ValueError(f"{ip!r} is not an IP address") from None
    low, high = _port_range(container, "container port")
    if host:
        host_low, host_high = _port_range(host, "host port")
        if high - low != host_high - host_low:
            raise ValueError(
                f"the host range {host} and the container range {container} differ in length"
            )
    return PortMapping(container=container, host=host, ip=ip, protocol=protocol if slash else "tcp")


def _port_range(text: str, what: str) -> tuple[int, int]:
    match = _RANGE.match(text)
    if not match:
        raise ValueError(f"the {what} {text!r} is not a number" if text else f"no {what}")
    low = int(match.group(1))
    high = int(match.group(2)) if match.group(2) else low
    for port in (low, high):
        if not 1 <= port <= 65535:
            raise ValueError(f"the {what} {port} is not between 1 and 65535")
    if high < low:
        raise ValueError(f"the {what} range {text} runs backwards")
    return low, high
