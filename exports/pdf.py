"""PDF of a pack through LibreOffice (``soffice --headless --convert-to pdf``), where installed.

LibreOffice converts a deck in about a second here. Each conversion gets its own user profile
directory, because two ``soffice`` processes sharing the default profile block each other (two
API requests at once, or a user's desktop LibreOffice left open).
"""

from __future__ import annotations

import shutil
import subprocess
import tempfile
from pathlib import Path

from exports.pptx_builder import write_atomic

#: Seconds before a conversion is abandoned (a normal pack takes 1-5 s).
TIMEOUT = 120


class PdfError(RuntimeError):
    """The PDF could not be made; the message says why and what to do."""


#: LibreOffice's PDF filter with tagging on (structure tree, alt text, reading order: PDF/UA's
#: basis); its JSON filter options need LibreOffice 7.4 or later.
TAGGED_PDF = 'pdf:impress_pdf_Export:{"UseTaggedPDF":{"type":"boolean","value":"true"}}'


def find_soffice() -> str | None:
    """The LibreOffice executable (``soffice`` or ``libreoffice`` on PATH), or None."""
    return shutil.which("soffice") or shutil.which("libreoffice")


def convert_to_pdf(pptx: str | Path, output: str | Path) -> Path:
    """Convert ``pptx`` to a PDF at ``output`` (written atomically); :class:`PdfError` if
    LibreOffice is missing or fails."""
    exe = find_soffice()
    if exe is None:
        raise PdfError(
            "PDF export needs LibreOffice, which is not installed: install it with "
            "`apt-get install -y --no-install-recommends libreoffice-impress`, or export "
            "--format pptx; no file was written."
        )
    src = Path(pptx)
    with tempfile.TemporaryDirectory(prefix="qidash-pdf-") as tmp:
        profile = Path(tmp) / "profile"
        cmd = [exe, f"-env:UserInstallation={profile.as_uri()}", "--headless",
               "--convert-to", TAGGED_PDF, "--outdir", tmp, str(src)]
        try:
            proc = subprocess.run(cmd, capture_output=True, text=True, timeout=TIMEOUT,
                                  check=False)
        except subprocess.TimeoutExpired:
            raise PdfError(f"LibreOffice took more than {TIMEOUT} s to convert the pack; "
                           "no PDF was written.") from None
        made = Path(tmp) / (src.stem + ".pdf")
        if proc.returncode != 0 or not made.exists() or made.stat().st_size == 0:
            detail = (proc.stderr or proc.stdout or "").strip().splitlines()[-1:] or ["no output"]
            raise PdfError(f"LibreOffice could not convert the pack to PDF ({detail[0]}); "
                           "no PDF was written.")
        return write_atomic(output, made.read_bytes())


__all__ = ["PdfError", "convert_to_pdf", "find_soffice"]
