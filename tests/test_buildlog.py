"""BuildKit's plain progress read per target, and a bake's exit code made per-target results."""

from __future__ import annotations

import pytest

from orchestrator.engine.buildlog import TAIL_LINES, BuildOutputReader, bake_results

BLOB = "sha256:" + "4f4fb700ef54461cfa02571ae0db9a0dc1e0cdb5577484a6d75e68dc38e8acc1"
BLOB2 = "sha256:" + "a3ed95caeb02ffe68cdd9fd84406680ae93d633cb16422d00e8a7c22955b46d4"

# Two targets in one bake; b fails, bake stops a (real output of this engine).
MULTI_FAILURE = """\
#0 building with "default" instance using docker driver

#1 [internal] load local bake definitions
#1 reading bake.json 220B / 220B done
#1 DONE 0.0s

#2 [a internal] load build definition from Dockerfile
#2 transferring dockerfile: 91B done
#2 DONE 0.0s

#3 [b internal] load build definition from Dockerfile
#3 transferring dockerfile: 83B done
#3 DONE 0.0s

#4 [internal] load metadata for docker.io/library/busybox:latest
#4 DONE 0.0s

#5 [a 1/2] FROM docker.io/library/busybox:latest
#5 CACHED

#6 [b 1/2] FROM docker.io/library/busybox:latest
#6 CACHED

#10 [b 2/2] RUN sleep 1; exit 3
#13 [a 2/2] RUN sleep 3 && echo a > /a
#13 ...

#10 [b 2/2] RUN sleep 1; exit 3
#10 ERROR: process "/bin/sh -c sleep 1; exit 3" did not complete successfully: exit code: 3

#13 [a 2/2] RUN sleep 3 && echo a > /a
#13 CANCELED
------
 > [b 2/2] RUN sleep 1; exit 3:
------
ERROR: failed to solve: process "/bin/sh -c sleep 1; exit 3" did not complete successfully: \
exit code: 3
"""

# Two targets in one bake, both built.
MULTI_SUCCESS = """\
#0 building with "default" instance using docker driver

#1 [internal] load local bake definitions
#1 reading bake.json 420B / 420B done
#1 DONE 0.0s

#2 [a internal] load build definition from Dockerfile
#2 transferring dockerfile: 91B done
#2 DONE 0.0s

#5 [a 1/3] FROM docker.io/library/busybox:latest
#5 CACHED

#6 [b 1/2] FROM docker.io/library/busybox:latest
#6 CACHED

#7 [a 2/3] RUN echo one > /one
#7 CACHED

#8 [b 2/2] RUN echo b && echo b > /b
#8 0.214 b
#8 DONE 0.3s

#9 [a 3/3] RUN echo a && echo a > /a
#9 0.201 a
#9 DONE 0.3s

#11 [a] exporting to image
#11 exporting layers 0.1s done
#11 naming to docker.io/orch/a:latest done
#11 DONE 0.1s

#12 [b] exporting to image
#12 exporting layers 0.1s done
#12 naming to docker.io/orch/b:latest done
#12 DONE 0.1s
"""

# One target: step names carry no prefix.
SINGLE_FAILURE = """\
#0 building with "default" instance using docker driver

#1 [internal] load local bake definitions
#1 reading bake.json 180B / 180B done
#1 DONE 0.0s

#2 [internal] load build definition from Dockerfile
#2 transferring dockerfile: 83B done
#2 DONE 0.0s

#5 [1/2] FROM docker.io/library/busybox:latest
#5 CACHED

#6 [2/2] RUN sleep 1; exit 3
#6 ERROR: process "/bin/sh -c sleep 1; exit 3" did not complete successfully: exit code: 3
------
 > [2/2] RUN sleep 1; exit 3:
------
ERROR: failed to solve: process "/bin/sh -c sleep 1; exit 3" did not complete successfully: \
exit code: 3
"""

# A step restored from an imported registry cache prints only the transfer of its layers.
SINGLE_FROM_REGISTRY_CACHE = f"""\
#0 building with "default" instance using docker driver

#4 importing cache manifest from localhost:5000/cache:api
#4 DONE 0.1s

#5 [1/3] FROM docker.io/library/busybox:latest
#5 CACHED

#6 [2/3] RUN go build -o /out/app .
#6 {BLOB} 0B / 32B 0.1s
#6 {BLOB} 32B / 32B 0.1s done
#6 extracting {BLOB} done
#6 {BLOB2} 1.2MB / 1.2MB 0.2s done
#6 extracting {BLOB2} 0.1s done
#6 DONE 0.3s

#7 [3/3] RUN ./check.sh
#7 {BLOB} 32B / 32B 0.1s done
#7 extracting {BLOB} done
#7 0.412 checked 12 files
#7 DONE 0.5s
"""


def read(transcript: str, targets: list[str]) -> BuildOutputReader:
    reader = BuildOutputReader(targets)
    for i, line in enumerate(transcript.splitlines(keepends=True)):
        reader.feed(line, now=float(i))
    return reader


# --- attribution ----------------------------------------------------------------------------


def test_lines_of_a_multi_target_bake_go_to_the_target_their_step_names():
    reader = read(MULTI_FAILURE, ["a", "b"])
    a, b = reader.targets["a"].lines, reader.targets["b"].lines
    assert all(line.startswith(("#2 ", "#5 ", "#13 ")) for line in a)
    assert all(line.startswith(("#3 ", "#6 ", "#10 ")) for line in b)
    assert "#13 CANCELED" in a
    assert any(line.startswith("#10 ERROR: process") for line in b)


def test_bake_own_lines_belong_to_no_target_in_a_multi_target_bake():
    reader = read(MULTI_FAILURE, ["a", "b"])
    assert "#1 reading bake.json 220B / 220B done" in reader.other
    assert "#4 [internal] load metadata for docker.io/library/busybox:latest" in reader.other
    assert reader.other[-1].startswith("ERROR: failed to solve:")
    assert not any(
        "ERROR: failed to solve" in ln for t in reader.targets.values() for ln in t.lines
    )


def test_a_single_target_bake_attributes_every_line_to_it():
    reader = read(SINGLE_FAILURE, ["api"])
    assert reader.targets["api"].lines == SINGLE_FAILURE.splitlines()
    assert reader.other == []


def test_last_seen_is_when_the_target_last_printed():
    reader = read(MULTI_SUCCESS, ["a", "b"])
    lines = MULTI_SUCCESS.splitlines()
    assert reader.targets["a"].last_seen == float(lines.index("#11 DONE 0.1s"))
    assert reader.targets["b"].last_seen == float(lines.index("#12 DONE 0.1s"))


# --- cached steps ---------------------------------------------------------------------------


def test_cached_steps_are_counted_per_target():
    reader = read(MULTI_SUCCESS, ["a", "b"])
    assert reader.targets["a"].cached == 2
    assert reader.targets["b"].cached == 1


def test_a_step_that_only_transferred_layers_counts_as_cached():
    reader = read(SINGLE_FROM_REGISTRY_CACHE, ["api"])
    # [1/3] said CACHED, [2/3] only pulled its layers; [3/3] ran a command.
    assert reader.targets["api"].cached == 2


def test_a_step_that_printed_its_own_output_is_not_cached():
    transcript = f"""\
#7 [3/3] RUN ./check.sh
#7 {BLOB} 32B / 32B 0.1s done
#7 0.412 checked 12 files
#7 DONE 0.5s
"""
    assert read(transcript, ["api"]).targets["api"].cached == 0


def test_a_non_step_vertex_that_transferred_layers_is_not_a_cached_step():
    transcript = f"""\
#3 importing cache manifest from localhost:5000/cache:api
#3 {BLOB} 1.2kB / 1.2kB done
#3 DONE 0.1s
"""
    assert read(transcript, ["api"]).targets["api"].cached == 0


def test_a_layer_transfer_interrupted_by_another_target_still_counts_as_cached():
    # In a multi-target bake, plain progress marks a step that another step's output
    # interrupts with `#N ...`; that marker is not output of the step.
    transcript = f"""\
#8 [a 2/3] RUN go build -o /out/app .
#8 {BLOB} 0B / 32B 0.1s
#8 ...

#9 [b 2/2] RUN echo b
#9 0.100 b
#9 DONE 0.2s

#8 [a 2/3] RUN go build -o /out/app .
#8 {BLOB} 32B / 32B 0.2s done
#8 extracting {BLOB} done
#8 DONE 0.3s
"""
    reader = read(transcript, ["a", "b"])
    assert reader.targets["a"].cached == 1
    assert reader.targets["b"].cached == 0


def test_steps_are_counted_per_target():
    reader = read(MULTI_SUCCESS, ["a", "b"])
    a_steps = reader.targets["a"].steps
    b_steps = reader.targets["b"].steps
    assert a_steps > b_steps > 0


# --- failure and cancellation ---------------------------------------------------------------


def test_an_error_on_a_step_marks_that_target_failed_at_that_step():
    reader = read(MULTI_FAILURE, ["a", "b"])
    b = reader.targets["b"]
    assert b.failed_step == "[b 2/2] RUN sleep 1; exit 3"
    assert b.error == (
        'process "/bin/sh -c sleep 1; exit 3" did not complete successfully: exit code: 3'
    )


def test_the_sibling_stopped_by_bake_is_canceled_not_failed():
    reader = read(MULTI_FAILURE, ["a", "b"])
    a = reader.targets["a"]
    assert bake_results(["a", "b"], reader, 1, {}, 5.0)["a"].status == "cancelled"
    assert a.error is None
    assert a.failed_step is None


def test_context_canceled_errors_mark_canceled_not_failed():
    transcript = """\
#13 [a 2/2] RUN sleep 3 && echo a > /a
#13 ERROR: failed to compute cache key: context canceled
#10 [b 2/2] RUN exit 3
#10 ERROR: process "/bin/sh -c exit 3" did not complete successfully: exit code: 3
"""
    reader = read(transcript, ["a", "b"])
    assert bake_results(["a", "b"], reader, 1, {}, 5.0)["a"].status == "cancelled"
    assert reader.targets["a"].error is None
    assert reader.targets["b"].error is not None


def test_a_cache_import_error_is_a_warning_and_the_export_error_is_the_cause():
    transcript = """\
#5 importing cache manifest from localhost:5999/c:t
#5 ERROR: failed to configure registry cache importer: connection refused
#7 [2/2] RUN echo hi > /x
#7 DONE 0.2s
#9 exporting cache to registry
#9 preparing build cache for export done
#9 ERROR: error writing layer blob: connection refused
ERROR: failed to solve: error writing layer blob: connection refused
"""
    reader = read(transcript, ["t"])
    t = reader.targets["t"]
    assert t.failed_step == "exporting cache to registry"
    assert t.error == "error writing layer blob: connection refused"
    assert t.warnings == [
        "cache not imported from localhost:5999/c:t: failed to configure registry cache "
        "importer: connection refused"
    ]
    result = bake_results(["t"], reader, 1, {}, 1.0)["t"]
    assert result.status == "failed"
    assert result.warnings == tuple(t.warnings)


def test_a_cache_import_error_alone_leaves_a_built_target_with_a_warning():
    transcript = """\
#4 [a] importing cache manifest from localhost:5999/c:a
#4 ERROR: failed to configure registry cache importer: connection refused
#6 [a 1/1] FROM busybox
#6 DONE 0.0s
"""
    reader = read(transcript, ["a", "b"])
    assert reader.targets["a"].error is None
    result = bake_results(["a", "b"], reader, 0, {}, 1.0)["a"]
    assert result.status == "built"
    assert len(result.warnings) == 1


def test_single_target_failed_step_has_no_prefix():
    p = read(SINGLE_FAILURE, ["api"]).targets["api"]
    assert p.failed_step == "[2/2] RUN sleep 1; exit 3"
    assert p.error.startswith('process "/bin/sh -c sleep 1; exit 3"')


def test_the_first_error_of_a_target_is_the_one_reported():
    transcript = """\
#6 [2/3] RUN make
#6 0.300 make: *** [all] Error 2
#6 ERROR: process "/bin/sh -c make" did not complete successfully: exit code: 2
#7 [3/3] RUN make install
#7 ERROR: process "/bin/sh -c make install" did not complete successfully: exit code: 2
"""
    p = read(transcript, ["api"]).targets["api"]
    assert p.failed_step == "[2/3] RUN make"
    assert "exit code: 2" in p.error


def test_failed_tail_is_the_failing_steps_last_output_lines():
    output = [f"#6 {i / 10:.3f} line {i}" for i in range(45)]
    transcript = "\n".join(
        [
            "#5 [2/3] RUN echo other",
            "#5 0.100 not this step",
            "#5 DONE 0.1s",
            "#6 [3/3] RUN ./test.sh",
            *output,
            '#6 ERROR: process "/bin/sh -c ./test.sh" did not complete successfully: exit code: 1',
        ]
    )
    reader = read(transcript, ["api"])
    tail = reader.failed_tail("api")
    assert len(tail) == TAIL_LINES == 30
    assert tail[0] == "1.500 line 15"
    assert tail[-1] == "4.400 line 44"
    assert not any("not this step" in line for line in tail)


def test_failed_tail_of_a_multi_target_bake_is_that_targets_step():
    transcript = """\
#8 [a 2/2] RUN ./build.sh
#9 [b 2/2] RUN ./build.sh
#9 0.100 b is fine
#8 0.120 a: missing header foo.h
#8 ERROR: process "/bin/sh -c ./build.sh" did not complete successfully: exit code: 1
#9 CANCELED
"""
    reader = read(transcript, ["a", "b"])
    assert reader.failed_tail("a") == ["0.120 a: missing header foo.h"]
    assert reader.failed_tail("b") == []


# --- per-target results of a bake (engine._results) -----------------------------------------


DIGEST_A = "sha256:" + "1" * 64
DIGEST_B = "sha256:" + "2" * 64


def test_a_successful_bake_builds_every_target_with_its_digest():
    reader = read(MULTI_SUCCESS, ["a", "b"])
    meta = {
        "a": {"containerimage.digest": DIGEST_A},
        "b": {"containerimage.digest": DIGEST_B},
        "buildx.build.warnings": [],
    }
    results = bake_results(["a", "b"], reader, 0, meta, 9.5)
    assert {n: (r.status, r.digest) for n, r in results.items()} == {
        "a": ("built", DIGEST_A),
        "b": ("built", DIGEST_B),
    }
    assert results["a"].cached_steps == 2
    assert results["b"].cached_steps == 1


def test_a_build_without_metadata_has_no_digest():
    reader = read(MULTI_SUCCESS, ["a", "b"])
    results = bake_results(["a", "b"], reader, 0, {}, 9.5)
    assert results["a"].status == "built"
    assert results["a"].digest is None


def test_duration_of_one_target_is_the_bakes_and_of_several_their_last_output():
    single = bake_results(["api"], read(SINGLE_FAILURE, ["api"]), 0, {}, 7.25)
    assert single["api"].duration_s == 7.25
    lines = MULTI_SUCCESS.splitlines()
    multi = bake_results(["a", "b"], read(MULTI_SUCCESS, ["a", "b"]), 0, {}, 99.0)
    assert multi["b"].duration_s == float(lines.index("#12 DONE 0.1s"))


def test_a_failed_target_reports_its_step_error_and_tail():
    reader = read(MULTI_FAILURE, ["a", "b"])
    results = bake_results(["a", "b"], reader, 1, {}, 4.0)
    b = results["b"]
    assert b.status == "failed"
    assert b.failed_step == "[b 2/2] RUN sleep 1; exit 3"
    assert b.error.endswith("exit code: 3")
    assert b.log_lines == tuple(reader.targets["b"].lines)


def test_the_siblings_of_a_failure_are_cancelled():
    results = bake_results(["a", "b"], read(MULTI_FAILURE, ["a", "b"]), 1, {}, 4.0)
    assert results["a"].status == "cancelled"
    assert results["a"].error is None


def test_a_single_target_failure_is_failed_with_its_step():
    results = bake_results(["api"], read(SINGLE_FAILURE, ["api"]), 1, {}, 4.0)
    assert results["api"].status == "failed"
    assert results["api"].failed_step == "[2/2] RUN sleep 1; exit 3"


BAKE_ERROR = """\
#0 building with "default" instance using docker driver

#1 [internal] load local bake definitions
#1 reading bake.json 300B / 300B done
#1 DONE 0.0s
ERROR: unable to prepare context: path "services/gone" not found
"""


def test_a_bake_failure_outside_any_step_fails_every_target_with_the_error_line():
    reader = read(BAKE_ERROR, ["a", "b"])
    results = bake_results(["a", "b"], reader, 1, {}, 0.5)
    for r in results.values():
        assert r.status == "failed"
        assert r.error == 'unable to prepare context: path "services/gone" not found'
        assert r.tail[-1].startswith("ERROR: unable to prepare context")


def test_a_single_target_bake_failure_outside_any_step_reports_the_error_line():
    reader = read(BAKE_ERROR, ["api"])
    results = bake_results(["api"], reader, 1, {}, 0.5)
    assert results["api"].status == "failed"
    assert results["api"].error == 'unable to prepare context: path "services/gone" not found'


@pytest.mark.parametrize("targets", [["api"], ["a", "b"]])
def test_a_failure_with_no_error_line_names_the_exit_code(targets):
    reader = read('#0 building with "default" instance using docker driver\n', targets)
    results = bake_results(targets, reader, 137, {}, 0.5)
    assert {r.status for r in results.values()} == {"failed"}
    assert {r.error for r in results.values()} == {"docker buildx bake exited with 137"}
