"""Server-side HTML rendering for the chat UI: every piece of document text is escaped."""

from __future__ import annotations

from html.parser import HTMLParser

import pytest
from app_support import webapp

from rag.models import Answer, Citation

HOSTILE = '<script>alert(1)</script><img src=x onerror="alert(2)"> ${alert(3)} {{x}} `y`'


def cite(n: int = 1, **kw) -> Citation:
    data = dict(
        n=n,
        source="doc.md",
        title="Doc",
        section="Article 1: Scope",
        page=3,
        quote="The quote.",
        start=10,
        end=20,
        score=0.9,
    )
    data.update(kw)
    return Citation(**data)


class _Tags(HTMLParser):
    def __init__(self):
        super().__init__()
        self.tags: list[tuple[str, dict]] = []

    def handle_starttag(self, tag, attrs):
        self.tags.append((tag, dict(attrs)))


def assert_inert(html: str) -> None:
    """No script or image element, no event-handler attribute, no template syntax left."""
    parser = _Tags()
    parser.feed(html)
    for tag, attrs in parser.tags:
        assert tag not in ("script", "img", "iframe", "svg"), html
        assert not any(name.startswith("on") for name in attrs), html
        for value in attrs.values():
            assert not (value or "").lower().startswith("javascript:"), html
    for bad in ("${", "{{", "`"):
        assert bad not in html, (bad, html)


def test_answer_markers_become_links_and_unknown_markers_are_dropped():
    answer = Answer(
        question="q",
        answer="First claim [1]. Second [2]. Ghost [9].",
        citations=[cite(1), cite(2, title="Other")],
    )
    html = webapp.render_answer(answer, turn=4)
    assert html.count('href="#tc-cite-4-1"') == 2  # in the text and in the source list
    assert 'href="#tc-cite-4-2"' in html
    assert "[9]" not in html and "tc-cite-4-9" not in html
    assert "Article 1: Scope" in html and "p. 3" in html
    assert "\n" not in html  # one line: the chatbot's Markdown leaves it alone


def test_answers_sources_and_lists_escape_document_text():
    c = cite(title=HOSTILE, section=HOSTILE, quote=HOSTILE, source=f"{HOSTILE}.md")
    answer = Answer(question=HOSTILE, answer=f"{HOSTILE} [1]", citations=[c])
    assert_inert(webapp.render_answer(answer, 0))
    assert_inert(webapp.render_user(HOSTILE))
    assert_inert(webapp.render_pending(HOSTILE))
    assert_inert(webapp.render_error(HOSTILE))
    ctx = webapp.PassageContext(
        id=c.source,
        title=HOSTILE,
        page=None,
        before=HOSTILE,
        quote=HOSTILE,
        after=HOSTILE,
        url='/files/x" onmouseover="y',
    )
    panel = webapp.render_source(c, ctx)
    assert_inert(panel)
    assert 'onmouseover="' not in panel
    doc = webapp.DocumentInfo(
        id=f"{HOSTILE}.md",
        title=HOSTILE,
        kind="note",
        chunks=1,
        pages=0,
        origin="upload",
        url="/files/x",
    )
    assert_inert(webapp.render_documents([doc]))
    status = webapp.render_status(
        {"state": "error", "message": HOSTILE, "done": 0, "total": 0, "current": ""}, 0
    )
    assert_inert(status)


def test_source_panel_highlights_the_quote_in_its_context():
    c = cite()
    ctx = webapp.PassageContext(
        id="doc.md",
        title="Doc",
        page=3,
        before="Before text. ",
        quote="The quote.",
        after=" After text.",
        url="/files/doc.md#page=3",
    )
    html = webapp.render_source(c, ctx)
    assert "Before text. <mark>The quote.</mark> After text." in html
    assert 'href="/files/doc.md#page=3"' in html and 'rel="noopener noreferrer"' in html
    assert "page 3" in html and "Article 1: Scope" in html


@pytest.mark.parametrize(
    "name",
    ["a/b.md", "../x.md", "..\\x.md", ".env", "..", "", "a\x00b.md", "a\nb.md", "x" * 300 + ".md"],
)
def test_unsafe_upload_names_are_refused(name):
    with pytest.raises(webapp.ApiError) as err:
        webapp.clean_upload_name(name)
    assert err.value.status == 400


def test_ordinary_upload_names_pass():
    assert webapp.clean_upload_name(" Trade notes (v2).md ") == "Trade notes (v2).md"
    assert webapp.clean_upload_name("Ministère.pdf") == "Ministère.pdf"
