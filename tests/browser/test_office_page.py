"""The office view of the page in real headless Chromium, against a real server with the demo:
DG ISPR's holders, the accounts that spoke for the office, what left at each handover."""

from __future__ import annotations

import re
from collections.abc import Iterator
from datetime import UTC, datetime
from pathlib import Path
from typing import Any

import pytest
from axe_playwright_python.sync_playwright import Axe

from tests.browser.support import SCREENSHOTS, serve_demo

# The page's "now", where open tenures end: fixed, so that the picture is the same every run.
NOW = datetime(2025, 1, 1, tzinfo=UTC)
DG_ISPR = "Director General, Inter-Services Public Relations"


@pytest.fixture
def site(tmp_path: Path) -> Iterator[str]:
    with serve_demo(tmp_path, public=True) as (url, _):
        yield url


def _page(browser: Any, width: int = 1200) -> Any:
    page = browser.new_page(viewport={"width": width, "height": 900})
    page.clock.set_fixed_time(NOW)
    return page


def _office(page: Any) -> str:
    page.wait_for_selector("#officename")
    page.wait_for_selector("#findingscard:not([hidden])")
    return str(page.inner_text("#officename"))


def _ownership(page: Any) -> dict[str, set[str]]:
    """Each account lane's handle with the ownerships its bars are drawn in."""
    lanes = page.locator("#olanes .olane.account")
    return {
        lanes.nth(n).get_attribute("data-handle"): {
            b.get_attribute("data-ownership") for b in lanes.nth(n).locator(".bar").all()
        }
        for n in range(lanes.count())
    }


def _lane(page: Any, handle: str) -> Any:
    return page.locator(f'#olanes .olane.account[data-handle="{handle}"]')


@pytest.mark.parametrize("width", [1200, 390])
def test_searching_pk_dg_ispr_shows_its_holders_its_accounts_and_the_audience_that_left_in_2016(
    browser: Any, site: str, width: int
) -> None:
    page = _page(browser, width)
    page.goto(site)
    page.fill("#q", "pk-dg-ispr")
    page.click("#lookup button")
    assert _office(page) == DG_ISPR
    assert "held by Babar Iftikhar now" in page.inner_text("#answer")
    holders = page.locator("#olanes .olane.holders .bar").all_inner_texts()
    assert holders == ["Asim Saleem Bajwa", "Asif Ghafoor", "Babar Iftikhar"]
    # Bajwa's own account is drawn as personal; the two office accounts as the office's.
    assert _ownership(page) == {
        "ISPR_Official": {"office"},
        "AsimBajwaISPR": {"personal"},
        "OfficialDGISPR": {"office"},
    }
    assert "personal · Asim Saleem Bajwa" in _lane(page, "AsimBajwaISPR").inner_text()
    assert "office-owned" in _lane(page, "ISPR_Official").inner_text()
    legend = page.inner_text("#olegend")
    assert "office-owned account" in legend and "personal account" in legend
    # The audience, observed after the handover: a marker labelled 3.05M in Bajwa's lane.
    seen = [m.get_attribute("title") for m in _lane(page, "AsimBajwaISPR").locator(".obs").all()]
    assert len(seen) == 2
    assert seen[0].startswith("3,050,000 followers of @AsimBajwaISPR observed 2016-12-26")
    if width > 640:  # on a phone the labels give way to the titles and the tables
        assert "3.05M" in _lane(page, "AsimBajwaISPR").inner_text()
        assert "30.9K" in _lane(page, "OfficialDGISPR").inner_text()
    # The 2016 handover: 3,050,000 departed with @AsimBajwaISPR, @ISPR_Official stayed.
    first = page.locator('#olanes .marker.handover[title^="Handover on 2016-12-25"]')
    assert "departed 3.05M" in (first.get_attribute("title") or "")
    in2016 = page.locator('#handovers tr[data-at="2016-12-25T00:00:00Z"]')
    assert "3,050,000 followers: @AsimBajwaISPR" in in2016.locator("td.departed").inner_text()
    assert "@ISPR_Official" in in2016.locator("td.retained").inner_text()
    in2020 = page.locator('#handovers tr[data-at="2020-02-01T00:00:00Z"]')
    assert in2020.locator("td.departed").inner_text() == "none"
    rows = page.locator("#findings tbody tr")
    kinds = [rows.nth(n).locator("td").first.inner_text().split("\n")[0] for n in range(2)]
    assert kinds == ["personal-account-in-official-use", "audience-departed"]
    departed = page.locator("#findings tbody tr.ineffect")  # in effect now: only this one
    assert departed.count() == 1 and "3,050,000" in departed.inner_text()
    assert "@AsimBajwaISPR" in departed.inner_text()
    assert page.evaluate("document.documentElement.scrollWidth") <= width
    if SCREENSHOTS and width == 1200:
        bottom = page.evaluate(
            "(() => { const r = document.querySelector('#findingscard').getBoundingClientRect();"
            " return r.bottom + window.scrollY + 16; })()"
        )
        clip = {"x": 0, "y": 0, "width": width, "height": bottom}
        page.screenshot(path=str(Path(SCREENSHOTS) / "office.png"), clip=clip, full_page=True)
    page.close()


def test_as_known_on_the_handover_day_the_departed_audience_was_not_yet_observed(
    browser: Any, site: str
) -> None:
    """The record as it stood on the evening of 2016-12-25: Ghafoor has taken over, nobody
    has yet counted what left with @AsimBajwaISPR (counted the next day), and Iftikhar is
    years away. On 2014-01-01 Bajwa's own account spoke for the office, beside its own."""
    page = _page(browser)
    page.goto(f"{site}/?q=pk-dg-ispr&at=2014-01-01&known=2016-12-25")
    _office(page)
    assert "held by Asim Saleem Bajwa on 2014-01-01" in page.inner_text("#answer")
    speaking = page.locator("#oaccounts tbody tr").all_inner_texts()
    assert [row.split()[0] for row in speaking] == ["@ISPR_Official", "@AsimBajwaISPR"]
    holders = page.locator("#olanes .olane.holders .bar").all_inner_texts()
    assert holders == ["Asim Saleem Bajwa", "Asif Ghafoor"]
    assert _lane(page, "AsimBajwaISPR").locator(".obs").count() == 0
    departed = page.locator('#handovers tr[data-at="2016-12-25T00:00:00Z"] td.departed')
    assert departed.inner_text().startswith("no audience observed: @AsimBajwaISPR")
    in_effect = page.locator("#findings tbody tr.ineffect")
    assert in_effect.count() == 1 and "personal-account-in-official-use" in in_effect.inner_text()
    assert "not observed" in page.locator("#findings tbody tr").nth(1).inner_text()
    page.close()


def test_an_account_view_links_to_its_office_and_back(browser: Any, site: str) -> None:
    page = _page(browser)
    page.goto(f"{site}/?q=@CMShehbaz&platform=x")
    page.wait_for_selector("#who")
    assert "personal account of Shahbaz Sharif, speaking for office" in page.inner_text("#answer")
    page.click("#answer a.office")
    assert _office(page) == "Prime Minister of Pakistan"
    assert page.input_value("#q") == "office:pk-prime-minister"
    assert _ownership(page) == {"CMShehbaz": {"personal"}}
    kinds = page.locator("#findings tbody tr td:first-child code").all_inner_texts()
    assert kinds == ["no-office-account", "personal-account-in-official-use"]
    # From the office's account lane to the account, whose old office is a link too.
    _lane(page, "CMShehbaz").locator("a").click()
    page.wait_for_selector("#who")
    page.goto(f"{site}/?q=@AsimBajwaISPR&platform=x")
    page.wait_for_selector("#who")
    assert "speaking for no office now (spoke for pk-dg-ispr)" in page.inner_text("#answer")
    page.click("#answer a.office")
    assert _office(page) == DG_ISPR
    page.close()


def test_an_audience_marker_opens_its_observation_by_keyboard(browser: Any, site: str) -> None:
    page = _page(browser)
    page.goto(f"{site}/?q=pk-dg-ispr")
    _office(page)
    _lane(page, "AsimBajwaISPR").locator(".obs").first.focus()
    page.keyboard.press("Enter")
    page.wait_for_selector("#details:not([hidden])")
    details = page.inner_text("#details")
    assert "3,050,000 followers observed" in details and "a lower bound" in details
    page.close()


def test_an_unknown_office_shows_the_not_found_message(browser: Any, site: str) -> None:
    page = _page(browser)
    page.goto(f"{site}/?q=pk-no-such-office")
    page.wait_for_selector("#message:not([hidden])")
    message = page.inner_text("#message")
    assert message == "Office not found: office 'pk-no-such-office' is not registered."
    assert page.locator("#answer").is_hidden() and page.locator("#officecard").is_hidden()
    page.fill("#q", "office:Not A Key")
    page.click("#lookup button")
    page.wait_for_function(
        "document.querySelector('#message').innerText.includes('not an office key')"
    )
    page.close()


def test_an_office_only_accounts_name_shows_them_and_no_tenures(browser: Any, site: str) -> None:
    page = _page(browser)
    page.goto(f"{site}/?q=office:ruritania-chief-minister")
    assert _office(page) == "ruritania-chief-minister"
    assert "not registered: accounts name it" in page.inner_text("#answer")
    assert "@CMRuritania" in page.inner_text("#oaccounts")
    assert "its tenures are unknown" in page.inner_text("#officecaption")
    assert page.locator("#olanes").is_hidden()
    assert "No change of holder" in page.inner_text("#handovers")
    assert "No findings" in page.inner_text("#findings")
    page.close()


def _tainted(value: Any, hostile: str) -> Any:
    """The answer with every name and detail replaced by `hostile`."""
    if isinstance(value, dict):
        return {
            k: hostile if k in ("name", "detail") else _tainted(v, hostile)
            for k, v in value.items()
        }
    if isinstance(value, list):
        return [_tainted(v, hostile) for v in value]
    return value


def test_names_and_details_are_shown_as_text_never_run(browser: Any, site: str) -> None:
    """Names and details come from whoever records them: the page shows them, never runs them."""
    page = _page(browser)
    hostile = '<img src=x onerror="window.pwned=1">'

    def answer(route: Any) -> None:
        response = route.fetch()
        route.fulfill(response=response, json=_tainted(response.json(), hostile))

    page.route(re.compile(r"/v1/(offices|findings)"), answer)
    page.goto(f"{site}/?q=pk-dg-ispr")
    assert _office(page) == hostile
    assert page.locator("#olanes .olane.holders .bar").all_inner_texts() == [hostile] * 3
    assert hostile in page.inner_text("#findings") and hostile in page.inner_text("#handovers")
    assert page.locator("main img").count() == 0
    assert page.evaluate("window.pwned") is None
    page.close()


@pytest.mark.parametrize("view", ["?q=pk-dg-ispr", "?q=pk-pb-chief-minister&at=2016-12-14"])
def test_no_serious_or_critical_accessibility_violation(browser: Any, site: str, view: str) -> None:
    page = _page(browser)
    page.goto(f"{site}/{view}")
    _office(page)
    results = Axe().run(page)
    grave = [
        f"{v['id']} ({v['impact']}): {v['help']} at {[n['target'] for n in v['nodes']][:3]}"
        for v in results.response["violations"]
        if v["impact"] in ("serious", "critical")
    ]
    assert grave == [], "\n".join(grave)
    page.close()
