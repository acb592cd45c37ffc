"""The read side's shapes: a response body reads only what its view has, and a query names
only columns its model's table has."""

from __future__ import annotations

import pytest
from pydantic import AliasPath, Field

from api.http.schemas import Out
from projections.models import EventLog, Segments
from projections.queries import views
from projections.queries.common import select_list


def test_a_response_body_that_reads_what_its_view_lacks_is_refused_when_it_is_defined() -> None:
    with pytest.raises(TypeError, match="HolderView has no 'title'"):

        class TitledHolderOut(Out):
            view = views.HolderView
            id: str
            title: str

    with pytest.raises(TypeError, match="HandleAnswer has no 'carrier'"):

        class CarrierOut(Out):
            view = views.HandleAnswer
            office: str = Field(validation_alias=AliasPath("carrier", "office"))


def test_select_lists_come_from_the_models_columns() -> None:
    assert select_list(EventLog.table).split(", ") == list(EventLog.table.columns)
    whole = select_list(Segments.table).split(", ")
    assert "known_to" not in whole and whole[:3] == ["account_id", "valid_from", "valid_to"]
    with pytest.raises(ValueError, match="rm_segments has no column"):
        select_list(Segments.table, "account_id", "version")
