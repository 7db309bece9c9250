"""`orch prune` in a registry: the versioned tags of the plan's targets there, past the same
bound as the local ones, listed and, only with `--registry-delete`, deleted (by manifest
digest, which also drops every other tag of that manifest: one a plan tag names is kept).

The registry's HTTP API (distribution spec): `GET /v2/<name>/tags/list`, each tag's manifest
for its digest and its config's `created`, `DELETE /v2/<name>/manifests/<digest>`. Plain HTTP
on a loopback address, as Docker talks to it; HTTPS elsewhere, with the credentials of the
user's Docker config (basic, or a bearer token the registry's challenge points at).
"""

from __future__ import annotations

import base64
import json
import os
import re
import urllib.error
import urllib.parse
import urllib.request
from collections.abc import Mapping, Sequence
from datetime import datetime
from pathlib import Path
from typing import TYPE_CHECKING, Any

import anyio

from orchestrator.prune import decide

if TYPE_CHECKING:
    from orchestrator.project import Project
    from orchestrator.prune.sweep import Swept

ACCEPT = ", ".join(
    [
        "application/vnd.oci.image.index.v1+json",
        "application/vnd.oci.image.manifest.v1+json",
        "application/vnd.docker.distribution.manifest.list.v2+json",
        "application/vnd.docker.distribution.manifest.v2+json",
    ]
)
TIMEOUT_S = 30.0


class Client:
    """One registry host, with the user's credentials for it when the Docker config has them."""

    def __init__(self, host: str) -> None:
        from orchestrator.engine.registry import plain_http

        self.host = host
        self.base = f"{'http' if plain_http(host) else 'https'}://{host}"
        self.auth: str | None = _basic_auth(host)
        self.token: str | None = None

    def call(
        self, method: str, path: str, accept: str = ACCEPT
    ) -> tuple[int, dict[str, str], bytes]:
        for _ in range(2):
            request = urllib.request.Request(self.base + path, method=method)  # noqa: S310
            request.add_header("Accept", accept)
            if self.token:
                request.add_header("Authorization", f"Bearer {self.token}")
            elif self.auth:
                request.add_header("Authorization", f"Basic {self.auth}")
            try:
                with urllib.request.urlopen(request, timeout=TIMEOUT_S) as reply:  # noqa: S310
                    return reply.status, dict(reply.headers.items()), reply.read()
            except urllib.error.HTTPError as exc:
                challenge = exc.headers.get("WWW-Authenticate", "")
                if exc.code == 401 and self.token is None and challenge.startswith("Bearer "):
                    self.token = self._bearer(challenge)
                    if self.token:
                        continue
                return exc.code, dict(exc.headers.items()), exc.read()
        return 401, {}, b""

    def _bearer(self, challenge: str) -> str | None:
        fields = dict(re.findall(r'(\w+)="([^"]*)"', challenge))
        realm = fields.pop("realm", None)
        if not realm:
            return None
        query = urllib.parse.urlencode(fields)
        request = urllib.request.Request(f"{realm}?{query}")  # noqa: S310
        if self.auth:
            request.add_header("Authorization", f"Basic {self.auth}")
        try:
            with urllib.request.urlopen(request, timeout=TIMEOUT_S) as reply:  # noqa: S310
                data = json.loads(reply.read())
        except (urllib.error.URLError, ValueError, OSError):
            return None
        token = data.get("token") or data.get("access_token")
        return token if isinstance(token, str) else None


def _basic_auth(host: str) -> str | None:
    config = Path(os.environ.get("DOCKER_CONFIG") or Path.home() / ".docker") / "config.json"
    try:
        auths = json.loads(config.read_text()).get("auths", {})
    except (OSError, ValueError, AttributeError):
        return None
    entry = auths.get(host) or auths.get(f"https://{host}") or {}
    auth = entry.get("auth") if isinstance(entry, dict) else None
    if isinstance(auth, str) and auth:
        return auth
    user, password = entry.get("username"), entry.get("password")
    if isinstance(user, str) and isinstance(password, str):
        return base64.b64encode(f"{user}:{password}".encode()).decode()
    return None


def _created(client: Client, name: str, manifest: Mapping[str, Any]) -> float:
    """A manifest's image creation time (an index: its first image's)."""
    if "manifests" in manifest:
        first = next(iter(manifest["manifests"]), None)
        if not first:
            return 0.0
        code, _, body = client.call("GET", f"/v2/{name}/manifests/{first['digest']}")
        if code != 200:
            return 0.0
        manifest = json.loads(body)
    config = manifest.get("config", {}).get("digest")
    if not config:
        return 0.0
    code, _, body = client.call("GET", f"/v2/{name}/blobs/{config}", accept="*/*")
    if code != 200:
        return 0.0
    stamp = re.sub(r"(\.\d{6})\d+", r"\1", str(json.loads(body).get("created", "")))
    try:
        return datetime.fromisoformat(stamp.replace("Z", "+00:00")).timestamp()
    except ValueError:
        return 0.0


def listing(
    host: str, name: str, tags_of_plan: Sequence[str]
) -> tuple[list[decide.LocalTag], dict[str, decide.ImageFacts], str | None, list[str]]:
    """Every tag of `name` in the registry that is versioned or a plan tag, with its manifest
    digest and creation time; a problem instead when the registry refuses. Last, every tag of
    it, for the part tags (`decide.parts_of`) that go with a version."""
    client = Client(host)
    code, _, body = client.call("GET", f"/v2/{name}/tags/list", accept="application/json")
    if code == 404:
        return [], {}, None, []
    if code != 200:
        return [], {}, f"{host}/{name}: listing its tags answered HTTP {code}", []
    tags = json.loads(body).get("tags") or []
    found: list[decide.LocalTag] = []
    facts: dict[str, decide.ImageFacts] = {}
    for tag in tags:
        if not (decide.VERSION_TAG.match(tag) or tag in tags_of_plan):
            continue
        code, headers, body = client.call("GET", f"/v2/{name}/manifests/{tag}")
        digest = {k.lower(): v for k, v in headers.items()}.get("docker-content-digest")
        if code != 200 or not digest:
            continue
        found.append(decide.LocalTag(f"{host}/{name}", tag, digest))
        if digest not in facts:
            facts[digest] = decide.ImageFacts(_created(client, name, json.loads(body)), 0)
    return found, facts, None, [str(t) for t in tags]


def delete_part(host: str, name: str, tag: str) -> str | None:
    """Delete the manifest a part tag names; a problem when the registry refuses."""
    code, headers, _ = Client(host).call("GET", f"/v2/{name}/manifests/{tag}")
    digest = {k.lower(): v for k, v in headers.items()}.get("docker-content-digest")
    if code == 404:
        return None  # gone with its index already
    if code != 200 or not digest:
        return f"{host}/{name}:{tag}: looking it up answered HTTP {code}"
    return delete_manifest(host, name, digest)


def delete_manifest(host: str, name: str, digest: str) -> str | None:
    """Delete one manifest by digest; a problem when the registry refuses."""
    code, _, _ = Client(host).call("DELETE", f"/v2/{name}/manifests/{digest}")
    if code in (200, 202):
        return None
    if code == 405:
        return f"{host} does not allow deletes (HTTP 405): enable them in its configuration"
    return f"deleting {host}/{name}@{digest} answered HTTP {code}"


async def prune(
    project: Project,
    names: Sequence[str],
    swept: Swept,
    *,
    keep: int,
    older_than: float | None,
    now: float,
    delete: bool,
) -> None:
    """The registry part of `orch prune` for `names` (targets with `registry:`)."""
    plan = project.plan
    for target in names:
        t = plan.targets[target]
        registry = t.registry or ""
        repository = t.image
        name = repository[len(registry) + 1 :] if repository.startswith(registry + "/") else ""
        if not name:
            continue
        plan_tags = [ref.rsplit(":", 1)[-1] for ref in t.tags]
        tags, facts, problem, every = await anyio.to_thread.run_sync(
            listing, registry, name, plan_tags
        )
        if problem:
            swept.problems.append(problem)
            continue
        decision = decide.decide(
            {target: repository}, tags, facts, keep=keep, older_than=older_than, now=now
        )
        verb = "deleted" if delete else "past the bound in the registry (--registry-delete deletes)"
        for gone in decision.remove:
            if delete:
                said = await anyio.to_thread.run_sync(
                    delete_manifest, registry, name, gone.image_id
                )
                if said:
                    swept.problems.append(said)
                    continue
            swept.registry.append(f"{verb}: {gone.ref}")
            for part in decide.parts_of(gone.tag, every):
                said = None
                if delete:
                    said = await anyio.to_thread.run_sync(delete_part, registry, name, part)
                if said:
                    swept.problems.append(said)
                else:
                    swept.registry.append(f"{verb}: {registry}/{name}:{part}")
