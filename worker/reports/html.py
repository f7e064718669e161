"""The HTML batch report: one self-contained file with counts, a credits chart and a gallery.

Nothing is fetched but the stored files themselves (local paths or presigned URLs): styles,
script and chart are inline. Every value from the ledger (prompts, tags, errors, names) is
escaped, and a Content-Security-Policy lets only the page's own nonce-marked style and script
run, so a prompt holding `<script>` is shown as text and could not run even if it slipped
through. The page's script counts the videos whose first frame loaded and the images that
decoded, and writes both counts into the page (`#videos-loaded`, `#images-loaded`).
"""

from __future__ import annotations

import secrets
from collections.abc import Mapping, Sequence
from functools import cache
from html import escape
from importlib import resources
from string import Template

from worker.reports.cells import credits_text, number_text, usd_text
from worker.reports.chart import Bar, credits_chart
from worker.reports.gather import BatchReport, GroupTotal
from worker.reports.rows import JobRow

DEFAULT_GALLERY_LIMIT = 200


@cache
def _template() -> Template:
    text = resources.files("worker.reports").joinpath("templates/report.html").read_text("utf-8")
    return Template(text)


def _e(value: object) -> str:
    return escape("" if value is None else str(value), quote=True)


def _card(label: str, value: str) -> str:
    return f'<div class="card">{_e(label)}<b>{_e(value)}</b></div>'


def _cards(report: BatchReport) -> str:
    totals = report.totals
    cards = [_card("jobs", str(totals.jobs))]
    cards += [_card(state.value, str(n)) for state, n in report.counts.items() if n]
    cards += [
        _card("credits charged", credits_text(totals.charged_credits)),
        _card("USD charged", usd_text(report.charged_usd)),
        _card("credits estimated", credits_text(totals.estimated_credits)),
        _card("USD estimated", usd_text(report.estimated_usd)),
    ]
    return "\n".join(cards)


def _groups_table(title: str, groups: Sequence[GroupTotal]) -> str:
    head = "".join(
        f'<th class="num">{h}</th>' for h in ("jobs", "seconds", "estimated", "charged", "USD")
    )
    rows = [
        f"<tr><td>{_e(g.group)}</td><td class='num'>{g.jobs}</td>"
        f"<td class='num'>{g.seconds}</td>"
        f"<td class='num'>{_e(credits_text(g.estimated_credits))}</td>"
        f"<td class='num'>{_e(credits_text(g.charged_credits))}</td>"
        f"<td class='num'>{_e(usd_text(g.charged_usd))}</td></tr>"
        for g in groups
    ]
    return (
        f'<table class="groups"><thead><tr><th>{_e(title)}</th>{head}</tr></thead>'
        f"<tbody>{''.join(rows)}</tbody></table>"
    )


def _tags(tags: Mapping[str, object]) -> str:
    if not tags:
        return ""
    chips = "".join(f"<span>{_e(k)}: {_e(v)}</span>" for k, v in sorted(tags.items()))
    return f'<div class="tags">{chips}</div>'


def _figure(row: JobRow, url: str | None) -> str:
    label = _e(row.label)
    if url is None:
        media = '<p class="muted">no link: the file is not in the configured storage</p>'
    elif row.media == "video":
        media = (
            f'<video data-job="{_e(row.key)}" src="{_e(url)}" controls muted playsinline '
            f'preload="metadata"></video>'
        )
    else:
        media = f'<img data-job="{_e(row.key)}" src="{_e(url)}" alt="{_e(row.prompt)}">'
    facts = f"{row.model} · {row.resolution}" + (
        f" · {row.seconds}s" if row.media == "video" else " · image"
    )
    cost = f"{credits_text(row.charged_credits)} credits ({usd_text(row.charged_usd)})"
    link = f' · <a href="{_e(url)}">open</a>' if url is not None else ""
    return (
        f'<figure id="job-{_e(row.key)}">{media}<figcaption>'
        f'<b>{label}</b> <span class="status muted">{_e(facts)}</span>'
        f'<p class="prompt">{_e(row.prompt)}</p>'
        f'<div class="muted">{_e(cost)}{link}</div>{_tags(row.tags)}'
        f"</figcaption></figure>"
    )


def gallery_rows(rows: Sequence[JobRow], limit: int | None) -> list[JobRow]:
    """The jobs the gallery shows: those with a stored file, the first `limit` of them."""
    stored = [r for r in rows if r.object_url is not None]
    return stored if limit is None else stored[:limit]


def _gallery(
    rows: Sequence[JobRow], urls: Mapping[str, str], limit: int | None
) -> tuple[str, str, int, int]:
    """The figures, a note on what was left out, and how many videos and images are shown."""
    shown = gallery_rows(rows, limit)
    stored = sum(1 for r in rows if r.object_url is not None)
    figures = [_figure(r, urls.get(r.key)) for r in shown]
    videos = sum(1 for r in shown if r.media == "video" and r.key in urls)
    images = sum(1 for r in shown if r.media == "image" and r.key in urls)
    if not stored:
        note = '<p class="note">No job of this batch has a stored file yet.</p>'
    elif len(shown) < stored:
        note = (
            f'<p class="note">Showing the first {len(shown)} of {stored} stored files '
            "(see --gallery-limit); every job is listed below.</p>"
        )
    else:
        note = ""
    return "\n".join(figures), note, videos, images


def _jobs_table(rows: Sequence[JobRow]) -> str:
    head = (
        "<tr><th>job</th><th>key</th><th>state</th><th>model</th><th>resolution</th>"
        "<th class='num'>seconds</th><th class='num'>estimated</th><th class='num'>charged</th>"
        "<th class='num'>USD</th><th>provider id</th><th>error or location</th></tr>"
    )
    body = [
        f"<tr><td>{_e(r.label)}</td><td><code>{_e(r.key)}</code></td>"
        f'<td class="state-{_e(r.state.value)}">{_e(r.state.value)}</td>'
        f"<td>{_e(r.model)}</td><td>{_e(r.resolution)}</td><td class='num'>{r.seconds}</td>"
        f"<td class='num'>{_e(credits_text(r.estimated_credits))}</td>"
        f"<td class='num'>{_e(credits_text(r.charged_credits))}</td>"
        f"<td class='num'>{_e(usd_text(r.charged_usd))}</td>"
        f"<td><code>{_e(r.provider_task_id)}</code></td>"
        f'<td class="wrap">{_e(r.error or r.object_url)}</td></tr>'
        for r in rows
    ]
    return f"<table><thead>{head}</thead><tbody>{''.join(body)}</tbody></table>"


def _chart(report: BatchReport) -> str:
    bars = [Bar(g.group, g.estimated_credits, g.charged_credits) for g in report.by_model]
    return credits_chart("Credits by model", bars)


def render_html(
    report: BatchReport,
    urls: Mapping[str, str],
    *,
    notes: Sequence[str] = (),
    gallery_limit: int | None = DEFAULT_GALLERY_LIMIT,
) -> str:
    """The report page; `urls` maps job keys to playable URLs (see `worker.reports.links`).

    Only the jobs of `gallery_rows(report.jobs, gallery_limit)` need a URL.
    """
    batch = report.batch
    gallery, gallery_note, videos, images = _gallery(report.jobs, urls, gallery_limit)
    meta = (
        f"batch id {batch.id} · {batch.state.value} · created {batch.created_at:%Y-%m-%d %H:%M} "
        f"UTC · report generated {report.generated_at:%Y-%m-%d %H:%M:%S} UTC · "
        f"1 credit = ${number_text(report.credit_usd)}"
    )
    if batch.manifest:
        meta += f" · manifest {batch.manifest}"
    return _template().substitute(
        nonce=secrets.token_urlsafe(16),
        title=_e(f"kbatch report: {batch.name}"),
        meta=_e(meta),
        cards=_cards(report),
        video_total=videos,
        image_total=images,
        chart=_chart(report),
        groups=_groups_table("model", report.by_model)
        + _groups_table("resolution", report.by_resolution),
        gallery=gallery,
        gallery_note=gallery_note,
        jobs=_jobs_table(report.jobs),
        notes="\n".join(f'<p class="note">{_e(n)}</p>' for n in notes),
    )
