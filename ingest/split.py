"""Structure-aware splitting: chapters, articles, sections, annexes, headings, pages,
paragraphs.

A document is cut into *units* at every heading it has (``Chapter Twenty Two``, ``Article
2205: Withdrawal``, ``§ 4611.``, ``Annex 401``, Markdown/HTML headings, Canadian-act
``1 Short title`` lines) and at PDF page breaks. Each unit is packed into chunks of whole
paragraphs (then lines, sentences, words when a paragraph is too long) up to a token budget
measured by the embedding model's own tokenizer. A chunk's ``text`` is the exact slice
``doc.text[start:end]``; its ``embed_text`` prefixes the heading path, so that "NAFTA >
Chapter Twenty Two > Article 2205: Withdrawal" is part of what gets embedded.
"""

from __future__ import annotations

import hashlib
import re
from collections.abc import Callable
from dataclasses import dataclass, field

from ingest.models import Chunk, ChunkMeta, LoadedDocument

TokenCounter = Callable[[str], int]

SPECIAL_TOKENS = 2  # [CLS] and [SEP]
_NUM_WORDS = r"[A-Z][a-z]+(?:[ -][A-Z][a-z]+){0,3}"


@dataclass
class Heading:
    level: str  # "chapter", "section" or "sub"
    ident: str | None
    text: str | None


_CHAPTER = re.compile(
    rf"^(?:CHAPTER|Chapter)\s+({_NUM_WORDS}|\d+[A-Z]?|[IVXLC]+)\s*(?:[:.—–-]\s*(.*))?$"
)
_PART = re.compile(
    r"^(SUBCHAPTER|Subchapter|PART|Part|TITLE|Title)\s+([IVXLC]+|\d+[A-Z]?)\b\s*[—–:.-]*\s*(.*)$"
)
# A separator after the number must be followed by a space or the end of the line, so that
# "Article 34.7 in Chapter 34 ..." (a sentence) is not read as "Article 34" + "7 in ...".
_ARTICLE = re.compile(
    r"^(?:ARTICLE|Article)\s+(\d+(?:[.-]\d+)*[A-Za-z]?|[IVXLC]+)\s*(?:([:.])(?:\s+(.*))?)?$"
)
# "§ 4611. Participation in joint review"; without the period only a short, title-like rest
# counts ("§ 4532 defines covered vehicles." at the start of a line is a sentence).
_SECTION = re.compile(r"^§+\s*(\d+[\w-]*(?:\.\d+)?)(?:\.(?:\s+(.*))?|\s+([A-Z][^.]*)|)$")
_ANNEX = re.compile(r"^(?:ANNEX|Annex)\s+([\w.-]*\d[\w.-]*|[IVXLC]+)\s*(?:[:.](?:\s+(.*))?)?$")
_MD = re.compile(r"^(#{1,6})\s+(.+?)\s*#*$")
_WIKI = re.compile(r"^(={1,6})\s*(.+?)\s*\1$")
_ACT_SECTION = re.compile(r"^(\d{1,3}(?:\.\d{1,2})?)\s+([A-Z][^.;:]{2,90})$")
_PARA_NUMBER = re.compile(r"\s(?=\d{1,2}\.\s+[A-Z])")


_SMALL_WORDS = {
    "a",
    "an",
    "the",
    "of",
    "to",
    "and",
    "or",
    "for",
    "in",
    "on",
    "with",
    "by",
    "at",
    "from",
    "as",
    "into",
    "under",
    "between",
    "its",
    "their",
}
_OPENERS = {
    "The",
    "A",
    "An",
    "Each",
    "No",
    "Any",
    "All",
    "On",
    "Unless",
    "If",
    "Where",
    "When",
    "Except",
    "Subject",
    "Nothing",
    "For",
    "In",
    "With",
    "Notwithstanding",
    "Neither",
    "This",
    "Upon",
    "At",
}


def _cut_run_on(rest: str) -> str:
    """Cut the body sentence off a Title Case heading that PDF extraction ran into it.

    >>> _cut_run_on("Cooperation The Parties shall at all times endeavor to agree")
    'Cooperation'
    >>> _cut_run_on("Transitional Provision from NAFTA 1994")
    'Transitional Provision from NAFTA 1994'
    """
    words = rest.split()
    first_lower = next(
        (
            i
            for i, w in enumerate(words)
            if w[:1].islower() and w.lower().strip(",;") not in _SMALL_WORDS
        ),
        None,
    )
    if first_lower is None or first_lower < 2:
        return rest
    for i in range(first_lower - 1, 0, -1):  # the sentence starts at its opening word
        if words[i] in _OPENERS:
            return " ".join(words[:i])
    return rest


# The back matter of a note or article, when a line holds nothing else.
_BACK_MATTER = re.compile(
    r"^(Sources?|References?|Bibliography|Works cited|Further reading|See also|"
    r"External links|Notes)\s*:?$",
    re.I,
)


def parse_heading(line: str, prev_blank: bool) -> Heading | None:
    """Recognise a heading line, or return None.

    >>> parse_heading("Article 2205: Withdrawal", True)
    Heading(level='section', ident='Article 2205', text='Withdrawal')
    >>> parse_heading("§ 4611. Participation in joint review", True)
    Heading(level='section', ident='§ 4611', text='Participation in joint review')
    >>> parse_heading("Chapter Twenty Two: Final Provisions", True).ident
    'Chapter Twenty Two'
    >>> parse_heading("Article 607 (Energy) and Article 1018 apply to this Chapter.", True) is None
    True
    >>> parse_heading("Sources", False)
    Heading(level='section', ident=None, text='Sources')
    """
    s = line.strip()
    if not s or len(s) > 400:
        return None
    if m := _MD.match(s):
        depth = len(m.group(1))
        return Heading(
            "chapter" if depth == 1 else "section" if depth == 2 else "sub", None, m.group(2)
        )
    if m := _WIKI.match(s):
        depth = len(m.group(1))
        return Heading(
            "chapter" if depth == 1 else "section" if depth == 2 else "sub", None, m.group(2)
        )
    if m := _CHAPTER.match(s):
        return Heading("chapter", f"Chapter {m.group(1)}", (m.group(2) or "").strip() or None)
    if m := _PART.match(s):
        if len(s) < 200:
            return Heading(
                "chapter",
                f"{m.group(1).capitalize()} {m.group(2)}",
                m.group(3).strip(" —–-") or None,
            )
    if m := _ARTICLE.match(s):
        rest = (m.group(3) or "").strip()
        if m.group(2) is None and m.group(3) is None and len(s) > 20:
            return None
        # "Article 2001: The Free Trade Commission 1. The Parties ..." (PDF text run together)
        cut = _PARA_NUMBER.search(rest) if re.search(r"\s\d{1,2}\.\s", rest) else None
        rest = rest[: cut.start()] if cut else _cut_run_on(rest)[:100]
        if rest.endswith(".") and len(rest.split()) > 12:
            return None
        return Heading("section", f"Article {m.group(1)}", rest.rstrip(".") or None)
    if m := _SECTION.match(s):
        if m.group(3) is not None and len(m.group(3).split()) > 12:
            return None
        rest = (m.group(2) or m.group(3) or "").strip()
        return Heading("section", f"§ {m.group(1)}", rest[:200].rstrip(".") or None)
    if m := _ANNEX.match(s):
        ident = m.group(1).rstrip(".-")
        return Heading("section", f"Annex {ident}", (m.group(2) or "").strip() or None)
    if _BACK_MATTER.match(s):  # "Sources" alone on its line, as a PDF often has it
        return Heading("section", None, s.rstrip(":").strip())
    if prev_blank and (m := _ACT_SECTION.match(s)) and len(s.split()) <= 12:
        return Heading("section", f"Section {m.group(1)}", m.group(2).strip())
    return None


@dataclass
class _Unit:
    start: int
    end: int
    path: list[str]
    chapter: str | None
    section_id: str | None
    section_heading: str | None
    page: int | None = None


@dataclass
class _Piece:
    start: int
    end: int
    tokens: int = 0


@dataclass
class _State:
    chapter: str | None = None
    section_id: str | None = None
    section_heading: str | None = None
    subs: list[str] = field(default_factory=list)


def _label(ident: str | None, text: str | None) -> str:
    if ident and text:
        return f"{ident}{'. ' if ident.startswith('§') else ': '}{text}"
    return ident or text or ""


def _units(doc: LoadedDocument) -> list[_Unit]:
    text = doc.text
    boundaries: list[tuple[int, _State]] = []
    state = _State()
    offset = 0
    prev_blank = True
    page_starts = {span.start for span in doc.pages[1:]}
    for line in text.splitlines(keepends=True):
        heading = parse_heading(line, prev_blank)
        if heading is not None:
            if heading.level == "chapter":
                state = _State(chapter=_label(heading.ident, heading.text))
                if heading.ident is None and heading.text and heading.text == doc.title:
                    state.chapter = None  # a document's own title is not a chapter
            elif heading.level == "section":
                state = _State(state.chapter, heading.ident, heading.text)
            else:
                state = _State(
                    state.chapter, state.section_id, state.section_heading, [heading.text or ""]
                )
            boundaries.append((offset, state))
        elif offset in page_starts:
            boundaries.append((offset, state))
        prev_blank = not line.strip()
        offset += len(line)
    if not boundaries or boundaries[0][0] != 0:
        boundaries.insert(0, (0, _State()))
    units: list[_Unit] = []
    for i, (start, st) in enumerate(boundaries):
        end = boundaries[i + 1][0] if i + 1 < len(boundaries) else len(text)
        path = [doc.title]
        # A title that names the chapter, and only it ("NAFTA (1994) — Chapter Four: Rules Of
        # Origin"), does not repeat it: the path's tokens come out of every chunk's budget.
        title = doc.title.lower()
        if st.chapter and not (st.chapter.lower() in title and title.count("chapter") == 1):
            path.append(st.chapter)
        if st.section_id or st.section_heading:
            path.append(_label(st.section_id, st.section_heading))
        path.extend(s for s in st.subs if s)
        units.append(
            _Unit(
                start, end, path, st.chapter, st.section_id, st.section_heading, doc.page_at(start)
            )
        )
    # A unit that is only a heading (a chapter title right before its first article, a
    # chapter title wrapped over two lines, the document's title) is folded into the next
    # unit, so that no chunk is a bare heading. A short article ("Article 101: ..." and one
    # sentence) is not a bare heading: it stays, so that its citation names it.
    merged: list[_Unit] = []
    carry: int | None = None
    for idx, unit in enumerate(units):
        body = text[unit.start : unit.end]
        lines = [ln for ln in body.splitlines() if ln.strip()]
        heads = [parse_heading(ln, True) for ln in lines]
        short = len(lines) <= 2 and len(body) < 200
        first = heads[0] if heads else None
        same_page = idx + 1 < len(units) and units[idx + 1].page == unit.page
        titled = idx == 0 or (first is not None and first.level == "chapter")
        bare = all(heads) or (short and same_page and titled)
        if lines and bare and idx + 1 < len(units):
            carry = unit.start if carry is None else carry
            continue
        if carry is not None:
            unit.start = carry
            carry = None
        if (
            idx == len(units) - 1
            and len(lines) <= 1
            and parse_heading(lines[0] if lines else "", True)
        ):
            continue  # a trailing heading with nothing under it
        merged.append(unit)
    return [u for u in merged if text[u.start : u.end].strip()]


_SENTENCE = re.compile(r"(?<=[.!?;:])[\"”’)]*\s+(?=[\"“(‘]?[A-Z0-9(])")


def _pieces(text: str, start: int, end: int, budget: int, count: TokenCounter) -> list[_Piece]:
    """Split text[start:end] into pieces that each fit ``budget`` tokens, coarsest first:
    paragraphs, lines, sentences, then word windows."""
    out: list[_Piece] = []

    def emit(s: int, e: int, level: int) -> None:
        while s < e and text[s].isspace():
            s += 1
        while e > s and text[e - 1].isspace():
            e -= 1
        if s >= e:
            return
        n = count(text[s:e])
        if n <= budget:
            out.append(_Piece(s, e, n))
            return
        seg = text[s:e]
        splitters = [re.compile(r"\n\s*\n"), re.compile(r"\n"), _SENTENCE]
        for lvl in range(level, len(splitters)):
            cuts = [m.end() for m in splitters[lvl].finditer(seg)]
            if cuts:
                bounds = [0, *cuts, len(seg)]
                for a, b in zip(bounds, bounds[1:], strict=False):
                    emit(s + a, s + b, lvl + 1)
                return
        # No separator left: windows of words. Word costs are summed (WordPiece never
        # merges across spaces), then each window is checked once with the real count.
        words = [m.span() for m in re.finditer(r"\S+", seg)]
        costs = [count(seg[a:b]) for a, b in words]
        i = 0
        while i < len(words):
            j, used = i, 0
            while j < len(words) and used + costs[j] <= budget:
                used += costs[j]
                j += 1
            j = max(j, i + 1)
            while j > i + 1 and count(seg[words[i][0] : words[j - 1][1]]) > budget:
                j -= 1
            if j == i + 1 and costs[i] > budget:
                # One giant "word" (a URL, a run of symbols): cut it by characters.
                w0, w1 = words[i]
                step = max(8, budget * 2)
                for c in range(w0, w1, step):
                    out.append(
                        _Piece(s + c, s + min(w1, c + step), count(seg[c : min(w1, c + step)]))
                    )
            else:
                out.append(_Piece(s + words[i][0], s + words[j - 1][1], 0))
            i = j

    emit(start, end, 0)
    return out


def _fit(
    text: str, start: int, end: int, path: str, max_tokens: int, count: TokenCounter
) -> list[tuple[int, int]]:
    """Halve text[start:end] (at a space when there is one) until each part's embedded text
    fits ``max_tokens``: the guarantee behind "no chunk is truncated by the model"."""
    body = text[start:end]
    embed_text = f"{path}\n{body}" if path else body
    if end - start <= 1 or count(embed_text) + SPECIAL_TOKENS <= max_tokens:
        return [(start, end)]
    mid = (start + end) // 2
    space = text.rfind(" ", start + 1, mid + 1)
    if space > start + (end - start) // 4:
        mid = space
    left, right = (start, mid), (mid, end)
    out = []
    for s, e in (left, right):
        while s < e and text[s].isspace():
            s += 1
        while e > s and text[e - 1].isspace():
            e -= 1
        if s < e:
            out.extend(_fit(text, s, e, path, max_tokens, count))
    return out


def split_document(
    doc: LoadedDocument,
    count_tokens: TokenCounter,
    chunk_tokens: int = 200,
    max_tokens: int = 256,
    file_hash: str = "",
) -> list[Chunk]:
    """Split ``doc`` into chunks whose embedded text fits ``max_tokens`` word pieces
    (special tokens included) and aims for ``chunk_tokens``.
    """
    target = min(chunk_tokens, max_tokens)
    chunks: list[Chunk] = []
    seen_texts: set[str] = set()
    text = doc.text
    for unit in _units(doc):
        path = " > ".join(p for p in unit.path if p)
        path_tokens = count_tokens(path)
        while path_tokens > max_tokens // 3:  # an absurdly long heading: keep its start only
            path = path[: max(1, len(path) * 3 // 4)].rstrip()
            path_tokens = count_tokens(path)
        budget = max(16, target - path_tokens - SPECIAL_TOKENS - 1)
        hard_budget = max(16, max_tokens - path_tokens - SPECIAL_TOKENS - 1)
        groups: list[list[_Piece]] = [[]]
        used = 0
        for piece in _pieces(text, unit.start, unit.end, budget, count_tokens):
            n = piece.tokens or count_tokens(text[piece.start : piece.end])
            if groups[-1] and used + n > budget:
                groups.append([])
                used = 0
            groups[-1].append(piece)
            used += n
        for group in groups:
            if not group:
                continue
            start, end = group[0].start, group[-1].end
            body = text[start:end]
            embed_text = f"{path}\n{body}" if path else body
            if count_tokens(embed_text) + SPECIAL_TOKENS > max_tokens:
                # Token counts of parts do not always add up exactly; re-split this group,
                # and check every piece (a character cut can still hold too many pieces).
                spans = []
                for p in _pieces(text, start, end, hard_budget // 2, count_tokens):
                    spans.extend(_fit(text, p.start, p.end, path, max_tokens, count_tokens))
            else:
                spans = [(start, end)]
            for s, e in spans:
                body = text[s:e]
                embed_text = f"{path}\n{body}" if path else body
                if embed_text in seen_texts:
                    continue
                seen_texts.add(embed_text)
                content_hash = hashlib.sha256(embed_text.encode()).hexdigest()
                # Not the offset: an unchanged passage keeps its id (and its embedding) when
                # text before it changes. Texts are unique within a file (seen_texts).
                chunk_id = hashlib.sha256(f"{doc.source}\x00{content_hash}".encode()).hexdigest()[
                    :32
                ]
                meta = ChunkMeta(
                    chunk_id=chunk_id,
                    source=doc.source,
                    title=doc.title,
                    kind=doc.kind,
                    chapter=unit.chapter,
                    section_id=unit.section_id,
                    section_heading=unit.section_heading,
                    heading_path=path,
                    page=doc.page_at(s),
                    start=s,
                    end=e,
                    chunk_index=len(chunks),
                    content_hash=content_hash,
                    file_hash=file_hash,
                )
                chunks.append(Chunk(text=body, embed_text=embed_text, meta=meta))
    return chunks
