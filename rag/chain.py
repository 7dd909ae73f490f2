"""The answering chain, composed once, top to bottom, as a LangChain runnable:

    prepare (validate, condense a follow-up, retrieve)  ->  answer (extractive or LLM,
    streaming)  ->  check citations (and refuse when the evidence does not answer)

``build_chain(settings)`` returns the runnable: ``.stream({"question": ...})`` yields token
events and then one final ``{"event": "answer", "data": Answer}``. ``answer_question`` and
``stream_answer`` are the plain-Python entry points used by the CLI, the web app and evals.

Example::

    from rag.chain import answer_question
    result = answer_question("Why are Canada–Mexico relations at a low point?")
    print(result.answer, [c.source for c in result.citations])
"""

from __future__ import annotations

import threading
import time
from collections.abc import Iterator
from dataclasses import dataclass, field

import numpy as np
from pydantic import ValidationError

from ingest.embed import Encoder, get_encoder
from ingest.store import IndexStore, open_store
from rag import prompts
from rag.answer import (
    LATE_RATIO,
    extractive_answer,
    key_term_coverage,
    question_aspects,
    unsupported_constraints,
)
from rag.cite import CitationChecker, verify
from rag.condense import llm_standalone, rule_standalone
from rag.glossary import in_document_terms
from rag.llm import make_chat_model
from rag.models import Answer, RetrievedRef, Turn
from rag.rerank import ScoredSentence, SentenceBank, rerank, score_sentences
from rag.retrieve import BM25Index, Passage, Retriever
from tradechat.errors import BadRequestError, IndexNotFoundError
from tradechat.settings import Settings, get_settings

Event = dict


@dataclass
class _State:
    question: str
    history: list[Turn]
    filters: dict | None
    standalone: str
    bm25: BM25Index | None = None
    passages: list[Passage] = field(default_factory=list)
    scored: list[ScoredSentence] = field(default_factory=list)
    parts: list[str] = field(default_factory=list)  # of a question that asks two things
    further: list[ScoredSentence] = field(default_factory=list)  # past the lead
    # Of a pool passage that re-ranking left out, appended last; refusal does not weigh it.
    spare: list[ScoredSentence] = field(default_factory=list)
    q_emb: np.ndarray | None = None
    reworded_emb: np.ndarray | None = None  # the question in the documents' terms
    started: float = 0.0
    retrieve_ms: float = 0.0


class RagPipeline:
    """Retriever, answerer and citation checker over one index, with their caches."""

    def __init__(
        self,
        settings: Settings,
        encoder: Encoder | None = None,
        store: IndexStore | None = None,
        llm=None,
    ):
        self.settings = settings
        self.encoder = encoder or get_encoder(
            settings.embedding_model, settings.embedding_batch_size
        )
        self.store = store or open_store(settings, self.encoder.label, self.encoder.max_tokens)
        self.retriever = Retriever(self.store, self.encoder, settings)
        self.llm = llm if llm is not None else make_chat_model(settings)
        self._docs: dict[str, str | None] = {}
        self._emb_cache: dict[str, np.ndarray] = {}
        self.bank = SentenceBank(self.encoder)
        self._lock = threading.Lock()

    def reset(self) -> None:
        self.retriever.invalidate()
        with self._lock:
            self._docs.clear()
            self._emb_cache.clear()
        self.bank.clear()

    def document_text(self, source: str) -> str | None:
        with self._lock:
            if source not in self._docs:
                self._docs[source] = self.store.document_text(source)
            return self._docs[source]

    # --- stage 1 ---------------------------------------------------------------------------
    def prepare(self, inputs: dict) -> _State:
        question = str(inputs.get("question") or "").strip()
        if not question:
            raise BadRequestError("the question is empty")
        if len(question) > self.settings.max_question_chars:
            raise BadRequestError(
                f"the question is {len(question)} characters long; the limit is "
                f"{self.settings.max_question_chars} (TRADECHAT_MAX_QUESTION_CHARS)"
            )
        try:
            history = [
                t if isinstance(t, Turn) else Turn.model_validate(t)
                for t in inputs.get("history") or []
            ]
        except ValidationError as exc:
            raise BadRequestError(
                "each history turn needs role 'user' or 'assistant' and a content string"
            ) from exc
        started = time.perf_counter()
        # One look at the index per question: the lexical index is current as of now, and
        # every later stage of this question uses it.
        bm25 = self.retriever.bm25()
        if not bm25.chunks:
            raise IndexNotFoundError(
                "the index is empty: run `tradechat ingest PATH` (or upload a document) first"
            )
        if history and self.llm is not None:
            standalone = llm_standalone(question, history, self.llm)
        else:
            standalone = rule_standalone(question, history)
        state = _State(
            question, history, inputs.get("filters"), standalone, bm25=bm25, started=started
        )
        # A question in everyday words ("seizes a factory", "how is the payout worked out")
        # is also embedded in the documents' terms ("expropriate", "compensation"): a
        # sentence's meaning is the closer of the two cosines.
        reworded = in_document_terms(standalone)
        texts = [standalone] + ([reworded] if reworded != standalone else [])
        embs = np.asarray(self.encoder.embed(texts), dtype=np.float32)
        state.q_emb = embs[0]
        state.reworded_emb = embs[1] if len(embs) > 1 else None
        candidates = self.retriever.candidates(
            standalone, state.filters, query_embedding=state.q_emb.tolist(), bm25=bm25
        )
        s = self.settings
        state.passages, state.scored = rerank(
            standalone,
            candidates,
            self.bank,
            state.q_emb,
            bm25,
            s.top_k,
            s.mmr_lambda,
            s.max_per_source,
            s.answer_passages,
            s.weak_lexical,
            s.heading_weight,
            reworded_emb=state.reworded_emb,
        )
        lead = s.answer_passages
        state.parts = question_aspects(standalone)
        if len(state.passages) > lead:
            # The passages past the lead: a question that asks two things may find its
            # second answer in another document, further down, and a passage just past the
            # lead may state the answer as well as the best one does. The answer's main
            # sentences and refusal still come from the lead.
            state.further = self._score_from(state, lead)
        if s.follow_passages:
            self._add_continuations(state, s.follow_passages)
        if self.llm is None:
            self._add_spare(state, candidates)
        state.retrieve_ms = (time.perf_counter() - started) * 1000
        return state

    def _add_continuations(self, state: _State, lead: int) -> None:
        """Read on past a chunk boundary: the chunk after each of the first ``lead`` passages,
        when it is in the same section (a list of exceptions, a penalty clause that runs on),
        is appended to the passages and its sentences are scored with the others."""
        have = {p.id for p in state.passages}
        extra: list[Passage] = []
        for p in state.passages[:lead]:
            nxt = state.bm25.next_in_section(p.id)
            if nxt is not None and nxt.id not in have:
                have.add(nxt.id)
                extra.append(Passage(nxt.id, nxt.text, nxt.meta, p.score * 0.99))
        if not extra:
            return
        self.retriever.fill_embeddings(extra)
        offset = len(state.passages)
        state.passages = state.passages + extra
        # Sentence scores do not depend on the other passages: score only the new ones.
        state.scored += self._score_from(state, offset)

    def _add_spare(
        self, state: _State, candidates: list[Passage], ratio: float = LATE_RATIO
    ) -> None:
        """A pool passage that re-ranking left out (for diversity, or past the cap per
        document) may state the answer better than any passage kept: the clause with the
        term of protection, in a fourth chunk of the same article. When the best of its
        sentences scores at least ``ratio`` of the lead's best, and better than any sentence
        of the passages past the lead, that passage is appended as a spare and its sentences
        join theirs (the answer's late sentence, a part's best: see ``extractive_answer``).
        Refusal does not weigh it, and the sources listed before it keep their order."""
        have = {p.id for p in state.passages}
        rest = [c for c in candidates if c.id not in have]
        if not rest or not state.scored:
            return
        out = self._score(state, rest)
        top = max(out, key=lambda x: x.score, default=None)
        lead_best = max(x.score for x in state.scored)
        if (
            top is None
            or top.score < lead_best * ratio
            or any(x.score >= top.score for x in state.further)
        ):
            return
        p = rest[top.passage]
        at = len(state.passages)
        last = min(q.score for q in state.passages)
        state.passages = state.passages + [
            Passage(p.id, p.text, p.meta, last * 0.99, embedding=p.embedding)
        ]
        state.spare = [x for x in out if x.passage == top.passage]
        for x in state.spare:
            x.passage = at

    def _score_from(self, state: _State, start: int) -> list[ScoredSentence]:
        """The sentences of ``state.passages[start:]``, scored against the question, each
        ``passage`` index counted in the whole list."""
        out = self._score(state, state.passages[start:])
        for sc in out:
            sc.passage += start
        return out

    def _score(self, state: _State, passages: list[Passage]) -> list[ScoredSentence]:
        """The sentences of ``passages`` scored against the question (``passage`` indexes
        ``passages``)."""
        return score_sentences(
            state.standalone,
            passages,
            self.bank,
            state.q_emb,
            state.bm25,
            reworded_emb=state.reworded_emb,
        )

    # --- stages 2 and 3 ---------------------------------------------------------------------
    def events(self, states: Iterator[_State]) -> Iterator[Event]:
        for state in states:
            yield from self._answer(state)

    def _answer(self, state: _State) -> Iterator[Event]:
        t0 = time.perf_counter()
        s = self.settings
        passages = state.passages
        bm25 = state.bm25
        retrieved = [
            RetrievedRef(
                source=p.meta.source,
                section=p.meta.section_label,
                page=p.meta.page,
                score=round(p.score, 4),
            )
            for p in passages
        ]
        checker = CitationChecker(self.encoder, passages, self.bank, cache=self._emb_cache)
        refused = False
        missing: list[str] = []
        text, citations = "", []
        if not passages:
            refused = True
        elif self.llm is None:
            # The condensed question carries the follow-up's context; the raw one its focus.
            parts = state.parts
            embs = np.asarray(self.encoder.embed(parts), dtype=np.float32) if parts else []
            aspects = list(zip(parts, embs, strict=True))
            # Refusal does not weigh the spare passage, which is last (it is never empty of
            # sentences: one of them made it the spare).
            judged = passages[:-1] if state.spare else passages
            draft = extractive_answer(
                state.standalone,
                judged,
                state.scored,
                bm25,
                s.answer_sentences,
                asked=state.question,
                aspects=aspects,
                kind_ratio=s.refusal_kind_ratio,
                further=state.further + state.spare,
            )
            missing = unsupported_constraints(state.standalone, judged, bm25)
            refused = (
                bool(missing)
                or not draft.has_asked_kind
                or not self._answerable(
                    draft.evidence,
                    draft.coverage,
                    passage_cosine=_best_cosine(judged, state.q_emb),
                )
            )
            if not refused:
                for sc in draft.sentences:  # quotes are the chosen sentences themselves
                    checker.cache.setdefault(" ".join(sc.sentence.text.split()), sc.embedding)
                text, citations, _ = verify(draft.text, passages, checker, self.document_text)
                for piece in _sentence_pieces(text):
                    yield {"event": "token", "data": piece}
        else:
            coverage = key_term_coverage(state.standalone, passages, bm25)
            missing = unsupported_constraints(state.standalone, passages, bm25)
            if missing or not self._answerable(
                max(p.dense for p in passages), coverage, lenient=True
            ):
                refused = True
            else:
                raw = ""
                for chunk in self.llm.stream(self._messages(state)):
                    piece = str(getattr(chunk, "content", chunk) or "")
                    if piece:
                        raw += piece
                        yield {"event": "token", "data": piece}
                if prompts.REFUSAL_TEXT.lower().rstrip(".") in raw.lower():
                    refused = True
                else:
                    text, citations, _ = verify(raw, passages, checker, self.document_text)
                    refused = not citations
        if refused or not citations:
            refused = True
            text = _refusal_text(passages, missing)
            citations = []
            yield {"event": "token", "data": text}
        answer_ms = (time.perf_counter() - t0) * 1000
        total_ms = (time.perf_counter() - state.started) * 1000
        yield {
            "event": "answer",
            "data": Answer(
                question=state.question,
                answer=text,
                refused=refused,
                citations=citations,
                retrieved=retrieved,
                timings_ms={
                    "retrieve": round(state.retrieve_ms, 1),
                    "answer": round(answer_ms, 1),
                    "total": round(total_ms, 1),
                },
                standalone_question=state.standalone
                if state.standalone != state.question
                else None,
            ),
        }

    def _answerable(
        self, evidence: float, coverage: float, lenient: bool = False, passage_cosine: float = 0.0
    ) -> bool:
        s = self.settings
        threshold = s.refusal_threshold - (0.1 if lenient else 0.0)
        strong = evidence >= threshold or passage_cosine >= s.refusal_passage_cosine
        return strong and coverage >= s.refusal_min_coverage

    def _messages(self, state: _State):
        numbered = []
        for i, p in enumerate(state.passages, start=1):
            where = ", ".join(
                x
                for x in (p.meta.section_label, f"page {p.meta.page}" if p.meta.page else None)
                if x
            )
            numbered.append(
                {
                    "n": i,
                    "title": p.meta.title,
                    "where": f" ({where})" if where else "",
                    "text": p.text,
                }
            )
        history = [t.model_dump() for t in state.history[-6:]]
        return prompts.answer_messages(state.standalone, numbered, history)


def _sentence_pieces(text: str) -> list[str]:
    words = text.split(" ")
    return [w + (" " if i < len(words) - 1 else "") for i, w in enumerate(words)]


def _refusal_text(passages: list[Passage], missing: list[str]) -> str:
    seen: list[str] = []
    for p in passages:
        label = p.meta.title + (f" ({p.meta.section_label})" if p.meta.section_label else "")
        if label not in seen:
            seen.append(label)
    text = prompts.EXTRACTIVE_REFUSAL_EMPTY
    if seen:
        text = prompts.EXTRACTIVE_REFUSAL.format(sources="; ".join(seen[:3]))
    if missing:
        text += " " + prompts.REFUSAL_MISSING.format(items=", ".join(f"“{m}”" for m in missing))
    return text


# --- the runnable and the entry points -------------------------------------------------------

_PIPELINES: dict[str, RagPipeline] = {}
_PIPELINES_LOCK = threading.Lock()


def get_pipeline(settings: Settings | None = None) -> RagPipeline:
    """The cached pipeline for these settings (the BM25 index and caches live here)."""
    settings = settings or get_settings()
    key = settings.model_dump_json()
    with _PIPELINES_LOCK:
        if key not in _PIPELINES:
            _PIPELINES[key] = RagPipeline(settings)
        return _PIPELINES[key]


def reset_cache(settings: Settings | None = None) -> None:
    """Forget lexical indexes and cached texts after the index changed (upload, delete)."""
    with _PIPELINES_LOCK:
        pipelines = list(_PIPELINES.values())
    for p in pipelines:
        p.reset()


def build_chain(settings: Settings | None = None, pipeline: RagPipeline | None = None):
    """The LangChain runnable: {"question", "history"?, "filters"?} -> events."""
    from langchain_core.runnables import RunnableGenerator, RunnableLambda

    pipeline = pipeline or get_pipeline(settings)
    return RunnableLambda(pipeline.prepare).with_config(run_name="retrieve") | RunnableGenerator(
        pipeline.events
    ).with_config(run_name="answer_and_cite")


def stream_answer(
    question: str,
    history: list[Turn] | None = None,
    settings: Settings | None = None,
    filters: dict | None = None,
    pipeline: RagPipeline | None = None,
) -> Iterator[Event]:
    """Token events, then one ``{"event": "answer", "data": Answer}``."""
    chain = build_chain(settings, pipeline)
    yield from chain.stream({"question": question, "history": history or [], "filters": filters})


def answer_question(
    question: str,
    history: list[Turn] | None = None,
    settings: Settings | None = None,
    filters: dict | None = None,
    pipeline: RagPipeline | None = None,
) -> Answer:
    """Answer ``question`` from the index, with verified citations (or a refusal)."""
    final = None
    for event in stream_answer(question, history, settings, filters, pipeline):
        if event["event"] == "answer":
            final = event["data"]
    assert final is not None
    return final


def _best_cosine(passages: list[Passage], q_emb: np.ndarray) -> float:
    """How well the best retrieved passage, read whole, matches the question."""
    return max(
        (float(p.embedding @ q_emb) for p in passages if p.embedding is not None),
        default=0.0,
    )
