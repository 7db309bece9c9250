"""`--set` and `--no-cache` on the real engine: the override reaches the build and its version,
and a no-cache build rebuilds every step under the same version."""

from __future__ import annotations

import pytest

from tests.kit import image_file, monorepo, orch_build

pytestmark = pytest.mark.engine

PLAN = "services:\n  app: {context: app, args: {MODE: prod}}\n"
FILES = {"app/Dockerfile": "FROM busybox:latest\nARG MODE\nRUN echo $MODE > /mode.txt\n"}


def test_an_override_builds_its_own_version_and_the_plain_one_stays_up_to_date(
    tmp_path, image_prefix
):
    root = monorepo(tmp_path, image_prefix, PLAN, FILES)
    code, out, plain = orch_build(root)
    assert code == 0, out
    code, out, dev = orch_build(root, "--set", "app.args.MODE=dev")
    assert code == 0, out
    app, app_dev = plain["targets"]["app"], dev["targets"]["app"]
    assert app_dev["status"] == "built"  # never up to date against the image built without it
    assert app_dev["version"] != app["version"]
    assert image_file(app_dev["versioned_image"], "/mode.txt") == "dev\n"
    code, out, again = orch_build(root)
    assert code == 0, out
    assert again["targets"]["app"]["status"] == "up-to-date"
    assert again["targets"]["app"]["version"] == app["version"]
    assert image_file(f"{image_prefix}/app:latest", "/mode.txt") == "prod\n"  # the tag is back


def run_step(root, report) -> str:
    """How the log of the run's build of app ended its RUN step: CACHED or DONE."""
    lines = (root / report["targets"]["app"]["log"]).read_text().splitlines()
    at = next((i for i, line in enumerate(lines) if "] RUN echo " in line), None)
    assert at is not None, lines
    step = lines[at].split()[0]
    return next(
        line.split()[1]
        for line in lines[at + 1 :]
        if line.startswith(step + " ") and line.split()[1] in ("CACHED", "DONE")
    )


def test_no_cache_rebuilds_every_step_under_the_same_version(tmp_path, image_prefix):
    root = monorepo(tmp_path, image_prefix, PLAN, FILES)
    code, out, first = orch_build(root)
    assert code == 0, out
    code, out, forced = orch_build(root, "--force")  # built again: every step from the cache
    assert code == 0, out
    assert run_step(root, forced) == "CACHED"  # (the log is the last build's: read it now)
    code, out, fresh = orch_build(root, "--no-cache")
    assert code == 0, out
    app = fresh["targets"]["app"]
    assert app["status"] == "built"
    assert run_step(root, fresh) == "DONE"  # --no-cache: it ran again
    assert app["version"] == first["targets"]["app"]["version"]
    assert app["versioned_image"] == first["targets"]["app"]["versioned_image"]
    assert image_file(app["versioned_image"], "/mode.txt") == "prod\n"
