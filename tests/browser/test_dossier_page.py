"""The dossier's printable page in real headless Chromium, and the PDF Chromium prints of it."""

from __future__ import annotations

import json
import re
from pathlib import Path
from typing import Any

import pytest
from axe_playwright_python.sync_playwright import Axe

from api.cli import EXIT_OK
from api.dossier.html import to_html
from api.dossier.pdf import to_pdf
from ledger.settings import Settings
from tests.browser.support import CHROMIUM, SCREENSHOTS
from tests.dispute_story import office_story_in, story_in, tell, tell_office
from tests.support import cli

SAMPLE = Path(__file__).parents[1] / "data" / "dossier_sample.json"
OFFICE_SAMPLE = SAMPLE.with_name("office_dossier_sample.json")


def _page_file(tmp_path: Path, sample: Path = SAMPLE) -> Path:
    with sample.open(encoding="utf-8") as f:
        dossier = json.load(f)
    page = tmp_path / "dossier.html"
    page.write_text(to_html(dossier), encoding="utf-8")
    return page


def _grave(page: Any) -> list[str]:
    """Serious and critical accessibility violations axe finds on the page."""
    results = Axe().run(page)
    return [
        f"{v['id']} ({v['impact']}): {v['help']} at {[n['target'] for n in v['nodes']][:3]}"
        for v in results.response["violations"]
        if v["impact"] in ("serious", "critical")
    ]


def test_the_dossier_page_shows_custody_then_and_now_on_screen_and_in_print(
    browser: Any, tmp_path: Path
) -> None:
    page = browser.new_page(viewport={"width": 1100, "height": 900})
    problems: list[str] = []
    page.on("console", lambda m: problems.append(m.text) if m.type == "error" else None)
    page.on("pageerror", lambda e: problems.append(str(e)))
    page.on("request", lambda r: None if r.url.startswith("file:") else problems.append(r.url))
    page.goto(_page_file(tmp_path).as_uri())
    assert (
        page.title() == "Custody dossier: @CMRuritania on x, 2026-01-01 00:00 to 2026-03-01 00:00"
    )
    for media in ("screen", "print"):
        page.emulate_media(media=media)
        bars = page.locator("svg.timeline g.bar rect")
        assert bars.count() == 5
        boxes = [bars.nth(n).bounding_box() for n in range(5)]
        assert all(b is not None and b["width"] > 50 and b["height"] > 10 for b in boxes), media
        names = page.locator("svg.timeline g.bar text").all_text_contents()
        assert names == ["Anna Old", "Anna Old", "Ben New", "Anna Old", "Ben New"]
        # Lanes stack down the page; within one, Ben's bar follows Anna's along the axis.
        assert boxes[0]["y"] < boxes[1]["y"] < boxes[3]["y"]  # type: ignore[index]
        assert boxes[1]["x"] + boxes[1]["width"] <= boxes[2]["x"] + 1  # type: ignore[index]
    page.emulate_media(media="screen")
    assert page.evaluate("document.documentElement.scrollWidth") <= 1100
    grave = _grave(page)
    assert grave == [], "\n".join(grave)
    assert problems == []
    if SCREENSHOTS:
        page.screenshot(path=str(Path(SCREENSHOTS) / "dossier.png"), full_page=True)
    page.close()


def test_an_office_dossier_shows_its_tenures_then_and_now_and_who_spoke_for_it(
    browser: Any, tmp_path: Path
) -> None:
    page = browser.new_page(viewport={"width": 1100, "height": 900})
    problems: list[str] = []
    page.on("console", lambda m: problems.append(m.text) if m.type == "error" else None)
    page.on("pageerror", lambda e: problems.append(str(e)))
    page.on("request", lambda r: None if r.url.startswith("file:") else problems.append(r.url))
    page.goto(_page_file(tmp_path, OFFICE_SAMPLE).as_uri())
    assert page.title().startswith("Custody dossier: Chief Minister of Ruritania")
    for media in ("screen", "print"):
        page.emulate_media(media=media)
        lanes = page.locator("svg.timeline g.lane")
        assert lanes.count() == 5
        # As known at the complaint, Ben New's bar starts at 1 February; now, at the handover:
        # further left, on the one time axis of every lane.
        ben = page.locator("svg.timeline g.bar[data-holder='ben-new'] rect")
        complaint, now = ben.first.bounding_box(), ben.last.bounding_box()
        assert complaint is not None and now is not None
        assert now["x"] < complaint["x"] - 50, media
        assert now["y"] > complaint["y"]
        rows = page.locator("section#accounts tbody tr")
        assert rows.count() == 4 and rows.first.is_visible()
    page.emulate_media(media="screen")
    assert page.evaluate("document.documentElement.scrollWidth") <= 1100
    grave = _grave(page)
    assert grave == [], "\n".join(grave)
    assert problems == []
    page.close()


def test_chromium_prints_the_dossier_to_a_pdf(tmp_path: Path) -> None:
    out = tmp_path / "printed" / "dossier.pdf"
    with SAMPLE.open(encoding="utf-8") as f:
        to_pdf(to_html(json.load(f)), out, chromium=CHROMIUM, timeout=60)
    pdf = out.read_bytes()
    assert pdf.startswith(b"%PDF-")
    pages = re.findall(rb"/Type\s*/Page\b", pdf)
    counts = [int(n) for n in re.findall(rb"/Type\s*/Pages\b[^>]*?/Count\s+(\d+)", pdf)]
    assert len(pages) >= 1 and counts and counts[0] == len(pages)


def test_custody_dossier_prints_a_recorded_dispute_to_pdf(
    tmp_path: Path, monkeypatch: pytest.MonkeyPatch
) -> None:
    """The command a panel's clerk runs: the story's dispute, from the store to paper."""
    url = f"sqlite:///{tmp_path}/custody.db"
    for c, clock, office_account, look_alike in story_in(Settings(database_url=url)):
        dispute = tell(c, clock, office_account, look_alike)
    monkeypatch.setenv("CUSTODY_CHROMIUM", CHROMIUM)
    pdf, page = tmp_path / "dossier.pdf", tmp_path / "dossier.html"
    code = cli(url, "dossier", str(dispute), "--format", "html", "--out", str(page),
               "--pdf", str(pdf))  # fmt: skip
    assert code == EXIT_OK
    assert pdf.read_bytes().startswith(b"%PDF-")
    html = page.read_text(encoding="utf-8")
    assert "Ben New" in html and "The rename was not the office&#x27;s act" in html


def test_custody_dossier_prints_an_office_dispute_to_pdf(
    tmp_path: Path, monkeypatch: pytest.MonkeyPatch
) -> None:
    """An office's dispute, from the store to paper, as for an account's."""
    url = f"sqlite:///{tmp_path}/custody.db"
    for c, clock, _, _ in office_story_in(Settings(database_url=url)):
        dispute = tell_office(c, clock)
    monkeypatch.setenv("CUSTODY_CHROMIUM", CHROMIUM)
    pdf = tmp_path / "office.pdf"
    assert cli(url, "dossier", str(dispute), "--pdf", str(pdf)) == EXIT_OK
    assert pdf.read_bytes().startswith(b"%PDF-")
    for name in ("prov", "html"):
        out = tmp_path / f"office.{name}"
        assert cli(url, "dossier", str(dispute), "--format", name, "--out", str(out)) == EXIT_OK
        assert "ru-chief-minister" in out.read_text(encoding="utf-8")
