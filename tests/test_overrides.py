"""`--set TARGET.KEY=VALUE`, `--no-cache` and `--no-cache-filter`, as bake takes them: what each
changes in a target, its version and its bake definition; and a did-you-mean that never offers a
flag that does something else."""

from __future__ import annotations

import re

import pytest

from orchestrator.commands.main import main
from orchestrator.errors import UsageError, edit_distance, typo_of
from orchestrator.inputs.versions import diff_manifests
from orchestrator.plan.overrides import parse
from orchestrator.project import load_project
from orchestrator.run.bake import bake_definitions
from orchestrator.run.jobs import build_job
from tests.kit import project_of

PLAN = """\
stages:
  base: {context: base}
services:
  api: {context: api, args: {MODE: prod}}
  web: {context: web}
"""
FILES = {
    "base/Dockerfile": "FROM busybox\n",
    "api/Dockerfile": "FROM base AS debug\nARG MODE\nFROM base\nARG MODE\nRUN echo $MODE\n",
    "web/Dockerfile": "FROM base\n",
}


@pytest.fixture
def root(tmp_path):
    project_of(tmp_path, PLAN, FILES)
    return tmp_path


def loaded(root, *sets: str, **flags):
    return load_project(root / "buildplan.yaml", overrides=[parse(s) for s in sets], **flags)


def test_each_key_changes_what_bake_gets(root):
    project = loaded(
        root,
        "api.args.MODE=dev",
        "api.args.EXTRA=",
        "api.labels.team=core",
        "api.platform=linux/amd64, linux/arm64",
        "api.target=debug",
        "api.cache-from=type=local,src=/tmp/c",
        "api.cache-to=type=inline",
    )
    api = project.plan.targets["api"]
    assert dict(api.args) == {"MODE": "dev", "EXTRA": ""}
    assert dict(api.labels) == {"team": "core"}
    assert api.platforms == ("linux/amd64", "linux/arm64")
    assert api.target == "debug"
    (d,) = bake_definitions(project, [build_job(api)]).values()
    assert d["target"] == "debug"
    assert d["cache-from"] == ["type=local,src=/tmp/c"]
    assert d["cache-to"] == ["type=inline"]
    assert project.plan.targets["web"] == loaded(root).plan.targets["web"]  # untouched


def test_a_glob_names_every_matching_target_and_a_later_override_wins(root):
    project = loaded(root, "*.args.MODE=one", "a*.args.MODE=two")
    assert project.plan.targets["api"].args["MODE"] == "two"
    assert project.plan.targets["base"].args["MODE"] == "one"


def test_every_override_enters_the_version_and_the_same_ones_give_the_same(root):
    plain = loaded(root).manifests(["api"])["api"]
    dev = loaded(root, "api.args.MODE=dev").manifests(["api"])["api"]
    again = loaded(root, "api.args.MODE=dev").manifests(["api"])["api"]
    cached = loaded(root, "api.cache-to=type=inline").manifests(["api"])["api"]
    assert len({plain.version, dev.version, cached.version}) == 3
    assert dev.version == again.version
    # What `orch why` and --dry-run say of it:
    said = [str(c) for c in diff_manifests(plain, cached)]
    assert said == ["--set cache-to=type=inline: given"]
    # A plan's versions without overrides are what they were: no `set` in the canonical form.
    assert '"set"' not in plain.inputs


def test_no_cache_rebuilds_steps_and_keeps_the_version(root):
    plain = loaded(root).manifests(["api"])["api"]
    project = loaded(root, no_cache=True, no_cache_filter=["debug"])
    assert project.manifests(["api"])["api"].version == plain.version
    (d,) = bake_definitions(project, [build_job(project.plan.targets["api"])]).values()
    assert d["no-cache"] is True
    assert d["no-cache-filter"] == ["debug"]
    one = loaded(root, "api.no-cache=true")
    (d,) = bake_definitions(one, [build_job(one.plan.targets["api"])]).values()
    assert d["no-cache"] is True
    (w,) = bake_definitions(one, [build_job(one.plan.targets["web"])]).values()
    assert "no-cache" not in w


@pytest.mark.parametrize(
    ("text", "said"),
    [
        ("api", "is not TARGET.KEY=VALUE"),
        ("api.args=1", "unknown key 'args'"),
        ("api.plaform=x", "did you mean 'platform'?"),
        ("api.tags=x:1", "orch does not take tags from --set"),
        ("api.output=type=local", "orch does not take output from --set"),
        ("api.args.=1", "is not a name for args"),
        ("api.no-cache=maybe", "no-cache is true or false"),
        ("api.platform=", "platform needs a value"),
    ],
)
def test_a_bad_override_is_exit_2_with_its_fix(text, said):
    with pytest.raises(UsageError) as caught:
        parse(text)
    assert said in caught.value.message + (caught.value.hint or "")


def test_an_override_of_no_target_names_the_close_ones(root):
    with pytest.raises(UsageError, match="'apu' matches no target") as caught:
        loaded(root, "apu.args.X=1")
    assert "did you mean 'api'?" in (caught.value.hint or "")


def test_a_bad_cache_entry_is_exit_2(root):
    with pytest.raises(UsageError, match=re.escape("--set 'api.cache-from=type=local,=x'")):
        loaded(root, "api.cache-from=type=local,=x")


# --- a did-you-mean that never offers a different flag ---------------------------------------


def test_edit_distance_counts_swaps_as_one():
    assert edit_distance("--forse", "--force") == 1
    assert edit_distance("--no-cahce", "--no-cache") == 1
    assert edit_distance("--no-cache", "--no-chain") == 4
    assert edit_distance("", "abc") == 3


def test_only_a_typo_is_offered():
    flags = ["--no-chain", "--force", "--set", "--retries", "--since", "--no-cache"]
    assert typo_of("--forse", flags) == "--force"
    assert typo_of("--no-cache", ["--no-chain"]) is None
    assert typo_of("--sett", flags) == "--set"
    assert typo_of("--x", ["--a", "--b"]) is None  # two as near: no guess


@pytest.mark.parametrize(
    ("argv", "said", "never"),
    [
        (["plan", "--no-cache"], "No such option: --no-cache.", "--no-chain"),
        (["build", "--forse"], "Did you mean '--force'?", "--set"),
        (["build", "--load"], "hint: orch loads every image", "Did you mean"),
        (["build", "--print"], "orch plan --bake-file FILE", "Did you mean"),
    ],
)
def test_an_unknown_flag_gets_a_typo_fix_or_what_to_use_and_never_another_flag(
    argv, said, never, capsys
):
    assert main(argv) == 2
    err = capsys.readouterr().err
    assert said in err
    assert never not in err
