"""The defaults of a run's options, shared by the command line and the pipeline."""

from collections.abc import Mapping

# Bake invocations at once.
DEFAULT_PARALLEL = 4
# Targets per bake: with the default -j 4, at most 40 in flight. One dockerd 26 here failed
# every bake once 4 bakes of 25 ran at once, or one plain bake of 100 tiny targets, while 4
# bakes of 10 never failed and built as fast (bench/big_plan_bench.py).
DEFAULT_MAX_BATCH = 10
# --retries under CI: a CI job has nobody to re-run it by hand; a terminal has.
CI_RETRIES = 2


def default_retries(environ: Mapping[str, str]) -> int:
    """`--retries` when it is not given: a few under CI (`CI` set and not empty), else none."""
    return CI_RETRIES if environ.get("CI") else 0
