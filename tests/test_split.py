"""A multi-platform target split among the builders that name its platforms: which builder
builds what, where each part's cache goes, and a run over two fake engines (the engine test is
tests/test_engine_platforms.py)."""

from __future__ import annotations

from pathlib import Path

import pytest

from orchestrator.engine.events import ImageExported, StepStarted
from orchestrator.plan.specs import parse_cache_entry
from orchestrator.run import history
from orchestrator.run import steps as run
from orchestrator.run.jobs import build_jobs
from orchestrator.run.split import Server, part_cache, parts, suffix
from tests.kit import FakeEngine, project_of

AMD, ARM, RISC = "linux/amd64", "linux/arm64", "linux/riscv64"
POOL = (Server("default", (AMD,)), Server("node2", (ARM,)))


def test_each_platform_goes_to_the_builder_that_names_it_in_pool_order() -> None:
    assert parts([AMD, ARM], "default", POOL) == {"default": (AMD,), "node2": (ARM,)}
    # Placed on node2, the amd64 part still goes to default; the order stays the pool's.
    assert parts([ARM, AMD], "node2", POOL) == {"default": (AMD,), "node2": (ARM,)}


def test_no_split_for_one_platform_a_pool_without_platforms_or_everything_on_one() -> None:
    assert parts([AMD], "default", POOL) is None
    assert parts([AMD, ARM], "a", (Server("a"), Server("b"))) is None
    assert parts([AMD, ARM], "both", (Server("both", (AMD, ARM)), Server("x", (ARM,)))) is None


def test_a_platform_nobody_names_goes_to_a_builder_that_names_none() -> None:
    pool = (*POOL, Server("any"))
    assert parts([AMD, RISC], "default", pool) == {"default": (AMD,), "any": (RISC,)}
    # Without one, it stays where the schedule put the target.
    assert parts([AMD, ARM, RISC], "node2", POOL) == {"default": (AMD,), "node2": (ARM, RISC)}


def test_among_builders_naming_a_platform_the_fastest_last_time_builds_it() -> None:
    pool = (Server("default", (AMD,)), Server("slow", (ARM,)), Server("fast", (ARM,)))
    assert parts([AMD, ARM], "default", pool) == {"default": (AMD,), "slow": (ARM,)}
    took = {"slow": 90.0, "fast": 12.0}
    assert parts([AMD, ARM], "default", pool, took=took) == {"default": (AMD,), "fast": (ARM,)}
    # The builder the schedule placed the target on keeps the platform it names (affinity).
    assert parts([AMD, ARM], "slow", pool, took=took) == {"default": (AMD,), "slow": (ARM,)}


def test_a_builder_that_stopped_answering_is_passed_over() -> None:
    pool = (*POOL, Server("node3", (ARM,)))
    assert parts([AMD, ARM], "default", pool, gone={"node2"}) == {
        "default": (AMD,),
        "node3": (ARM,),
    }
    # With every arm64 builder gone, the target is built whole where it was placed.
    assert parts([AMD, ARM], "default", POOL, gone={"node2"}) is None


@pytest.mark.parametrize(
    ("entry", "expected"),
    [
        ("type=local,dest=.cache/api,mode=max", "type=local,dest=.cache/api.linux-arm64,mode=max"),
        ("type=local,src=.cache/api", "type=local,src=.cache/api.linux-arm64"),
        (
            "localhost:5000/cache/api:main",
            "type=registry,ref=localhost:5000/cache/api:main-linux-arm64",
        ),
        ("localhost:5000/cache/api", "type=registry,ref=localhost:5000/cache/api:linux-arm64"),
        ("type=gha,scope=api", "type=gha,scope=api-linux-arm64"),
        ("type=gha", "type=gha,scope=buildkit-linux-arm64"),
        ("type=inline", "type=inline"),
    ],
)
def test_each_part_has_a_cache_of_its_own(entry: str, expected: str) -> None:
    assert part_cache(parse_cache_entry(entry), [ARM]).render() == expected


def test_a_part_of_several_platforms_names_them_all() -> None:
    assert suffix([AMD, "linux/arm/v7"]) == "linux-amd64_linux-arm-v7"
    # Every character a tag may hold, and no more than a tag may hold.
    from orchestrator.plan.references import tag_problem
    from orchestrator.run.split import part_tag

    versioned = "localhost:5000/orch/api:0123456789abcdef0123"
    assert part_tag(versioned, [AMD, "linux/arm/v7"]) == f"{versioned}-linux-amd64_linux-arm-v7"
    many = [f"linux/arch{i}/variant{i}" for i in range(12)]
    long = part_tag(versioned, many)
    tag = long.rsplit(":", 1)[1]
    assert len(tag) <= 128 and tag.startswith("0123456789abcdef0123-platforms-")
    assert tag_problem(tag) is None and long != part_tag(versioned, many[:11])


PLAN = """\
defaults:
  registry: "localhost:5000"
  platforms: [linux/amd64, linux/arm64]
  cache:
    from: ["type=local,src=.cache/{name}"]
    to: ["type=local,dest=.cache/{name},mode=max"]
builders:
  - {name: default, platforms: [linux/amd64]}
  - {name: node2, platforms: [linux/arm64]}
services:
  api: {context: api}
"""


def split_run(
    tmp_path: Path, default: FakeEngine, node2: FakeEngine, heard: list[object] | None = None
) -> run.RunOutcome:
    project = project_of(tmp_path, PLAN, {"api/Dockerfile": "FROM busybox\n"})
    assert [(b.name, b.platforms) for b in project.plan.builders] == [
        ("default", (AMD,)),
        ("node2", (ARM,)),
    ]
    return run.run(
        project,
        build_jobs(project, ["api"]),
        default,
        manifests=project.manifests(["api"]),
        options=run.RunOptions(),
        test=False,
        on_build=None if heard is None else heard.append,
        on_place=None if heard is None else (lambda key, on: heard.append((key, on))),
        pool=[
            run.PoolEntry("default", 1, default, (AMD,)),
            run.PoolEntry("node2", 1, node2, (ARM,)),
        ],
    )


def test_a_run_builds_each_platform_on_its_builder_by_digest_then_merges_them(
    tmp_path: Path,
) -> None:
    registry: dict[str, str] = {}  # one registry between the two builders
    default, node2 = FakeEngine(registry=registry), FakeEngine(registry=registry)
    outcome = split_run(tmp_path, default, node2)
    (result,) = outcome.results
    assert result.status == "built"
    versioned = result.versioned_image
    assert result.platform_builders == {AMD: "default", ARM: "node2"}
    for engine, platform in ((default, AMD), (node2, ARM)):
        (call,) = engine.calls
        (spec,) = call["target"].values()
        assert spec["platforms"] == [platform]
        # Each part under a tag of its own; the versioned tag is the merge's.
        assert spec["tags"] == [f"{versioned}-{platform.replace('/', '-')}"]
        assert spec["output"] == ["type=image,push=true"]
        tail = platform.replace("/", "-")
        assert spec["cache-to"][0].startswith(
            f"type=local,dest={tmp_path}/.cache/api.{tail}.versions/"
        )
    assert (tmp_path / f".cache/api.{AMD.replace('/', '-')}").exists()
    merges = [args for kind, args in default.lookups if kind == "merge"]
    assert merges == [(versioned, f"{versioned}-linux-amd64", f"{versioned}-linux-arm64")]
    assert result.digest == default.registry[result.versioned_image or ""]
    # Each part's time on its builder is kept, for the next split to choose by.
    kept = history.load(tmp_path / ".orch/history.json")
    assert {"api@default", "api@node2"} <= set(kept)
    assert result.part_durations.keys() == {"default", "node2"}
    # The log tells each part apart, and how to run each again by hand.
    log = (tmp_path / (result.log or "")).read_text()
    assert "linux/amd64 on default: re-run: docker buildx bake -f" in log
    assert "# --- linux/arm64 on node2: built" in log


def test_a_failed_part_fails_the_target_naming_its_platform_and_merges_nothing(
    tmp_path: Path,
) -> None:
    registry: dict[str, str] = {}
    default = FakeEngine(registry=registry)
    node2 = FakeEngine(registry=registry, outcomes={"api": "failed"})
    outcome = split_run(tmp_path, default, node2)
    (result,) = outcome.results
    assert result.status == "failed"
    assert (result.error or "").startswith("linux/arm64 on node2: ")
    assert not [kind for kind, _ in default.lookups if kind == "merge"]
    # The amd64 part is in the registry under its own tag; nothing names the whole image.
    assert [ref.rsplit("-", 2)[-2:] for ref in registry] == [["linux", "amd64"]]
    assert not (tmp_path / ".cache/api.linux-arm64").exists()  # its cache is not kept


def test_a_registry_image_without_every_platform_is_built_again(tmp_path: Path) -> None:
    registry: dict[str, str] = {}
    default, node2 = FakeEngine(registry=registry), FakeEngine(registry=registry)
    (first,) = split_run(tmp_path, default, node2).results
    digest = registry[first.versioned_image or ""]
    default.indexes[digest] = frozenset({AMD, ARM})
    (again,) = split_run(tmp_path, default, node2).results
    assert again.status == "up-to-date"
    default.indexes[digest] = frozenset({AMD})  # its arm64 manifest is gone from the index
    (third,) = split_run(tmp_path, default, node2).results
    assert third.status == "built"
    assert third.platform_builders == {AMD: "default", ARM: "node2"}


def test_the_platforms_of_an_index_leave_attestations_out() -> None:
    from orchestrator.engine.docker import _listed_platforms

    index = {
        "manifests": [
            {"digest": "sha256:a", "platform": {"os": "linux", "architecture": "amd64"}},
            {
                "digest": "sha256:b",
                "platform": {"os": "linux", "architecture": "arm", "variant": "v7"},
            },
            {"digest": "sha256:c", "platform": {"os": "unknown", "architecture": "unknown"}},
        ]
    }
    assert _listed_platforms(index) == {"linux/amd64", "linux/arm/v7"}
    assert _listed_platforms({"layers": []}) is None  # an image manifest
    assert _listed_platforms(None) is None  # not JSON


def test_the_live_view_hears_where_the_parts_run_and_one_export_once_both_are_merged(
    tmp_path: Path,
) -> None:
    registry: dict[str, str] = {}
    heard: list[object] = []
    split_run(tmp_path, FakeEngine(registry=registry), FakeEngine(registry=registry), heard)
    assert ("api", "default+node2") in heard
    exports = [i for i, e in enumerate(heard) if isinstance(e, ImageExported)]
    assert len(exports) == 1  # not one per part: the first part's export is not the job's
    steps = [i for i, e in enumerate(heard) if isinstance(e, StepStarted)]
    assert len(steps) == 2 and exports[0] > max(steps)


def test_a_local_image_without_every_platform_is_built_again_where_the_engine_tells(
    tmp_path: Path,
) -> None:
    plan = "defaults:\n  platforms: [linux/amd64, linux/arm64]\nservices:\n  api: {context: api}\n"
    project = project_of(tmp_path, plan, {"api/Dockerfile": "FROM busybox\n"})
    engine = FakeEngine()

    def once() -> run.JobResult:
        (r,) = run.run(
            project,
            build_jobs(project, ["api"]),
            engine,
            manifests=project.manifests(["api"]),
            options=run.RunOptions(),
            test=False,
        ).results
        return r

    ref = once().versioned_image or ""
    assert once().status == "up-to-date"  # the engine tells nothing per platform: whole
    engine.per_platform[ref] = {AMD: 1000}  # its arm64 image is gone from the store
    assert once().status == "built"
    engine.per_platform[ref] = {}  # the engine tells, and the store has neither
    assert once().status == "built"
    engine.per_platform[ref] = {AMD: 1000, ARM: 1000}
    assert once().status == "up-to-date"
