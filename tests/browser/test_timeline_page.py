"""The timeline page in real headless Chromium, against a real server with the demo loaded."""

from __future__ import annotations

from collections.abc import Iterator
from pathlib import Path
from typing import Any

import pytest
from axe_playwright_python.sync_playwright import Axe

from tests.browser.support import SCREENSHOTS, serve_demo

WIDTHS = [1280, 390]  # a desktop and a phone


@pytest.fixture
def public_site(tmp_path: Path) -> Iterator[str]:
    with serve_demo(tmp_path, public=True) as (url, _):
        yield url


def _who(page: Any) -> str:
    page.wait_for_selector("#who")
    return str(page.inner_text("#who"))


def test_the_potus_timeline_shows_each_holder_and_the_date_changes_the_answer(
    browser: Any, public_site: str
) -> None:
    page = browser.new_page(viewport={"width": 1280, "height": 900})
    page.goto(f"{public_site}/?q=@POTUS&platform=x&at=2016-12-14")
    assert _who(page) == "Barack Obama"
    bars = page.locator("#timeline .bar").all_inner_texts()
    assert bars == ["Barack Obama", "National Archives and Records Administration"]
    assert page.locator(".marker.renamed").count() == 1
    assert "@POTUS44" in page.inner_text("#timeline")
    page.locator("#timeline .bar").first.click()
    assert "holder_assigned" in page.inner_text("#details")
    assert "demo:records-office" in page.inner_text("#details")

    page.fill("#at", "2018-06-01")
    page.click("#lookup button")
    page.wait_for_function("document.querySelector('#who').innerText === 'Donald J. Trump'")
    assert page.locator("#timeline .bar").all_inner_texts() == [
        "Donald J. Trump",
        "National Archives and Records Administration",
    ]
    page.fill("#at", "2022-03-01")
    page.click("#lookup button")
    page.wait_for_function("document.querySelector('#who').innerText === 'Joseph R. Biden Jr.'")
    page.close()


def test_the_record_as_known_before_a_correction_differs_from_now(
    browser: Any, public_site: str
) -> None:
    page = browser.new_page()
    page.goto(f"{public_site}/?q=@CMRuritania&platform=x&at=2021-06-05&known=2021-06-20")
    assert _who(page) == "Anna Vale"
    page.fill("#known", "")
    page.click("#lookup button")
    page.wait_for_function("document.querySelector('#who').innerText === 'Boris Kade'")
    assert "retracted by v4" in page.inner_text("#events")
    page.close()


def test_an_unknown_handle_gets_a_clear_message(browser: Any, public_site: str) -> None:
    page = browser.new_page()
    page.goto(f"{public_site}/?q=@NoSuchOffice&platform=x")
    page.wait_for_selector("#message:not([hidden])")
    assert "No account on x carried @NoSuchOffice" in page.inner_text("#message")
    assert page.locator("#answer").is_hidden()
    page.close()


def test_without_public_reads_the_page_asks_for_a_reader_token(
    browser: Any, tmp_path: Path
) -> None:
    with serve_demo(tmp_path, public=False) as (url, container):
        secret = container.access.issue("page-reader", "reader")
        page = browser.new_page()
        page.goto(f"{url}/?q=@POTUS&platform=x&at=2016-12-14")
        page.wait_for_selector("#tokenform:not([hidden])")
        page.fill("#token", secret)
        page.click("#tokenform button")
        assert _who(page) == "Barack Obama"
        assert page.evaluate("sessionStorage.getItem('custody-token')") == secret
        page.close()


def test_the_api_docs_work_without_internet(browser: Any, public_site: str) -> None:
    """Swagger UI and ReDoc come from the app itself: with every other host unreachable, both
    render the ledger's API."""
    page = browser.new_page()
    elsewhere: list[str] = []

    def local_only(route: Any) -> None:
        url = route.request.url
        if url.startswith(public_site):
            route.continue_()
        else:
            elsewhere.append(url)
            route.abort()

    page.route("**/*", local_only)
    page.goto(f"{public_site}/docs")
    page.wait_for_selector(".swagger-ui .info .title", timeout=15_000)
    assert "Custody ledger" in page.inner_text(".swagger-ui .info .title")
    page.wait_for_selector('[data-path="/v1/accounts/{account_id}/events"]')
    assert elsewhere == []
    page.goto(f"{public_site}/redoc")
    page.wait_for_selector("h1", timeout=15_000)
    assert "Custody ledger" in page.inner_text("h1")
    # ReDoc's bundle asks for its own logo (a 'powered by' image in the sidebar); offline it is
    # a missing picture, nothing more.
    assert all(url.startswith("https://cdn.redoc.ly/") for url in elsewhere), elsewhere
    page.close()


@pytest.mark.parametrize("width", WIDTHS)
def test_as_known_on_a_day_the_page_shows_nothing_recorded_later(
    browser: Any, public_site: str, width: int
) -> None:
    """A dispute panel reads the record as it stood on 2021-06-20: the handover to Boris Kade
    as then recorded (effective 2021-06-10), not its later retraction and correction, which
    are listed apart, as recorded later; and no marker of a later event on the timeline."""
    page = browser.new_page(viewport={"width": width, "height": 900})
    page.goto(f"{public_site}/?q=@CMRuritania&platform=x&at=2021-06-15&known=2021-06-20")
    assert _who(page) == "Boris Kade"
    log = page.inner_text("#events")
    assert "retract" not in log and "Carla Mendes" not in log
    assert page.locator("#events tbody tr").count() == 3
    assert "2021-06-10" in page.inner_text("#events tbody tr:nth-child(3)")
    assert page.locator("#laterbox").is_visible() and page.locator("#later").is_hidden()
    page.click("#latersummary")  # what changed since: one click away, apart
    assert "5 events recorded later" in page.inner_text("#latersummary")
    assert "retracts v3" in page.inner_text("#later")
    assert page.locator(".marker.retracted").count() == 0
    # A date and a time: the same day, an hour before the handover was recorded.
    page.fill("#known", "2021-06-12T07:00")
    page.click("#lookup button")
    page.wait_for_function("document.querySelector('#who').innerText === 'Anna Vale'")
    assert page.locator("#events tbody tr").count() == 2
    page.close()


@pytest.mark.parametrize("width", WIDTHS)
def test_events_read_as_sentences_with_the_json_one_click_away(
    browser: Any, public_site: str, width: int
) -> None:
    page = browser.new_page(viewport={"width": width, "height": 900})
    page.goto(f"{public_site}/?q=@POTUS44&platform=x")
    _who(page)
    log = page.inner_text("#events")
    assert "Barack Obama takes custody" in log
    assert "renamed to @POTUS44" in log
    assert "archived 352 posts at" in log
    assert page.locator("#events details").first.is_visible()
    assert not page.locator("#events details code").first.is_visible()  # folded away
    page.locator("#events details summary").first.click()
    assert '"platform":"x"' in page.inner_text("#events details code >> nth=0")
    page.close()


def test_an_empty_page_offers_three_questions_that_answer(browser: Any, public_site: str) -> None:
    page = browser.new_page()
    page.goto(public_site)
    links = page.locator("#welcome a")
    assert links.count() == 3
    links.nth(1).click()
    assert _who(page) == "Donald J. Trump"
    assert page.locator("#welcome").is_hidden()
    page.close()


@pytest.mark.parametrize("width", WIDTHS)
def test_a_handle_shows_its_life_across_accounts_and_a_lane_opens_the_account(
    browser: Any, public_site: str, width: int
) -> None:
    page = browser.new_page(viewport={"width": width, "height": 900})
    page.goto(f"{public_site}/?q=@POTUS&platform=x&at=2018-06-01")
    assert _who(page) == "Donald J. Trump"
    lanes = page.locator("#lanes .lane")
    assert lanes.count() == 3  # the Obama-era account, the 2017-2021 one, @PresElectBiden's
    holders = [lanes.nth(n).locator(".bar").all_inner_texts() for n in range(3)]
    assert holders == [["Barack Obama"], ["Donald J. Trump"], ["Joseph R. Biden Jr."]]
    assert "selected" in (lanes.nth(1).get_attribute("class") or "")
    # Where the handle left the Obama-era account, and why: renamed @POTUS44, archived.
    (left,) = lanes.nth(0).locator(".marker.handle-leaves").all()
    why = left.get_attribute("title") or ""
    assert "leaves 2017-01-20 17:00:00Z" in why and "renamed @POTUS44" in why
    assert "archived" in why
    arrived = lanes.nth(2).locator(".marker.handle-arrives").get_attribute("title") or ""
    assert "renamed @POTUS" in arrived  # @PresElectBiden became @POTUS
    # Trump held @POTUS from the inauguration (his account's whole time under the handle).
    assert "since 2017-01-20 17:00:00Z under this handle" in page.inner_text("#answer")
    ticks = page.locator("#laneaxis span").all_inner_texts()
    assert len(ticks) >= 3 and all(t.isdigit() and 2015 < int(t) <= 2026 for t in ticks)  # years
    lanes.nth(0).click()  # the Obama-era account: its own view, as today
    page.wait_for_function("document.querySelector('#q').value.length === 36")
    page.wait_for_selector("#timeline .bar")
    assert "National Archives" in page.inner_text("#timeline")
    page.close()


@pytest.mark.parametrize("width", WIDTHS)
def test_a_handle_not_carried_at_the_time_shows_its_history_in_one_sentence(
    browser: Any, public_site: str, width: int
) -> None:
    page = browser.new_page(viewport={"width": width, "height": 900})
    page.goto(f"{public_site}/?q=@PresElectBiden&platform=x&at=2022-01-01")
    page.wait_for_selector("#message:not([hidden])")
    message = page.inner_text("#message")
    assert message.count(".") <= 2 and "No account carried @PresElectBiden on 2022-01-01" in message
    assert "2021-01-20 17:00:00Z" in message  # until when it was carried
    assert page.locator("#lanes .lane").count() == 1  # its history, a lane to choose
    page.close()


@pytest.mark.parametrize("width", WIDTHS)
def test_the_page_works_by_keyboard(browser: Any, public_site: str, width: int) -> None:
    page = browser.new_page(viewport={"width": width, "height": 900})
    page.goto(f"{public_site}/?q=@POTUS&platform=x&at=2016-12-14")
    _who(page)
    bar = page.locator("#timeline .bar").first
    bar.focus()
    assert page.evaluate("document.activeElement.classList.contains('bar')")
    page.keyboard.press("Enter")
    page.wait_for_selector("#details:not([hidden])")
    assert "Barack Obama" in page.inner_text("#details")
    page.keyboard.press("Tab")  # on to the next bar, then the markers
    page.keyboard.press("Tab")
    assert page.evaluate("document.activeElement.classList.contains('marker')")
    page.keyboard.press(" ")
    page.wait_for_function("document.querySelector('#details h3').innerText.startsWith('v')")
    assert "renamed to @POTUS44" in page.inner_text("#details") or "archived" in page.inner_text(
        "#details"
    )
    page.close()


@pytest.mark.parametrize("width", [390, 360])
def test_on_a_phone_nothing_spills_out_and_names_are_in_the_legend(
    browser: Any, public_site: str, width: int
) -> None:
    page = browser.new_page(viewport={"width": width, "height": 844}, device_scale_factor=2)
    page.goto(f"{public_site}/?q=@POTUS&platform=x&at=2016-12-14")
    _who(page)
    assert page.evaluate("document.documentElement.scrollWidth") <= width
    legend = page.inner_text("#legend")
    assert "National Archives and Records Administration" in legend and "@POTUS44" in legend
    if SCREENSHOTS and width == 390:
        page.screenshot(path=str(Path(SCREENSHOTS) / "phone.png"), full_page=True)
    page.close()


@pytest.mark.parametrize(
    "view",
    [
        "",
        "?q=@POTUS&platform=x&at=2018-06-01",
        "?q=@CMRuritania&platform=x&at=2021-06-15&known=2021-06-20",
    ],
)
def test_no_serious_or_critical_accessibility_violation(
    browser: Any, public_site: str, view: str
) -> None:
    page = browser.new_page(viewport={"width": 1280, "height": 900})
    page.goto(f"{public_site}/{view}")
    page.wait_for_selector("#welcome:not([hidden]), #who")
    results = Axe().run(page)
    grave = [
        f"{v['id']} ({v['impact']}): {v['help']} at {[n['target'] for n in v['nodes']][:3]}"
        for v in results.response["violations"]
        if v["impact"] in ("serious", "critical")
    ]
    assert grave == [], "\n".join(grave)
    if SCREENSHOTS and "POTUS" in view:
        page.screenshot(path=str(Path(SCREENSHOTS) / "handle.png"), full_page=True)
    page.close()
