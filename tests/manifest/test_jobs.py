"""From rows to jobs: keys, collapse of identical rows, takes, mode inference, capabilities."""

from __future__ import annotations

from pathlib import Path

import pytest

from jobs.catalog import Mode
from jobs.spec import JobSpec, job_key
from tests.manifest.files import load, messages, write


def test_key_is_stable_and_matches_the_spec(tmp_path: Path) -> None:
    text = "rows:\n  - {prompt: A fox in the snow, model: kling-v3, duration: 5}\n"
    [job] = load(write(tmp_path, "m.yaml", text)).jobs
    expected = JobSpec(
        mode=Mode.TEXT2VIDEO, model="kling-v3", prompt="A fox in the snow", duration=5
    )
    assert job.spec == expected
    assert job.key == job_key(expected, 1)
    # Pinned: a change here re-renders every existing row of every user's manifest.
    assert job.key == "kbbf951fe9ce836eefd52bb171"


def test_same_row_in_csv_and_yaml_gives_the_same_key(tmp_path: Path) -> None:
    yaml_job = load(
        write(tmp_path, "m.yaml", "rows:\n  - {prompt: 'A fox, running', model: kling-v3}\n")
    ).jobs[0]
    csv_job = load(write(tmp_path, "c.csv", 'prompt,model\n"A fox, running",kling-v3\n')).jobs[0]
    assert yaml_job.key == csv_job.key


def test_tags_ids_and_order_do_not_change_keys(tmp_path: Path) -> None:
    a = load(write(tmp_path, "a.yaml", "rows:\n  - {id: x, prompt: p, model: kling-v3}\n"))
    b = load(write(tmp_path, "b.yaml", "rows:\n  - {model: kling-v3, prompt: p, tags: {t: 1}}\n"))
    assert a.jobs[0].key == b.jobs[0].key


def test_identical_rows_collapse_with_a_warning(tmp_path: Path) -> None:
    text = """\
defaults: {model: kling-v3}
rows:
  - {id: a, prompt: A fox}
  - {id: b, prompt: A boat}
  - {id: c, prompt: A fox, duration: 5}
"""
    manifest = load(write(tmp_path, "m.yaml", text))
    assert [j.row_id for j in manifest.jobs] == ["a", "b"]
    assert manifest.warnings == [
        f"{tmp_path}/m.yaml:5: renders the same as {tmp_path}/m.yaml:3; kept once "
        "(ask for several renders with takes)"
    ]


def test_takes_make_distinct_jobs(tmp_path: Path) -> None:
    text = """\
rows:
  - {prompt: A fox, model: kling-v3, takes: 3}
  - {prompt: A fox, model: kling-v3}
"""
    manifest = load(write(tmp_path, "m.yaml", text))
    assert [j.take for j in manifest.jobs] == [1, 2, 3]
    assert len({j.key for j in manifest.jobs}) == 3
    assert len(manifest.warnings) == 1  # the second row is take 1 again


@pytest.mark.parametrize(
    ("row", "mode"),
    [
        ("{model: kling-image, prompt: p}", Mode.IMAGE),
        (
            "{model: kling-motion-control, video_url: 'https://e.com/m.mp4',"
            " image_url: 'https://e.com/a.png'}",
            Mode.MOTION_CONTROL,
        ),
        ("{model: kling-o3, prompt: p, audio: true}", Mode.OMNI),
        ("{model: kling-o3, prompt: p, voice_description: v, audio: true}", Mode.OMNI),
        ("{model: kling-o3, shots: [{prompt: a, duration: 3}]}", Mode.OMNI),
        ("{model: kling-o3, prompt: p}", Mode.TEXT2VIDEO),
        ("{model: kling-o3, prompt: p, image_url: 'https://e.com/a.png'}", Mode.IMAGE2VIDEO),
        ("{model: kling-v3, prompt: p, audio: true}", Mode.TEXT2VIDEO),
        ("{model: kling-v3, prompt: p, image_url: 'https://e.com/a.png'}", Mode.IMAGE2VIDEO),
        ("{model: kling-v2-1, prompt: p, image_url: 'https://e.com/a.png'}", Mode.IMAGE2VIDEO),
        ("{model: kling-o3, prompt: p, mode: omni}", Mode.OMNI),
    ],
)
def test_mode_inference(tmp_path: Path, row: str, mode: Mode) -> None:
    [job] = load(write(tmp_path, "m.yaml", f"rows:\n  - {row}\n")).jobs
    assert job.spec.mode is mode


def test_defaults_that_do_not_apply_to_images_are_dropped(tmp_path: Path) -> None:
    text = """\
defaults: {duration: 10, audio: true, model: kling-v3}
rows:
  - {prompt: a poster, model: kling-image}
  - {prompt: a clip}
"""
    image, video = load(write(tmp_path, "m.yaml", text)).jobs
    assert (image.spec.duration, image.spec.audio, image.spec.seconds) == (None, False, 0)
    assert (video.spec.duration, video.spec.audio) == (10, True)


def test_video_without_duration_gets_five_seconds(tmp_path: Path) -> None:
    [job] = load(write(tmp_path, "m.yaml", "rows:\n  - {prompt: p, model: kling-v2-6}\n")).jobs
    assert job.spec.duration == 5


def test_multi_shot_duration_is_the_sum_of_its_shots(tmp_path: Path) -> None:
    text = """\
rows:
  - model: kling-o3
    prompt: overall
    shots: [{prompt: a, duration: 3}, {prompt: b, duration: "4"}]
  - model: kling-o3
    duration: 5
    shots: [{prompt: a, duration: 3}, {prompt: b, duration: 4}]
"""
    assert messages(write(tmp_path, "m.yaml", text)) == [
        "m.yaml:5: duration: is 5 but the shots add up to 7"
    ]
    [job] = load(
        write(tmp_path, "ok.yaml", text.split("  - model: kling-o3\n    duration")[0])
    ).jobs
    assert (job.spec.duration, job.spec.seconds, job.spec.prompt) == (7, 7, "overall")


def test_shot_problems_name_the_shot(tmp_path: Path) -> None:
    text = """\
rows:
  - {model: kling-o3, shots: [{prompt: a, duration: 3}, {prompt: b}]}
  - {model: kling-o3, shots: [{prompt: a, duration: 3, camera: pan}]}
  - {model: kling-o3, shots: [{prompt: " ", duration: 3}]}
"""
    assert messages(write(tmp_path, "m.yaml", text)) == [
        "m.yaml:2: shots: shot 2: duration is required",
        "m.yaml:3: shots: shot 1: camera: unknown field",
        "m.yaml:4: shots: shot 1: is empty",
    ]


def test_end_frame_needs_a_start_frame(tmp_path: Path) -> None:
    text = "rows:\n  - {prompt: p, model: kling-v3, end_image_url: 'https://e.com/end.png'}\n"
    assert messages(write(tmp_path, "m.yaml", text)) == [
        "m.yaml:2: end_image_url: needs image_url (the start frame) as well"
    ]


def test_modes_need_their_inputs(tmp_path: Path) -> None:
    text = """\
rows:
  - {prompt: p, model: kling-v3, mode: image2video}
  - {prompt: p, model: kling-v3, mode: text2video, image_url: 'https://e.com/a.png'}
  - {prompt: p, model: kling-v3, video_url: 'https://e.com/a.mp4'}
  - {prompt: p, model: kling-v3, takes: 101}
  - {prompt: p, model: kling-v3, audio: true, voice_description: calm}
  - {model: kling-motion-control, video_url: 'https://e.com/a.mp4'}
"""
    assert messages(write(tmp_path, "m.yaml", text)) == [
        "m.yaml:2: image_url: is required for image2video",
        "m.yaml:3: image_url: is not used by text2video (use image2video)",
        "m.yaml:4: video_url: is only used by motion control",
        "m.yaml:5: takes: is 101; the limit is 100",
        "m.yaml:6: voice_description: is only used in omni mode (kling-o3), not text2video",
        "m.yaml:7: image_url: is required for motion control (the subject to move)",
    ]


def test_overrides(tmp_path: Path) -> None:
    path = write(tmp_path, "m.yaml", "rows:\n  - {prompt: p, duration: 10}\n")
    manifest = load(
        path,
        overrides={"model": "kling-v3", "duration": "5", "rerender": "true", "tag.run": "7"},
    )
    [job] = manifest.jobs
    assert (job.spec.model, job.spec.duration, job.tags, manifest.rerender) == (
        "kling-v3",
        10,
        {"run": "7"},
        True,
    )
    wrong = {"model": "kling-v3", "resolutoin": "720p", "audio": "perhaps"}
    assert messages(path, overrides=wrong) == [
        "--set: resolutoin: unknown field (did you mean 'resolution'?)",
        "--set: audio: must be true or false, not 'perhaps'",
    ]


def test_names_are_case_insensitive_for_choices(tmp_path: Path) -> None:
    text = "rows:\n  - {prompt: p, model: KLING-V3, resolution: 1080P, mode: Text2Video}\n"
    [job] = load(write(tmp_path, "m.yaml", text)).jobs
    assert (job.spec.model, job.spec.resolution, job.spec.mode) == (
        "kling-v3",
        "1080p",
        Mode.TEXT2VIDEO,
    )
