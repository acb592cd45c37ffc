"""Every read model, in the order the projector writes a batch to them: the per-stream models
first, then the findings, which read what those wrote."""

from __future__ import annotations

from projections.findings import FindingsModel
from projections.models import STREAM_MODELS, ReadModel

MODELS: tuple[ReadModel, ...] = (*STREAM_MODELS, FindingsModel())
BY_NAME: dict[str, ReadModel] = {m.name: m for m in MODELS}
