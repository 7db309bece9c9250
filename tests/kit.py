"""Helpers for tests: small monorepos on disk, the real CLI in a subprocess, images."""

from __future__ import annotations

import json
import os
import subprocess
import sys
from collections.abc import Sequence
from dataclasses import dataclass, field
from pathlib import Path
from typing import Any

import anyio

from orchestrator.engine.buildlog import BakeResult
from orchestrator.engine.docker import ImageInfo
from orchestrator.engine.events import Failed, ImageExported, LogLine, OnBuildEvent, StepStarted
from orchestrator.errors import EngineError, Location
from orchestrator.plan import Target
from orchestrator.plan.specs import parse_cache_entry
from orchestrator.project import Project, load_project

REPO = Path(__file__).resolve().parent.parent


def write_tree(root: Path, files: dict[str, str]) -> Path:
    """Write `files` (relative path -> text) under root and return root."""
    for rel, text in files.items():
        path = root / rel
        path.parent.mkdir(parents=True, exist_ok=True)
        path.write_text(text)
    return root


def git(cwd: Path, *args: str) -> str:
    """Run git in `cwd`; its output, stripped. Tests use the `isolated_git` fixture with it."""
    return subprocess.run(
        ["git", *args], cwd=cwd, capture_output=True, text=True, check=True
    ).stdout.strip()


def make_repo(root: Path, files: dict[str, str]) -> Path:
    """A git repository at root holding `files` in one commit on `main`."""
    root.mkdir(parents=True, exist_ok=True)
    git(root, "init", "-q", "-b", "main")
    write_tree(root, files)
    commit(root, "first")
    return root


def commit(root: Path, message: str = "change") -> None:
    git(root, "add", "-A")
    git(root, "commit", "-q", "-m", message)


def run_orch(
    root: Path, *args: str, env: dict[str, str] | None = None, timeout: float = 600
) -> subprocess.CompletedProcess[str]:
    """Run the real `orch` CLI in a subprocess, as a user would, from `root`."""
    return subprocess.run(
        [sys.executable, "-m", "orchestrator", *args],
        cwd=root,
        capture_output=True,
        text=True,
        timeout=timeout,
        env={**os.environ, **(env or {})},
        check=False,
    )


def monorepo(root: Path, prefix: str, plan_body: str, files: dict[str, str]) -> Path:
    """A plan whose images are named `<prefix>/<target>`, with its Dockerfiles and sources."""
    header = f'version: 1\ndefaults:\n  image: "{prefix}/{{name}}"\n'
    write_tree(root, {"buildplan.yaml": header + plan_body, **files})
    return root


def report_of(path: Path) -> dict[str, Any]:
    return json.loads(path.read_text())


def orch_build(
    root: Path, *args: str, env: dict[str, str] | None = None
) -> tuple[int, str, dict[str, Any]]:
    """`orch build --report` in root: exit code, everything printed, the report."""
    report = root / "report.json"
    proc = run_orch(root, "build", "--report", str(report), *args, env=env)
    data = report_of(report) if report.exists() else {}
    return proc.returncode, proc.stdout + proc.stderr, data


def read_outputs(text: str) -> dict[str, str]:
    """GITHUB_OUTPUT as the runner reads it: name=value lines and name<<DELIM blocks."""
    values, lines = {}, iter(text.splitlines())
    for line in lines:
        if "<<" in line:
            name, delim = line.split("<<", 1)
            body = []
            for part in lines:
                if part == delim:
                    break
                body.append(part)
            values[name] = "\n".join(body)
        elif "=" in line:
            name, value = line.split("=", 1)
            values[name] = value
    return values


def processes_with(marker: str) -> list[str]:
    """The command lines of running processes that contain `marker`, from /proc."""
    found = []
    for entry in Path("/proc").iterdir():
        if not entry.name.isdigit():
            continue
        try:
            cmdline = (entry / "cmdline").read_bytes().replace(b"\0", b" ").decode()
        except OSError:
            continue
        if marker in cmdline:
            found.append(f"{entry.name}: {cmdline}")
    return found


def docker(*args: str, check: bool = True) -> str:
    proc = subprocess.run(["docker", *args], capture_output=True, text=True, check=False)
    if check and proc.returncode != 0:
        raise AssertionError(f"docker {' '.join(args)} failed: {proc.stderr}")
    return proc.stdout


def image_file(ref: str, path: str) -> str:
    """The contents of a file inside an image, read by running `cat` in a throwaway container."""
    return docker("run", "--rm", "--network", "none", "--entrypoint", "cat", ref, path)


# --- small monorepos loaded as projects, and a fake engine to run them on ---------------------


def project_of(root: Path, plan_body: str, files: dict[str, str]) -> Project:
    """Write a plan (`version: 1` prepended) and its files under root, and load it."""
    write_tree(root, {"buildplan.yaml": "version: 1\n" + plan_body, **files})
    return load_project(root / "buildplan.yaml")


@dataclass
class FakeEngine:
    """Stands in for BuildKit and the image store behind `builder.BakeEngine`: reads the bake
    file orch wrote and says what each target came to, by `outcomes` (bake name -> "built" |
    "failed" | "transient", a registry's 503 | "gone", the engine going away | "export-failed",
    the image exported and then its cache export failing; default built).
    `transient` holds how many times each target fails with a 503 before it builds. A built
    target's tags name a new image in `images` (and in `registry` when it is pushed); its local
    `cache-to` directories get an index.json, as BuildKit's export does. `hold` makes every
    bake wait until the event is set. `blamed` names, for a failing target, the linked target
    its failure is reported under when both are in one bake (BuildKit shares their steps).
    `errors`, `tails`, `logs` and `warnings` are what a target's result says (by bake name):
    why it failed, its failing step's last lines, every line of its output, what went wrong
    without failing it.
    """

    outcomes: dict[str, str] = field(default_factory=dict)
    errors: dict[str, str] = field(default_factory=dict)
    tails: dict[str, tuple[str, ...]] = field(default_factory=dict)
    logs: dict[str, tuple[str, ...]] = field(default_factory=dict)
    warnings: dict[str, tuple[str, ...]] = field(default_factory=dict)
    hold: anyio.Event | None = None
    calls: list[dict[str, Any]] = field(default_factory=list)  # each bake file, as JSON
    images: dict[str, str] = field(default_factory=dict)  # local ref -> image id
    registry: dict[str, str] = field(default_factory=dict)  # pushed ref -> manifest digest
    tagged: list[tuple[str, str]] = field(default_factory=list)  # (source, tag), in order
    lookups: list[tuple[str, tuple[str, ...]]] = field(default_factory=list)  # engine calls
    sizes: dict[str, int] = field(default_factory=dict)  # ref -> size (default 1234 bytes)
    transient: dict[str, int] = field(default_factory=dict)  # bake name -> 503s left
    steps: dict[str, str] = field(default_factory=dict)  # failing bake name -> its step
    blamed: dict[str, str] = field(default_factory=dict)  # failing bake name -> reported as
    gone: bool = False  # the engine stopped answering
    # The builder's driver. Any but `docker` reads no image of the daemon: a bake naming one
    # by `docker-image://` fails, as BuildKit's lookup in the registry would.
    driver: str = "docker"
    # ref -> its size per platform, as the engine would tell it ({}: it cannot, as Docker
    # Engine before 28.1 for a local image)
    per_platform: dict[str, dict[str, int]] = field(default_factory=dict)
    indexes: dict[str, frozenset[str]] = field(default_factory=dict)  # digest -> its platforms
    # bake name -> the files a `type=local` export writes (a test stage's reports), by path
    exported: dict[str, dict[str, bytes]] = field(default_factory=dict)

    async def check_async(self) -> None:
        if self.gone:
            raise EngineError("the Docker Engine is not answering: connection refused")

    async def platform_sizes(self, ref, platforms, *, remote=False):
        self.lookups.append(("platform-sizes", (ref,)))
        return {p: s for p, s in self.per_platform.get(ref, {}).items() if p in platforms}

    async def isolated(self) -> bool:
        self.lookups.append(("driver", ()))
        return self.driver != "docker"

    def _unseen(self, spec: dict[str, Any]) -> str | None:
        """The first `docker-image://` context an isolated builder cannot read."""
        if self.driver == "docker":
            return None
        for value in spec.get("contexts", {}).values():
            ref = value.removeprefix("docker-image://")
            if value.startswith("docker-image://") and ref not in self.registry:
                return ref
        return None

    async def bake(
        self,
        bake_file: Path,
        names: Sequence[str],
        *,
        cwd: Path,
        on_event: OnBuildEvent | None = None,
    ) -> dict[str, BakeResult]:
        data = json.loads(bake_file.read_text())
        self.calls.append(data)
        if self.hold is not None:
            await self.hold.wait()
        for name in names:
            if self.outcomes.get(name) == "gone":
                self.gone = True
        if self.gone:
            error = "failed to solve: Unavailable: error reading from server: EOF"
            return {n: BakeResult(status="failed", duration_s=1.0, error=error) for n in names}
        failing = [n for n in names if self.outcomes.get(n) == "failed"]
        pushes = [n for n in names if self.transient.get(n, 0) > 0]
        results: dict[str, BakeResult] = {}
        for name in names:
            spec = data["target"][name]
            if name in pushes and not failing:
                self.transient[name] -= 1
                results[name] = BakeResult(
                    status="failed",
                    duration_s=1.0,
                    error="failed to push: unexpected status: 503 Service Unavailable",
                )
            elif (unseen := self._unseen(spec)) is not None:
                results[name] = BakeResult(
                    status="failed",
                    duration_s=1.0,
                    error=f"failed to solve: {unseen}: pull access denied, repository does "
                    "not exist or may require authorization",
                )
            elif name in failing:
                results[name] = BakeResult(
                    status="failed",
                    duration_s=1.0,
                    failed_step=self.steps.get(name, f"[{name} 2/2] RUN make"),
                    error=self.errors.get(
                        name, "process did not complete successfully: exit code: 2"
                    ),
                    tail=self.tails.get(name, ("make: *** [all] Error 2",)),
                    log_lines=self.logs.get(name, ("#1 building", "#1 ERROR: exit code: 2")),
                )
            elif failing:  # bake stops the rest of an invocation when one target fails
                results[name] = BakeResult(status="cancelled", duration_s=0.5)
            elif self.outcomes.get(name) == "export-failed":
                # The image is exported; its cache export then fails (a full disk, say).
                self._export(spec, cwd, name, cache=False)
                results[name] = BakeResult(
                    status="failed",
                    duration_s=1.0,
                    error="failed to solve: error writing layer blob: no space left on device",
                )
            else:
                self._export(spec, cwd, name)
                results[name] = BakeResult(
                    status="built",
                    duration_s=1.0,
                    digest=f"sha256:{name}",
                    cached_steps=1,
                    log_lines=self.logs.get(
                        name, (f"#1 [{name} 1/1] FROM busybox", "#1 DONE 0.1s")
                    ),
                    warnings=self.warnings.get(name, ()),
                )
        for name in failing:
            if self.blamed.get(name) in results:
                results[self.blamed[name]] = results[name]
                results[name] = BakeResult(status="cancelled", duration_s=0.5)
        if on_event is not None:  # what BuildKit would have said as it went, in short
            for name, got in results.items():
                step = got.failed_step or f"[{name} 1/1] RUN make"
                on_event(StepStarted(name, step, 0.1))
                for line in got.log_lines:
                    on_event(LogLine(name, step, line, 0.2))
                if got.status == "failed":
                    on_event(Failed(name, step, got.error or "", 0.9))
                elif got.status == "built":
                    on_event(ImageExported(name, 1.0))
        return results

    def _export(self, spec: dict[str, Any], cwd: Path, name: str, *, cache: bool = True) -> None:
        for output in spec.get("output", []):
            fields = dict(part.split("=", 1) for part in output.split(","))
            if fields.get("type") == "local":
                dest = Path(fields["dest"])
                dest.mkdir(parents=True, exist_ok=True)
                for rel, data in self.exported.get(name, {}).items():
                    (dest / rel).parent.mkdir(parents=True, exist_ok=True)
                    (dest / rel).write_bytes(data)
        for entry in spec.get("cache-to", []) if cache else []:
            fields = dict(part.split("=", 1) for part in entry.split(","))
            if fields.get("type") == "local":
                dest = cwd / fields["dest"]
                dest.mkdir(parents=True, exist_ok=True)
                (dest / "index.json").write_text(f'{{"built": "{name}"}}')
        built = f"sha256:{name}-{len(self.calls)}"
        for tag in spec.get("tags", []):
            self.images[tag] = built
            if spec["output"] == ["type=image,push=true"]:
                self.registry[tag] = built

    async def inspect(self, refs: Sequence[str]) -> dict[str, ImageInfo]:
        self.lookups.append(("inspect", tuple(refs)))
        return {
            ref: ImageInfo(ref=ref, digest=self.images[ref], size_bytes=self.sizes.get(ref, 1234))
            for ref in refs
            if ref in self.images
        }

    async def ids(self, refs: Sequence[str], *, fresh: bool = False) -> dict[str, str]:
        self.lookups.append(("ids", tuple(refs)))
        return {ref: self.images[ref] for ref in refs if ref in self.images}

    async def tag(self, source: str, tags: Sequence[str]) -> None:
        for tag in tags:
            self.tagged.append((source, tag))
            self.images[tag] = self.images[source]

    async def remove(self, refs: Sequence[str]) -> None:
        for ref in refs:
            self.images.pop(ref, None)

    async def history(self, ref: str, *, platform: str | None = None) -> list[tuple[int, str]]:
        return [(0, 'CMD ["/app"]'), (1000, "COPY /out/app /app # buildkit")]

    async def remote_digests(self, refs: Sequence[str]) -> dict[str, str]:
        self.lookups.append(("remote", tuple(refs)))
        return {ref: self.registry[ref] for ref in refs if ref in self.registry}

    async def remote_sizes(self, refs: Sequence[str]) -> dict[str, int]:
        self.lookups.append(("remote-size", tuple(refs)))
        return {ref: self.sizes.get(ref, 1234) for ref in refs if ref in self.registry}

    def wrapped(self, digest: str) -> tuple[str, ...]:
        return ()

    def platforms(self, digest: str) -> frozenset[str] | None:
        return self.indexes.get(digest)

    async def local_platforms(self, ref: str, platforms: Sequence[str]) -> frozenset[str] | None:
        known = self.per_platform.get(ref)
        return None if known is None else frozenset(p for p in platforms if p in known)

    async def merge(self, tags: Sequence[str], sources: Sequence[str]) -> None:
        self.lookups.append(("merge", (*tags, *sources)))
        for tag in tags:
            self.registry[tag] = "sha256:index-of-" + "+".join(
                s.rsplit("@", 1)[-1] for s in sources
            )

    async def remote_tag(self, source: str, tags: Sequence[str]) -> None:
        for tag in tags:
            self.tagged.append((source, tag))
            self.registry[tag] = self.registry[source]

    def tags_built(self) -> list[list[str]]:
        return [t.get("tags", []) for call in self.calls for t in call["target"].values()]


PLAN_LOCATION = Location(Path("/plan/buildplan.yaml"), 1, 1)


def make_target(
    root: Path, name: str, context: str | None = None, dockerfile: str = "Dockerfile", **fields: Any
) -> Target:
    """A target whose context directory and Dockerfile exist under `root`, made directly:
    for tests of what is computed from a target, without a plan file."""
    context_dir = root / (context if context is not None else f"services/{name}")
    context_dir.mkdir(parents=True, exist_ok=True)
    path = (context_dir / dockerfile).resolve()
    path.parent.mkdir(parents=True, exist_ok=True)
    path.write_text("FROM busybox\n")
    fields.setdefault("image", f"orch/{name}")
    fields.setdefault("tags", (f"{fields['image']}:latest",))
    for key in ("cache_from", "cache_to"):
        fields[key] = tuple(parse_cache_entry(e) for e in fields.get(key, ()))
    return Target(
        name=name,
        kind=fields.pop("kind", "service"),
        context=context_dir,
        dockerfile=path,
        location=PLAN_LOCATION,
        **fields,
    )
