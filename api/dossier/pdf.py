"""The dossier's page as PDF, printed by headless Chromium (its `@page` rules set the paper)."""

from __future__ import annotations

import os
import shutil
import signal
import subprocess
import tempfile
from pathlib import Path

from ledger.errors import LedgerError

CANDIDATES = ("chromium", "chromium-browser", "google-chrome")
# Quiet, offline, throwaway: no first-run UI, no background fetches, no sync.
FLAGS = (
    "--headless",
    "--no-sandbox",
    "--disable-gpu",
    "--no-first-run",
    "--disable-background-networking",
    "--disable-component-update",
    "--disable-sync",
    "--no-pdf-header-footer",
)
STDERR_TAIL = 2000  # characters of Chromium's stderr quoted in an error


class PdfFailed(LedgerError):
    """Chromium could not print the page: the message ends with its stderr's tail."""

    code = "pdf-failed"


class ChromiumMissing(PdfFailed):
    """No Chromium to print with."""

    code = "chromium-missing"

    def __init__(self, tried: str | None = None) -> None:
        where = f"No Chromium at {tried}" if tried else "No Chromium found"
        super().__init__(
            f"{where} to print the dossier as PDF: install it (Debian: "
            "`apt-get install chromium`) or set CUSTODY_CHROMIUM to its path."
        )
        self.tried = tried


def find_chromium(chosen: str | None = None) -> str | None:
    """`chosen` (the CUSTODY_CHROMIUM setting) if given, else the first of chromium,
    chromium-browser, google-chrome on PATH; None when there is none."""
    if chosen:
        return shutil.which(chosen) or (chosen if Path(chosen).is_file() else None)
    return next((found for name in CANDIDATES if (found := shutil.which(name))), None)


def to_pdf(html: str, out: Path, *, chromium: str | None = None, timeout: float = 60) -> None:
    """Print `html` to the PDF file `out` with headless Chromium, within `timeout` seconds."""
    browser = chromium or find_chromium()
    if browser is None:
        raise ChromiumMissing()
    out = Path(out).resolve()
    with tempfile.TemporaryDirectory(prefix="custody-pdf-") as tmp:
        page = Path(tmp) / "dossier.html"
        page.write_text(html, encoding="utf-8")
        printed = Path(tmp) / "dossier.pdf"
        command = [
            browser,
            *FLAGS,
            f"--user-data-dir={Path(tmp) / 'profile'}",  # its own profile: runs never share one
            f"--print-to-pdf={printed}",
            page.as_uri(),
        ]
        stderr = _run(command, timeout)
        if not printed.is_file() or printed.stat().st_size == 0:
            raise PdfFailed(f"Chromium wrote no PDF: {_tail(stderr)}")
        out.parent.mkdir(parents=True, exist_ok=True)
        shutil.move(printed, out)


def _run(command: list[str], timeout: float) -> str:
    """Run Chromium in a process group of its own and return its stderr; on a timeout the
    whole group (renderer and helpers too) is killed."""
    try:
        process = subprocess.Popen(
            command,
            stdin=subprocess.DEVNULL,
            stdout=subprocess.DEVNULL,
            stderr=subprocess.PIPE,
            text=True,
            errors="replace",
            start_new_session=True,
        )
    except FileNotFoundError:
        raise ChromiumMissing(command[0]) from None
    except OSError as e:
        raise PdfFailed(f"Chromium ({command[0]}) could not start: {e}") from None
    try:
        _, stderr = process.communicate(timeout=timeout)
    except subprocess.TimeoutExpired:
        os.killpg(process.pid, signal.SIGKILL)
        try:
            _, stderr = process.communicate(timeout=5)
        except subprocess.TimeoutExpired:  # a helper outside the group holds stderr open
            stderr = ""
        raise PdfFailed(f"Chromium took more than {timeout:g}s: {_tail(stderr)}") from None
    if process.returncode != 0:
        raise PdfFailed(f"Chromium exited with {process.returncode}: {_tail(stderr)}")
    return stderr


def _tail(stderr: str) -> str:
    text = stderr.strip()
    return text[-STDERR_TAIL:] if text else "(nothing on stderr)"
