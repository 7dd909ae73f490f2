"""A small stand-in for ``rag.chain`` used where a test needs a fixed, fast answer.

It reads the real index (so citations point at real passages with real offsets) and
answers with the sentence that shares the most words with the question.
"""

from __future__ import annotations

import re
import time
from collections.abc import Iterator

from rag.models import Answer, Citation, Turn
from tradechat.errors import BadRequestError, IndexNotFoundError

_WORD = re.compile(r"[a-z0-9]+")
_STOP = {
    "the",
    "a",
    "an",
    "of",
    "to",
    "and",
    "in",
    "is",
    "are",
    "what",
    "why",
    "how",
    "at",
    "on",
    "for",
    "did",
    "does",
    "do",
    "it",
    "its",
    "by",
    "with",
    "about",
}


def _words(text: str) -> set[str]:
    return {w for w in _WORD.findall(text.lower()) if w not in _STOP and len(w) > 1}


class FakeChain:
    """``answer``/``stream``/``reset`` with the signatures of ``rag.chain``'s functions."""

    def __init__(self, delay: float = 0.0):
        self.delay = delay
        self.calls: list[dict] = []
        self.resets = 0

    def _store(self, settings):
        from ingest.embed import get_encoder
        from ingest.store import open_store

        enc = get_encoder(settings.embedding_model, settings.embedding_batch_size)
        return open_store(settings, enc.label, enc.max_tokens)

    def answer(
        self,
        question: str,
        history: list[Turn] | None = None,
        settings=None,
        filters: dict | None = None,
    ) -> Answer:
        self.calls.append({"question": question, "history": history, "filters": filters})
        if not question.strip():
            raise BadRequestError("empty question")
        if self.delay:
            time.sleep(self.delay)
        store = self._store(settings)
        records = store.file_records()
        if filters and filters.get("source"):
            records = {k: v for k, v in records.items() if k in filters["source"]}
        if not records:
            raise IndexNotFoundError("nothing is indexed: run `tradechat ingest` first")
        query = _words(question + " " + " ".join(t.content for t in (history or [])[-1:]))
        best = None
        for source, rec in sorted(records.items()):
            text = store.document_text(source) or ""
            for m in re.finditer(r"[^.!?\n]+[.!?]", text):
                score = len(query & _words(m.group()))
                if best is None or score > best[0]:
                    best = (score, source, rec, m.start(), m.end(), m.group())
        if best is None or best[0] == 0:
            return Answer(question=question, answer="The documents do not say.", refused=True)
        _, source, rec, start, end, sentence = best
        while sentence and sentence[0].isspace():
            sentence, start = sentence[1:], start + 1
        page = next((p["page"] for p in rec.pages if p["start"] <= start < p["end"]), None)
        cite = Citation(
            n=1,
            source=source,
            title=rec.title,
            section=None,
            page=page,
            quote=sentence,
            start=start,
            end=end,
            score=0.9,
        )
        return Answer(
            question=question,
            answer=f"{sentence} [1] [7]",
            citations=[cite],
            timings_ms={"total": 1.0},
        )

    def stream(self, question: str, history=None, settings=None, filters=None) -> Iterator[dict]:
        answer = self.answer(question, history, settings, filters)  # errors before any token
        for piece in re.findall(r"\S+\s*", answer.answer):
            yield {"event": "token", "data": piece}
        yield {"event": "answer", "data": answer}

    def reset(self, settings=None) -> None:
        self.resets += 1
