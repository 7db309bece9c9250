"""Local cache versions: written aside, swapped in on success, collected when nobody reads them."""

from __future__ import annotations

import json
import os
import shutil
import time
from pathlib import Path

import pytest

from orchestrator.plan.specs import parse_cache_entry
from orchestrator.run import cache
from orchestrator.run.cache import CacheLease

FROM = "type=local,src=.orch-cache/api"
TO = "type=local,dest=.orch-cache/api,mode=max"


def lease(cache_from: list[str], cache_to: list[str], root: Path) -> CacheLease:
    """`cache.lease` of entries written as in a plan."""
    return cache.lease(
        [parse_cache_entry(e) for e in cache_from], [parse_cache_entry(e) for e in cache_to], root
    )


def field(spec: str, key: str) -> str:
    return dict(part.split("=", 1) for part in spec.split(","))[key]


LAYER = "application/vnd.oci.image.layer.v1.tar+gzip"


def export(
    held: CacheLease, payload: str = "layers", *, index: bool = True, name: str = "0123abcd"
) -> Path:
    """Do what BuildKit does with `type=local,dest=D`: write a blob under a temporary name and
    rename it into place, then index.json naming it."""
    (spec,) = held.cache_to
    dest = Path(field(spec, "dest"))
    blob = dest / "blobs/sha256" / name
    blob.parent.mkdir(parents=True, exist_ok=True)
    tmp = blob.with_name(f".ingest-{name}")
    tmp.write_text(payload)
    tmp.replace(blob)
    if index:
        manifests = [{"mediaType": LAYER, "digest": f"sha256:{name}", "size": len(payload)}]
        (dest / "index.json").write_text(json.dumps({"schemaVersion": 2, "manifests": manifests}))
    return dest


def build(root: Path, payload: str) -> Path:
    """One successful build that reads and writes the cache; the version it committed."""
    held = lease([FROM], [TO], root)
    version = export(held, payload)
    held.commit()
    return version


def versions(root: Path) -> set[str]:
    folder = root / ".orch-cache/api.versions"
    return {p.name for p in folder.iterdir() if p.is_dir()} if folder.is_dir() else set()


def cached_payload(root: Path) -> str:
    return (root / ".orch-cache/api/blobs/sha256/0123abcd").read_text()


@pytest.fixture
def root(tmp_path):
    return tmp_path.resolve()


# --- swapping -------------------------------------------------------------------------------


def test_the_export_goes_aside_not_into_the_cache_path(root):
    held = lease([FROM], [TO], root)
    (spec,) = held.cache_to
    dest = Path(field(spec, "dest"))
    assert dest.is_dir()
    assert dest.parent == root / ".orch-cache/api.versions"
    assert field(spec, "mode") == "max"
    assert field(spec, "type") == "local"
    assert not (root / ".orch-cache/api").exists()
    held.abort()


def test_commit_makes_the_cache_path_a_symlink_to_the_new_version(root):
    version = build(root, "v1")
    cache = root / ".orch-cache/api"
    assert cache.is_symlink()
    assert cache.resolve() == version
    assert cached_payload(root) == "v1"
    # Relative, so that the plan directory can move.
    assert not cache.readlink().is_absolute()


def test_each_commit_makes_the_newest_version_current(root):
    build(root, "v1")
    v2 = build(root, "v2")
    assert (root / ".orch-cache/api").resolve() == v2
    assert cached_payload(root) == "v2"


def test_a_lease_reads_the_version_current_at_lease_time(root):
    v1 = build(root, "v1")
    reader = lease([FROM], [], root)
    (spec,) = reader.cache_from
    assert field(spec, "src") == str(v1)
    build(root, "v2")
    # The reader keeps reading v1, which is still whole.
    assert Path(field(spec, "src")) == v1
    assert (v1 / "blobs/sha256/0123abcd").read_text() == "v1"
    assert (v1 / "index.json").is_file()
    reader.abort()


def test_the_first_build_reads_from_the_plan_path_made_absolute(root):
    held = lease([FROM], [TO], root)
    assert held.cache_from == [f"type=local,src={root}/.orch-cache/api"]
    held.abort()


def test_abort_keeps_the_current_cache_version(root):
    v1 = build(root, "v1")
    held = lease([FROM], [TO], root)
    mine = export(held, "broken")
    held.abort()
    assert (root / ".orch-cache/api").resolve() == v1
    assert cached_payload(root) == "v1"
    assert not mine.exists()
    assert versions(root) == {v1.name}


def test_abort_of_a_first_build_leaves_no_cache(root):
    held = lease([FROM], [TO], root)
    export(held)
    held.abort()
    assert not (root / ".orch-cache/api").exists()
    assert versions(root) == set()


def test_an_export_without_index_json_is_not_swapped_in(root):
    v1 = build(root, "v1")
    held = lease([FROM], [TO], root)
    partial = export(held, "partial", index=False)
    held.commit()
    assert (root / ".orch-cache/api").resolve() == v1
    assert cached_payload(root) == "v1"
    assert not partial.exists()


def test_a_legacy_cache_directory_becomes_an_old_version_and_is_collected(root):
    legacy = root / ".orch-cache/api"
    (legacy / "blobs/sha256").mkdir(parents=True)
    (legacy / "blobs/sha256/0123abcd").write_text("legacy")
    (legacy / "index.json").write_text("{}")
    held = lease([FROM], [TO], root)
    # Before any orch version exists, the build reads the legacy directory itself.
    assert held.cache_from == [f"type=local,src={legacy}"]
    version = export(held, "v1")
    held.commit()
    assert legacy.is_symlink()
    assert legacy.resolve() == version
    assert cached_payload(root) == "v1"
    assert versions(root) == {version.name}


# --- collection -----------------------------------------------------------------------------


def test_old_versions_are_deleted_on_commit(root):
    v1 = build(root, "v1")
    v2 = build(root, "v2")
    v3 = build(root, "v3")
    assert versions(root) == {v3.name}
    assert not v1.exists()
    assert not v2.exists()
    lock_files = {p.name for p in (root / ".orch-cache/api.versions").iterdir() if p.is_file()}
    assert lock_files <= {f"{v3.name}.lock"}


@pytest.mark.parametrize("release", ["abort", "commit", "release"])
def test_an_old_version_survives_while_another_lease_reads_it(root, release):
    v1 = build(root, "v1")
    reader = lease([FROM], [], root)
    v2 = build(root, "v2")
    assert v1.is_dir(), "collected while a build reads it"
    assert (v1 / "blobs/sha256/0123abcd").read_text() == "v1"
    assert versions(root) == {v1.name, v2.name}
    getattr(reader, release)()
    # Released, it is no longer current: the next commit collects it.
    v3 = build(root, "v3")
    assert not v1.exists()
    assert versions(root) == {v3.name}


def test_an_in_progress_export_of_another_lease_is_never_collected(root):
    build(root, "v1")
    slow = lease([FROM], [TO], root)
    slow_dest = export(slow, "slow", index=False)  # still being written
    fast = build(root, "fast")
    assert slow_dest.is_dir()
    assert (slow_dest / "blobs/sha256/0123abcd").read_text() == "slow"
    # The slow build finishes later and wins; the fast one's version is now old.
    (slow_dest / "index.json").write_text("{}")
    slow.commit()
    assert (root / ".orch-cache/api").resolve() == slow_dest
    assert versions(root) == {slow_dest.name}
    assert not fast.exists()


def test_an_empty_fresh_export_dir_of_another_lease_is_not_collected(root):
    build(root, "v1")
    pending = lease([FROM], [TO], root)  # BuildKit has not written anything yet
    (spec,) = pending.cache_to
    pending_dest = Path(field(spec, "dest"))
    build(root, "v2")
    assert pending_dest.is_dir()
    pending.abort()


def test_two_targets_keep_separate_caches(root):
    a = lease(["type=local,src=c/a"], ["type=local,dest=c/a"], root)
    b = lease(["type=local,src=c/b"], ["type=local,dest=c/b"], root)
    export(a, "a")
    export(b, "b")
    a.commit()
    b.commit()
    assert (root / "c/a/blobs/sha256/0123abcd").read_text() == "a"
    assert (root / "c/b/blobs/sha256/0123abcd").read_text() == "b"


# --- other specs ----------------------------------------------------------------------------


def test_non_local_specs_pass_through_unchanged(root):
    cache_from = [
        "type=registry,ref=localhost:5000/cache:api",
        "localhost:5000/cache:api-bare",
        "type=gha,scope=api",
    ]
    cache_to = ["type=registry,ref=localhost:5000/cache:api,mode=max", "type=inline"]
    held = lease(cache_from, cache_to, root)
    assert held.cache_from == [
        "type=registry,ref=localhost:5000/cache:api",
        "type=registry,ref=localhost:5000/cache:api-bare",  # what buildx reads a bare value as
        "type=gha,scope=api",
    ]
    assert held.cache_to == cache_to
    held.commit()
    assert list(root.iterdir()) == []


def test_local_specs_keep_their_other_fields_and_order(root):
    held = lease(
        ["type=registry,ref=r/c:api", FROM],
        [TO, "type=registry,ref=r/c:api,mode=max"],
        root,
    )
    assert held.cache_from[0] == "type=registry,ref=r/c:api"
    assert held.cache_from[1].startswith("type=local,src=/")
    assert held.cache_to[0].startswith("type=local,dest=/")
    assert held.cache_to[0].endswith(",mode=max")
    assert held.cache_to[1] == "type=registry,ref=r/c:api,mode=max"
    held.abort()


def test_a_cache_directory_that_cannot_be_made_is_an_oserror_and_holds_nothing(root):
    (root / ".orch-cache").mkdir()
    (root / ".orch-cache/api.versions").write_text("a file in the way")
    with pytest.raises(OSError):
        lease([FROM], ["type=local,dest=.orch-cache/api2", TO], root)
    assert not (root / ".orch-cache/api2.versions").exists() or not [
        p for p in (root / ".orch-cache/api2.versions").iterdir() if p.is_dir()
    ]


def test_a_local_path_with_a_comma_is_quoted_in_the_leased_spec(root):
    held = lease([], ['type=local,"dest=c/a,b"'], root)
    (spec,) = held.cache_to
    assert spec.startswith('type=local,"dest=/')
    assert (
        parse_cache_entry(spec).get(
            "dest",
        )
        is not None
    )
    held.abort()


# --- a new version starts from the current one ----------------------------------------------


def test_a_new_version_starts_with_the_current_blobs_linked_and_no_index(root):
    first = build(root, "old layers")
    held = lease([FROM], [TO], root)
    (spec,) = held.cache_to
    fresh = Path(field(spec, "dest"))
    old_blob, new_blob = first / "blobs/sha256/0123abcd", fresh / "blobs/sha256/0123abcd"
    assert new_blob.read_text() == "old layers"
    assert old_blob.samefile(new_blob)  # linked, not copied: no second copy on disk
    assert not (fresh / "index.json").exists()  # BuildKit's to write: a failed export has none
    held.abort()


def test_a_rebuilt_layer_never_changes_the_version_it_was_linked_from(root):
    first = build(root, "old layers")
    reader = lease([FROM], [], root)  # another run still reads the first version
    held = lease([FROM], [TO], root)
    export(held, "new layers")
    held.commit()
    assert (first / "blobs/sha256/0123abcd").read_text() == "old layers"
    assert cached_payload(root) == "new layers"
    reader.release()


def test_blobs_the_new_index_no_longer_names_are_dropped_on_commit(root):
    build(root, "old layers")
    held = lease([FROM], [TO], root)
    export(held, "other layers", name="4567cdef")  # this build's index names only its own blob
    held.commit()
    current = (root / ".orch-cache/api").resolve()
    assert sorted(p.name for p in (current / "blobs/sha256").iterdir()) == ["4567cdef"]


# --- what the index reaches -----------------------------------------------------------------


def _blob(version: Path, name: str, data: bytes) -> None:
    path = version / "blobs/sha256" / name
    path.parent.mkdir(parents=True, exist_ok=True)
    path.write_bytes(data)


def test_blobs_reached_through_a_manifest_are_kept_and_the_rest_dropped(root):
    build(root, "old layers")  # leaves blob 0123abcd, which the new index does not name
    held = lease([FROM], [TO], root)
    (spec,) = held.cache_to
    version = Path(field(spec, "dest"))
    manifest = {
        "config": {"mediaType": "application/vnd.oci.image.config.v1+json", "digest": "sha256:c0"},
        "layers": [{"mediaType": LAYER, "digest": "sha256:l1"}, "not a reference"],
    }
    _blob(version, "m1", json.dumps(manifest).encode())
    _blob(version, "c0", b"{}")
    _blob(version, "l1", b"layer")
    _blob(version, "stray", b"left over")
    index = {"manifests": [{"digest": "sha256:m1"}, {"digest": 7}, {"digest": "sha256:m1"}]}
    (version / "index.json").write_text(json.dumps(index))
    held.commit()
    current = (root / ".orch-cache/api").resolve()
    assert sorted(p.name for p in (current / "blobs/sha256").iterdir()) == ["c0", "l1", "m1"]


@pytest.mark.parametrize(
    "index",
    ["{not json", "[1, 2]"],
)
def test_an_index_that_cannot_be_followed_keeps_every_blob(root, index):
    build(root, "old layers")
    held = lease([FROM], [TO], root)
    (spec,) = held.cache_to
    version = Path(field(spec, "dest"))
    _blob(version, "extra", b"x")
    (version / "index.json").write_text(index)
    held.commit()
    current = (root / ".orch-cache/api").resolve()
    assert sorted(p.name for p in (current / "blobs/sha256").iterdir()) == ["0123abcd", "extra"]


def test_a_layer_or_a_large_blob_is_never_read_as_a_manifest(root, monkeypatch):
    monkeypatch.setattr(cache, "MANIFEST_LIMIT", 64)
    held = lease([FROM], [TO], root)
    (spec,) = held.cache_to
    version = Path(field(spec, "dest"))
    # Both would name blob "hidden" if they were read as JSON.
    names_hidden = json.dumps({"layers": [{"digest": "sha256:hidden"}]}).encode()
    _blob(version, "layer", names_hidden)
    _blob(version, "big", names_hidden + b" " * 64)
    _blob(version, "hidden", b"h")
    index = {
        "manifests": [
            {"mediaType": LAYER, "digest": "sha256:layer"},
            {"mediaType": "application/vnd.oci.image.manifest.v1+json", "digest": "sha256:big"},
        ]
    }
    (version / "index.json").write_text(json.dumps(index))
    held.commit()
    current = (root / ".orch-cache/api").resolve()
    assert sorted(p.name for p in (current / "blobs/sha256").iterdir()) == ["big", "layer"]


def test_a_swap_link_a_killed_run_left_is_removed_once_it_is_stale(root):
    build(root, "v1")
    parent = root / ".orch-cache"
    stale, fresh = parent / ".api.dead0001.link", parent / ".api.live0002.link"
    for link in (stale, fresh):
        link.symlink_to("api.versions")
    old = time.time() - cache.STALE_LINK_S - 5
    os.utime(stale, (old, old), follow_symlinks=False)
    build(root, "v2")
    assert not stale.is_symlink()
    assert fresh.is_symlink()


def test_a_source_that_is_a_symlink_to_no_directory_is_read_as_written(root):
    (root / ".orch-cache").mkdir()
    (root / ".orch-cache/api").symlink_to("nowhere")
    held = lease([FROM], [], root)
    assert held.cache_from == [f"type=local,src={root / '.orch-cache/api'}"]
    held.release()


def test_a_json_manifest_is_followed_to_its_layers_and_a_broken_one_skipped(root):
    build(root, "old layers")
    held = lease([FROM], [TO], root)
    (spec,) = held.cache_to
    version = Path(field(spec, "dest"))
    manifest = {"layers": [{"mediaType": LAYER, "digest": "sha256:l2"}]}
    _blob(version, "m2", json.dumps(manifest).encode())
    _blob(version, "l2", b"layer")
    _blob(version, "bad", b"{not json")
    _blob(version, "latin", b"\xff\xfe")
    json_type = "application/vnd.oci.image.manifest.v1+json"
    index = {
        "manifests": [
            {"mediaType": json_type, "digest": "sha256:m2"},
            {"mediaType": json_type, "digest": "sha256:bad"},
            {"mediaType": json_type, "digest": "sha256:latin"},
        ]
    }
    (version / "index.json").write_text(json.dumps(index))
    held.commit()
    current = (root / ".orch-cache/api").resolve()
    assert sorted(p.name for p in (current / "blobs/sha256").iterdir()) == [
        "bad",
        "l2",
        "latin",
        "m2",
    ]


def test_a_manifest_of_exactly_the_limit_is_not_read(root, monkeypatch):
    held = lease([FROM], [TO], root)
    (spec,) = held.cache_to
    version = Path(field(spec, "dest"))
    names = json.dumps({"layers": [{"digest": "sha256:hidden"}]}).encode()
    monkeypatch.setattr(cache, "MANIFEST_LIMIT", len(names))
    _blob(version, "edge", names)
    _blob(version, "hidden", b"h")
    (version / "index.json").write_text(json.dumps({"manifests": [{"digest": "sha256:edge"}]}))
    held.commit()
    current = (root / ".orch-cache/api").resolve()
    assert sorted(p.name for p in (current / "blobs/sha256").iterdir()) == ["edge"]


def test_the_cache_path_is_a_relative_link_and_old_links_never_pile_up(root):
    for payload in ("v1", "v2", "v3"):
        version = build(root, payload)
    link = root / ".orch-cache/api"
    assert link.readlink() == Path(f"api.versions/{version.name}")
    kept = sorted(p.name for p in (root / ".orch-cache/api.versions").iterdir())
    assert not [name for name in kept if name.startswith("legacy-")]
    assert [name for name in kept if not name.endswith(".lock")] == [version.name]


def test_abort_after_the_export_vanished_still_cleans_up(root):
    held = lease([FROM], [TO], root)
    (spec,) = held.cache_to
    version = Path(field(spec, "dest"))
    shutil.rmtree(version)
    version.with_name(version.name + ".lock").unlink()
    held.abort()  # neither missing directory nor missing lock is an error
    assert not (root / ".orch-cache/api").exists()


def test_abort_removes_the_export_and_its_lock(root):
    build(root, "v1")
    held = lease([FROM], [TO], root)
    (spec,) = held.cache_to
    version = Path(field(spec, "dest"))
    held.abort()
    assert not version.exists()
    assert not version.with_name(version.name + ".lock").exists()


def test_an_export_without_index_is_removed_with_its_lock_on_commit(root):
    build(root, "v1")
    held = lease([FROM], [TO], root)
    (spec,) = held.cache_to
    version = Path(field(spec, "dest"))
    export(held, "partial", index=False)
    held.commit()
    assert not version.exists()
    assert not version.with_name(version.name + ".lock").exists()
    assert cached_payload(root) == "v1"


def test_a_lone_lock_a_killed_run_left_is_collected_and_a_held_one_kept(root):
    build(root, "v1")
    versions_dir = root / ".orch-cache/api.versions"
    (versions_dir / "20260101T000000-1-dead00.lock").write_text("")
    held = lease([FROM], [TO], root)  # its own lock and version stay: it is building
    (spec,) = held.cache_to
    mine = Path(field(spec, "dest"))
    build(root, "v2")
    assert not (versions_dir / "20260101T000000-1-dead00.lock").exists()
    assert mine.is_dir()
    assert mine.with_name(mine.name + ".lock").exists()
    held.abort()


def test_a_legacy_cache_directory_prefills_nothing_and_stray_entries_are_skipped(root):
    legacy = root / ".orch-cache/api"
    _blob(legacy, "old", b"legacy layer")
    held = lease([FROM], [TO], root)
    (spec,) = held.cache_to
    fresh = Path(field(spec, "dest"))
    assert not (fresh / "blobs").exists()  # only a version orch swapped in is linked from
    held.abort()
    version = build(root, "v1")
    (version / "blobs/README").write_text("not a digest directory")
    (version / "blobs/sha256/link").symlink_to("0123abcd")
    (version / "blobs/other").symlink_to("sha256")
    held = lease([FROM], [TO], root)
    (spec,) = held.cache_to
    fresh = Path(field(spec, "dest"))
    assert sorted(p.name for p in (fresh / "blobs").iterdir()) == ["sha256"]
    assert sorted(p.name for p in (fresh / "blobs/sha256").iterdir()) == ["0123abcd"]
    held.abort()
