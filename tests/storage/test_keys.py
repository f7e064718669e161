"""Object keys: built from a safe alphabet, and `check_key` refuses anything that could escape."""

from __future__ import annotations

import posixpath

import pytest
from hypothesis import example, given
from hypothesis import strategies as st

from tests.storage.test_contract import HOSTILE_KEYS
from worker.storage import UnsafeKey, check_key, object_key, sidecar_key
from worker.storage.keys import batch_segment, slugify

JOB = "kb0123456789abcdef01234567"

# Text that mixes the pieces traversal is made of with anything else.
hostile_text = st.lists(
    st.one_of(
        st.sampled_from(
            ["..", ".", "/", "\\", "%2e", "%2f", "%00", "\x00", "\n", "~", ":", "\u2025", "\uff0e"]
        ),
        st.text(max_size=8),
    ),
    max_size=10,
).map("".join)


def test_plain_names_are_kept() -> None:
    assert object_key("spring-2025", JOB, "mp4") == f"spring-2025/{JOB}.mp4"
    assert (
        object_key("spring-2025", JOB, ".MP4", row_id="hero_1") == f"spring-2025/hero_1--{JOB}.mp4"
    )


def test_names_are_slugified_and_marked_when_changed() -> None:
    key = object_key("Spring Promo/../2025", JOB, "mp4", row_id="../../etc/passwd")
    folder, name = key.split("/")
    assert folder.startswith("Spring-Promo-2025-")
    assert len(folder) == len("Spring-Promo-2025-") + 8
    assert name == f"etc-passwd--{JOB}.mp4"


def test_slugify_examples() -> None:
    assert slugify("Café crème") == "Cafe-creme"
    assert slugify("../../x") == "x"
    assert slugify("%2e%2e%2f") == "2e-2e-2f"
    assert slugify("a--b__c") == "a-b__c"
    assert slugify("...") == ""
    assert len(slugify("x" * 500)) == 64


def test_empty_slugs_still_make_keys() -> None:
    assert object_key("狐", JOB, "mp4", row_id="...") == f"{batch_segment('狐')}/{JOB}.mp4"
    with pytest.raises(UnsafeKey):
        object_key("", JOB, "mp4")


@pytest.mark.parametrize("job", ["", "../kb", "kb/1", "kb 1", "-kb", "k" * 65, "kb\x00"])
def test_odd_job_keys_are_refused(job: str) -> None:
    with pytest.raises(UnsafeKey):
        object_key("b", job, "mp4")


@pytest.mark.parametrize("ext", ["", ".", "mp4/..", "m p4", "../mp4", "x" * 11, "mp4\x00"])
def test_odd_extensions_are_refused(ext: str) -> None:
    with pytest.raises(UnsafeKey):
        object_key("b", JOB, ext)


def test_sidecar_key_replaces_the_extension() -> None:
    assert sidecar_key(f"b/{JOB}.mp4") == f"b/{JOB}.json"
    assert sidecar_key(f"b/{JOB}") == f"b/{JOB}.json"
    assert sidecar_key(f"b/{JOB}.json") == f"b/{JOB}.sidecar.json"
    with pytest.raises(UnsafeKey):
        sidecar_key("../x.mp4")


@pytest.mark.parametrize("key", HOSTILE_KEYS)
def test_check_key_refuses_the_hostile_corpus(key: str) -> None:
    with pytest.raises(UnsafeKey):
        check_key(key)


def assert_stays_under_root(key: str) -> None:
    root = "/srv/videos"
    resolved = posixpath.normpath(posixpath.join(root, key))
    assert resolved.startswith(root + "/")
    assert resolved == f"{root}/{key}"  # nothing in the key was normalised away
    assert not any(ch in key for ch in "\\\x00%")
    assert all(ch.isascii() and ch.isprintable() for ch in key)


@given(batch=hostile_text, row_id=st.none() | hostile_text)
@example(batch="..", row_id="..")
@example(batch="/", row_id="/etc/passwd")
@example(batch="%2e%2e%2f", row_id="..\\..")
def test_object_keys_never_escape(batch: str, row_id: str | None) -> None:
    try:
        key = object_key(batch, JOB, "mp4", row_id=row_id)
    except UnsafeKey:
        assert batch == ""
        return
    assert check_key(key) == key
    assert key.count("/") == 1
    assert key.endswith(f"{JOB}.mp4")
    assert_stays_under_root(key)
    assert_stays_under_root(sidecar_key(key))


@given(key=hostile_text)
@example(key="a/b.mp4")
def test_accepted_keys_stay_under_the_root(key: str) -> None:
    try:
        check_key(key)
    except UnsafeKey:
        return
    assert_stays_under_root(key)


@given(a=hostile_text, b=hostile_text)
@example(a="Spring Promo", b="Spring-Promo")
@example(a="a/b", b="a-b")
def test_different_batches_get_different_folders(a: str, b: str) -> None:
    if a and b and a != b:
        assert batch_segment(a) != batch_segment(b)
