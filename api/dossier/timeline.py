"""The dossier page's picture: custody in the window (an office's: its tenures) as an SVG
timeline, one lane per record time (as known at the complaint, after each change, now), one bar
per holder's interval."""

from __future__ import annotations

from collections.abc import Callable, Mapping
from datetime import UTC, datetime, timedelta
from typing import Any

from api.dossier import when
from api.dossier.text import (
    esc,
    intervals_of,
    moment,
    office_of,
    section,
    subject_text,
    window_text,
)

LANES = {
    "complaint": "As known at the complaint",
    "change": "As known after the change",
    "now": "As known now",
}
# Bar colours, one per holder in order of appearance; each carries white text at AA contrast.
PALETTE = ("#2857b8", "#1b6e48", "#a3461a", "#6a3fb0", "#7a5a00", "#0f6470", "#a12b5e", "#4b5563")
WIDTH, LEFT, RIGHT, LANE, BAR, TOP = 800, 170, 770, 46, 24, 8  # the timeline's geometry


def timeline(dossier: Mapping[str, Any]) -> str:
    answers = [a for a in dossier.get("answers") or [] if isinstance(a, Mapping)]
    window = dossier.get("window") or {}
    start, end = (
        when(window.get("from")),
        when(window.get("to")) or when(dossier.get("generated_at")),
    )
    what = "Custody" if office_of(dossier) is None else "Who held the office"
    if not answers or start is None or end is None or end <= start:
        return section("timeline", f"{what} in the window", '<p class="muted">No picture.</p>')
    colours: dict[Any, str] = {}
    for answer in answers:
        for interval in intervals_of(answer):
            key = (interval.get("holder") or {}).get("id")
            colours.setdefault(key, PALETTE[len(colours) % len(PALETTE)])

    def x(moment: datetime | None, missing: str) -> float:
        """Where a moment falls on the axis, clipped to the window; None: its `missing` end."""
        moment = min(max(moment or (start if missing == "start" else end), start), end)
        return LEFT + (RIGHT - LEFT) * ((moment - start) / (end - start))

    lanes = []
    for n, answer in enumerate(answers):
        top = TOP + n * LANE
        label = LANES.get(str(answer.get("label")), str(answer.get("label") or "As known")[:28])
        known = moment(answer.get("known_at"), moment(dossier.get("generated_at"), "now"))
        bars = [_bar(iv, top, x, colours) for iv in intervals_of(answer)]
        if not bars:
            bars.append(f'<text class="none" x="{LEFT + 6}" y="{top + 30}">Nobody held it</text>')
        lanes.append(
            f'<g class="lane" data-label="{esc(answer.get("label"))}">'
            f'<line class="rule" x1="0" x2="{WIDTH}" y1="{top + LANE}" y2="{top + LANE}"/>'
            f'<text x="0" y="{top + 22}">{esc(label)}</text>'
            f'<text class="sub" x="0" y="{top + 37}">{esc(known)}</text>{"".join(bars)}</g>'
        )
    axis = TOP + len(answers) * LANE + 4
    ticks = "".join(
        f'<g class="tick"><line x1="{x(t, "start"):.1f}" x2="{x(t, "start"):.1f}" y1="{axis}" '
        f'y2="{axis + 5}"/><text x="{x(t, "start"):.1f}" y="{axis + 18}" text-anchor="middle">'
        f"{esc(text)}</text></g>"
        for t, text in _ticks(start, end)
    )
    caption = (
        f"{'Custody' if office_of(dossier) is None else 'Tenures'} of {subject_text(dossier)} "
        f"from {window_text(window)} (valid time, across), as the record stood at "
        f"{len(answers)} record times (down)"
    )
    svg = (
        f'<svg class="timeline" viewBox="0 0 {WIDTH} {axis + 26}" role="img" '
        'aria-labelledby="timeline-title" xmlns="http://www.w3.org/2000/svg">'
        f'<title id="timeline-title">{esc(caption)}</title>{"".join(lanes)}'
        f'<line class="rule" x1="{LEFT}" x2="{RIGHT}" y1="{axis}" y2="{axis}"/>{ticks}</svg>'
    )
    figure = f"<figure>{svg}<figcaption>{esc(caption)}.</figcaption></figure>"
    return section("timeline", f"{what} in the window, as known then and now", figure)


def _bar(
    interval: Mapping[str, Any],
    top: int,
    x: Callable[[datetime | None, str], float],
    colours: Mapping[Any, str],
) -> str:
    """One holder's interval: a labelled bar (the name cut to fit), in full in its <title>."""
    holder = interval.get("holder") or {}
    name = str(holder.get("name") or holder.get("id") or "unknown")
    x0 = x(when(interval.get("from")), "start")
    width = max(x(when(interval.get("to")), "end") - x0, 2.0)
    fits = int((width - 10) / 6.6)  # characters of 12px text
    shown = name if len(name) <= fits else name[: fits - 1] + "\u2026" if fits > 2 else ""
    how = ", ".join(
        f"v{b.get('version')} {b.get('type')}" for b in interval.get("established_by") or []
    )
    tip = f"{name}: {moment(interval.get('from'))} to {moment(interval.get('to'))}"
    return (
        f'<g class="bar" data-holder="{esc(holder.get("id"))}">'
        f"<title>{esc(tip)}{esc(f' ({how})' if how else '')}</title>"
        f'<rect x="{x0:.1f}" y="{top + 14}" width="{width:.1f}" height="{BAR}" rx="4" '
        f'fill="{colours[holder.get("id")]}"/>'
        f'<text x="{x0 + 5:.1f}" y="{top + 30}">{esc(shown)}</text></g>'
    )


def _ticks(start: datetime, end: datetime) -> list[tuple[datetime, str]]:
    """At most 8 round times in [start, end], with labels as fine as the step needs."""
    hours = (end - start).total_seconds() / 3600
    for step in (1, 2, 3, 6, 12, 24, 48, 168, 336):
        if hours / step < 8:
            first = start.replace(minute=0, second=0, microsecond=0)
            if step >= 24:
                first = first.replace(hour=0)
            while first < start:
                first += timedelta(hours=1 if step < 24 else 24)
            spaced = [first + timedelta(hours=step * n) for n in range(int(hours / step) + 2)]
            shown = "%Y-%m-%d" if step >= 24 else "%m-%d %H:%M"
            return [(t, t.strftime(shown)) for t in spaced if t <= end]
    for months in (1, 2, 3, 6, 12, 24, 60, 120, 240):
        if hours / (730.5 * months) < 8:
            index = start.year * 12 + start.month - 1  # the first month start at or after start
            index += 1 if _month(index) < start else 0
            index += -index % months  # on a round multiple of the step
            ticks = []
            while _month(index) <= end:
                ticks.append(_month(index))
                index += months
            shown = "%Y" if months >= 12 else "%b %Y"
            return [(t, t.strftime(shown)) for t in ticks]
    return []


def _month(index: int) -> datetime:
    """The first moment of month `index` (months since year 0), in UTC."""
    return datetime(index // 12, index % 12 + 1, 1, tzinfo=UTC)
