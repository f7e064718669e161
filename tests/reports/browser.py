"""Opening a page in headless Chromium (Debian's package) and reading back the DOM its scripts left.

`--virtual-time-budget` lets the page run for ten virtual seconds; virtual time stands still
while fetches are pending, so media that loads slowly is still waited for, and the DOM is dumped
only once the budget is spent.
"""

from __future__ import annotations

import re
import shutil
import subprocess
from dataclasses import dataclass
from html.parser import HTMLParser
from pathlib import Path

FLAGS = (
    "--headless",
    "--no-sandbox",
    "--disable-gpu",
    "--disable-quic",
    "--no-first-run",
    "--disable-background-networking",
    "--disable-component-update",
    "--disable-sync",
    "--virtual-time-budget=10000",
)


def chromium() -> str:
    exe = shutil.which("chromium")
    if exe is None:
        raise RuntimeError("chromium is not installed: apt-get install chromium (make system-deps)")
    return exe


def dump_dom(page: Path, profile: Path) -> str:
    """The page's DOM after its scripts ran, as Chromium serialises it."""
    proc = subprocess.run(
        [chromium(), *FLAGS, f"--user-data-dir={profile}", "--dump-dom", page.as_uri()],
        capture_output=True,
        text=True,
        timeout=120,
        check=False,
    )
    if proc.returncode != 0 or "<html" not in proc.stdout:
        raise AssertionError(f"chromium exited with {proc.returncode}: {proc.stderr[-2000:]}")
    return proc.stdout


@dataclass
class Element:
    tag: str
    attrs: dict[str, str]


class Dom(HTMLParser):
    """The elements of a dumped DOM, in document order, and the text of its `<title>`."""

    def __init__(self) -> None:
        super().__init__(convert_charrefs=True)
        self.elements: list[Element] = []
        self.title = ""
        self._in_title = False

    def handle_starttag(self, tag: str, attrs: list[tuple[str, str | None]]) -> None:
        self.elements.append(Element(tag, {k: v or "" for k, v in attrs}))
        self._in_title = tag == "title" and not self.title

    def handle_endtag(self, tag: str) -> None:
        self._in_title = False

    def handle_data(self, data: str) -> None:
        if self._in_title:
            self.title += data

    def all(self, tag: str, **attrs: str) -> list[Element]:
        return [
            e
            for e in self.elements
            if e.tag == tag and all(e.attrs.get(k) == v for k, v in attrs.items())
        ]


def parse(html: str) -> Dom:
    dom = Dom()
    dom.feed(html)
    dom.close()
    return dom


def counter(html: str, element_id: str) -> int:
    """The number the page's script wrote into the element with this id."""
    found = re.search(rf'id="{re.escape(element_id)}">(\d+)<', html)
    assert found is not None, f"no #{element_id} in the page"
    return int(found.group(1))
