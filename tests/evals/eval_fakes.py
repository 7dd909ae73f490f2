"""Test data for the evaluation tests: a tiny real corpus (Markdown, text, a two-page PDF),
its question set, and a scripted stand-in for ``rag.chain.answer_question`` whose outputs
we control exactly."""

from __future__ import annotations

import re
from pathlib import Path

WITHDRAWAL = (
    "# Withdrawal\n\nA Party may withdraw from this Agreement six months after it "
    "provides written notice of withdrawal to the other Parties. If a Party "
    "withdraws, the Agreement shall remain in force for the remaining Parties.\n"
)
TARIFFS = (
    "US tariffs in 2025\n\nOn 4 March 2025 the United States imposed a 25% tariff on "
    "most goods from Canada and Mexico. Energy and potash from Canada faced a lower "
    "10% tariff.\nGoods that qualify under the USMCA rules of origin were exempted.\n"
)
PDF_PAGES = [
    "Rules of origin for autos. A passenger vehicle needs 75 percent regional value "
    "content under the USMCA.",
    "Light trucks need 45 percent labour value content, earned at wages of at least "
    "US$16 per hour.",
]

QUESTIONS = [
    {
        "id": "t1",
        "question": "How much notice must a Party give to withdraw?",
        "answerable": True,
        "type": "factoid",
        "sources": ["withdrawal.md"],
        "facts": [["six months"], ["written notice"]],
    },
    {
        "id": "t2",
        "question": "What tariff applied to Canadian energy?",
        "answerable": True,
        "type": "keyword",
        "sources": ["tariffs.txt"],
        "facts": [["10%"]],
    },
    {
        "id": "t3",
        "question": "What regional value content does a passenger vehicle need?",
        "answerable": True,
        "type": "paraphrase",
        "sources": ["docs/rules.pdf"],
        "pages": {"docs/rules.pdf": [1]},
        "facts": [["75 percent", "75%"]],
    },
    {
        "id": "t4",
        "question": "And for light trucks?",
        "answerable": True,
        "type": "follow-up",
        "sources": ["rules.pdf"],
        "pages": {"rules.pdf": [2]},
        "facts": [["45 percent"]],
        "history": [
            {"role": "user", "content": "What are the rules of origin for cars?"},
            {"role": "assistant", "content": "75 percent regional value content."},
        ],
    },
    {
        "id": "t5",
        "question": "Why were most goods spared from the tariffs?",
        "answerable": True,
        "type": "why",
        "sources": ["tariffs.txt"],
        "facts": [["rules of origin"]],
    },
    {
        "id": "t6",
        "question": "What is the capital of Peru?",
        "answerable": False,
        "type": "unanswerable",
        "sources": [],
        "facts": [],
    },
]

# question -> (source cited, sentence quoted and answered). t5 is deliberately answered
# from the wrong document, so the main configuration has one retrieval miss and one
# question with missing facts.
SCRIPT = {
    "How much notice must a Party give to withdraw?": (
        "withdrawal.md",
        "A Party may withdraw from this Agreement six months after it "
        "provides written notice of withdrawal to the other Parties.",
    ),
    "What tariff applied to Canadian energy?": (
        "tariffs.txt",
        "Energy and potash from Canada faced a lower 10% tariff.",
    ),
    "What regional value content does a passenger vehicle need?": (
        "docs/rules.pdf",
        "A passenger vehicle needs 75 percent regional value content under the USMCA.",
    ),
    "And for light trucks?": (
        "docs/rules.pdf",
        "Light trucks need 45 percent labour value content, earned at wages "
        "of at least US$16 per hour.",
    ),
    "Why were most goods spared from the tariffs?": (
        "withdrawal.md",
        "If a Party withdraws, the Agreement shall remain in force for the remaining Parties.",
    ),
}


def make_pdf(path: Path, pages: list[str]) -> None:
    from reportlab.lib.pagesizes import A4
    from reportlab.pdfgen import canvas

    c = canvas.Canvas(str(path), pagesize=A4)
    for text in pages:
        c.setFont("Helvetica", 10)
        y = 800
        words, line = text.split(), ""
        for w in words:
            if len(line) + len(w) > 80:
                c.drawString(50, y, line)
                y -= 14
                line = ""
            line = f"{line} {w}".strip()
        c.drawString(50, y, line)
        c.showPage()
    c.save()


def find_span(text: str, sentence: str) -> tuple[int, int]:
    """Offsets of ``sentence`` in ``text``, allowing any whitespace between words."""
    found = re.search(r"\s+".join(re.escape(w) for w in sentence.split()), text)
    assert found, f"{sentence!r} not in the document"
    return found.start(), found.end()


class FakeChain:
    """Answers from SCRIPT with real quotes and offsets (read with the project's loader).

    ``retrieval_mode='bm25'`` retrieves only a wrong document, so a comparison has
    something to show. Unscripted questions are refused. Every call is recorded.
    """

    def __init__(self, corpus: Path):
        self.corpus = corpus
        self.calls: list[dict] = []
        self.resets = 0

    def reset_cache(self) -> None:
        self.resets += 1

    def __call__(self, question, history=None, settings=None, filters=None):
        from ingest.load import load
        from rag.models import Answer, Citation, RetrievedRef

        self.calls.append(
            {
                "question": question,
                "history": history,
                "mode": settings.retrieval_mode if settings else None,
                "chunk_tokens": settings.chunk_tokens if settings else None,
                "index_dir": settings.index_dir if settings else None,
            }
        )
        timings = {
            "retrieve": 10.0 + len(self.calls),
            "answer": 5.0,
            "total": 15.0 + len(self.calls),
        }
        if question not in SCRIPT:
            return Answer(
                question=question,
                answer="I could not find this in the documents.",
                refused=True,
                timings_ms=timings,
                retrieved=[RetrievedRef(source="tariffs.txt", score=0.1)],
            )
        source, sentence = SCRIPT[question]
        doc = load(self.corpus / source, source)
        start, end = find_span(doc.text, sentence)
        sentence = doc.text[start:end]  # PDF text has line breaks where the script has spaces
        page = doc.page_at(start)
        other = "docs/rules.pdf" if source == "withdrawal.md" else "withdrawal.md"
        if settings is not None and settings.retrieval_mode == "bm25":
            retrieved = [RetrievedRef(source=other, score=0.5)]
        else:
            retrieved = [
                RetrievedRef(source=source, page=page, score=0.9),
                RetrievedRef(source=other, score=0.4),
            ]
        cit = Citation(
            n=1,
            source=source,
            title=doc.title,
            page=page,
            quote=sentence,
            start=start,
            end=end,
            score=0.9,
        )
        return Answer(
            question=question,
            answer=" ".join(sentence.split()) + " [1]",
            citations=[cit],
            retrieved=retrieved,
            timings_ms=timings,
        )
