"""The dossier's renderings, from the sample dossier (tests/data/dossier_sample.json): the
@CMRuritania dispute, where the outgoing team's rename (v4) was retracted (v6) and Ben New's
custody from the handover recorded (v7) when the appeals panel upheld the complaint.

PROV "validates" here means what the `prov` package can check, all of it:
  - the PROV-JSON output conforms to the W3C PROV-JSON submission's JSON schema, which `prov`
    ships in `prov/tests/schemas/` (checked with jsonschema-rs, formats included);
  - the document survives PROV-N: written and parsed back under the strict profile (the
    Recommendation's grammar only) it is the same document;
  - `unified()` (PROV-CONSTRAINTS key constraints 22-23 and impossibility constraints 53-55:
    no identifier names two kinds of thing or two conflicting records) merges nothing;
  - `prov` warns about nothing (a local name PROV-N cannot write, say) while building,
    writing or reading it.
"""

from __future__ import annotations

import importlib.resources
import io
import json
import warnings
from collections import Counter
from datetime import UTC, datetime
from html.parser import HTMLParser
from pathlib import Path
from typing import Any
from xml.etree.ElementTree import Element, TreeBuilder

import prov
import pytest
from prov.model import ProvActivity, ProvDelegation, ProvDocument, ProvInvalidation
from prov.serializers.provn import ProvNSerializer

from api.dossier.html import to_html
from api.dossier.pdf import ChromiumMissing, PdfFailed, find_chromium, to_pdf
from api.dossier.prov import prov_json, to_prov

SAMPLE = Path(__file__).parents[1] / "data" / "dossier_sample.json"
# The office story's dossier (tests/dispute_story.py), ids fixed: Ben New's tenure entered from
# 1 February (v3), retracted (v4) and recorded from the handover (v5) by the panel's ruling.
OFFICE_SAMPLE = SAMPLE.with_name("office_dossier_sample.json")
ACCOUNT = "11111111-1111-4111-8111-111111111111"


def sample(path: Path = SAMPLE) -> dict[str, Any]:
    with path.open(encoding="utf-8") as f:
        loaded: dict[str, Any] = json.load(f)
    return loaded


def office_sample() -> dict[str, Any]:
    return sample(OFFICE_SAMPLE)


def minimal() -> dict[str, Any]:
    """A dossier about an office with nothing in it: no account, dispute, proof or events."""
    window = {"from": "2026-01-01T00:00:00Z", "to": "2026-03-01T00:00:00Z"}
    return {
        "format": "custody-dossier/v1",
        "generated_at": "2026-03-05T10:00:00Z",
        "subject": {"office": "ru-chief-minister"},
        "window": window,
        "account": None,
        "dispute": None,
        "answers": [{"known_at": None, "label": "now", "custody": []}],
        "changes": {"window": window, "versions": []},
        "events": [],
        "disputes": [],
        "handles": [],
        "proof": None,
        "dispute_proof": None,
    }


def utc(text: str) -> datetime:
    return datetime.fromisoformat(text).replace(tzinfo=UTC)


def strict(make: Any) -> Any:
    """`make()` with every warning an error (prov warns where a later version refuses)."""
    with warnings.catch_warnings():
        warnings.simplefilter("error")
        return make()


# PROV


def kinds(doc: ProvDocument) -> Counter[str]:
    return Counter(type(r).__name__.removeprefix("Prov") for r in doc.get_records())


def test_the_sample_gives_each_agent_entity_activity_and_relation_once() -> None:
    doc = strict(lambda: to_prov(sample()))
    assert kinds(doc) == {
        # 2 holders, the office, 5 actors (records-office, outgoing-team, appeals-panel,
        # office-of-the-cm, watchdog-ngo)
        "Agent": 8,
        # the account, 10 event results (7 account, 3 dispute), the archive, 6 cited URLs,
        # 2 handles at a time (as known at the complaint; now)
        "Entity": 20,
        # 7 account events, 3 dispute events, the dispute and the other dispute
        "Activity": 12,
        "Generation": 10,  # each event generated its result
        "Specialization": 9,  # 7 account results and 2 handles, of the account
        # 10 recorders, the 2 assigned holders, the 2 complainants
        "Association": 14,
        "Usage": 12,  # 11 citations of evidence and the contested v4
        "Communication": 5,  # the dispute informed by its 3 events; informing 2 corrections
        "Delegation": 3,  # Anna to the window's end (2025), Anna to the handover, Ben after
        "Attribution": 1,  # the account is the office's
        "Derivation": 1,  # the archive, from the account
        "Invalidation": 1,  # v6 retracted v4
    }


def test_a_holder_acts_for_the_office_over_the_interval_as_known_at_each_time() -> None:
    doc = to_prov(sample())
    anna = [
        r
        for r in doc.get_records(ProvDelegation)
        if str(r.identifier).endswith("20260101T000000Z/20260120T120000Z")
    ]
    assert len(anna) == 1
    [delegation] = anna
    assert str(delegation.identifier) == (
        f"custody:delegation/anna-old/ru-chief-minister/{ACCOUNT}/20260101T000000Z/20260120T120000Z"
    )
    assert str(delegation.get_attribute("prov:delegate").pop()) == "custody:holder/anna-old"
    assert (
        str(delegation.get_attribute("prov:responsible").pop())
        == "custody:office/ru-chief-minister"
    )
    assert delegation.get_attribute("custody:validFrom") == {utc("2026-01-01T00:00:00")}
    assert delegation.get_attribute("custody:validTo") == {utc("2026-01-20T12:00:00")}
    # Listed in change 2 and in all three answers ("now" is the dossier's generation time).
    assert delegation.get_attribute("custody:knownAt") == {
        utc("2026-01-20T12:30:00"),
        utc("2026-01-22T09:00:00"),
        utc("2026-02-20T12:00:00"),
        utc("2026-03-05T10:00:00"),
    }


def test_the_retraction_invalidates_the_renames_result_when_it_was_recorded() -> None:
    [invalidation] = to_prov(sample()).get_records(ProvInvalidation)
    assert str(invalidation.get_attribute("prov:entity").pop()) == f"custody:record/{ACCOUNT}/4"
    assert str(invalidation.get_attribute("prov:activity").pop()) == f"custody:event/{ACCOUNT}/6"
    assert invalidation.get_attribute("prov:time") == {utc("2026-02-20T12:00:00")}


def test_a_retraction_known_only_from_the_retracted_event_is_still_an_invalidation() -> None:
    dossier = sample()
    del dossier["events"][5]  # v6, the retraction; v4 still says retracted_by 6
    [invalidation] = to_prov(dossier).get_records(ProvInvalidation)
    assert str(invalidation.get_attribute("prov:entity").pop()) == f"custody:record/{ACCOUNT}/4"
    assert str(invalidation.get_attribute("prov:activity").pop()) == f"custody:event/{ACCOUNT}/6"
    assert invalidation.get_attribute("prov:time") == set()


def test_events_carry_their_times_type_and_recorder() -> None:
    doc = to_prov(sample())
    [rename] = doc.get_record(f"custody:event/{ACCOUNT}/4")
    assert isinstance(rename, ProvActivity)
    assert rename.get_startTime() == rename.get_endTime() == utc("2026-01-20T12:05:00")
    assert {str(t) for t in rename.get_attribute("prov:type")} == {"custody:handle_renamed"}
    assert rename.get_attribute("custody:recordedAt") == {utc("2026-01-20T13:00:00")}
    assert rename.get_attribute("custody:reason") == {
        "Keeping the account for the former minister <script>alert('x')</script>"
    }
    provn = doc.get_provn()
    assert f"wasAssociatedWith(custody:event/{ACCOUNT}/4, custody:actor/outgoing-team, -)" in provn
    assert (
        f"used(custody:dispute/22222222-2222-4222-8222-222222222222, custody:record/{ACCOUNT}/4,"
        " -, [prov:role='custody:contested'])" in provn
    )
    assert (
        f"wasDerivedFrom(custody:archive/{ACCOUNT}/5, custody:account/{ACCOUNT}, "
        f"custody:event/{ACCOUNT}/5, -, -)" in provn
    )


def test_prov_json_reads_back_as_the_same_document_and_is_the_same_each_time() -> None:
    dossier = sample()
    text = strict(lambda: prov_json(dossier))
    assert strict(lambda: prov.read(io.StringIO(text), format="json")) == to_prov(dossier)
    assert prov_json(dossier) == text


def _hostile() -> dict[str, Any]:
    """The sample with ids, names and URLs no identifier or literal would carry as they are."""
    dossier = sample()
    interval = dossier["answers"][2]["custody"][1]
    interval["holder"] = {"id": "ben new/2.", "name": 'Ben "the <b>new</b>" New'}
    dossier["events"][3]["evidence"].append({"url": "javascript:alert(1)", "sha256": None})
    dossier["events"][0]["actor"] = "records office: ümlaut & co."
    return dossier


@pytest.mark.parametrize(
    "make",
    [sample, minimal, _hostile, office_sample],
    ids=["sample", "minimal", "hostile", "office"],
)
def test_prov_validates(make: Any) -> None:
    doc = strict(lambda: to_prov(make()))
    # The PROV-JSON schema, as prov ships it.
    schema_file = importlib.resources.files("prov") / "tests/schemas/prov-json.schema.json"
    if not schema_file.is_file():
        pytest.skip("this version of prov ships no PROV-JSON schema")
    jsonschema_rs = pytest.importorskip("jsonschema_rs")
    schema = json.loads(schema_file.read_text(encoding="utf-8"))
    validator = jsonschema_rs.validator_for(schema, validate_formats=True)
    errors = [str(e) for e in validator.iter_errors(json.loads(strict(lambda: prov_json(make()))))]
    assert errors == []
    # PROV-N, strict grammar, both ways.
    provn = strict(lambda: doc.get_provn(strict=True))
    parsed = strict(lambda: ProvNSerializer().deserialize(io.StringIO(provn), profile="strict"))
    assert parsed == doc
    # Nothing to unify: each identifier names one record of one kind.
    assert strict(doc.unified) == doc


# HTML


class _Tree(HTMLParser):
    """The page as an ElementTree; a mismatched end tag fails (TreeBuilder checks)."""

    VOID = frozenset({"meta", "br", "link", "img", "hr", "input"})

    def __init__(self) -> None:
        super().__init__(convert_charrefs=True)
        self.builder = TreeBuilder()

    def handle_starttag(self, tag: str, attrs: list[tuple[str, str | None]]) -> None:
        self.builder.start(tag, {k: v or "" for k, v in attrs})
        if tag in self.VOID:
            self.builder.end(tag)

    def handle_startendtag(self, tag: str, attrs: list[tuple[str, str | None]]) -> None:
        self.builder.start(tag, {k: v or "" for k, v in attrs})
        self.builder.end(tag)

    def handle_endtag(self, tag: str) -> None:
        self.builder.end(tag)

    def handle_data(self, data: str) -> None:
        self.builder.data(data)


def page(dossier: dict[str, Any]) -> Element:
    tree = _Tree()
    tree.feed(to_html(dossier))
    tree.close()
    return tree.builder.close()


def text(element: Element | None) -> str:
    assert element is not None
    return " ".join(" ".join(element.itertext()).split())


def test_the_page_has_every_section_in_order() -> None:
    root = page(sample())
    assert root.tag == "html" and root.get("lang") == "en"
    assert text(root.find("head/title")) == (
        "Custody dossier: @CMRuritania on x, 2026-01-01 00:00 to 2026-03-01 00:00"
    )
    assert text(root.find("body/header/h1")) == "@CMRuritania on x"
    assert [s.get("id") for s in root.iterfind("body/main/section")] == [
        "timeline",
        "changes",
        "dispute-events",
        "events",
        "other-disputes",
        "evidence",
    ]
    assert [text(h) for h in root.iter("h2")] == [
        "Dispute 22222222-2222-4222-8222-222222222222",
        "Custody in the window, as known then and now",
        "How the record of the window changed",
        "The dispute's events",
        "Every event of the record",
        "Other disputes about the subject",
        "Evidence cited",
    ]
    assert all(th.get("scope") == "col" for th in root.iter("th"))
    footer = text(root.find("body/footer"))
    assert footer == (
        "Generated at 2026-03-05 10:00 (custody-dossier/v1). "
        "Verifiable (the events): checkpoint of 12 entries of custody-ledger.example/log, "
        "7 entries proved. Verifiable (the dispute): checkpoint of 12 entries of "
        "custody-ledger.example/log, 3 entries proved."
    )


def test_the_header_names_the_dispute_its_claim_status_and_ruling() -> None:
    dispute = page(sample()).find("body/header/section")
    assert dispute is not None and dispute.get("class") == "dispute"
    assert text(dispute.find("blockquote")).startswith("The outgoing team renamed")
    facts = dispute.find("dl")
    assert facts is not None
    names, values = [text(d) for d in facts.iter("dt")], [text(d) for d in facts.iter("dd")]
    said = dict(zip(names, values, strict=True))
    assert said["Status"] == "Resolved: upheld"
    assert said["Opened"] == "2026-01-22 09:00 by office-of-the-cm"
    assert said["Contested"] == "v4 handle_renamed"
    assert said["Corrections"] == "v6 event_retracted, v7 holder_assigned"
    assert said["Ruling"].startswith("The rename was not the office's act")


def test_the_picture_has_a_lane_per_answer_and_a_labelled_bar_per_interval() -> None:
    svg = page(sample()).find(".//svg")
    assert svg is not None and svg.get("role") == "img"
    assert text(svg.find("title")).startswith("Custody of @CMRuritania on x from 2026-01-01")
    lanes = svg.findall("g[@class='lane']")
    assert [lane.get("data-label") for lane in lanes] == ["complaint", "change", "now"]
    assert [[text(bar.find("text")) for bar in lane.iterfind("g")] for lane in lanes] == [
        ["Anna Old"],
        ["Anna Old", "Ben New"],
        ["Anna Old", "Ben New"],
    ]
    [anna, ben] = lanes[2].findall("g")
    assert text(anna.find("title")) == (
        "Anna Old: 2026-01-01 00:00 to 2026-01-20 12:00 (v2 holder_assigned)"
    )
    # One time axis: Ben's bar starts where Anna's ends, at the handover.
    anna_rect, ben_rect = anna.find("rect"), ben.find("rect")
    assert anna_rect is not None and ben_rect is not None
    end = float(anna_rect.get("x", "")) + float(anna_rect.get("width", ""))
    assert float(ben_rect.get("x", "")) == pytest.approx(end, abs=0.1)
    ticks = [text(t) for t in svg.iterfind("g[@class='tick']/text")]
    assert ticks == ["2026-01-01", "2026-01-15", "2026-01-29", "2026-02-12", "2026-02-26"]


def test_a_window_of_years_is_marked_in_years() -> None:
    dossier = sample()
    dossier["window"] = {"from": "2017-01-01T00:00:00Z", "to": "2021-01-01T00:00:00Z"}
    svg = page(dossier).find(".//svg")
    assert svg is not None
    ticks = [text(t) for t in svg.iterfind("g[@class='tick']/text")]
    assert ticks == ["2017", "2018", "2019", "2020", "2021"]


def test_the_changes_table_says_what_the_custody_became_and_why() -> None:
    section = page(sample()).find(".//section[@id='changes']")
    assert section is not None
    rows = [[text(td) for td in tr.iterfind("td")] for tr in section.iterfind("table/tbody/tr")]
    assert [row[0] for row in rows] == ["2025-06-01 10:00", "2026-01-20 12:30", "2026-02-20 12:00"]
    assert rows[1][1] == (
        "Anna Old: 2026-01-01 00:00 to 2026-01-20 12:00 (@CMRuritania, ru-chief-minister)"
    )
    assert rows[2][2] == (
        "v6 event_retracted: v4, effective 2026-02-20 12:00, recorded by appeals-panel: "
        "\u201cRuled in the dispute: the rename was not the office's act.\u201d E5 "
        "v7 holder_assigned: Ben New (ben-new), effective 2026-01-20 12:00, recorded by "
        "appeals-panel: \u201cBen New took office at noon on 20 January.\u201d E2 E5"
    )
    [e2] = [a for a in section.iter("a") if text(a) == "E2"][:1]
    assert e2.get("href") == "https://gazette.ruritania.example/2026/01/20/handover"


def test_strings_from_the_dossier_come_out_as_text() -> None:
    html = to_html(sample())
    assert "<script" not in html
    assert "&lt;script&gt;alert(&#x27;x&#x27;)&lt;/script&gt;" in html
    events = page(sample()).find(".//section[@id='events']")
    assert events is not None
    [retracted] = events.iterfind("table/tbody/tr[@class='retracted']")
    assert text(retracted).startswith("v4 handle_renamed: @CMRuritania_2025")
    assert "<script>alert('x')</script> retracted by v6" in text(retracted)


def test_only_web_links_are_links() -> None:
    dossier = _hostile()
    root = page(dossier)
    hrefs = {a.get("href", "") for a in root.iter("a")}
    assert hrefs and all(h.startswith("https://") for h in hrefs)
    assert "javascript:alert(1)" in text(root.find(".//section[@id='evidence']"))
    assert not list(root.iter("script")) and not list(root.iter("link"))
    assert not [e for e in root.iter() if e.get("src")]


def test_the_evidence_list_names_each_url_once_with_who_cited_it() -> None:
    section = page(sample()).find(".//section[@id='evidence']")
    assert section is not None
    items = [text(li) for li in section.iterfind("ol/li")]
    assert [item.split()[1] for item in items] == [
        "https://gazette.ruritania.example/2025/05/30/appointment",
        "https://gazette.ruritania.example/2026/01/20/handover",
        "https://x.example/CMRuritania_2025",
        "https://archives.ruritania.example/cm/2025",
        "https://appeals.ruritania.example/rulings/2026-014",
        "https://archive.example/cmruritania-2026-01-19",
    ]
    assert items[0].startswith(
        "E1 https://gazette.ruritania.example/2025/05/30/appointment sha256 3a5f"
    )
    assert items[0].endswith("cited by v1, v2")
    assert items[1].endswith("cited by v3, v7, dispute v1")


def test_an_empty_dossier_still_makes_a_page() -> None:
    root = page(minimal())
    assert text(root.find("body/header/h1")) == "office ru-chief-minister"
    assert "No dispute" in text(root.find("body/header"))
    assert text(root.find(".//section[@id='evidence']")) == "Evidence cited None cited."
    assert root.find(".//section[@id='dispute-events']") is None
    assert "Not verifiable (the events)" in text(root.find("body/footer"))
    svg = root.find(".//svg")
    assert svg is not None
    assert text(svg.find("g[@class='lane']")).endswith("Nobody held it")


def test_the_page_prints_on_a4_with_no_scripts() -> None:
    html = to_html(sample())
    assert "@page { size:A4;" in html and "@media print {" in html
    assert "<script" not in html and "src=" not in html


# PDF (without a browser: what happens when Chromium is missing or fails)


def _fake(tmp_path: Path, name: str, body: str) -> Path:
    script = tmp_path / name
    script.write_text(f"#!/bin/sh\n{body}\n")
    script.chmod(0o755)
    return script


def test_without_chromium_the_error_says_how_to_install_it(
    tmp_path: Path, monkeypatch: pytest.MonkeyPatch
) -> None:
    monkeypatch.setenv("PATH", str(tmp_path))
    assert find_chromium() is None
    with pytest.raises(ChromiumMissing, match="apt-get install chromium"):
        to_pdf("<p>x</p>", tmp_path / "out.pdf")
    with pytest.raises(ChromiumMissing, match=f"No Chromium at {tmp_path}/nowhere"):
        to_pdf("<p>x</p>", tmp_path / "out.pdf", chromium=str(tmp_path / "nowhere"))
    assert not (tmp_path / "out.pdf").exists()


def test_chromium_is_looked_for_in_the_setting_then_on_the_path(
    tmp_path: Path, monkeypatch: pytest.MonkeyPatch
) -> None:
    monkeypatch.setenv("PATH", str(tmp_path))
    browser = _fake(tmp_path, "chromium-browser", "exit 0")
    assert find_chromium() == str(browser)
    chrome = _fake(tmp_path, "my-chrome", "exit 0")
    assert find_chromium(str(chrome)) == str(chrome)  # the CUSTODY_CHROMIUM setting
    assert find_chromium("my-chrome") == str(chrome)  # a name on PATH


@pytest.mark.parametrize(
    ("body", "says"),
    [
        ("echo 'crashed: no display' >&2; exit 3", "exited with 3: crashed: no display"),
        ("echo 'fine, honestly' >&2; exit 0", "wrote no PDF: fine, honestly"),
        ("sleep 30", "took more than 0.5s"),
    ],
    ids=["exit-code", "no-output", "timeout"],
)
def test_a_failing_chromium_is_an_error_with_its_stderr(
    tmp_path: Path, body: str, says: str
) -> None:
    browser = _fake(tmp_path, "chromium", body)
    with pytest.raises(PdfFailed, match=says):
        to_pdf("<p>x</p>", tmp_path / "out.pdf", chromium=str(browser), timeout=0.5)
    assert not (tmp_path / "out.pdf").exists()
