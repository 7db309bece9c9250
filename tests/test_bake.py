"""Bake definitions: what orch hands to `docker buildx bake` for each job, from the plan."""

from __future__ import annotations

import json

import pytest
from hypothesis import given
from hypothesis import strategies as st

from orchestrator.inputs.versions import LABEL_TARGET, LABEL_VERSION
from orchestrator.plan import NamedContext, Secret
from orchestrator.run.bake import (
    NO_PROVENANCE,
    CacheSpecs,
    bake_definitions,
    bake_file,
    bake_name,
    bake_target,
)
from orchestrator.run.jobs import build_job, build_jobs, select_test_jobs, stage_jobs
from tests.kit import PLAN_LOCATION, make_target, project_of


@pytest.fixture
def root(tmp_path):
    return tmp_path.resolve()


# --- paths ----------------------------------------------------------------------------------


def test_context_and_dockerfile_are_relative_to_the_plan_root(root):
    api = make_target(root, "api", dockerfile="docker/Dockerfile.prod")
    d = bake_target(build_job(api), root=root, upstream={})
    assert d["context"] == "services/api"
    assert d["dockerfile"] == "docker/Dockerfile.prod"


def test_a_context_at_the_plan_root_is_dot(root):
    app = make_target(root, "app", context="")
    assert bake_target(build_job(app), root=root, upstream={})["context"] == "."


def test_a_dockerfile_beside_the_context_is_reached_with_dot_dot(root):
    # The plan allows a Dockerfile anywhere in the plan directory, relative to the context,
    # e.g. `dockerfile: ../common/Dockerfile`; bake resolves it against the context the same way.
    svc = make_target(root, "svc", context="svc", dockerfile="../common/Dockerfile")
    d = bake_target(build_job(svc), root=root, upstream={})
    assert d["context"] == "svc"
    assert d["dockerfile"] == "../common/Dockerfile"


def test_definition_has_no_absolute_paths_so_it_reruns_from_the_plan_root(root):
    lib = root / "libs/jobspec"
    lib.mkdir(parents=True)
    worker = make_target(root, "worker", contexts=(NamedContext(name="shared", path=lib),))
    text = json.dumps(bake_target(build_job(worker), root=root, upstream={}))
    assert str(root) not in text


# --- named contexts -------------------------------------------------------------------------


def test_upstream_targets_become_named_contexts_of_their_first_tag(root):
    base = make_target(root, "base", kind="stage", tags=("orch/base:1.2", "orch/base:latest"))
    tool = make_target(root, "go-toolchain", kind="stage")
    api = make_target(root, "api")
    d = bake_target(build_job(api), root=root, upstream={"base": base, "go-toolchain": tool})
    assert d["contexts"] == {
        "base": "docker-image://orch/base:1.2",
        "go-toolchain": "docker-image://orch/go-toolchain:latest",
    }


def test_an_upstream_in_a_registry_is_named_with_the_registry(root):
    base = make_target(root, "base", kind="stage", image="localhost:5000/orch/base")
    api = make_target(root, "api")
    d = bake_target(build_job(api), root=root, upstream={"base": base})
    assert d["contexts"]["base"] == "docker-image://localhost:5000/orch/base:latest"


def test_linked_upstream_targets_point_at_bake_targets_of_the_same_file(root):
    base = make_target(root, "base.v2", kind="stage")
    api = make_target(root, "api")
    d = bake_target(build_job(api), root=root, upstream={"base.v2": base}, link_targets=True)
    assert d["contexts"] == {"base.v2": "target:base_dv2"}


def test_plan_contexts_are_relative_directories_or_image_refs(root):
    lib = root / "libs/jobspec"
    lib.mkdir(parents=True)
    worker = make_target(
        root,
        "worker",
        contexts=(
            NamedContext(name="shared", path=lib),
            NamedContext(name="tools", ref="docker-image://busybox:1.36"),
        ),
    )
    d = bake_target(build_job(worker), root=root, upstream={})
    assert d["contexts"] == {"shared": "libs/jobspec", "tools": "docker-image://busybox:1.36"}


def test_a_target_without_upstream_or_contexts_has_no_contexts_key(root):
    d = bake_target(build_job(make_target(root, "base", kind="stage")), root=root, upstream={})
    assert "contexts" not in d


# --- secrets --------------------------------------------------------------------------------


def test_secrets_name_their_source_and_never_carry_a_value(root, monkeypatch):
    monkeypatch.setenv("NPM_TOKEN", "npm-value-must-not-leak")
    netrc = root / "home/.netrc"
    netrc.parent.mkdir()
    netrc.write_text("machine example.com password netrc-value-must-not-leak\n")
    api = make_target(
        root,
        "api",
        secrets=(
            Secret(id="npm_token", env="NPM_TOKEN", location=PLAN_LOCATION),
            Secret(id="netrc", src=netrc, location=PLAN_LOCATION),
        ),
    )
    d = bake_target(build_job(api), root=root, upstream={})
    assert d["secret"] == ["id=npm_token,env=NPM_TOKEN", f"id=netrc,src={netrc}"]
    text = json.dumps(bake_file({"api": d}))
    assert "npm-value-must-not-leak" not in text
    assert "netrc-value-must-not-leak" not in text


def test_secrets_stay_out_of_build_args(root, monkeypatch):
    monkeypatch.setenv("NPM_TOKEN", "npm-value-must-not-leak")
    api = make_target(
        root,
        "api",
        args={"MODE": "prod"},
        secrets=(Secret(id="t", env="NPM_TOKEN", location=PLAN_LOCATION),),
    )
    d = bake_target(build_job(api), root=root, upstream={})
    assert d["args"] == {"MODE": "prod"}


# --- build and test jobs --------------------------------------------------------------------


def test_a_build_job_ships_its_tags_with_its_cache(root):
    api = make_target(
        root,
        "api",
        target="runtime",
        tags=("orch/api:latest", "orch/api:1.0"),
        cache_from=("type=local,src=.orch-cache/api",),
        cache_to=("type=local,dest=.orch-cache/api,mode=max",),
        platforms=("linux/amd64",),
        labels={"team": "core"},
    )
    d = bake_target(build_job(api), root=root, upstream={})
    assert d["target"] == "runtime"
    assert d["tags"] == ["orch/api:latest", "orch/api:1.0"]
    assert d["cache-from"] == ["type=local,src=.orch-cache/api"]
    assert d["cache-to"] == ["type=local,dest=.orch-cache/api,mode=max"]
    assert d["output"] == ["type=docker"]
    assert d["platforms"] == ["linux/amd64"]
    assert d["labels"] == {"team": "core"}
    assert d["attest"] == [NO_PROVENANCE]


def test_a_build_job_without_a_stage_builds_the_last_one(root):
    d = bake_target(build_job(make_target(root, "base", kind="stage")), root=root, upstream={})
    assert "target" not in d


def test_leased_cache_specs_replace_the_plans(root):
    api = make_target(
        root,
        "api",
        cache_from=("type=local,src=.orch-cache/api",),
        cache_to=("type=local,dest=.orch-cache/api",),
    )
    leased = CacheSpecs(("type=local,src=/x/v1",), ("type=local,dest=/x/v2",))
    d = bake_target(build_job(api), root=root, upstream={}, cache=leased)
    assert d["cache-from"] == ["type=local,src=/x/v1"]
    assert d["cache-to"] == ["type=local,dest=/x/v2"]


def test_a_registry_target_is_pushed(root):
    api = make_target(root, "api", image="localhost:5000/orch/api", registry="localhost:5000")
    d = bake_target(build_job(api), root=root, upstream={})
    assert d["output"] == ["type=image,push=true"]
    assert d["tags"] == ["localhost:5000/orch/api:latest"]


def test_test_jobs_are_one_per_test_stage(root):
    api = make_target(root, "api", target="runtime", tests=("lint", "test"))
    jobs = stage_jobs(api)
    assert [(j.key, j.stage, j.test) for j in jobs] == [
        ("api:lint", "lint", True),
        ("api:test", "test", True),
    ]
    assert stage_jobs(make_target(root, "web")) == ()


def test_a_test_job_builds_its_stage_and_ships_nothing(root):
    api = make_target(
        root,
        "api",
        target="runtime",
        tests=("test",),
        image="localhost:5000/orch/api",
        registry="localhost:5000",
        cache_from=("type=local,src=.orch-cache/api",),
        cache_to=("type=local,dest=.orch-cache/api,mode=max",),
    )
    (job,) = stage_jobs(api)
    d = bake_target(job, root=root, upstream={})
    assert d["target"] == "test"
    assert d["output"] == ["type=cacheonly"]
    assert "tags" not in d
    assert d["cache-to"] == []
    # It may still read the service's cache.
    assert d["cache-from"] == ["type=local,src=.orch-cache/api"]


def test_a_test_job_exports_no_cache_so_a_run_leases_none(root):
    api = make_target(root, "api", tests=("test",), cache_to=("type=local,dest=.c/api",))
    (job,) = stage_jobs(api)
    assert job.cache_to == ()
    assert build_job(api).cache_to == api.cache_to


# --- names and files ------------------------------------------------------------------------


@pytest.mark.parametrize(
    ("key", "name"),
    [
        ("api", "api"),
        ("api:test", "api_ctest"),
        ("go.toolchain", "go_dtoolchain"),
        ("a_b", "a__b"),
        ("a.b", "a_db"),
        ("py-3.11:unit", "py-3_d11_cunit"),
    ],
)
def test_bake_names_keep_plain_names_and_escape_the_rest(key, name):
    assert bake_name(key) == name


@given(
    st.text(alphabet="ab._:-", min_size=1, max_size=8),
    st.text(alphabet="ab._:-", min_size=1, max_size=8),
)
def test_two_keys_never_share_a_bake_name(a, b):
    assert (bake_name(a) == bake_name(b)) == (a == b)
    assert set(bake_name(a)) <= set(
        "abcdefghijklmnopqrstuvwxyzABCDEFGHIJKLMNOPQRSTUVWXYZ0123456789_-"
    )


def test_a_targets_ref_is_its_first_tag(root):
    t = make_target(root, "api", tags=("orch/api:2", "orch/api:latest"))
    assert t.first_tag == "orch/api:2"


def test_bake_file_groups_every_target_by_default(root):
    base = make_target(root, "base", kind="stage")
    api = make_target(root, "api")
    definitions = {
        "base": bake_target(build_job(base), root=root, upstream={}),
        "api": bake_target(build_job(api), root=root, upstream={"base": base}),
    }
    f = bake_file(definitions)
    assert f["group"] == {"default": {"targets": ["base", "api"]}}
    assert f["target"]["api"]["contexts"] == {"base": "docker-image://orch/base:latest"}
    json.dumps(f)  # a bake file is JSON


# --- image exports: gzip where another machine reads the image, fast zstd where none does ---

FAST = "type=docker,compression=zstd,compression-level=1,oci-mediatypes=true"

# The example's shape: a toolchain only a builder stage reads, a runtime stage services ship on.
CHAIN_PLAN = """\
stages:
  base: {context: base}
  go-toolchain: {context: go-toolchain}
  python-runtime: {context: python-runtime}
services:
  api: {context: api, target: runtime, test: test}
  worker: {context: worker, target: runtime}
"""
CHAIN_FILES = {
    "base/Dockerfile": "FROM debian:bookworm-slim\nRUN useradd app\n",
    "go-toolchain/Dockerfile": "FROM base\nRUN apt-get install -y golang-go\n",
    "python-runtime/Dockerfile": "FROM base\nRUN apt-get install -y python3\n",
    "api/Dockerfile": (
        "FROM go-toolchain AS builder\nRUN go build -o /out/api .\n"
        "FROM builder AS test\nRUN go test ./...\n"
        "FROM scratch AS runtime\nCOPY --from=builder /out/api /api\n"
    ),
    "worker/Dockerfile": (
        "FROM python-runtime AS build\nRUN python3 -m compileall /app\n"
        "FROM build AS runtime\nUSER app\n"
        "FROM python-runtime AS debug\nRUN true\n"
    ),
}


def _outputs(project, names=None, **kwargs):
    jobs = build_jobs(project, names or list(project.plan.targets))
    definitions = bake_definitions(project, jobs.jobs.values(), **kwargs)
    return {key: d["output"] for key, d in definitions.items()}


def test_a_stage_only_builder_stages_read_is_exported_fast_and_shipped_ones_keep_gzip(tmp_path):
    project = project_of(tmp_path, CHAIN_PLAN, CHAIN_FILES)
    assert _outputs(project) == {
        # worker ships `runtime`, made on python-runtime through its `build` stage, which is
        # made on base: their layers are in the worker image, so they stay gzip.
        "base": ["type=docker"],
        "python-runtime": ["type=docker"],
        # api ships `runtime`, FROM scratch: the toolchain's layers never leave this machine.
        "go-toolchain": [FAST],
        "api": ["type=docker"],
        "worker": ["type=docker"],
    }


def test_a_stage_exports_the_same_way_whichever_targets_a_run_selects(tmp_path):
    project = project_of(tmp_path, CHAIN_PLAN, CHAIN_FILES)
    # Built alone, python-runtime still has worker, which ships it, in the plan.
    assert _outputs(project, ["python-runtime"]) == {
        "base": ["type=docker"],
        "python-runtime": ["type=docker"],
    }
    assert _outputs(project, ["go-toolchain"]) == {"base": ["type=docker"], "go-toolchain": [FAST]}


def test_the_hand_run_bake_file_has_the_same_outputs_as_a_run(tmp_path):
    project = project_of(tmp_path, CHAIN_PLAN, CHAIN_FILES)
    assert _outputs(project, link_targets=True) == _outputs(project)
    assert _outputs(project, chained=True) == _outputs(project)


def test_a_stage_a_service_ships_on_through_an_arg_keeps_gzip(tmp_path):
    files = dict(CHAIN_FILES)
    files["api/Dockerfile"] = (
        "ARG RUNTIME=go-toolchain\nFROM go-toolchain AS builder\nRUN go build\n"
        "FROM builder AS test\nRUN go test ./...\n"
        "FROM ${RUNTIME} AS runtime\nCOPY --from=builder /out/api /api\n"
    )
    project = project_of(tmp_path, CHAIN_PLAN, files)
    assert _outputs(project, ["api"])["go-toolchain"] == ["type=docker"]


def test_a_stage_read_only_by_copy_or_mount_or_a_test_stage_is_exported_fast(tmp_path):
    plan = """\
stages:
  tools: {context: tools}
  assets: {context: assets}
  checker: {context: checker}
services:
  app: {context: app, test: [check]}
"""
    files = {
        "tools/Dockerfile": "FROM busybox\nRUN true\n",
        "assets/Dockerfile": "FROM busybox\nRUN true\n",
        "checker/Dockerfile": "FROM busybox\nRUN true\n",
        "app/Dockerfile": (
            "FROM busybox AS build\nRUN --mount=from=tools,target=/t /t/run\n"
            "FROM checker AS check\nRUN check\n"
            "FROM busybox\nCOPY --from=assets /a /a\n"
        ),
    }
    project = project_of(tmp_path, plan, files)
    assert _outputs(project) == {
        "tools": [FAST],
        "assets": [FAST],
        "checker": [FAST],
        "app": ["type=docker"],
    }


def test_a_pushed_stage_and_every_stage_under_a_pushed_image_keep_gzip(tmp_path):
    plan = """\
stages:
  base: {context: base}
  sdk: {context: sdk, registry: "localhost:5000"}
  lone: {context: lone}
  image-base: {context: image-base}
  published: {context: published, registry: "localhost:5000"}
services:
  app: {context: app}
"""
    files = {
        "base/Dockerfile": "FROM busybox\nRUN true\n",
        "sdk/Dockerfile": "FROM base\nRUN true\n",
        "lone/Dockerfile": "FROM base\nRUN true\n",
        "image-base/Dockerfile": "FROM busybox\nRUN true\n",
        "published/Dockerfile": "FROM image-base\nRUN true\n",
        "app/Dockerfile": "FROM busybox\nCOPY --from=sdk /x /x\nCOPY --from=lone /y /y\n",
    }
    project = project_of(tmp_path, plan, files)
    outputs = _outputs(project)
    assert outputs["sdk"] == outputs["published"] == ["type=image,push=true"]
    # base is under the pushed sdk, image-base under the pushed published stage.
    assert outputs["base"] == outputs["image-base"] == ["type=docker"]
    assert outputs["lone"] == [FAST]


def test_a_service_others_build_on_is_still_shipped_with_gzip(tmp_path):
    plan = "services:\n  core: {context: core}\n  addon: {context: addon}\n"
    files = {"core/Dockerfile": "FROM busybox\nRUN true\n", "addon/Dockerfile": "FROM core\n"}
    project = project_of(tmp_path, plan, files)
    assert _outputs(project) == {"core": ["type=docker"], "addon": ["type=docker"]}


def test_test_stages_of_a_fast_stages_user_stay_cache_only(tmp_path):
    project = project_of(tmp_path, CHAIN_PLAN, CHAIN_FILES)
    jobs = select_test_jobs(project, ["api"])
    definitions = bake_definitions(project, jobs.jobs.values())
    assert definitions["api:test"]["output"] == ["type=cacheonly"]
    assert definitions["go-toolchain"]["output"] == [FAST]


def test_a_versioned_build_keeps_the_targets_own_labels_beside_orchs(root):
    api = make_target(root, "api", labels={"team": "core"})
    version = "3f0c2b8d1e6a97c45b20" + "0" * 44
    d = bake_target(build_job(api), root=root, upstream={}, versions={"api": version})
    from orchestrator.inputs.versions import LABEL_PLAN, plan_key

    assert d["labels"] == {
        "team": "core",
        LABEL_TARGET: "api",
        LABEL_VERSION: version,
        LABEL_PLAN: plan_key(api.location.file),  # which plan built it, for `orch prune`
    }
    assert d["tags"] == ["orch/api:3f0c2b8d1e6a97c45b20"]


def test_a_key_character_without_its_own_escape_is_written_as_its_code():
    assert bake_name("a+b") == "a_x2b_b"
    assert bake_name("é") == "_xe9_"


def test_definitions_hand_upstream_images_on_unless_the_bake_is_chained(root):
    project = project_of(
        root,
        "stages:\n  base: {context: base}\nservices:\n  api: {context: api}\n",
        {"base/Dockerfile": "FROM busybox\n", "api/Dockerfile": "FROM base\n"},
    )
    jobs = build_jobs(project, ["api"])
    plain = bake_definitions(project, jobs.jobs.values())
    assert plain["api"]["contexts"] == {"base": "docker-image://orch/base:latest"}
    chained = bake_definitions(project, jobs.jobs.values(), chained=True)
    assert chained["api"]["contexts"] == {"base": "target:base"}


# --- a builder that cannot read the daemon's images -------------------------------------------

CARRY = """\
stages:
  base: {context: base}
  toolchain: {context: toolchain}
services:
  api: {context: api, test: [test]}
"""
CARRY_FILES = {
    "base/Dockerfile": "FROM busybox\n",
    "toolchain/Dockerfile": "FROM base\n",
    "api/Dockerfile": "FROM toolchain AS test\nRUN true\nFROM toolchain\n",
}


def test_an_isolated_builder_gets_every_upstream_outside_the_bake_carried_and_linked(root):
    project = project_of(root, CARRY, CARRY_FILES)
    jobs = [build_job(project.plan.targets["api"])]
    plain = bake_definitions(project, jobs, chained=True)
    assert list(plain) == ["api"]
    assert plain["api"]["contexts"] == {"toolchain": "docker-image://orch/toolchain:latest"}
    carried = bake_definitions(project, jobs, chained=True, isolated=True)
    assert list(carried) == ["base", "toolchain", "api"]
    assert carried["api"]["contexts"] == {"toolchain": "target:toolchain"}
    assert carried["toolchain"]["contexts"] == {"base": "target:base"}
    for name in ("base", "toolchain"):
        assert carried[name]["output"] == ["type=cacheonly"]
        assert carried[name]["cache-to"] == []
        assert "tags" not in carried[name]
    assert carried["api"]["output"] == plain["api"]["output"]


def test_an_upstream_with_a_registry_is_read_from_there_and_nothing_above_it_is_carried(root):
    project = project_of(
        root,
        CARRY.replace(
            "toolchain: {context: toolchain}",
            "toolchain: {context: toolchain, registry: 'localhost:5000'}",
        ),
        CARRY_FILES,
    )
    jobs = [build_job(project.plan.targets["api"])]
    carried = bake_definitions(project, jobs, chained=True, isolated=True)
    assert list(carried) == ["api"]
    assert carried["api"]["contexts"]["toolchain"].startswith("docker-image://localhost:5000/")


def test_a_test_stage_on_an_isolated_builder_carries_what_it_builds_on(root):
    project = project_of(root, CARRY, CARRY_FILES)
    jobs = list(select_test_jobs(project, ["api"]).jobs.values())
    carried = bake_definitions(project, jobs, chained=True, isolated=True)
    assert list(carried) == ["base", "toolchain", "api:test"]
    assert carried["api:test"]["contexts"] == {"toolchain": "target:toolchain"}


def test_nothing_is_carried_that_the_bake_builds_itself(root):
    project = project_of(root, CARRY, CARRY_FILES)
    jobs = [build_job(project.plan.targets[n]) for n in ("toolchain", "api")]
    carried = bake_definitions(project, jobs, chained=False, isolated=True)
    assert list(carried) == ["base", "toolchain", "api"]
    assert carried["api"]["contexts"] == {"toolchain": "target:toolchain"}  # linked, always
    assert "tags" in carried["toolchain"]  # built to ship, not carried


@pytest.mark.parametrize(
    ("inspected", "driver"),
    [
        ("Name:   builder\nDriver: docker-container\nNodes:\n", "docker-container"),
        ("Name:          default\nDriver:        docker\n", "docker"),
        ("Name: k\nDriver: kubernetes\nLast Activity: now\n", "kubernetes"),
        ("no driver line at all\n", None),
    ],
)
def test_the_builder_s_driver_is_read_from_buildx_inspect(inspected, driver):
    from orchestrator.engine.docker import driver_of

    assert driver_of(inspected) == driver


# --- attestations ---------------------------------------------------------------------------

ATTESTED = """\
defaults:
  attest: [provenance, sbom]
  sbom: {generator: "127.0.0.1:5000/sbom-gen:1"}
services:
  app: {context: app, registry: "127.0.0.1:5000"}
  local: {context: local}
"""


def test_a_pushed_image_carries_its_attestations_and_a_local_one_none(root):
    project = project_of(
        root, ATTESTED, {"app/Dockerfile": "FROM busybox\n", "local/Dockerfile": "FROM busybox\n"}
    )
    jobs = [build_job(project.plan.targets[n]) for n in ("app", "local")]
    defs = bake_definitions(project, jobs)
    assert defs["app"]["attest"] == [
        "type=provenance,mode=max",
        "type=sbom,generator=127.0.0.1:5000/sbom-gen:1",
    ]
    assert defs["local"]["attest"] == [NO_PROVENANCE]


def test_attestations_enter_the_version(root):
    files = {"app/Dockerfile": "FROM busybox\n", "local/Dockerfile": "FROM busybox\n"}
    with_them = project_of(root / "a", ATTESTED, files).manifests(["app"])["app"]
    plain = ATTESTED.replace("  attest: [provenance, sbom]\n", "")
    without = project_of(root / "b", plain, files).manifests(["app"])["app"]
    assert with_them.version != without.version
    assert '"attest":["provenance","sbom=127.0.0.1:5000/sbom-gen:1"]' in with_them.inputs


def test_an_sbom_without_a_generator_is_a_plan_error_at_attest(root):
    from orchestrator.errors import PlanError

    with pytest.raises(PlanError, match=r"attest: \[sbom\] needs the image that writes the SBOM"):
        project_of(
            root,
            "services:\n  app: {context: app, attest: [sbom]}\n",
            {"app/Dockerfile": "FROM busybox\n"},
        )
