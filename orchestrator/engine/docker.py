"""The one module that talks to Docker: checks the engine, runs bake, inspects images.

Every call is a child process of the user's own `docker` CLI (its context, config and
DOCKER_HOST apply), opened with anyio: none blocks the event loop, bake's output streams in, a
cancel stops it, and argument lists are never shell strings.
"""

from __future__ import annotations

import contextlib
import hashlib
import json
import os
import re
import shutil
import signal
import subprocess
import tempfile
import time
from collections.abc import Sequence
from dataclasses import dataclass
from pathlib import Path
from subprocess import CompletedProcess
from typing import TYPE_CHECKING

import anyio
import anyio.to_thread

from orchestrator import processes
from orchestrator.errors import EngineError, name_list
from orchestrator.files import read_json_object

# Ctrl-C must stop everything within 5 s: bake gets SIGTERM (it cancels the solve in the
# daemon), then SIGKILL for the whole process group if it has not exited by then.
TERM_GRACE_S = 3.0
# Registry look-ups at once: each is one HTTPS round trip.
REGISTRY_LOOKUPS = 8
# A registry that answered its probe and then stalls on one call: bounded all the same.
REGISTRY_CALL_S = 60.0
if TYPE_CHECKING:  # bake's output reader and the registry probes: imported when used
    from orchestrator.engine import registry
    from orchestrator.engine.buildlog import BakeResult
    from orchestrator.engine.events import OnBuildEvent
    from orchestrator.engine.progress import BakeProgress, RawJsonLines
    from orchestrator.prune.decide import ImageFacts, LocalTag

_NO_SUCH_IMAGE = re.compile(r"No such image: (\S+)")
_NO_BUILDX = re.compile(rb"'buildx' is not a docker command|unknown command \"buildx\"")
_UNREACHABLE = re.compile(
    rb"Cannot connect to the Docker daemon|Is the docker daemon running|error during connect"
)


def _parsed(raw: bytes) -> object:
    try:
        return json.loads(raw)
    except ValueError:
        return None


def _children(doc: object) -> tuple[str, ...]:
    listed = doc.get("manifests", []) if isinstance(doc, dict) else []
    return tuple(m["digest"] for m in listed if isinstance(m, dict) and "digest" in m)


def _listed_platforms(doc: object) -> frozenset[str] | None:
    """The platforms an index lists (`linux/arm64`, `linux/arm/v7`), attestation manifests left
    out; None for anything but an index (an image manifest is one platform, whichever)."""
    if not isinstance(doc, dict) or not isinstance(doc.get("manifests"), list):
        return None
    return frozenset(
        name for m in doc["manifests"] if (name := _platform_name(m)) and name != "unknown/unknown"
    )


def _platform_name(entry: object) -> str | None:
    """`os/architecture[/variant]` of an index entry, None when it names no platform."""
    platform = entry.get("platform") if isinstance(entry, dict) else None
    if not isinstance(platform, dict):
        return None
    name = f"{platform.get('os')}/{platform.get('architecture')}"
    return name + (f"/{platform['variant']}" if platform.get("variant") else "")


def _platform_images(index: dict[str, object]) -> tuple[str, ...]:
    """The image manifests an index lists, attestation manifests (platform unknown) left out."""
    listed = index.get("manifests")
    digests = []
    for m in listed if isinstance(listed, list) else []:
        if not isinstance(m, dict) or not isinstance(m.get("digest"), str):
            continue
        platform = m.get("platform")
        if isinstance(platform, dict) and platform.get("os") == "unknown":
            continue
        digests.append(m["digest"])
    return tuple(digests)


def _image_size(manifest: object) -> int | None:
    """An image manifest's compressed size: its config and every layer, as a registry holds."""
    if not isinstance(manifest, dict) or not isinstance(manifest.get("layers"), list):
        return None
    parts = [manifest.get("config"), *manifest["layers"]]
    total = 0
    for part in parts:
        size = part.get("size") if isinstance(part, dict) else None
        total += size if isinstance(size, int) else 0
    return total


def _not_answering(stderr: bytes) -> EngineError:
    said = stderr.decode("utf-8", "replace").strip().splitlines()
    return EngineError(
        "the Docker Engine is not answering" + (f": {said[-1]}" if said else ""),
        hint="start dockerd (scripts/engine installs and starts one), or set DOCKER_HOST",
    )


def _registry_stalled(ref: str) -> EngineError:
    from orchestrator.engine import registry

    host = registry.host_of(ref)
    return EngineError(
        f"the registry {host} did not answer about {ref} within {REGISTRY_CALL_S:g} s",
        hint=f"check that the registry at {host} is up and answering, or use another",
    )


_HUB_PREFIXES = ("docker.io/library/", "index.docker.io/library/", "docker.io/", "index.docker.io/")


def familiar(ref: str) -> tuple[str, str] | None:
    """(repository, tag) of a tagged reference as `docker image ls` shows it (`debian`, not
    `docker.io/library/debian`; `latest` when no tag is written); None for one pinned to a
    digest, which a listing of tags cannot answer."""
    if "@" in ref:
        return None
    name, tag = ref, "latest"
    last = ref.rsplit("/", 1)[-1]
    if ":" in last:
        name, tag = ref[: len(ref) - len(last)] + last.split(":", 1)[0], last.split(":", 1)[1]
    for prefix in _HUB_PREFIXES:
        if name.startswith(prefix):
            name = name[len(prefix) :]
            break
    return name, tag


def _repository_of(ref: str) -> str:
    """`host/name` of `host/name:tag` or `host/name@digest` (a port's colon is no tag)."""
    repository = ref.rsplit("@", 1)[0]
    if ":" in repository.rsplit("/", 1)[-1]:
        repository = repository.rsplit(":", 1)[0]
    return repository


def driver_of(inspected: str) -> str | None:
    """The driver `docker buildx inspect` names (`Driver: docker-container`), or None."""
    found = re.search(r"^Driver:\s*(\S+)", inspected, re.MULTILINE)
    return found.group(1) if found else None


@dataclass(frozen=True, slots=True)
class ImageInfo:
    ref: str
    digest: str
    size_bytes: int


class Engine:
    """A Docker Engine with buildx, reached through the user's own `docker` CLI and config."""

    def __init__(self, builder: str | None = None, *, pull: bool = False) -> None:
        self.builder = builder
        self.pull = pull  # bake pulls every base image anew
        docker = shutil.which("docker")
        if docker is None:
            raise EngineError(
                "the docker CLI was not found on PATH",
                hint="install Docker with buildx, or run scripts/engine",
            )
        self._docker = [docker]
        self._bake_builder = builder  # what bake gets as --builder, once resolved
        self._children: dict[str, tuple[str, ...]] = {}
        self._platforms: dict[str, frozenset[str] | None] = {}
        # Local tags by repository, from one `docker image ls`, until a call changes them.
        self._listed: dict[str, dict[str, str]] = {}
        self._registries: registry.Registries | None = None
        self._driver: str | None = None  # the builder's driver, once asked (`isolated`)
        self._no_platform_inspect = False  # the daemon cannot inspect one platform (API < 1.49)

    @property
    def registries(self) -> registry.Registries:
        """The registries this engine talks to, each probed once, before it is waited on."""
        if self._registries is None:
            from orchestrator.engine import registry

            self._registries = registry.Registries()
        return self._registries

    @property
    def name(self) -> str:
        """The builder as the user named it; "" for the one the docker CLI picks."""
        return self.builder or ""

    def check(self) -> None:
        """Raise EngineError (exit 3) unless the daemon, buildx and the builder answer."""
        anyio.run(self.check_async)

    async def check_async(self) -> None:
        server = await self._run(["version", "--format", "{{.Server.Version}}"])
        if server.returncode != 0 or not server.stdout.strip():
            raise _not_answering(server.stderr)
        argv = ["buildx", "inspect", self.builder] if self.builder else ["buildx", "version"]
        proc = await self._run(argv)
        if proc.returncode != 0:
            what = f"buildx builder '{self.builder}'" if self.builder else "docker buildx"
            said = proc.stderr.decode("utf-8", "replace").strip().splitlines()
            raise EngineError(
                f"{what} is not available" + (f": {said[-1]}" if said else ""),
                hint="list builders with `docker buildx ls`; pick one with --builder NAME",
            )
        if self.builder:
            inspected = proc.stdout.decode("utf-8", "replace")
            failed = re.search(r"^Error:\s*(.+)$", inspected, re.MULTILINE)
            if failed:  # buildx knows the name, and could not reach it: exit 0 all the same
                raise EngineError(
                    f"buildx builder '{self.builder}' is not available: {failed.group(1).strip()}",
                    hint="list builders with `docker buildx ls`; pick one with --builder NAME",
                )
            self._use(inspected)

    async def builder_names(self) -> tuple[str, ...]:
        """The builders buildx knows, by name (python-on-whales' typed list; imported here,
        on the way to an error only)."""

        def names() -> tuple[str, ...]:
            from python_on_whales import DockerClient
            from python_on_whales.exceptions import DockerException

            try:
                listed = DockerClient(client_call=self._docker).buildx.list()
                return tuple(b.name for b in listed if b.name)
            except DockerException:
                return ()

        return await anyio.to_thread.run_sync(names)

    async def isolated(self) -> bool:
        """Whether the builder cannot read the daemon's images: any driver but `docker`
        (docker-container, remote, kubernetes, cloud). Such a builder resolves
        `docker-image://` in a registry. Asked once (`docker buildx inspect`), when a bake
        first needs it: a run with nothing to build never asks."""
        if self._driver is None:
            argv = ["buildx", "inspect", *([self._bake_builder] if self._bake_builder else [])]
            proc = await self._run(argv)
            said = proc.stdout.decode("utf-8", "replace")
            if proc.returncode != 0:
                raise EngineError(
                    "cannot tell the buildx builder's driver: `docker buildx inspect` failed: "
                    + (proc.stderr.decode("utf-8", "replace").strip() or f"exit {proc.returncode}"),
                    hint="list builders with `docker buildx ls`; pick one with --builder NAME",
                )
            self._driver = driver_of(said) or "docker"
        return self._driver != "docker"

    def _use(self, inspected: str) -> None:
        """Reach a builder of the `docker` driver through its docker context: buildx builds on
        such a builder only from that context, and its images are in that daemon's store."""
        driver = driver_of(inspected)
        endpoint = re.search(r"^Endpoint:\s*(\S+)", inspected, re.MULTILINE)
        self._driver = driver
        if driver == "docker" and endpoint:
            self._docker = [self._docker[0], "--context", endpoint.group(1)]
            self._bake_builder = None
        else:
            self._docker = self._docker[:1]
            self._bake_builder = self.builder

    def bake_argv(self, bake_file: Path, names: Sequence[str], metadata: Path) -> list[str]:
        argv = [*self._docker, "buildx", "bake", "-f", str(bake_file)]
        argv += ["--metadata-file", str(metadata), "--progress", "rawjson"]
        if self._bake_builder:
            argv += ["--builder", self._bake_builder]
        if self.pull:
            argv.append("--pull")
        return [*argv, *names]

    async def bake(
        self,
        bake_file: Path,
        names: Sequence[str],
        *,
        cwd: Path,
        on_event: OnBuildEvent | None = None,
    ) -> dict[str, BakeResult]:
        """Run one `docker buildx bake` of `names`; cancelling it stops the process group.
        `on_event` hears each target's steps, output and export as BuildKit reports them
        (named by bake target, in seconds from the bake's start)."""
        from orchestrator.engine import registry
        from orchestrator.engine.buildlog import bake_results
        from orchestrator.engine.progress import BakeProgress, RawJsonLines, bake_upstream

        self._listed.clear()
        definition = read_json_object(bake_file)
        # Private to this invocation, and removed on every way out of it.
        fd, name = tempfile.mkstemp(prefix=".metadata-", suffix=".json", dir=bake_file.parent)
        os.close(fd)
        metadata = Path(name)
        lines = RawJsonLines()
        try:
            await self.registries.require(
                registry.hosts_in_bake(definition), f"before building {', '.join(names)}"
            )
            started = time.monotonic()
            progress = BakeProgress(
                {n: n for n in names}, bake_upstream(definition, names), time.time()
            )
            code = await self._run_bake(
                self.bake_argv(bake_file, names, metadata), cwd, lines, progress, on_event
            )
            meta = read_json_object(metadata)
        finally:
            metadata.unlink(missing_ok=True)
        lines.close()
        if code != 0 and not any(progress.account(n).steps for n in names):
            said = "\n".join(lines.text)
            if _NO_BUILDX.search(said.encode()) or _UNREACHABLE.search(said.encode()):
                raise EngineError(
                    "docker buildx bake could not run: " + said.strip().splitlines()[-1],
                    hint="install buildx (scripts/engine does), and check the engine answers",
                )
        return bake_results(names, progress, lines.text, code, meta, time.monotonic() - started)

    async def _run_bake(
        self,
        argv: list[str],
        cwd: Path,
        lines: RawJsonLines,
        progress: BakeProgress,
        on_event: OnBuildEvent | None,
    ) -> int:
        env = {**os.environ, "BUILDKIT_PROGRESS": "rawjson"}
        # In a group of its own, which dies with orch even when orch is killed.
        process = await processes.open_process(
            argv, cwd=cwd, env=env, stdout=subprocess.PIPE, stderr=subprocess.STDOUT
        )
        try:
            async for text in processes.lines(process.stdout, "bake"):
                for status in lines.feed(text):
                    for event in progress.feed(status):
                        if on_event is not None:
                            on_event(event)
            for event in progress.finish():
                if on_event is not None:
                    on_event(event)
            return await process.wait()
        finally:
            with anyio.CancelScope(shield=True):
                await _stop(process)

    async def inspect(self, refs: Sequence[str]) -> dict[str, ImageInfo]:
        """Id and size of the local images `refs` name, in one call; missing ones are left out."""
        if not refs:
            return {}
        wanted = list(dict.fromkeys(refs))
        proc = await self._run(["image", "inspect", "--format", "{{.Id}} {{.Size}}", *wanted])
        missing = {
            m.group(1) for m in _NO_SUCH_IMAGE.finditer(proc.stderr.decode("utf-8", "replace"))
        }
        # The daemon names a ref without a tag with `:latest` in its answer.
        found = [ref for ref in wanted if not {ref, f"{ref}:latest"} & missing]
        lines = proc.stdout.decode().split()
        if len(lines) != 2 * len(found):
            raise EngineError(
                "docker image inspect answered in a way orch does not understand",
                hint=proc.stderr.decode("utf-8", "replace").strip()[-300:] or None,
            )
        return {
            ref: ImageInfo(ref=ref, digest=lines[2 * i], size_bytes=int(lines[2 * i + 1]))
            for i, ref in enumerate(found)
        }

    async def ids(self, refs: Sequence[str], *, fresh: bool = False) -> dict[str, str]:
        """The local image id each of `refs` names; missing ones are left out. One `docker
        image ls` lists every tag of the refs' repositories not listed yet (all of them with
        `fresh`; a call that changes tags, or a bake, makes the next one list again); a ref
        pinned to a digest is inspected."""
        if fresh:
            self._listed.clear()
        names = {ref: familiar(ref) for ref in dict.fromkeys(refs)}
        wanted = sorted({n[0] for n in names.values() if n and n[0] not in self._listed})
        if wanted:
            argv = ["image", "ls", "--no-trunc", "--format", "{{.Repository}} {{.Tag}} {{.ID}}"]
            for repository in wanted:
                argv += ["--filter", f"reference={repository}"]
            proc = await self._run(argv, check=True)
            listed: dict[str, dict[str, str]] = {repository: {} for repository in wanted}
            for line in proc.stdout.decode("utf-8", "replace").splitlines():
                fields = line.split()
                if len(fields) == 3 and fields[0] in listed:
                    listed[fields[0]][fields[1]] = fields[2]
            self._listed.update(listed)
        found = {
            ref: image_id
            for ref, n in names.items()
            if n is not None and (image_id := self._listed.get(n[0], {}).get(n[1]))
        }
        pinned = [ref for ref, n in names.items() if n is None]
        if pinned:
            found |= {ref: info.digest for ref, info in (await self.inspect(pinned)).items()}
        return found

    async def history(self, ref: str, *, platform: str | None = None) -> list[tuple[int, str]]:
        """The layers of a local image (of `platform`, which needs Docker Engine 28, API
        1.48), newest first: (uncompressed bytes, what made it)."""
        argv = ["image", "history", "--no-trunc", "--human=false"]
        argv += ["--platform", platform] if platform else []
        proc = await self._run([*argv, "--format", "{{.Size}}|{{.CreatedBy}}", ref])
        if proc.returncode != 0:
            said = proc.stderr.decode("utf-8", "replace").strip()
            if platform and "requires API version" in said:
                raise EngineError(
                    f"the layers of one platform need Docker Engine 28 or later: {said}",
                    hint="leave out --platform for the engine's own platform",
                )
            raise EngineError(f"docker image history {ref} failed: {said}")
        layers = []
        for line in proc.stdout.decode("utf-8", "replace").splitlines():
            size, _, created_by = line.partition("|")
            if size.isdigit():
                layers.append((int(size), created_by))
        return layers

    async def local_tags(self) -> list[LocalTag]:
        """Every tag of the local image store, of every repository (`<none>` left out)."""
        from orchestrator.prune.decide import LocalTag

        proc = await self._run(
            ["image", "ls", "--no-trunc", "--format", "{{.Repository}}\t{{.Tag}}\t{{.ID}}"],
            check=True,
        )
        found = []
        for line in proc.stdout.decode("utf-8", "replace").splitlines():
            fields = line.split("\t")
            if len(fields) == 3 and "<none>" not in fields[:2]:
                found.append(LocalTag(fields[0], fields[1], fields[2]))
        return found

    async def image_facts(self, ids: Sequence[str]) -> dict[str, ImageFacts]:
        """Each local image's creation time and size on disk, by id; missing ones left out."""
        from datetime import datetime

        from orchestrator.prune.decide import ImageFacts

        if not ids:
            return {}
        label = '{{index .Config.Labels "dev.orch.plan"}}'
        proc = await self._run(
            ["image", "inspect", "--format", "{{.Id}}\t{{.Created}}\t{{.Size}}\t" + label, *ids]
        )
        facts: dict[str, ImageFacts] = {}
        for line in proc.stdout.decode("utf-8", "replace").splitlines():
            fields = line.split("\t")
            if len(fields) != 4 or not fields[2].isdigit():
                continue
            plan = fields[3] if fields[3] not in ("", "<no value>") else None
            stamp = re.sub(r"(\.\d{6})\d+", r"\1", fields[1].replace("Z", "+00:00"))
            try:
                created = datetime.fromisoformat(stamp).timestamp()
            except ValueError:
                created = 0.0
            facts[fields[0]] = ImageFacts(created=created, size=int(fields[2]), plan=plan)
        return facts

    async def container_images(self) -> set[str]:
        """The ids of the images every container uses, running or stopped."""
        listed = await self._run(["container", "ls", "--all", "--quiet", "--no-trunc"], check=True)
        containers = listed.stdout.decode().split()
        if not containers:
            return set()
        proc = await self._run(["container", "inspect", "--format", "{{.Image}}", *containers])
        return set(proc.stdout.decode("utf-8", "replace").split())

    async def untag(self, refs: Sequence[str]) -> dict[str, str]:
        """Remove the local tags `refs`, never forced: an image goes with its last tag. What
        could not be removed, by ref, with the engine's word."""
        self._listed.clear()
        problems: dict[str, str] = {}
        for ref in refs:
            proc = await self._run(["image", "rm", ref])
            if proc.returncode != 0:
                said = proc.stderr.decode("utf-8", "replace").strip().splitlines()
                problems[ref] = said[-1] if said else f"docker image rm exit {proc.returncode}"
        return problems

    async def remove(self, refs: Sequence[str]) -> None:
        """Remove the local tags `refs` (images they alone named go with them)."""
        self._listed.clear()
        if refs:
            await self._run(["image", "rm", *refs])

    async def tag(self, source: str, tags: Sequence[str]) -> None:
        """Point each local tag at the image `source` names."""
        self._listed.clear()
        for tag in tags:
            try:
                await self._run(["image", "tag", source, tag], check=True)
            except EngineError:
                # Another run of the same plan may have moved it to the same image a moment
                # before (the daemon then refuses to create it): that is the tag asked for.
                there = await self.ids([source, tag], fresh=True)
                if not there.get(source) or there.get(tag) != there.get(source):
                    raise

    async def remote_digests(self, refs: Sequence[str]) -> dict[str, str]:
        """The manifest digest each of `refs` has in its registry, looked up without pulling;
        refs the registry does not have are left out."""
        from orchestrator.engine import registry

        found: dict[str, str] = {}
        errors: list[EngineError] = []
        limiter = anyio.CapacityLimiter(REGISTRY_LOOKUPS)
        await self.registries.require(
            [registry.host_of(r) for r in refs],
            lambda host: (
                "looking up "
                + name_list([r for r in refs if registry.host_of(r) == host])
                + " in its registry"
            ),
        )

        async def look(ref: str) -> None:
            try:
                async with limiter:
                    with anyio.fail_after(REGISTRY_CALL_S):
                        proc = await self._run(["buildx", "imagetools", "inspect", "--raw", ref])
            except TimeoutError:
                errors.append(_registry_stalled(ref))
                return
            except EngineError as exc:  # raised once, below, not as a group of them
                errors.append(exc)
                return
            if proc.returncode == 0 and proc.stdout:
                digest = "sha256:" + hashlib.sha256(proc.stdout).hexdigest()
                found[ref] = digest
                doc = _parsed(proc.stdout)
                self._children[digest] = _children(doc)
                self._platforms[digest] = _listed_platforms(doc)

        async with anyio.create_task_group() as tg:
            for ref in dict.fromkeys(refs):
                tg.start_soon(look, ref)
        if errors:
            raise errors[0]
        return found

    async def remote_sizes(self, refs: Sequence[str]) -> dict[str, int]:
        """The compressed size of each of `refs` in its registry (config and layers), looked
        up without pulling; for an index, its largest platform image. Refs the registry does
        not have are left out."""
        sizes: dict[str, int] = {}
        limiter = anyio.CapacityLimiter(REGISTRY_LOOKUPS)

        async def raw(ref: str) -> object:
            async with limiter:
                return await self._raw_manifest(ref)

        async def measure(ref: str) -> None:
            try:
                doc = await raw(ref)
                if isinstance(doc, dict) and isinstance(doc.get("manifests"), list):
                    repository = _repository_of(ref)
                    found: list[int] = []
                    for child in _platform_images(doc):
                        size = _image_size(await raw(f"{repository}@{child}"))
                        if size is not None:
                            found.append(size)
                    if found:
                        sizes[ref] = max(found)
                elif (size := _image_size(doc)) is not None:
                    sizes[ref] = size
            except TimeoutError:
                raise _registry_stalled(ref) from None

        async with anyio.create_task_group() as tg:
            for ref in dict.fromkeys(refs):
                tg.start_soon(measure, ref)
        return sizes

    async def platform_sizes(
        self, ref: str, platforms: Sequence[str], *, remote: bool = False
    ) -> dict[str, int]:
        """The size of each of `platforms` of the image `ref`: in its registry (`remote`, the
        compressed config and layers of each platform's manifest), else in the local store
        (`docker image inspect --platform`, which needs Docker Engine 28.1, API 1.49). Those
        it cannot tell are left out."""
        if remote:
            return await self._remote_platform_sizes(ref, platforms)
        return await self._local_platform_sizes(ref, platforms) or {}

    async def local_platforms(self, ref: str, platforms: Sequence[str]) -> frozenset[str] | None:
        """Which of `platforms` the local image `ref` has content for (`docker image inspect
        --platform`, Docker Engine 28.1); None when the engine cannot tell."""
        sizes = await self._local_platform_sizes(ref, platforms)
        return None if sizes is None else frozenset(sizes)

    async def _local_platform_sizes(
        self, ref: str, platforms: Sequence[str]
    ) -> dict[str, int] | None:
        """The local size of each of `platforms` the image `ref` has content for; None when
        the engine cannot tell (before Docker Engine 28.1, API 1.49: learnt once a run)."""
        sizes: dict[str, int] = {}
        for platform in platforms:
            if self._no_platform_inspect:
                return None
            proc = await self._run(
                ["image", "inspect", "--platform", platform, "--format", "{{.Size}}", ref]
            )
            said = proc.stdout.decode().strip()
            if proc.returncode == 0 and said.isdigit():
                sizes[platform] = int(said)
            elif b"requires API version" in proc.stderr:
                self._no_platform_inspect = True
                return None
        return sizes

    async def _raw_manifest(self, ref: str) -> object:
        """The manifest (or index) `ref` names in its registry, as JSON; None when there is
        none. TimeoutError when the registry stalls."""
        with anyio.fail_after(REGISTRY_CALL_S):
            proc = await self._run(["buildx", "imagetools", "inspect", "--raw", ref])
        if proc.returncode != 0:
            return None
        try:
            return json.loads(proc.stdout)
        except ValueError:
            return None

    async def _remote_platform_sizes(self, ref: str, platforms: Sequence[str]) -> dict[str, int]:
        raw = self._raw_manifest
        doc = await raw(ref)
        if not isinstance(doc, dict) or not isinstance(doc.get("manifests"), list):
            return {}
        repository = _repository_of(ref)
        sizes: dict[str, int] = {}
        for child in doc["manifests"]:
            name = _platform_name(child)
            if name is not None and name in platforms and isinstance(child.get("digest"), str):
                size = _image_size(await raw(f"{repository}@{child['digest']}"))
                if size is not None:
                    sizes[name] = size
        return sizes

    def wrapped(self, digest: str) -> tuple[str, ...]:
        """The manifests an index looked up by `remote_digests` lists (`imagetools create`
        wraps a single image manifest in an index of one)."""
        return self._children.get(digest, ())

    def platforms(self, digest: str) -> frozenset[str] | None:
        """The platforms of an index looked up by `remote_digests`; None for an image manifest
        (one platform) or a digest it did not look up."""
        return self._platforms.get(digest)

    async def remote_tag(self, source: str, tags: Sequence[str]) -> None:
        """Point each registry tag at the manifest `source` names: a copy in the registry."""
        await self.merge(tags, [source])

    async def merge(self, tags: Sequence[str], sources: Sequence[str]) -> None:
        """Point each registry tag at one index of the manifests `sources` name, which are in
        the same registry: the parts of a multi-platform image (one source: a copy of it)."""
        from orchestrator.engine import registry

        argv = ["buildx", "imagetools", "create"]
        if self._bake_builder:
            argv += ["--builder", self._bake_builder]
        for tag in tags:
            argv += ["--tag", tag]
        await self.registries.require(
            [registry.host_of(r) for r in [*sources, *tags]],
            f"pointing {', '.join(tags)} at {', '.join(sources)}",
        )
        try:
            with anyio.fail_after(REGISTRY_CALL_S):
                await self._run([*argv, *sources], check=True)
        except TimeoutError:
            raise _registry_stalled(sources[0]) from None

    async def _run(self, args: Sequence[str], *, check: bool = False) -> CompletedProcess[bytes]:
        """One short docker call; an EngineError when the daemon cannot be reached, and with
        `check` when the call fails."""
        proc = await processes.run_process([*self._docker, *args])
        if proc.returncode != 0 and _UNREACHABLE.search(proc.stderr):
            raise _not_answering(proc.stderr)
        if check and proc.returncode != 0:
            said = proc.stderr.decode("utf-8", "replace").strip().splitlines()
            raise EngineError(
                f"`docker {' '.join(args)}` failed with exit code {proc.returncode}"
                + (f": {said[-1]}" if said else "")
            )
        return proc


async def _stop(process: anyio.abc.Process) -> None:
    if process.returncode is not None:
        return
    _signal_group(process.pid, signal.SIGTERM)
    with anyio.move_on_after(TERM_GRACE_S):
        await process.wait()
        return
    _signal_group(process.pid, signal.SIGKILL)
    await process.wait()


def _signal_group(pid: int, sig: signal.Signals) -> None:
    with contextlib.suppress(ProcessLookupError):
        os.killpg(pid, sig)
