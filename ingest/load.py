"""Loaders: turn a file into clean text (``LoadedDocument``), or raise ``DocumentError``.

Supported: .txt .md .markdown .html .htm .pdf .docx. Web pages keep the article and drop
navigation, ads, scripts and footers; PDFs keep their page numbers; text that is not UTF-8
is decoded as cp1252 (a superset of latin-1 for printable text) and says so.
"""

from __future__ import annotations

import re
from collections import Counter, defaultdict
from pathlib import Path

from ingest.models import DocKind, LoadedDocument, PageSpan
from tradechat.errors import DocumentError

TEXT_EXTS = {".txt", ".md", ".markdown"}
HTML_EXTS = {".html", ".htm"}
SUPPORTED_EXTS = TEXT_EXTS | HTML_EXTS | {".pdf", ".docx"}

# Elements that are page furniture, never article text.
_DROP_TAGS = [
    "script",
    "style",
    "noscript",
    "nav",
    "header",
    "footer",
    "aside",
    "form",
    "iframe",
    "button",
    "svg",
    "template",
    "figure",
    "select",
    "input",
]
_JUNK_ATTR = re.compile(
    r"(^|[\s_-])(ad|ads|advert\w*|promo\w*|related|newsletter|cookie\w*|share|social|"
    r"comments?|subscribe|sidebar|breadcrumbs?|banner|popup|modal|paywall)($|[\s_-])",
    re.I,
)


def unsupported_reason(path: Path) -> str | None:
    """Why ``path`` will not be loaded, or None if its type is supported."""
    if path.suffix.lower() not in SUPPORTED_EXTS:
        return f"unsupported file type '{path.suffix or '(none)'}'"
    return None


def load(path: Path, source: str, max_bytes: int | None = None) -> LoadedDocument:
    """Load ``path`` (reported as ``source``) into clean text.

    Raises:
        DocumentError: empty, binary, corrupt, oversized or unreadable file.
    """
    try:
        size = path.stat().st_size
        if max_bytes is not None and size > max_bytes:
            raise DocumentError(f"{source}: {size_limit_reason(size, max_bytes)}")
        if size == 0:
            raise DocumentError(f"{source}: empty file (0 bytes)")
        data = path.read_bytes()
    except OSError as exc:
        raise DocumentError(f"{source}: cannot read file ({exc.strerror or exc})") from exc
    ext = path.suffix.lower()
    if ext in TEXT_EXTS:
        text, note = decode_text(data, source)
        title, text = _text_title(text, path)
        doc = LoadedDocument(
            source=source, title=title, kind="document", text=text, encoding_note=note
        )
    elif ext in HTML_EXTS:
        text, note = decode_text(data, source, html=True)
        title, body = html_to_text(text)
        doc = LoadedDocument(
            source=source, title=title or path.stem, kind="article", text=body, encoding_note=note
        )
    elif ext == ".pdf":
        doc = _load_pdf(path, source)
    elif ext == ".docx":
        doc = _load_docx(path, source)
    else:
        raise DocumentError(f"{source}: {unsupported_reason(path)}")
    if not doc.text.strip():
        raise DocumentError(f"{source}: no text could be extracted")
    doc.kind = guess_kind(source, doc.text, default=doc.kind)
    return doc


def human_size(n: int) -> str:
    """Bytes as a short human figure.

    >>> human_size(78_000), human_size(25_000_000), human_size(512)
    ('78.0 KB', '25.0 MB', '512 bytes')
    """
    if n >= 1_000_000:
        return f"{n / 1e6:.1f} MB"
    return f"{n / 1e3:.1f} KB" if n >= 1000 else f"{n} bytes"


def size_limit_reason(size: int, max_bytes: int) -> str:
    return (
        f"file is {human_size(size)}, over the {human_size(max_bytes)} limit "
        "(raise TRADECHAT_MAX_FILE_MB to index it)"
    )


def decode_text(data: bytes, source: str, html: bool = False) -> tuple[str, str | None]:
    """Decode bytes as UTF-8, falling back to cp1252/latin-1; reject binary data."""
    sample = data[:8192]
    if b"\x00" in sample:
        raise DocumentError(f"{source}: binary data, not text (contains NUL bytes)")
    controls = sum(1 for b in sample if b < 32 and b not in (9, 10, 12, 13))
    if controls > max(8, len(sample) // 50):
        raise DocumentError(f"{source}: binary data, not text ({controls} control bytes)")
    note = None
    try:
        text = data.decode("utf-8-sig")
    except UnicodeDecodeError:
        try:
            text = data.decode("cp1252")
            note = "not valid UTF-8; decoded as cp1252"
        except UnicodeDecodeError:
            text = data.decode("latin-1")
            note = "not valid UTF-8; decoded as latin-1"
    text = text.replace("\r\n", "\n").replace("\r", "\n")
    if not text.strip():
        raise DocumentError(f"{source}: empty file (only whitespace)")
    return text, note


def _text_title(text: str, path: Path) -> tuple[str, str]:
    """The first line that reads like a title: a disclaimer sentence above it is passed over
    ("This consolidation is for information purposes only, ..." above the treaty's name)."""
    lines = [ln.strip().strip("#=").strip() for ln in text.splitlines()]
    lines = [ln for ln in lines if ln][:10]
    for line in lines:
        if not (line.endswith(".") and len(line.split()) > 12):
            return short_title(line, path.stem), text
    return (short_title(lines[0], path.stem) if lines else path.stem), text


def short_title(line: str, fallback: str) -> str:
    """A title from a document's first line, cut at a colon or a word when too long.

    >>> short_title("United States Code, Title 19, Chapter 29 (19 U.S.C. 4551): safeguards", "x")
    'United States Code, Title 19, Chapter 29 (19 U.S.C. 4551): safeguards'
    >>> short_title("United States Code, Title 19, Chapter 29 (19 U.S.C. 4551): safeguards, "
    ...             "antidumping and countervailing duty matters, and the joint review", "x")
    'United States Code, Title 19, Chapter 29 (19 U.S.C. 4551)'
    """
    if len(line) <= 120:
        return line
    colon = line.find(": ", 20)
    if 0 < colon <= 160:
        return line[:colon]
    cut = line[:120].rsplit(" ", 1)[0]
    return (cut + " …") if cut else fallback


def html_to_text(html: str) -> tuple[str, str]:
    """Keep the article of a web page as text, headings as Markdown ``#`` lines.

    >>> html_to_text("<html><title>T</title><nav>Home</nav><article><h1>Big</h1>"
    ...              "<p>Body one.</p><aside class='ad'>Buy</aside></article></html>")
    ('T', '# Big\\n\\nBody one.\\n')
    """
    from bs4 import BeautifulSoup

    soup = BeautifulSoup(html, "lxml")
    title = soup.title.get_text(" ", strip=True) if soup.title else ""
    for tag in soup(_DROP_TAGS):
        tag.decompose()
    for tag in soup.find_all(True):
        if tag.attrs is None:  # removed with an ancestor
            continue
        attrs = " ".join([tag.get("id") or "", *(tag.get("class") or [])])
        if attrs.strip() and _JUNK_ATTR.search(attrs) and tag.name not in ("body", "html", "main"):
            tag.decompose()
    root = soup.find("article") or soup.find("main") or soup.body or soup
    blocks: list[str] = []
    for el in root.find_all(
        ["h1", "h2", "h3", "h4", "h5", "h6", "p", "li", "pre", "blockquote", "td", "dd", "dt"]
    ):
        if el.find_parent(["p", "li", "blockquote", "td"]) is not None and el.name != "li":
            continue
        text = re.sub(r"\s+", " ", el.get_text(" ", strip=True)).strip()
        if not text:
            continue
        if el.name[0] == "h" and el.name[1:].isdigit():
            text = "#" * int(el.name[1]) + " " + text
        blocks.append(text)
    if not blocks:  # a page of bare text without block elements
        blocks = [re.sub(r"[ \t]+", " ", root.get_text("\n", strip=True))]
    if not title:
        h1 = next((b for b in blocks if b.startswith("# ")), "")
        title = h1[2:]
    title = title.strip()
    return title, "\n\n".join(blocks) + "\n"


def _load_pdf(path: Path, source: str) -> LoadedDocument:
    from pypdf import PdfReader
    from pypdf.errors import PdfReadError

    try:
        reader = PdfReader(str(path))
        if reader.is_encrypted:
            try:
                reader.decrypt("")
            except Exception as exc:
                raise DocumentError(f"{source}: encrypted PDF, cannot extract text") from exc
        raw_pages = [page.extract_text() or "" for page in reader.pages]
        meta_title = (reader.metadata.title if reader.metadata else None) or ""
    except DocumentError:
        raise
    except (PdfReadError, ValueError, KeyError, TypeError, OSError, AttributeError) as exc:
        raise DocumentError(f"{source}: corrupt or unreadable PDF ({exc})") from exc
    except Exception as exc:  # pypdf raises assorted errors on damaged files
        raise DocumentError(f"{source}: corrupt or unreadable PDF ({type(exc).__name__})") from exc
    if not raw_pages:
        raise DocumentError(f"{source}: PDF has no pages")
    # PDF text carries stray control characters (bullets come out as DEL, \x7f).
    raw_pages = [
        re.sub(r"[\x00-\x08\x0b\x0e-\x1f\x7f]", "•", p).replace("\x0c", "\n") for p in raw_pages
    ]
    pages = strip_running_lines(raw_pages)
    parts: list[str] = []
    spans: list[PageSpan] = []
    offset = 0
    for number, page_text in enumerate(pages, start=1):
        page_text = page_text.strip("\n") + "\n\n"
        spans.append(PageSpan(page=number, start=offset, end=offset + len(page_text)))
        parts.append(page_text)
        offset += len(page_text)
    text = "".join(parts)
    first_line = next((ln.strip() for ln in text.splitlines() if ln.strip()), path.stem)
    title = _meta_title(meta_title) or short_title(first_line, path.stem)
    return LoadedDocument(source=source, title=title, kind="document", text=text, pages=spans)


_PAGE_NO = re.compile(r"^\s*(page\s*)?\d{1,4}(\s*(of|/)\s*\d{1,4})?\s*$|^\s*-\s*\d+\s*-\s*$", re.I)
# Running headers and footers live in the first or last few lines of a page; looking only
# there keeps a sentence that happens to recur mid-page (or a bare "12" in a table) as text.
_EDGE_LINES = 3


def _meta_title(title: str) -> str:
    """A PDF's metadata title, unless it is a tool's placeholder.

    >>> _meta_title("untitled"), _meta_title("Microsoft Word - brief.docx"), _meta_title("NAFTA")
    ('', 'brief', 'NAFTA')
    """
    title = re.sub(r"\s+", " ", title or "").strip()
    title = re.sub(r"^Microsoft (Word|PowerPoint) - ", "", title)
    title = re.sub(r"\.(docx?|pptx?|odt|rtf|txt)$", "", title, flags=re.I)
    if title.lower() in {"untitled", "untitled document", "title", "document", "(anonymous)"}:
        return ""
    return title


def strip_running_lines(pages: list[str]) -> list[str]:
    """Drop running headers/footers and bare page numbers from the edges of PDF pages.

    A line is running when it sits among the first (or the last) few lines of a page and
    the same line sits at that edge on at least 60% of the pages of a PDF of three pages or
    more, or on both pages of a two-page PDF (there also at the same distance from the
    edge, and not ending like a sentence: with two pages, chance repeats are likelier).
    "The same line" allows one difference: a number that follows the page number ("Page 3
    of 10", "- 3 -", "NAFTA 1994, p. 3"), so that "Article 101" atop page 1 and "Article
    201" atop page 2 are not taken for a header. A line needs three letters to count, so
    that list markers like "(a)" or "2." stay.

    >>> strip_running_lines(["NAFTA Ch 20\\nA\\n1", "NAFTA Ch 20\\nB\\n2", "NAFTA Ch 20\\nC\\n3"])
    ['A', 'B', 'C']
    >>> strip_running_lines(["Intro\\nText\\nBrief, p. 1\\n1", "Body\\nEnd\\nBrief, p. 2\\n2"])
    ['Intro\\nText', 'Body\\nEnd']
    >>> strip_running_lines(["Article 101\\nA", "Article 201\\nB", "Article 301\\nC"])
    ['Article 101\\nA', 'Article 201\\nB', 'Article 301\\nC']
    """
    split_pages = [page.splitlines() for page in pages]
    with_text = sum(1 for lines in split_pages if any(ln.strip() for ln in lines))
    if with_text < 2:
        threshold = len(pages) + 1  # one page: nothing can repeat
    else:
        threshold = 2 if with_text == 2 else max(2, int(with_text * 0.6))
    exact_position = with_text == 2

    Key = tuple[str, int, str]

    def edge_lines(lines: list[str]) -> list[tuple[int, str, int]]:
        """(line index, edge, distance from the edge or -1) of the lines in the header zone
        and in the footer zone (a short page's lines can be in both)."""
        filled = [i for i, ln in enumerate(lines) if ln.strip()]
        out = []
        for edge, indices in (
            ("top", filled[:_EDGE_LINES]),
            ("bottom", filled[::-1][:_EDGE_LINES]),
        ):
            for pos, i in enumerate(indices):
                out.append((i, edge, pos if exact_position else -1))
        return out

    def clean(line: str) -> str:
        return re.sub(r"\s+", " ", line.strip().lower())

    exact: dict[Key, set[int]] = defaultdict(set)  # key -> pages where the very line sits
    numbered: dict[Key, dict[int, set[int]]] = defaultdict(dict)  # digits as '#'
    page_edges = [edge_lines(lines) for lines in split_pages]
    for n, (lines, edges) in enumerate(zip(split_pages, page_edges, strict=True), start=1):
        for i, edge, pos in edges:
            line = clean(lines[i])
            exact[(edge, pos, line)].add(n)
            numbers = {int(x) for x in re.findall(r"\d{1,4}", line)}
            if numbers:
                numbered[(edge, pos, re.sub(r"\d+", "#", line))][n] = numbers

    def follows_pages(pages_numbers: dict[int, set[int]]) -> bool:
        """Some printed offset k has n + k in the line on enough pages n."""
        offsets = Counter(k for n, nums in pages_numbers.items() for k in {x - n for x in nums})
        return bool(offsets) and offsets.most_common(1)[0][1] >= threshold

    def wordy(key: Key) -> bool:
        line = key[2]
        if exact_position and line.endswith("."):  # two pages: a sentence stays
            return False
        return len(re.findall(r"[^\W\d_]", line)) >= 3

    running_exact = {k for k, on in exact.items() if len(on) >= threshold and wordy(k)}
    running_numbered = {
        k for k, on in numbered.items() if len(on) >= threshold and wordy(k) and follows_pages(on)
    }
    out = []
    for lines, edges in zip(split_pages, page_edges, strict=True):
        drop = set()
        for i, edge, pos in edges:
            line = clean(lines[i])
            if (
                (edge, pos, line) in running_exact
                or _PAGE_NO.match(lines[i])
                or (edge, pos, re.sub(r"\d+", "#", line)) in running_numbered
            ):
                drop.add(i)
        out.append("\n".join(ln for i, ln in enumerate(lines) if i not in drop))
    return out


def _load_docx(path: Path, source: str) -> LoadedDocument:
    try:
        import docx  # python-docx

        document = docx.Document(str(path))
    except Exception as exc:  # python-docx raises zipfile/KeyError/ValueError on damage
        raise DocumentError(
            f"{source}: corrupt or unreadable .docx ({type(exc).__name__})"
        ) from exc
    blocks: list[str] = []
    title = document.core_properties.title or ""
    for para in document.paragraphs:
        text = para.text.strip()
        if not text:
            continue
        style = (para.style.name or "").lower() if para.style is not None else ""
        level = re.search(r"heading\s*(\d)", style)
        if style == "title":
            title = title or text
            text = "# " + text
        elif level:
            text = "#" * min(6, int(level.group(1)) + 1) + " " + text
        blocks.append(text)
    for table in document.tables:
        for row in table.rows:
            cells = [c.text.strip() for c in row.cells if c.text.strip()]
            if cells:
                blocks.append(" | ".join(cells))
    if not title and blocks:
        title = blocks[0].lstrip("# ")[:200]
    return LoadedDocument(
        source=source, title=title or path.stem, kind="document", text="\n\n".join(blocks) + "\n"
    )


def guess_kind(source: str, text: str, default: DocKind = "document") -> DocKind:
    """Guess the document kind from its folder names, then from its structure."""
    parts = [p.lower() for p in Path(source).parts[:-1]]
    folder_kinds: dict[str, DocKind] = {
        "agreements": "agreement",
        "agreement": "agreement",
        "treaties": "agreement",
        "legislation": "legislation",
        "laws": "legislation",
        "law": "legislation",
        "articles": "article",
        "news": "article",
        "notes": "note",
        "briefings": "note",
    }
    for part in reversed(parts):
        if part in folder_kinds:
            return folder_kinds[part]
    head = text[:20000]
    if len(re.findall(r"(?m)^Article\s+\d", head)) >= 2:
        return "agreement"
    if len(re.findall(r"(?m)^§\s*\d", head)) >= 2 or re.search(r"(?m)^An Act\b", head):
        return "legislation"
    if Path(source).suffix.lower() in (".md", ".markdown"):
        return "note"
    return default
