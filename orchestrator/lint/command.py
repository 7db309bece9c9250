"""`orch lint`: read each selected target's Dockerfile and contexts, run the rules, merge
hadolint's findings, leave out what is ignored, print, and say the exit code.

targets in build order -> each one's facts (upstream first) -> rules -> hadolint -> ignores.
"""

from __future__ import annotations

import os
from collections.abc import Callable, Iterator, Sequence
from pathlib import Path

import click

from orchestrator.dockerfile.steps import Steps, read_steps
from orchestrator.errors import EXIT_FAILED, EXIT_OK
from orchestrator.inputs import dockerignore
from orchestrator.lint import facts, hadolint, ignores
from orchestrator.lint import image_rules as image
from orchestrator.lint import step_rules as step
from orchestrator.lint.facts import ImageFacts, SentDirectory, SentOwn, SentSecret, Subject
from orchestrator.lint.findings import Finding, failed, ordered
from orchestrator.lint.formats import Report, render
from orchestrator.plan import Plan, Target
from orchestrator.plan.state import STATE_DIR, orch_paths, versions_of, written_caches
from orchestrator.project import Project

# Directories a build never reads, and the name a finding gives them.
_UNREAD = {".git": ".git", "node_modules": "node_modules", "__pycache__": "__pycache__"}
# A context this large is not walked further: what was found so far is reported.
WALK_LIMIT = 100_000


def lint_command(
    project: Project, names: Sequence[str], fmt: str, *, use_hadolint: bool = True
) -> int:
    """Lint TARGETS (every target when none), print in `fmt`, and return the exit code."""
    report = lint(project, names, use_hadolint=use_hadolint)
    click.echo(render(report, fmt), nl=False)
    return EXIT_FAILED if failed(report.findings) else EXIT_OK


def lint(project: Project, names: Sequence[str], *, use_hadolint: bool = True) -> Report:
    plan = project.plan
    project.graph.select(list(names))  # an unknown name fails here, with a suggestion
    chosen = set(names) if names else set(plan.targets)
    every = frozenset(plan.targets)
    image_facts: dict[str, ImageFacts] = {}
    steps_by_file: dict[Path, Steps] = {}
    files: dict[str, Path] = {}
    found: list[Finding] = []
    subjects: dict[str, Subject] = {}
    for name in project.graph.select():  # build order: what a target builds on comes first
        target = plan.targets[name]
        path = target.dockerfile
        if path not in steps_by_file:
            steps_by_file[path] = read_steps(path)
        shown = _shown(path, plan.root)
        files[shown] = path
        upstream = {d: image_facts[d] for d in project.graph.deps(name) if d in image_facts}
        stages = project.dockerfiles[name].stages
        sent = _sent(target, plan.root) if name in chosen else ()
        subject = facts.subject(target, shown, steps_by_file[path], stages, every, upstream, sent)
        image_facts[name] = facts.image_facts(subject)
        if name in chosen:
            subjects[name] = subject
            found.extend(_rules(subject, project))
    warnings: list[str] = []
    version = None
    binary = hadolint.find() if use_hadolint else None
    if binary is not None and subjects:
        version = hadolint.version(binary) or "?"
        found.extend(_hadolint(binary, subjects, plan.root, warnings))
    kept = ignores.kept(found, plan.targets, steps_by_file, files)
    return Report(
        findings=ordered(kept),
        files=len({s.target.dockerfile for s in subjects.values()}),
        targets=len(subjects),
        hadolint=version,
        warnings=warnings,
    )


def _rules(s: Subject, project: Project) -> Iterator[Finding]:
    target = s.target
    checks: list[tuple[str, Callable[[], Iterator[Finding]]]] = [
        ("OL101", lambda: image.runs_as_root(s)),
        ("OL102", lambda: image.ships_toolchain(s)),
        ("OL103", lambda: step.secret_args(s)),
        ("OL104", lambda: step.context_before_install(s, _names_in(target.context))),
        ("OL105", lambda: step.apt_recommends(s)),
        ("OL106", lambda: step.package_caches(s)),
        ("OL107", lambda: image.copies_whole_stage(s)),
        ("OL108", lambda: image.sends_unread(s)),
        ("OL109", lambda: image.unpinned_bases(s, project.dockerfiles[target.name].refs)),
        ("OL110", lambda: image.sends_orch_files(s, _sent_own(target, project.plan))),
        ("OL112", lambda: image.emulated_compile(s)),
        (
            "OL111",
            lambda: image.secrets_in_context(
                s, _shown(project.plan.path, project.plan.root), _sent_secrets(target, project)
            ),
        ),
    ]
    for rule_id, check in checks:
        if ignores.rule_applies(rule_id, target):
            yield from check()


def _hadolint(
    binary: str, subjects: dict[str, Subject], root: Path, warnings: list[str]
) -> list[Finding]:
    by_path: dict[str, tuple[str, str]] = {}
    for name, s in subjects.items():
        by_path.setdefault(str(s.target.dockerfile), (s.file, name))
    items, problem = hadolint.run(binary, [Path(p) for p in by_path])
    if problem is not None:
        warnings.append(problem)
    by_file = {s.file: s for s in subjects.values()}

    def names_a_target(file: str, line: int) -> bool:
        s = by_file[file]
        for stage in s.stages:
            for st in stage.steps:
                if st.line <= line <= st.end_line:
                    named = [stage.base] if st.kind == "from" else st.flag("from")
                    return any(n in s.plan_targets or n in s.named_contexts for n in named)
        return False

    return hadolint.findings(items, by_path, names_a_target)


def _shown(path: Path, root: Path) -> str:
    try:
        return path.relative_to(root).as_posix()
    except ValueError:
        return path.as_posix()


def _names_in(directory: Path) -> frozenset[str]:
    try:
        return frozenset(p.name for p in directory.iterdir())
    except OSError:
        return frozenset()


def _sent(target: Target, root: Path) -> tuple[SentDirectory, ...]:
    """What each directory context of `target` sends that no build reads."""
    found = list(_unread(target.context, target.dockerfile, "", root))
    for named in target.contexts:
        if named.path is not None:
            found.extend(_unread(named.path, None, named.name, root))
    return tuple(found)


def _sent_own(target: Target, plan: Plan) -> Iterator[SentOwn]:
    """The directories orch writes that a context of `target` sends: the user's cache
    directory of orch (with the state in it, when it lies in a context), the plan's local
    caches, and a `.orch/` an older orch left in a context. Nothing is walked."""
    own = orch_paths(plan)
    cache = "orch's part of the user's cache directory"
    if own.state.is_relative_to(own.user_cache):
        cache += ", which holds this plan's state"
    candidates: list[tuple[tuple[Path, ...], str, str]] = [((own.user_cache,), cache, "")]
    beside = plan.root / STATE_DIR
    if own.state != beside and beside.is_dir():
        candidates.append(
            (
                (beside,),
                "orch's state from before it moved out of the context",
                f"or remove it: orch keeps this plan's state in {own.state} now",
            )
        )
    for dest, name in written_caches(plan).items():
        candidates.append(((dest, versions_of(dest)), f"the local cache of {name}'s cache.to", ""))
    contexts: list[tuple[str, Path, Path | None]] = [("", target.context, target.dockerfile)]
    contexts += [(c.name, c.path, None) for c in target.contexts if c.path is not None]
    for context_name, directory, dockerfile in contexts:
        rules: dockerignore.DockerIgnore | None = None
        for paths, what, note in candidates:
            rels = [
                p.relative_to(directory).as_posix()
                for p in paths
                if p.is_relative_to(directory) and p != directory
            ]
            if not rels:
                continue
            if rules is None:
                rules = dockerignore.load(directory, dockerfile)
            missing = [r for r in rels if not (rules.patterns and rules.excludes(r))]
            if missing:
                ignore_file = dockerignore.ignore_file_for(directory, dockerfile)
                yield SentOwn(
                    context=context_name,
                    path=missing[0],
                    what=what,
                    lines=tuple(f"/{r}" for r in missing),
                    ignore_file=_shown(ignore_file, plan.root) if ignore_file else None,
                    note=note,
                )


def _unread(
    context: Path, dockerfile: Path | None, name: str, root: Path
) -> Iterator[SentDirectory]:
    """.git, node_modules, __pycache__ and virtualenvs the context sends (after its ignore
    file); each is reported, not walked into."""
    rules = dockerignore.load(context, dockerfile)
    ignore_file = dockerignore.ignore_file_for(context, dockerfile)
    shown_ignore = _shown(ignore_file, root) if ignore_file is not None else None
    seen = 0
    for top, dirs, filenames in os.walk(context):
        rel_top = os.path.relpath(top, context)
        prefix = "" if rel_top == "." else rel_top.replace(os.sep, "/") + "/"
        keep = []
        for d in sorted(dirs):
            rel = prefix + d
            kind = _UNREAD.get(d)
            if kind is None and (Path(top) / d / "pyvenv.cfg").is_file():
                kind = "a virtualenv"
            excluded = bool(rules.patterns) and rules.excludes(rel)
            if kind is not None:
                if not excluded:
                    yield SentDirectory(name, rel, kind, shown_ignore)
                continue
            if excluded and rules.prunes(rel):
                continue
            keep.append(d)
        if ".git" in filenames and not (rules.patterns and rules.excludes(prefix + ".git")):
            yield SentDirectory(name, prefix + ".git", ".git", shown_ignore)
        dirs[:] = keep
        seen += len(dirs) + len(filenames)
        if seen > WALK_LIMIT:
            return


def _sent_secrets(target: Target, project: Project) -> Iterator[SentSecret]:
    """The secrets of `target` whose files a context of it sends: inside the context's
    directory, and not left out by its ignore file."""
    contexts: list[tuple[str, Path, Path | None]] = [("", target.context, target.dockerfile)]
    contexts += [(c.name, c.path, None) for c in target.contexts if c.path is not None]
    for secret in target.secrets:
        if secret.src is None:
            continue
        src = secret.src.resolve()
        for name, directory, dockerfile in contexts:
            root = directory.resolve()
            if not src.is_relative_to(root) or src == root:
                continue
            rel = src.relative_to(root).as_posix()
            if dockerignore.load(directory, dockerfile).excludes(rel):
                continue
            ignore_file = dockerignore.ignore_file_for(directory, dockerfile)
            yield SentSecret(
                secret=secret.id,
                context=name,
                path=rel,
                ignore_file=_shown(ignore_file, project.plan.root) if ignore_file else None,
                place=(secret.location.line, secret.location.column),
            )
