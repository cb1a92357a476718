"""Documents to plain text, each format by the library made for it: PDF (`pypdf`), DOCX
(`python-docx`), HTML (`trafilatura`: the page's main text, without menus and footers), CSV
(one line per row, `column: value`), Markdown and plain text (decoded, kept as written).
"""

from __future__ import annotations

import csv
import io
import logging
from dataclasses import dataclass
from pathlib import PurePath

from charset_normalizer import from_bytes

logger = logging.getLogger("knowledge.documents")

FORMATS: dict[str, tuple[str, ...]] = {
    "pdf": (".pdf",),
    "docx": (".docx",),
    "html": (".html", ".htm"),
    "markdown": (".md", ".markdown"),
    "csv": (".csv",),
    "text": (".txt", ".text"),
}
"""Each format and the file names it is recognised by."""
CONTENT_TYPES: dict[str, str] = {
    "application/pdf": "pdf",
    "application/vnd.openxmlformats-officedocument.wordprocessingml.document": "docx",
    "text/html": "html",
    "application/xhtml+xml": "html",
    "text/markdown": "markdown",
    "text/x-markdown": "markdown",
    "text/csv": "csv",
    "text/plain": "text",
}
ACCEPTED_FILES = ", ".join(ext for exts in FORMATS.values() for ext in exts)


class UnsupportedDocumentError(ValueError):
    """Not a format the knowledge base reads; the message lists those it does."""


class DocumentError(ValueError):
    """A document of a known format that could not be read (damaged, encrypted, empty)."""


@dataclass(frozen=True)
class Document:
    format: str
    text: str


def format_of(filename: str | None, content_type: str | None = None) -> str:
    """The format a file is read as: by its name's extension, else by its content type."""
    suffix = PurePath(filename or "").suffix.lower()
    for name, suffixes in FORMATS.items():
        if suffix in suffixes:
            return name
    media = (content_type or "").split(";")[0].strip().lower()
    if media in CONTENT_TYPES and not suffix:
        return CONTENT_TYPES[media]
    raise UnsupportedDocumentError(
        f"unsupported file type {suffix or media or 'unknown'!r}; accepted: {ACCEPTED_FILES}"
    )


def decode(data: bytes) -> str:
    """Bytes of a text format to text, whatever the encoding (UTF-8 first)."""
    try:
        return data.decode("utf-8-sig")
    except UnicodeDecodeError:
        best = from_bytes(data).best()
        if best is None:
            raise DocumentError("the file is not text in any known encoding") from None
        return str(best)


def _pdf(data: bytes) -> str:
    from pypdf import PdfReader
    from pypdf.errors import PdfReadError

    try:
        reader = PdfReader(io.BytesIO(data))
        if reader.is_encrypted:
            raise DocumentError("the PDF is encrypted")
        return "\n\n".join((page.extract_text() or "").strip() for page in reader.pages)
    except (PdfReadError, ValueError, KeyError, TypeError) as exc:
        if isinstance(exc, DocumentError):
            raise
        raise DocumentError(f"the PDF could not be read: {exc}") from exc


def _docx(data: bytes) -> str:
    import zipfile

    from docx import Document as Docx
    from docx.opc.exceptions import PackageNotFoundError

    try:
        document = Docx(io.BytesIO(data))
    except (PackageNotFoundError, zipfile.BadZipFile, KeyError, ValueError) as exc:
        raise DocumentError(f"the DOCX could not be read: {exc}") from exc
    parts = [p.text for p in document.paragraphs]
    for table in document.tables:
        for row in table.rows:
            parts.append(" | ".join(cell.text.strip() for cell in row.cells))
    return "\n\n".join(part for part in parts if part.strip())


def html_text(html: str, url: str | None = None) -> str:
    """A page's main text, with its paragraphs; the whole page's text when no main part is
    found."""
    import trafilatura

    text = trafilatura.extract(
        html, url=url, include_comments=False, include_tables=True, favor_recall=True
    )
    if not text:
        from lxml import html as lxml_html

        try:
            text = lxml_html.fromstring(html).text_content()
        except Exception:  # lxml: empty or unparseable markup
            text = ""
    return text or ""


def _csv(text: str) -> str:
    rows = list(csv.reader(io.StringIO(text)))
    if not rows:
        return ""
    header = [h.strip() for h in rows[0]]
    lines = []
    for row in rows[1:]:
        cells = [
            f"{header[i] if i < len(header) and header[i] else f'column {i + 1}'}: {v.strip()}"
            for i, v in enumerate(row)
            if v.strip()
        ]
        if cells:
            lines.append("; ".join(cells) + ".")
    # A table's rows are its paragraphs: each can be a passage of its own.
    return "\n\n".join(lines) if lines else ", ".join(header)


def extract(data: bytes, filename: str | None, content_type: str | None = None) -> Document:
    """The text of a file; `UnsupportedDocumentError` or `DocumentError` say why not."""
    kind = format_of(filename, content_type)
    if kind == "pdf":
        text = _pdf(data)
    elif kind == "docx":
        text = _docx(data)
    elif kind == "html":
        text = html_text(decode(data))
    elif kind == "csv":
        text = _csv(decode(data))
    else:
        text = decode(data)
    if not text.strip():
        raise DocumentError("the document has no text")
    return Document(format=kind, text=text)
