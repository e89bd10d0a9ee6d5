"""Open a report the way a person does: headless Chromium (Debian ``chromium``), offline.

:func:`check_report` loads the page, lets it run (virtual time), and returns the DOM after the
``load`` event, the console messages Chromium logged, and which report sections rendered.
:func:`screenshot` writes a PNG of the page.
"""

from __future__ import annotations

import re
import shutil
import subprocess
import tempfile
from dataclasses import dataclass
from html.parser import HTMLParser
from pathlib import Path

from tinylarge.errors import TinylargeError

_CONSOLE = re.compile(r":CONSOLE[:(\d)]*\]?\s*(.*)")


def chromium_path() -> str:
    for name in ("chromium", "chromium-browser", "google-chrome"):
        found = shutil.which(name)
        if found:
            return found
    raise TinylargeError("no Chromium on PATH (Debian: apt-get install chromium)")


def _run(args: list[str], timeout_s: float) -> subprocess.CompletedProcess:
    with tempfile.TemporaryDirectory(prefix="tl-chromium-") as profile:
        cmd = [
            chromium_path(), "--headless", "--no-sandbox", "--disable-gpu",
            "--no-first-run", f"--user-data-dir={profile}", "--enable-logging=stderr", "--v=0",
            "--virtual-time-budget=5000", *args,
        ]  # fmt: skip
        return subprocess.run(cmd, capture_output=True, text=True, timeout=timeout_s)


class _Sections(HTMLParser):
    """Section ids with their heading text and how many images / table rows they hold."""

    def __init__(self) -> None:
        super().__init__()
        self.sections: dict[str, dict] = {}
        self.body_attrs: dict[str, str | None] = {}
        self._current: str | None = None
        self._in_h2 = False

    def handle_starttag(self, tag: str, attrs: list) -> None:
        a = dict(attrs)
        if tag == "body":
            self.body_attrs = a
        elif tag == "section" and a.get("id"):
            self._current = a["id"]
            self.sections[self._current] = {"heading": "", "images": 0, "rows": 0, "text": 0}
        elif self._current:
            s = self.sections[self._current]
            s["images"] += tag == "img"
            s["rows"] += tag == "tr"
            self._in_h2 = tag == "h2"

    def handle_endtag(self, tag: str) -> None:
        if tag == "section":
            self._current = None
        if tag == "h2":
            self._in_h2 = False

    def handle_data(self, data: str) -> None:
        if self._current:
            s = self.sections[self._current]
            if self._in_h2:
                s["heading"] += data.strip()
            else:
                s["text"] += len(data.strip())


@dataclass(frozen=True)
class PageCheck:
    """What Chromium saw: the ``data-rendered`` flag the page set once its images decoded, each
    section's contents, and every console message (errors included)."""

    rendered: str | None
    sections: dict[str, dict]
    console: list[str]


def check_report(path: str | Path, timeout_s: float = 90.0) -> PageCheck:
    """Load ``path`` in headless Chromium and report what rendered (see :class:`PageCheck`)."""
    url = Path(path).resolve().as_uri()
    out = _run(["--dump-dom", url], timeout_s)
    if out.returncode != 0:
        raise TinylargeError(f"chromium failed on {url}: {out.stderr.strip()[-500:]}")
    parser = _Sections()
    parser.feed(out.stdout)
    console = [m.group(1) for line in out.stderr.splitlines() if (m := _CONSOLE.search(line))]
    return PageCheck(parser.body_attrs.get("data-rendered"), parser.sections, console)


def screenshot(path: str | Path, png: str | Path, width: int = 1200, height: int = 3000) -> Path:
    """A PNG of the page at ``path`` (full width, ``height`` pixels tall)."""
    png = Path(png).resolve()
    png.parent.mkdir(parents=True, exist_ok=True)
    url = Path(path).resolve().as_uri()
    out = _run([f"--screenshot={png}", f"--window-size={width},{height}", url], 120.0)
    if out.returncode != 0 or not png.is_file():
        raise TinylargeError(f"chromium could not screenshot {url}: {out.stderr.strip()[-500:]}")
    return png
