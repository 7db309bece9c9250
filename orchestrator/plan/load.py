"""Loading a plan: read the YAML, check its shape, then resolve each target and check its values."""

from __future__ import annotations

import contextlib
import hashlib
import json
import os
import shlex
from pathlib import Path
from typing import Any

from orchestrator.errors import Location, PlanError, did_you_mean, name_list
from orchestrator.lint import ids as lint_ids
from orchestrator.plan import references
from orchestrator.plan.document import Document, YamlPath
from orchestrator.plan.model import (
    BuilderSpec,
    DevSettings,
    Kind,
    LintSettings,
    NamedContext,
    Plan,
    Secret,
    Target,
)
from orchestrator.plan.paths import PlanDirectory, watch_pattern_problem
from orchestrator.plan.ports import EXAMPLE as PORT_EXAMPLE
from orchestrator.plan.ports import parse_port
from orchestrator.plan.schema import SCHEMA_DIGEST, describe_value, validate
from orchestrator.plan.sizes import parse_size
from orchestrator.plan.specs import CacheEntry, SpecError, parse_cache_entry
from orchestrator.plan.state import user_cache_dir
from orchestrator.plan.yaml_reader import read_document

PLAN_VERSION = 1
DEFAULT_IMAGE = "orch/{name}"
DEFAULT_TAGS = ("latest",)
_SECTIONS: tuple[tuple[str, Kind], ...] = (("stages", "stage"), ("services", "service"))


def load_plan(path: Path, *, registry: str | None = None) -> Plan:
    """Read, check and resolve the plan at `path`; every user mistake is a PlanError.

    `registry` (`--registry`) stands in for the plan's default registry: every target that
    does not name its own is pushed there."""
    doc = read_document(path)
    _check_version(doc)
    marker = _checked(doc)
    if not marker.exists():
        validate(doc)
        with contextlib.suppress(OSError):  # only a cache: the next run checks again
            marker.parent.mkdir(parents=True, exist_ok=True)
            marker.touch()
    return _Resolver(doc, registry=registry).plan()


def load_plan_text(text: str, path: Path) -> Plan:
    """The plan `text` as if it were the file at `path` (its paths relative to that file's
    directory), checked as `load_plan` checks a file: for a plan not written yet."""
    from orchestrator.plan.yaml_reader import read_text

    doc = read_text(text, path)
    _check_version(doc)
    validate(doc)
    return _Resolver(doc, registry=None).plan()


def _checked(doc: Document) -> Path:
    """The marker of a plan whose data passed this schema: the same data passes again, and
    a warm `orch build` then skips jsonschema (40 ms to import, more to run). Everything
    after the schema (paths, names, references) is checked on every run."""
    data = json.dumps(doc.data, sort_keys=True, default=repr).encode()
    key = hashlib.sha256(SCHEMA_DIGEST.encode() + b"\0" + data).hexdigest()
    return user_cache_dir() / "checked-plans" / key


def _check_version(doc: Document) -> None:
    """Check the top level and the version before anything else: they decide the format."""
    data = doc.data
    if data is None:
        raise PlanError(
            "the plan is empty",
            location=Location(doc.file, 1, 1),
            hint="start with `version: 1`, then declare services: (and shared stages:)",
        )
    if not isinstance(data, dict):
        raise PlanError(
            f"the plan must be a mapping of version:, stages: and services:, "
            f"got {describe_value(data)}",
            location=doc.value_at(()),
            hint="start with `version: 1`, then declare services: (and shared stages:)",
        )
    if "version" not in data:
        raise PlanError(
            "the plan has no version",
            location=doc.value_at(()),
            hint=f"add `version: {PLAN_VERSION}` as the first line",
        )
    version = data["version"]
    if type(version) is not int:
        raise PlanError(
            f"version must be the number {PLAN_VERSION}, got {describe_value(version)}",
            location=doc.value_at(("version",)),
            hint=f"write `version: {PLAN_VERSION}` without quotes",
        )
    if version != PLAN_VERSION:
        raise PlanError(
            f"unsupported version {version}; orch reads version {PLAN_VERSION}",
            location=doc.value_at(("version",)),
            hint=f"write the plan for version {PLAN_VERSION}, "
            "or use the orch release that reads this version",
        )


class _Resolver:
    """Turns a schema-valid document into targets: defaults applied, names, paths, refs checked."""

    def __init__(self, doc: Document, *, registry: str | None = None) -> None:
        self.doc = doc
        self.registry = registry
        self.directory = PlanDirectory(doc)
        self.root = self.directory.root
        data: dict[str, Any] = doc.data
        self.defaults: dict[str, Any] = data.get("defaults") or {}
        self.sections = [(key, kind, data.get(key) or {}) for key, kind in _SECTIONS]
        self.names: dict[str, YamlPath] = {}
        # (kind of cache, destination) -> the first target that exports its cache there
        self.cache_dests: dict[tuple[str, str], str] = {}

    def plan(self) -> Plan:
        """Every target, stages first, each section in file order."""
        self._collect_names()
        targets: dict[str, Target] = {}
        for key, kind, section in self.sections:
            for name, spec in section.items():
                targets[name] = self._target(kind, name, spec, (key, name))
        if not targets:
            raise PlanError(
                "the plan declares no stages and no services",
                location=self.doc.value_at(()),
                hint="add services: with at least one service and its context:",
            )
        builders, builders_at = self._builders()
        return Plan(
            path=self.root / self.doc.file.name,
            root=self.root,
            version=self.doc.data["version"],
            targets=targets,
            builders=builders,
            builders_at=builders_at,
        )

    def _reports_dir(self, given: str, at: tuple[str | int, ...], name: str, stage: str) -> str:
        """A test stage's `reports:`: an absolute directory of the stage, normalized, neither
        its root (which would export the whole filesystem) nor a way out of it."""
        import posixpath

        where = self.doc.value_at(at)
        parts = given.split("/")
        if not given.startswith("/") or ".." in parts:
            raise PlanError(
                f"the reports directory {given!r} of {name}:{stage} is not an absolute path "
                "inside the stage",
                location=where,
                hint="write the directory the test RUN writes its JUnit XML to, such as "
                "reports: /reports",
            )
        normal = posixpath.normpath(given)
        if normal == "/" or "\n" in given or "," in given or '"' in given:
            raise PlanError(
                f"the reports directory {given!r} of {name}:{stage} cannot be exported",
                location=where,
                hint="name a directory of its own, such as reports: /reports (the stage's root "
                "would copy its whole filesystem out)",
            )
        return normal

    def _builders(self) -> tuple[tuple[BuilderSpec, ...], Location | None]:
        listed = self.doc.data.get("builders")
        if not listed:
            return (), None
        pool: list[BuilderSpec] = []
        seen: dict[str, int] = {}
        for i, item in enumerate(listed):
            name, jobs, platforms = (
                (item, None, ())
                if isinstance(item, str)
                else (item["name"], item.get("jobs"), tuple(item.get("platforms") or ()))
            )
            at = self.doc.value_at(("builders", i))
            if name in seen:
                raise PlanError(
                    f"builder {name!r} is in builders: twice (items {seen[name] + 1} and {i + 1})",
                    location=at,
                    hint="list each builder once; give it more slots with {name: NAME, jobs: N}",
                )
            seen[name] = i
            pool.append(BuilderSpec(name=name, jobs=jobs, platforms=platforms, location=at))
        return tuple(pool), self.doc.key_at(("builders",))

    def _collect_names(self) -> None:
        for key, kind, section in self.sections:
            for name in section:
                first = self.names.get(name)
                if first is not None:
                    first_kind = "stage" if first[0] == "stages" else "service"
                    line = self.doc.key_at(first).line
                    raise PlanError(
                        f"the name {name!r} is used twice: by a {first_kind} at line {line} "
                        f"and by this {kind}",
                        location=self.doc.key_at((key, name)),
                        hint="rename one of them: stages and services share one set of names",
                    )
                self.names[name] = (key, name)

    def _target(self, kind: Kind, name: str, spec: dict[str, Any], at: YamlPath) -> Target:
        context = self.directory.directory(spec["context"], (*at, "context"), "context")
        given = "dockerfile" in spec
        dockerfile = self.directory.dockerfile(
            spec.get("dockerfile"),
            context,
            (*at, "dockerfile" if given else "context"),
            spec["context"],
        )
        entries = spec.get("test", ())
        tests_at = (
            [(*at, "test")]
            if isinstance(entries, str)
            else [
                (*at, "test", i, "stage") if isinstance(e, dict) else (*at, "test", i)
                for i, e in enumerate(entries)
            ]
        )
        listed = [entries] if isinstance(entries, str) else list(entries)
        tests = tuple(e["stage"] if isinstance(e, dict) else e for e in listed)
        platforms = tuple(self._setting(spec, "platforms", ()))
        test_platforms: dict[str, tuple[str, ...]] = {}
        for i, e in enumerate(listed):
            if isinstance(e, dict) and e.get("platforms"):
                own = tuple(e["platforms"])
                stray = [p for p in own if platforms and p not in platforms]
                if stray:
                    raise PlanError(
                        f"the test stage {e['stage']!r} names {', '.join(stray)}, which "
                        f"{name} is not built for ({', '.join(platforms)})",
                        location=self.doc.value_at((*at, "test", i, "platforms")),
                        hint="name platforms of the target's `platforms:`, or leave "
                        "platforms out to test on each of them",
                    )
                test_platforms[e["stage"]] = own
        test_reports: dict[str, str] = {}
        for i, e in enumerate(listed):
            if isinstance(e, dict) and "reports" in e:
                test_reports[e["stage"]] = self._reports_dir(
                    e["reports"], (*at, "test", i, "reports"), name, e["stage"]
                )
        image, registry = self._image(name, spec, at)
        cache_from, cache_from_at = self._cache(name, spec, at, "from")
        cache_to, cache_to_at = self._cache(name, spec, at, "to")
        max_size, max_size_at = self._max_size(spec, at)
        return Target(
            name=name,
            kind=kind,
            context=context,
            dockerfile=dockerfile,
            target=spec.get("target"),
            tests=tests,
            test_platforms=test_platforms,
            test_reports=test_reports,
            depends_on=tuple(spec.get("depends_on", ())),
            contexts=self._contexts(spec.get("contexts", {}), at),
            watch=self._watch(spec.get("watch", []), at),
            args=self._merged(spec, "args"),
            platforms=platforms,
            image=image,
            tags=self._tags(name, image, spec, at),
            labels=self._merged(spec, "labels"),
            cache_from=cache_from,
            cache_to=cache_to,
            secrets=self._secrets(spec.get("secrets", []), at),
            registry=registry,
            max_size=max_size,
            max_size_at=max_size_at,
            attest=tuple(self._setting(spec, "attest", ())),
            sbom_generator=self._sbom(spec, at),
            lint=self._lint(spec.get("lint", {}), at),
            dev=self._dev(spec, at) if "dev" in spec else None,
            location=self.doc.key_at(at),
            depends_on_at=self._depends_on(name, spec.get("depends_on", []), at),
            target_at=self.doc.value_at((*at, "target")) if "target" in spec else None,
            tests_at=tuple(self.doc.value_at(p) for p in tests_at),
            cache_from_at=cache_from_at,
            cache_to_at=cache_to_at,
        )

    def _dev(self, spec: dict[str, Any], at: YamlPath) -> DevSettings:
        """`dev:`, each port parsed, each variable name checked, a string command split."""
        dev, where = spec["dev"] or {}, (*at, "dev")
        ports = []
        for index, written in enumerate(dev.get("ports") or ()):
            try:
                ports.append(parse_port(str(written)))
            except ValueError as exc:
                raise PlanError(
                    f"port {str(written)!r} of {at[-1]!r} cannot be published: {exc}",
                    location=self.doc.value_at((*where, "ports", index)),
                    hint=f"write it as docker run -p does, such as {PORT_EXAMPLE}",
                ) from None
        env = dict(dev.get("env") or {})
        for name, value in env.items():
            problem = dev_env_problem(name, value)
            if problem:
                raise PlanError(
                    f"dev.env {name!r} of {at[-1]!r}: {problem}",
                    location=self.doc.key_at((*where, "env", name)),
                    hint="name a variable without '=', and give it a value without NUL",
                )
        command = dev.get("command")
        words: tuple[str, ...] | None = None
        if command is not None:
            try:
                words = tuple(shlex.split(command) if isinstance(command, str) else command)
            except ValueError as exc:  # an unclosed quote or a trailing backslash
                raise PlanError(
                    f"dev.command of {at[-1]!r} cannot be split into words: {exc}",
                    location=self.doc.value_at((*where, "command")),
                    hint="close the quote, or write the command as a list of words: "
                    '[python3, -m, worker, "--name=a b"]',
                ) from None
            if not words or not words[0]:
                raise PlanError(
                    f"dev.command of {at[-1]!r} is empty",
                    location=self.doc.value_at((*where, "command")),
                    hint="remove command: to run the image's own, or name a program",
                )
        return DevSettings(
            ports=tuple(ports), env=env, command=words, location=self.doc.key_at(where)
        )

    def _max_size(self, spec: dict[str, Any], at: YamlPath) -> tuple[int | None, Location | None]:
        value, where = self._setting_at(spec, "max_size", None, at)
        if value is None or where is None:
            return None, None
        location = self.doc.value_at(where)
        try:
            return parse_size(value), location
        except ValueError:
            raise PlanError(
                f"max_size must be a size, got {describe_value(value)}",
                location=location,
                hint="write it with a unit, such as max_size: 25MB (1 MB = 1,000,000 bytes)",
            ) from None

    def _sbom(self, spec: dict[str, Any], at: YamlPath) -> str | None:
        """`sbom: {generator: IMAGE}`; an error when `attest:` asks for an SBOM without one."""
        attest, attest_at = self._setting_at(spec, "attest", (), at)
        sbom = self._setting(spec, "sbom", None)
        generator = sbom.get("generator") if isinstance(sbom, dict) else None
        if "sbom" in attest and not generator:
            raise PlanError(
                "attest: [sbom] needs the image that writes the SBOM",
                location=self.doc.value_at(attest_at) if attest_at else self.doc.key_at(at),
                hint="add `sbom: {generator: IMAGE}` beside it (BuildKit's scanner, "
                "docker/buildkit-syft-scanner, or one of your own)",
            )
        return generator if isinstance(generator, str) else None

    def _setting(self, spec: dict[str, Any], key: str, default: Any) -> Any:
        """A target's own setting, else the plan's default, else orch's."""
        return self._setting_at(spec, key, default, ())[0]

    def _setting_at(
        self, spec: dict[str, Any], key: str, default: Any, at: YamlPath
    ) -> tuple[Any, YamlPath | None]:
        """A setting and where it is written: on the target, in defaults, or nowhere (None)."""
        if key in spec:
            return spec[key], (*at, key)
        if key in self.defaults:
            return self.defaults[key], ("defaults", key)
        return default, None

    def _merged(self, spec: dict[str, Any], key: str) -> dict[str, str]:
        """Defaults and the target's own entries, the target's winning key by key."""
        return {**self.defaults.get(key, {}), **spec.get(key, {})}

    def _image(self, name: str, spec: dict[str, Any], at: YamlPath) -> tuple[str, str | None]:
        """The target's image repository, registry prefix applied, and the registry."""
        registry, registry_at = self._setting_at(spec, "registry", None, at)
        if self.registry is not None and "registry" not in spec:
            registry, registry_at = self.registry, None
        if registry and registry_at is not None:
            problem = references.registry_problem(registry)
            if problem is not None:
                raise PlanError(
                    f"registry {registry!r} is not a registry address: {problem}",
                    location=self.doc.value_at(registry_at),
                    hint=f"write it as host[:port][/path], such as registry: "
                    f'"{references.fixed_registry(registry)}"',
                )
        written, image_at = self._setting_at(spec, "image", DEFAULT_IMAGE, at)
        image = written.replace("{name}", name)
        if registry:
            image = f"{registry.rstrip('/')}/{image}"
        problem = references.repository_problem(image)
        if problem is not None:
            # `{name}` is a valid name by now: fix the value as written, keeping it.
            fixed = references.fixed_repository(written.replace("{name}", _NAME_MARK))
            raise PlanError(
                f"the image {image!r} of {name!r} is not a valid image repository: {problem}",
                location=self.doc.value_at(image_at) if image_at else self.doc.key_at(at),
                hint=f"write it as [host/]lowercase/path, such as image: "
                f'"{fixed.replace(_NAME_MARK, "{name}")}"',
            )
        return image, registry

    def _tags(self, name: str, image: str, spec: dict[str, Any], at: YamlPath) -> tuple[str, ...]:
        """Full references: a short tag such as `latest` names a tag of the target's image."""
        tags, tags_at = self._setting_at(spec, "tags", DEFAULT_TAGS, at)
        result = []
        for index, written in enumerate(tags):
            tag = written.replace("{name}", name)
            full = _full_tag(tag, image)
            is_reference = full == tag
            problem = (references.reference_problem if is_reference else references.tag_problem)(
                tag
            )
            if problem is not None:
                fixed = (references.fixed_reference if is_reference else references.fixed_tag)(tag)
                raise PlanError(
                    f"the tag {tag!r} of {name!r} cannot tag an image: {problem}",
                    location=self.doc.value_at((*tags_at, index)) if tags_at else None,
                    hint=f'write a valid tag, such as "{fixed}"; '
                    "a tag with ':' or '/' is a full reference",
                )
            result.append(full)
        return tuple(result)

    def _depends_on(self, name: str, items: list[str], at: YamlPath) -> dict[str, Location]:
        where: dict[str, Location] = {}
        for index, dep in enumerate(items):
            item_at = (*at, "depends_on", index)
            if dep not in self.names:
                others = [n for n in self.names if n != name]
                raise PlanError(
                    f"{name!r} depends on {dep!r}, which is not a stage or service in this plan",
                    location=self.doc.value_at(item_at),
                    hint=did_you_mean(dep, others, valid=lambda n: not references.name_problem(n))
                    or f"name one of the plan's targets: {name_list(others)}",
                )
            where[dep] = self.doc.value_at(item_at)
        return where

    def _contexts(self, contexts: dict[str, str], at: YamlPath) -> tuple[NamedContext, ...]:
        result = []
        for key, value in contexts.items():
            if "://" in value:
                result.append(NamedContext(name=key, ref=value))
            else:
                where = (*at, "contexts", key)
                path = self.directory.directory(value, where, f"named context {key!r}")
                result.append(NamedContext(name=key, path=path))
        return tuple(result)

    def _lint(self, spec: dict[str, list[str]], at: YamlPath) -> LintSettings:
        """`lint: {ignore: [...], enable: [...]}`: each id must name a rule orch lint knows."""
        where: dict[str, Location] = {}
        for key in ("ignore", "enable"):
            for index, rule_id in enumerate(spec.get(key, [])):
                location = self.doc.value_at((*at, "lint", key, index))
                if not lint_ids.is_known(rule_id):
                    close = lint_ids.closest(rule_id)
                    raise PlanError(
                        f"lint.{key} names {rule_id!r}, which is no rule of orch lint",
                        location=location,
                        hint=f"{close + ' ' if close else ''}known rules: {lint_ids.known_list()}",
                    )
                where[rule_id] = location
        return LintSettings(
            ignore=tuple(spec.get("ignore", ())), enable=tuple(spec.get("enable", ())), at=where
        )

    def _watch(self, patterns: list[str], at: YamlPath) -> tuple[str, ...]:
        for index, pattern in enumerate(patterns):
            problem = watch_pattern_problem(pattern)
            if problem:
                message, hint = problem
                raise PlanError(
                    message, location=self.doc.value_at((*at, "watch", index)), hint=hint
                )
        return tuple(patterns)

    def _cache(
        self, name: str, spec: dict[str, Any], at: YamlPath, direction: str
    ) -> tuple[tuple[CacheEntry, ...], tuple[Location, ...]]:
        """One direction's cache entries, `{name}` expanded and parsed, and where each is written.

        Exports are checked so that no two targets write to the same place.
        """
        own = spec.get("cache", {})
        source: YamlPath = (
            (*at, "cache", direction) if direction in own else ("defaults", "cache", direction)
        )
        written = (
            own[direction]
            if direction in own
            else self.defaults.get("cache", {}).get(direction, [])
        )
        entries, places = [], []
        for index, raw in enumerate(written):
            where = self.doc.value_at((*source, index))
            text = raw.replace("{name}", name)
            try:
                entry = parse_cache_entry(text)
            except SpecError as exc:
                raise PlanError(
                    f"cache.{direction} entry {text!r} of {name!r} cannot be read: {exc}",
                    location=where,
                    hint=_CACHE_HINTS[direction],
                ) from None
            if direction == "to":
                self._check_cache_dest(name, entry, where)
            entries.append(entry)
            places.append(where)
        return tuple(entries), tuple(places)

    def _check_cache_dest(self, name: str, entry: CacheEntry, where: Location) -> None:
        """Only local directories and registry references are compared: BuildKit keeps one
        cache per destination, so two targets sharing one keep evicting each other's layers.
        """
        dest, ref = entry.get("dest"), entry.get("ref")
        if entry.type == "local" and dest:
            key = ("local", os.path.normpath(self.root / dest))
            shown, hint = f"dest={dest}", _DEST_HINT
        elif entry.type == "registry" and ref:
            key, shown, hint = ("registry", ref), f"ref={ref}", _REF_HINT
        else:
            return
        other = self.cache_dests.setdefault(key, name)
        if other != name:
            raise PlanError(
                f"{other!r} (line {self.doc.key_at(self.names[other]).line}) and "
                f"{name!r} both export their build cache to {shown}; "
                "each would overwrite the other's",
                location=where,
                hint=hint,
            )

    def _secrets(self, items: list[dict[str, Any]], at: YamlPath) -> tuple[Secret, ...]:
        result = []
        seen: dict[str, int] = {}
        for index, item in enumerate(items):
            item_at = (*at, "secrets", index)
            secret_id = item["id"]
            if secret_id in seen:
                line = self.doc.value_at((*at, "secrets", seen[secret_id], "id")).line
                raise PlanError(
                    f"the secret id {secret_id!r} is declared twice (first at line {line})",
                    location=self.doc.value_at((*item_at, "id")),
                    hint="give each secret of a target its own id",
                )
            seen[secret_id] = index
            src = item.get("src")
            path = None
            if src is not None:
                # A secret file is usually kept outside the repository, so it may be anywhere.
                try:
                    path = (self.root / Path(src).expanduser()).resolve()
                except RuntimeError:  # `~user` for a user this machine does not know
                    raise PlanError(
                        f"cannot find the home directory in the secret src {src!r}",
                        location=self.doc.value_at((*item_at, "src")),
                        hint="write the path without ~, relative to the plan or absolute",
                    ) from None
            result.append(
                Secret(
                    id=secret_id,
                    env=item.get("env"),
                    src=path,
                    optional=item.get("optional", False),
                    location=self.doc.value_at(item_at),
                )
            )
        return tuple(result)


# Stands for `{name}` while an image written with it is fixed: lowercase letters only, so the
# fix leaves it as it is.
_NAME_MARK = "orchtargetname"

_DEST_HINT = (
    "put {name} in dest, so that each target has its own: "
    "type=local,dest=.orch-cache/{name},mode=max"
)
_REF_HINT = (
    "put {name} in ref, so that each target has its own: type=registry,ref=REGISTRY/cache:{name}"
)
_CACHE_HINTS = {
    "from": "write key=value fields with a type, such as type=local,src=.orch-cache/{name}, "
    'and quote a field that holds a comma: "src=a,b"',
    "to": "write key=value fields with a type, such as "
    "type=local,dest=.orch-cache/{name},mode=max, "
    'and quote a field that holds a comma: "dest=a,b"',
}


def dev_env_problem(name: str, value: str) -> str | None:
    """What stops `docker run -e NAME=VALUE` from passing this variable as written, if anything."""
    if not name or "=" in name or "\0" in name:
        return "a variable name must be non-empty and hold no '=' or NUL"
    if "\0" in value:
        return "a value cannot hold a NUL"
    return None


def _full_tag(tag: str, image: str) -> str:
    """A short tag such as `latest` names a tag of the target's image; others are references."""
    return tag if ":" in tag or "/" in tag else f"{image}:{tag}"
