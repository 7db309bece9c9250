"""`orch prune`: which versioned tags go and which stay (pure), and the sweep of a plan's state
and images on a fake engine, locks held by a running build respected."""

from __future__ import annotations

import fcntl
import io
from pathlib import Path

import anyio
import pytest

from orchestrator.commands.main import main
from orchestrator.prune.decide import ImageFacts, LocalTag, decide, duration, older
from orchestrator.prune.sweep import prune, report
from tests.kit import project_of

V = [f"{i:x}" * 20 for i in range(1, 7)]  # six versions, 20 hex digits each
DAY = 86400.0


def tags_and_facts(versions, repo="orch/api", *, latest=None, created=None):
    tags = [LocalTag(repo, v, f"sha256:{v}") for v in versions]
    if latest:
        tags.append(LocalTag(repo, "latest", f"sha256:{latest}"))
    facts = {
        f"sha256:{v}": ImageFacts(created=(created or {}).get(v, float(i)), size=100 * (i + 1))
        for i, v in enumerate(versions)
    }
    return tags, facts


def gone(decision):
    return [t.tag for t in decision.remove]


def test_the_newest_keep_versions_stay_and_the_rest_go():
    tags, facts = tags_and_facts(V[:5])
    d = decide({"api": "orch/api"}, tags, facts, keep=3)
    assert gone(d) == [V[1], V[0]]  # oldest two
    assert d.freed == 100 + 200


def test_a_tagged_image_and_one_a_container_uses_stay_whatever_their_age():
    tags, facts = tags_and_facts(V[:5], latest=V[0])
    d = decide({"api": "orch/api"}, tags, facts, keep=1, in_use={f"sha256:{V[1]}"})
    assert gone(d) == [V[3], V[2]]
    why = {k.ref: k.why for k in d.kept}
    assert why[f"orch/api:{V[0]}"] == "a tag of the plan (or yours) points at it"
    assert why[f"orch/api:{V[1]}"] == "a container uses it"
    assert why[f"orch/api:{V[4]}"] == "the newest version"


def test_other_repositories_are_never_touched_and_a_shared_image_frees_nothing():
    tags, facts = tags_and_facts(V[:3])
    theirs = [
        LocalTag("other/api", V[0], "sha256:x"),
        LocalTag("mirror/api", "v1", f"sha256:{V[0]}"),
    ]
    d = decide({"api": "orch/api"}, tags + theirs, facts, keep=1)
    assert gone(d) == [V[1], V[0]]
    assert all(t.repository == "orch/api" for t in d.remove)
    assert d.freed == 200  # V[0]'s image is still mirror/api:v1: it stays, and frees nothing


def test_older_than_replaces_keep_and_the_newest_always_stays():
    created = {V[0]: 0.0, V[1]: 5 * DAY, V[2]: 9 * DAY}
    tags, facts = tags_and_facts(V[:3], created=created)
    d = decide({"api": "orch/api"}, tags, facts, older_than=7 * DAY, now=10 * DAY)
    assert gone(d) == [V[0]]  # 10 days old; V[1] is 5 days old
    d = decide({"api": "orch/api"}, tags, facts, older_than=4 * DAY, now=10 * DAY)
    assert gone(d) == [V[1], V[0]]
    d = decide({"api": "orch/api"}, tags, facts, older_than=30 * DAY, now=10 * DAY)
    assert gone(d) == []
    only, facts1 = tags_and_facts(V[:1], created={V[0]: 0.0})
    assert gone(decide({"api": "orch/api"}, only, facts1, older_than=1.0, now=DAY)) == []


def test_a_target_a_run_is_building_is_left_alone():
    tags, facts = tags_and_facts(V[:5])
    d = decide({"api": "orch/api"}, tags, facts, keep=1, busy={"api"})
    assert gone(d) == []
    assert {k.why for k in d.kept} == {"a run is building this target now"}


def test_only_versioned_tags_are_ever_removed():
    tags = [LocalTag("orch/api", t, f"sha256:{t}") for t in ("v1.2", "dev", "0123", "g" * 20)]
    facts = {t.image_id: ImageFacts(0.0, 1) for t in tags}
    assert gone(decide({"api": "orch/api"}, tags, facts, keep=1)) == []


@pytest.mark.parametrize(
    ("text", "seconds"),
    [("7d", 7 * DAY), ("12h", 43200), ("90s", 90), ("2w", 14 * DAY), ("1.5h", 5400)],
)
def test_an_age_is_a_number_and_a_unit(text, seconds):
    assert duration(text) == seconds


@pytest.mark.parametrize("text", ["7", "d", "7 days", "-1d", ""])
def test_anything_else_is_not_an_age(text):
    with pytest.raises(ValueError):
        duration(text)


def test_the_bound_of_run_directories():
    entries = {"a": 1.0, "b": 2.0, "c": 3.0, "d": 4.0}
    assert older(entries, keep=2, older_than=None, now=10.0) == ["a", "b"]
    assert older(entries, keep=2, older_than=8.5, now=10.0) == ["a"]


# --- the sweep, on a fake engine ---------------------------------------------------------------


class Store:
    """The image calls of prune: a store of tags, and what `docker image rm` would do."""

    def __init__(self, tags: list[LocalTag], facts: dict[str, ImageFacts]) -> None:
        self.tags, self.facts, self.removed = tags, facts, []

    async def check_async(self) -> None:
        return None

    async def local_tags(self) -> list[LocalTag]:
        return list(self.tags)

    async def image_facts(self, ids):
        return {i: self.facts[i] for i in ids if i in self.facts}

    async def container_images(self) -> set[str]:
        return set()

    async def untag(self, refs):
        self.removed += refs
        self.tags = [t for t in self.tags if t.ref not in refs]
        return {}


PLAN = "services:\n  api: {context: api}\n"


@pytest.fixture
def project(tmp_path: Path):
    return project_of(tmp_path, PLAN, {"api/Dockerfile": "FROM busybox\n"})


def test_the_sweep_removes_past_the_bound_and_a_dry_run_nothing(project):
    tags, facts = tags_and_facts(V[:5], latest=V[4])
    store = Store(tags, facts)
    state = project.plan.root / ".orch"
    for name in ("gone-target.log", "api.log"):
        (state / "logs").mkdir(parents=True, exist_ok=True)
        (state / "logs" / name).write_text("x")
    (state / "manifests").mkdir(parents=True, exist_ok=True)
    (state / "manifests" / "gone-target.json").write_text("{}")
    dry = anyio.run(lambda: prune(project, store, keep=3, dry_run=True))  # type: ignore[arg-type]
    assert dry.images == [f"orch/api:{V[1]}", f"orch/api:{V[0]}"]
    assert dry.logs == ["gone-target.log"] and dry.manifests == ["gone-target.json"]
    assert store.removed == [] and (state / "logs" / "gone-target.log").exists()
    out = io.StringIO()
    report(dry, dry_run=True, out=out)
    assert "would remove 2 image tags (up to 300 B: layers other images share stay)" in (
        out.getvalue()
    )
    assert "dry run: nothing was removed" in out.getvalue()
    done = anyio.run(lambda: prune(project, store, keep=3))  # type: ignore[arg-type]
    assert store.removed == dry.images
    assert not (state / "logs" / "gone-target.log").exists()
    assert (state / "logs" / "api.log").exists()
    assert not (state / "manifests" / "gone-target.json").exists()
    assert done.problems == []
    assert (state / ".gitignore").read_text().splitlines()[-1] == "*"  # its locks: no litter


def test_a_target_whose_job_lock_another_run_holds_is_left_alone(project):
    tags, facts = tags_and_facts(V[:5])
    store = Store(tags, facts)
    locks = project.plan.root / ".orch" / "locks"
    locks.mkdir(parents=True)
    with (locks / "api.lock").open("ab") as held:
        fcntl.flock(held, fcntl.LOCK_EX)
        swept = anyio.run(lambda: prune(project, store, keep=1))  # type: ignore[arg-type]
    assert store.removed == []
    assert {k.why for k in swept.kept} == {"a run is building this target now"}


def test_a_bad_age_is_exit_2(project, capsys):
    assert main(["-f", str(project.plan.path), "prune", "--older-than", "7days"]) == 2
    assert "--older-than '7days' is not an age" in capsys.readouterr().err


def test_another_plan_s_images_in_a_shared_repository_stay():
    tags, facts = tags_and_facts(V[:4])
    facts = {
        i: ImageFacts(f.created, f.size, plan="mine" if i.endswith((V[3], V[0])) else "theirs")
        for i, f in facts.items()
    }
    d = decide({"api": "orch/api"}, tags, facts, keep=1, plan="mine")
    assert gone(d) == [V[0]]  # theirs (V[1], V[2]) are neither removed nor counted
    assert {k.ref for k in d.kept if "another plan" in k.why} == {
        f"orch/api:{V[1]}",
        f"orch/api:{V[2]}",
    }
    unlabelled = {i: ImageFacts(f.created, f.size) for i, f in facts.items()}
    assert gone(decide({"api": "orch/api"}, tags, unlabelled, keep=1, plan="mine")) == [
        V[2],
        V[1],
        V[0],
    ]  # built before the label: the plan's, as before


def test_old_cache_versions_and_runs_go_with_their_bytes_and_a_dry_run_touches_nothing(tmp_path):
    plan = (
        "services:\n  api:\n    context: api\n    cache:\n"
        '      from: ["type=local,src=.orch-cache/api"]\n'
        '      to: ["type=local,dest=.orch-cache/api,mode=max"]\n'
    )
    project = project_of(tmp_path, plan, {"api/Dockerfile": "FROM busybox\n"})
    versions = tmp_path / ".orch-cache" / "api.versions"
    for name, size in (("old", 3_000), ("current", 1_000)):
        (versions / name).mkdir(parents=True)
        (versions / name / "blob").write_bytes(b"x" * size)
    (tmp_path / ".orch-cache" / "api").symlink_to("api.versions/current")
    runs = tmp_path / ".orch" / "runs"
    for i in range(5):
        (runs / f"2026120{i}T000000-1-aaaaaa").mkdir(parents=True)
    store = Store([], {})
    before = sorted(p.name for p in (tmp_path / ".orch").rglob("*"))
    dry = anyio.run(lambda: prune(project, store, keep=3, dry_run=True))  # type: ignore[arg-type]
    assert dry.caches == [str(versions / "old")] and dry.cache_bytes == 3_000
    assert len(dry.runs) == 2
    assert sorted(p.name for p in (tmp_path / ".orch").rglob("*")) == before  # untouched
    done = anyio.run(lambda: prune(project, store, keep=3))  # type: ignore[arg-type]
    assert done.caches == [str(versions / "old")] and done.cache_bytes == 3_000
    assert not (versions / "old").exists() and (versions / "current").exists()
    assert len([p for p in runs.iterdir() if p.is_dir()]) == 3


def test_a_version_s_part_tags_are_its_own_and_no_other_version_s() -> None:
    from orchestrator.prune.decide import parts_of

    v, w = "0123456789abcdef0123", "fedcba98765432100123"
    tags = [v, f"{v}-linux-arm64", f"{v}-linux-amd64_linux-arm-v7", f"{w}-linux-arm64", "latest",
            f"{v}-", f"x{v}-linux-arm64", f"{v}-platforms-0123abcd"]  # fmt: skip
    assert parts_of(v, tags) == [
        f"{v}-linux-arm64", f"{v}-linux-amd64_linux-arm-v7", f"{v}-platforms-0123abcd"
    ]  # fmt: skip
