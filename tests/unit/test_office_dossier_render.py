"""An office's dossier rendered, from the office sample (tests/data/office_dossier_sample.json):
the office story's dispute, where Ben New's tenure entered from 1 February (v3) was retracted
(v4) and recorded from the handover (v5) when the panel upheld the office's complaint. PROV
validation (schema, PROV-N both ways, nothing to unify) runs on it with the account samples in
test_dossier_render."""

from __future__ import annotations

import io

import prov
from prov.model import ProvAgent, ProvDelegation, ProvEntity, ProvInvalidation

from api.dossier.prov import prov_json, to_prov
from tests.unit.test_dossier_render import kinds, office_sample, page, sample, strict, text, utc

OFFICE = "ru-chief-minister"
DISPUTE = "22222222-2222-4222-8222-222222222222"
CM, BEN = "11111111-1111-4111-8111-111111111111", "33333333-3333-4333-8333-333333333333"


def test_the_office_is_the_agent_its_holders_act_for_tenure_by_tenure() -> None:
    doc = strict(lambda: to_prov(office_sample()))
    assert kinds(doc) == {
        # the office, 2 holders, 4 actors (records-office, appeals-panel, cm-office,
        # watchdog-ngo)
        "Agent": 7,
        # 2 accounts that spoke for it, 8 event results (5 office, 3 dispute), 2 cited URLs
        "Entity": 12,
        # 5 office events, 3 dispute events, the dispute and the other dispute
        "Activity": 10,
        "Generation": 8,
        "Association": 13,  # 8 recorders, 3 assigned holders, 2 complainants
        "Communication": 5,  # the dispute informed by its 3 events; informing 2 corrections
        # Anna to 1 Feb, Ben from 1 Feb (as known at the complaint); Anna to the window's end
        # (before the entry); Anna to the handover, Ben from it (after the ruling)
        "Delegation": 5,
        "Usage": 4,  # 3 citations of evidence and the contested v3
        "Attribution": 2,  # the office's account, and Ben New's own
        "Invalidation": 1,  # v4 retracted v3
    }
    [office] = doc.get_record(f"custody:office/{OFFICE}")
    assert isinstance(office, ProvAgent)
    assert office.get_attribute("prov:label") == {"Chief Minister of Ruritania"}
    after = [
        d
        for d in doc.get_records(ProvDelegation)
        if str(d.identifier).endswith("20260115T000000Z/20260120T120000Z")
    ]
    assert [str(d.identifier) for d in after] == [
        f"custody:tenure/anna-old/{OFFICE}/20260115T000000Z/20260120T120000Z"
    ]
    assert str(after[0].get_attribute("prov:responsible").pop()) == f"custody:office/{OFFICE}"
    # Known so from the ruling on, and now (the dossier's generation time).
    assert after[0].get_attribute("custody:knownAt") == {
        utc("2026-02-27T10:00:00"),
        utc("2026-03-05T10:00:00"),
    }


def test_office_events_are_activities_of_their_recorders_and_the_ruling_informs_its_fixes() -> None:
    doc = to_prov(office_sample())
    provn = doc.get_provn()
    assert f"wasAssociatedWith(custody:event/{OFFICE}/3, custody:actor/records-office, -)" in provn
    assert f"wasAssociatedWith(custody:event/{OFFICE}/5, custody:actor/appeals-panel, -)" in provn
    for version in (4, 5):
        assert f"wasInformedBy(custody:event/{OFFICE}/{version}, custody:dispute/{DISPUTE})" in (
            provn
        )
    assert (
        f"used(custody:dispute/{DISPUTE}, custody:record/{OFFICE}/3, -, "
        "[prov:role='custody:contested'])" in provn
    )
    [invalidation] = doc.get_records(ProvInvalidation)
    assert str(invalidation.get_attribute("prov:entity").pop()) == f"custody:record/{OFFICE}/3"
    assert invalidation.get_attribute("prov:time") == {utc("2026-02-27T10:00:00")}
    # The accounts that spoke for the office: the office's own, Ben New's personal one.
    [own] = doc.get_record(f"custody:account/{CM}")
    [personal] = doc.get_record(f"custody:account/{BEN}")
    assert isinstance(own, ProvEntity) and isinstance(personal, ProvEntity)
    assert {str(o) for o in personal.get_attribute("custody:speaksFor")} == {
        f"custody:office/{OFFICE}"
    }
    assert f"wasAttributedTo(custody:account/{CM}, custody:office/{OFFICE})" in provn
    assert f"wasAttributedTo(custody:account/{BEN}, custody:holder/ben-new)" in provn


def test_the_office_prov_json_reads_back_as_the_same_document() -> None:
    text_ = strict(lambda: prov_json(office_sample()))
    assert strict(lambda: prov.read(io.StringIO(text_), format="json")) == to_prov(office_sample())


def test_the_office_page_names_the_office_and_has_its_sections_in_order() -> None:
    root = page(office_sample())
    assert text(root.find("head/title")) == (
        "Custody dossier: Chief Minister of Ruritania (office ru-chief-minister), "
        "2026-01-15 00:00 to 2026-03-01 00:00"
    )
    assert (
        text(root.find("body/header/h1"))
        == "Chief Minister of Ruritania (office ru-chief-minister)"
    )
    facts = root.find("body/header/dl")
    assert facts is not None
    assert dict(zip([text(d) for d in facts.iter("dt")], [text(d) for d in facts.iter("dd")],
                    strict=True)) == {
        "Office": OFFICE, "Name": "Chief Minister of Ruritania", "Jurisdiction": "RU",
        "Window": "2026-01-15 00:00 to 2026-03-01 00:00 (valid time; all times UTC)",
    }  # fmt: skip
    assert [s.get("id") for s in root.iterfind("body/main/section")] == [
        "timeline",
        "changes",
        "accounts",
        "dispute-events",
        "events",
        "other-disputes",
        "evidence",
    ]
    dispute = root.find("body/header/section/dl")
    assert dispute is not None
    said = dict(zip([text(d) for d in dispute.iter("dt")], [text(d) for d in dispute.iter("dd")],
                    strict=True))  # fmt: skip
    assert (said["Status"], said["Contested"], said["Corrections"]) == (
        "Resolved: upheld",
        "v3 holder_assigned",
        "v4 event_retracted, v5 holder_assigned",
    )
    assert text(root.find("body/footer")).endswith("3 entries proved.")


def test_the_tenure_timeline_has_a_lane_per_answer_then_and_now() -> None:
    svg = page(office_sample()).find(".//svg")
    assert svg is not None
    assert text(svg.find("title")).startswith(
        "Tenures of Chief Minister of Ruritania (office ru-chief-minister) from 2026-01-15"
    )
    lanes = svg.findall("g[@class='lane']")
    assert [lane.get("data-label") for lane in lanes] == [
        "complaint", "change", "change", "change", "now",
    ]  # fmt: skip
    tips = [[text(bar.find("title")) for bar in lane.iterfind("g")] for lane in lanes]
    # As known at the complaint, Ben New from 1 February; now, from the handover at noon.
    assert tips[0] == [
        "Anna Old: 2026-01-15 00:00 to 2026-02-01 00:00 (v2 holder_assigned, v3 holder_assigned)",
        "Ben New: 2026-02-01 00:00 to 2026-03-01 00:00 (v3 holder_assigned)",
    ]
    assert tips[-1] == [
        "Anna Old: 2026-01-15 00:00 to 2026-01-20 12:00 (v2 holder_assigned, v5 holder_assigned)",
        "Ben New: 2026-01-20 12:00 to 2026-03-01 00:00 (v5 holder_assigned)",
    ]


def test_the_changes_say_what_the_tenures_became_and_why() -> None:
    section = page(office_sample()).find(".//section[@id='changes']")
    assert section is not None
    assert [text(th) for th in section.iterfind("table/thead/tr/th")] == [
        "Known at", "The tenures became", "Changed by",
    ]  # fmt: skip
    rows = [[text(td) for td in tr.iterfind("td")] for tr in section.iterfind("table/tbody/tr")]
    assert [row[0] for row in rows] == ["2025-06-01 10:00", "2026-01-20 13:00", "2026-02-27 10:00"]
    assert rows[2][1] == (
        "Anna Old: 2026-01-15 00:00 to 2026-01-20 12:00 Ben New: 2026-01-20 12:00 to 2026-03-01 00:00"
    )
    assert rows[2][2].startswith("v3 holder_assigned: Ben New (ben-new), effective 2026-02-01")
    assert (
        "v4 event_retracted: v3, effective 2026-02-01 00:00, recorded by appeals-panel"
        in (rows[2][2])
    )


def test_the_accounts_that_spoke_for_the_office_are_shown_not_proved() -> None:
    section = page(office_sample()).find(".//section[@id='accounts']")
    assert section is not None
    assert text(section.find("p")).startswith("Shown, not proved")
    assert (
        "GET /v1/accounts/ACCOUNT_ID/dossier?from=2026-01-15T00:00:00Z&to=2026-03-01T00:00:00Z"
        in text(section.find("p"))
    )
    rows = [[text(td) for td in tr.iterfind("td")] for tr in section.iterfind("table/tbody/tr")]
    assert rows == [
        ["2026-01-27 09:00", f"{CM} on x", "@CMRuritania", "office",
         "2026-01-15 00:00 to 2026-03-01 00:00"],
        ["2026-01-27 09:00", f"{BEN} on x", "@BenNewRU", "personal (Ben New)",
         "2026-01-20 12:00 to 2026-03-01 00:00"],
        ["now", f"{CM} on x", "@CMRuritania", "office", "2026-01-15 00:00 to 2026-03-01 00:00"],
        ["now", f"{BEN} on x", "@BenNewRU", "personal (Ben New)",
         "2026-01-20 12:00 to 2026-03-01 00:00"],
    ]  # fmt: skip


def test_an_account_dossier_has_no_accounts_section() -> None:
    assert page(sample()).find(".//section[@id='accounts']") is None
