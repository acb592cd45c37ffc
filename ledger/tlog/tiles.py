"""C2SP tlog-tiles paths: `<L>/<N>[.p/<W>]` for hash tiles, `entries/<N>[.p/<W>]` for entry
bundles, with N written in zero-padded three-digit groups (1234067 -> `x001/x234/067`)."""

from __future__ import annotations

import re
from dataclasses import dataclass

TILE_WIDTH = 256
TILE_HEIGHT = 8  # a tile of level L holds tree nodes of level 8 L
MAX_LEVEL = 63
_GROUP = re.compile(r"x\d{3}")
_LAST = re.compile(r"\d{3}")


class TilePathError(ValueError):
    """A tile path that is not in the C2SP form."""


@dataclass(frozen=True)
class TileRef:
    """One tile: `level` (None for an entry bundle), index N, and a partial width W (None for
    a full tile of 256)."""

    level: int | None
    index: int
    width: int | None = None

    @property
    def count(self) -> int:
        return TILE_WIDTH if self.width is None else self.width

    def path(self) -> str:
        head = "entries" if self.level is None else str(self.level)
        tail = "" if self.width is None else f".p/{self.width}"
        return f"{head}/{encode_index(self.index)}{tail}"


def encode_index(n: int) -> str:
    """N as tile paths write it."""
    if n < 0:
        raise TilePathError("a tile index is not negative")
    groups = [f"{n % 1000:03d}"]
    n //= 1000
    while n:
        groups.append(f"x{n % 1000:03d}")
        n //= 1000
    return "/".join(reversed(groups))


def parse_tile_path(path: str) -> TileRef:
    """The tile a path (after `tile/`) names; TilePathError unless it is exactly the canonical
    form (one spelling per tile, so caches never hold two copies)."""
    head, sep, rest = path.partition("/")
    if len(path) > 64:  # "entries/" and seven groups of an index below 2**64, ".p/255"
        raise TilePathError("a tile path is at most 64 characters")
    if not sep:
        raise TilePathError(f"{path!r} is not <L>/<N>[.p/<W>] or entries/<N>[.p/<W>]")
    if head == "entries":
        level = None
    elif head.isdigit() and head.isascii() and (head == "0" or not head.startswith("0")):
        level = int(head)
        if level > MAX_LEVEL:
            raise TilePathError(f"tile level {level} is above {MAX_LEVEL}")
    else:
        raise TilePathError(f"{head!r} is not a tile level (0 to {MAX_LEVEL}) or 'entries'")
    width = None
    index_part, sep, width_part = rest.partition(".p/")
    if sep:
        if not (width_part.isdigit() and width_part.isascii() and not width_part.startswith("0")):
            raise TilePathError(f"partial width {width_part!r} is not 1 to 255")
        width = int(width_part)
        if not 1 <= width < TILE_WIDTH:
            raise TilePathError(f"partial width {width} is not 1 to 255")
    groups = index_part.split("/")
    if not _LAST.fullmatch(groups[-1]) or not all(_GROUP.fullmatch(g) for g in groups[:-1]):
        raise TilePathError(f"{index_part!r} is not a tile index (x001/x234/067)")
    index = int("".join(g.lstrip("x") for g in groups))
    if encode_index(index) != index_part:  # "x000/005": a leading zero group
        raise TilePathError(f"{index_part!r} is not the canonical spelling of {index}")
    return TileRef(level, index, width)


def bundle(entries: list[bytes]) -> bytes:
    """An entry bundle: each entry prefixed by its length as a big-endian uint16."""
    return b"".join(len(e).to_bytes(2, "big") + e for e in entries)


def unbundle(data: bytes) -> list[bytes]:
    """The entries of a bundle; TilePathError if it is cut short."""
    out, at = [], 0
    while at < len(data):
        if at + 2 > len(data):
            raise TilePathError("an entry bundle ends inside a length")
        size = int.from_bytes(data[at : at + 2], "big")
        if at + 2 + size > len(data):
            raise TilePathError("an entry bundle ends inside an entry")
        out.append(data[at + 2 : at + 2 + size])
        at += 2 + size
    return out
