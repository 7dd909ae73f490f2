"""Score an ``answers.jsonl`` against its question set: the numbers in ``summary.json``.

Usage::

    python -m evals.score eval_out/answers.jsonl \\
        --questions evals/questions_shared_corpus.jsonl --corpus ../shared/corpus

prints the same ``overall`` and ``by_type`` metrics that the runner wrote to
``summary.json`` for that answers file (the runner calls ``score_answers`` itself). Only the
answers file, the question set and the corpus are read: citation quotes are checked
against the document text produced by the project's own loader (``ingest.load.load``),
which is the text that citation offsets index into.
"""

from __future__ import annotations

import argparse
import json
import sys
from collections import defaultdict
from pathlib import Path

from evals import metrics as m
from tradechat.errors import ConfigError, DocumentError

RANK_KS = (1, 3, 5)
ROUND = 4

# Metric name -> one-line definition (shown in report.md and summary.json).
DEFINITIONS: dict[str, str] = {
    "hit@1": "answerable questions whose first retrieved passage comes from an expected source",
    "hit@3": "... with an expected source among the first 3 retrieved passages",
    "hit@5": "... with an expected source among the first 5 retrieved passages",
    "recall@5": "share of a question's expected sources found among the first 5 passages",
    "mrr": "mean of 1/rank of the first passage from an expected source (0 if none retrieved)",
    "ndcg@10": "nDCG over the first 10 passages, binary gain, first passage per source only",
    "page_hit@5": "questions with expected PDF pages: a passage from an expected page in the top 5",
    "page_mrr": "questions with expected PDF pages: 1/rank of the first passage on an expected page",
    "fact_recall": "share of fact groups the answer text contains (case-insensitive, "
    "whitespace and typographic quotes/dashes normalised, [n] markers removed)",
    "facts_all": "answerable questions whose answer contains every fact group",
    "citation_precision": "cited passages whose source is an expected source (all citations "
    "of answered, answerable questions; a lower bound)",
    "citation_verbatim": "citations whose quote occurs in the cited document's text",
    "citation_span_exact": "citations whose start/end offsets give exactly the quote",
    "citation_support": "citations whose quote occurs in the document AND covers at least half "
    "the content words of a sentence carrying its marker (half divided by "
    "the number of markers in that sentence), where every number the "
    "sentence states in digits occurs in the sentence's quotes",
    "sentence_support": "per answered question, share of answer sentences carrying at least "
    "one supported citation; averaged over answered questions",
    "answered_with_citation": "answered (not refused) questions with at least one citation",
    "refusal_accuracy": "questions whose refused flag is right (refused iff unanswerable)",
    "refusal_precision": "refused questions that were unanswerable",
    "refusal_recall": "unanswerable questions that were refused",
    "false_refusal_rate": "answerable questions that were refused",
    "refusal_balanced_accuracy": "mean of refusal_recall and 1 - false_refusal_rate: both "
    "classes weigh the same, so always or never refusing scores 0.5",
    "latency_p50_ms": "median of timings_ms.total over all questions",
    "latency_p95_ms": "95th percentile of timings_ms.total",
    "retrieve_p50_ms": "median of timings_ms.retrieve",
    "answer_p50_ms": "median of timings_ms.answer",
}

# Metrics whose per-question values are averaged (None = undefined for that question).
_MEAN_KEYS = (
    "hit@1",
    "hit@3",
    "hit@5",
    "recall@5",
    "mrr",
    "ndcg@10",
    "page_hit@5",
    "page_mrr",
    "fact_recall",
    "facts_all",
    "sentence_support",
    "answered_with_citation",
)
# Citation metrics pooled over all citations: (metric, numerator field, denominator field).
_POOLED = (
    ("citation_precision", "n_cited_expected", "n_citations_answerable"),
    ("citation_verbatim", "n_verbatim", "n_citations"),
    ("citation_span_exact", "n_span_exact", "n_citations"),
    ("citation_support", "n_supported", "n_citations"),
)


# --------------------------------------------------------------------------------------------
# Inputs
# --------------------------------------------------------------------------------------------


def read_jsonl(path: str | Path) -> list[dict]:
    """The objects of a JSONL file (blank lines skipped); ConfigError names a bad line."""
    out = []
    with open(path, encoding="utf-8") as fh:
        for lineno, line in enumerate(fh, 1):
            if not line.strip():
                continue
            try:
                out.append(json.loads(line))
            except json.JSONDecodeError as exc:
                raise ConfigError(f"{path}, line {lineno}: invalid JSON ({exc.msg})") from exc
    return out


def load_questions(path: str | Path) -> list[dict]:
    """Read a question set, filling the optional fields; ConfigError on a malformed record.

    Only ``id``, ``question`` and ``answerable`` are required here, so that a held-out set
    with extra fields still runs; ``python -m evals.check_questions`` validates fully.
    """
    questions = []
    seen: set[str] = set()
    for i, rec in enumerate(read_jsonl(path), 1):
        if not isinstance(rec, dict) or not all(k in rec for k in ("id", "question", "answerable")):
            raise ConfigError(f"{path}: record {i} lacks id, question or answerable")
        qid = str(rec["id"])
        if qid in seen:
            raise ConfigError(f"{path}: duplicate question id {qid!r}")
        seen.add(qid)
        q = dict(rec)
        q["id"] = qid
        q["answerable"] = bool(rec["answerable"])
        q["type"] = rec.get("type") or ("unanswerable" if not q["answerable"] else "other")
        q["sources"] = list(rec.get("sources") or [])
        q["facts"] = [list(g) for g in rec.get("facts") or []]
        q["pages"] = dict(rec.get("pages") or {})
        q["history"] = list(rec.get("history") or [])
        questions.append(q)
    if not questions:
        raise ConfigError(f"{path}: no questions found")
    return questions


class CorpusTexts:
    """Document texts of a corpus folder, loaded with the project's loader and cached."""

    def __init__(self, root: str | Path):
        self.root = Path(root)
        self._cache: dict[str, tuple[str | None, str | None]] = {}

    def _path(self, source: str) -> Path | None:
        parts = Path(source.replace("\\", "/")).parts
        # A source is relative to the ingested root; accept a corpus ingested from a parent.
        for i in range(len(parts)):
            candidate = self.root.joinpath(*parts[i:])
            if candidate.is_file():
                return candidate
        return None

    def text(self, source: str) -> tuple[str | None, str | None]:
        """``(text, None)`` or ``(None, reason)`` for a source relative to the corpus root."""
        if source not in self._cache:
            from ingest.load import load

            path = self._path(source)
            if path is None:
                self._cache[source] = (None, "not a file of the corpus")
            else:
                try:
                    self._cache[source] = (load(path, source).text, None)
                except DocumentError as exc:
                    self._cache[source] = (None, str(exc))
        return self._cache[source]


# --------------------------------------------------------------------------------------------
# Per question
# --------------------------------------------------------------------------------------------


def _ranked_keys(retrieved: list[dict], q: dict) -> tuple[list[str | None], list[str | None]]:
    """Retrieved passages mapped to expected-source keys and expected-page keys (or None)."""
    src_keys, page_keys = [], []
    for r in retrieved:
        exp = m.match_source(str(r.get("source", "")), q["sources"])
        src_keys.append(exp)
        page = r.get("page")
        page_keys.append(m.page_key(exp, page) if exp in q["pages"] and page is not None else None)
    return src_keys, page_keys


def score_question(q: dict, a: dict, corpus: CorpusTexts) -> dict:
    """All per-question values for one answer (``a`` is one line of answers.jsonl)."""
    answer = a.get("answer") or ""
    refused = bool(a.get("refused"))
    retrieved = list(a.get("retrieved") or [])
    citations = list(a.get("citations") or [])
    timings = a.get("timings_ms") or {}
    answerable = q["answerable"]
    rec: dict = {
        "id": q["id"],
        "type": q["type"],
        "answerable": answerable,
        "refused": refused,
        "refusal_correct": refused == (not answerable),
    }

    # Retrieval: sources (and PDF pages) of the retrieved passages, in rank order.
    src_keys, page_keys = _ranked_keys(retrieved, q)
    relevant = set(q["sources"]) if answerable else set()
    for k in RANK_KS:
        rec[f"hit@{k}"] = m.hit_at_k(src_keys, relevant, k)
    rec["recall@5"] = m.recall_at_k(src_keys, relevant, 5)
    rec["mrr"] = m.reciprocal_rank(src_keys, relevant)
    rec["ndcg@10"] = m.ndcg_at_k(src_keys, relevant, 10)
    pages = {m.page_key(s, p) for s, ps in q["pages"].items() for p in ps} if answerable else set()
    rec["page_hit@5"] = m.hit_at_k(page_keys, pages, 5)
    rec["page_mrr"] = m.reciprocal_rank(page_keys, pages)
    rec["retrieved_top5"] = [r.get("source") for r in retrieved[:5]]

    # Facts: from the answer text only.
    rec["fact_recall"] = m.fact_recall(answer, q["facts"]) if answerable else None
    rec["facts_all"] = None if rec["fact_recall"] is None else float(rec["fact_recall"] == 1.0)
    rec["missing_facts"] = (
        [g[0] for g in q["facts"] if not m.fact_covered(answer, g)] if answerable else []
    )

    # Citations of answered questions: real quote? relevant to its sentence? expected source?
    counts = dict.fromkeys(
        (
            "n_citations",
            "n_verbatim",
            "n_span_exact",
            "n_supported",
            "n_citations_answerable",
            "n_cited_expected",
        ),
        0,
    )
    problems: list[dict] = []
    rec["sentence_support"] = None
    rec["answered_with_citation"] = None
    if not refused:
        occurs: dict[int, bool] = {}
        for c in citations:
            n = int(c.get("n", 0))
            text, reason = corpus.text(str(c.get("source", "")))
            quote = c.get("quote") or ""
            occurs[n] = text is not None and m.quote_in_document(
                quote, text, c.get("start"), c.get("end")
            )
            counts["n_citations"] += 1
            counts["n_verbatim"] += occurs[n]
            if (
                text is not None
                and isinstance(c.get("start"), int)
                and isinstance(c.get("end"), int)
            ):
                counts["n_span_exact"] += m.span_exact(quote, text, c["start"], c["end"])
            if text is None:
                problems.append({"n": n, "source": c.get("source"), "problem": reason})
            elif not occurs[n]:
                problems.append(
                    {
                        "n": n,
                        "source": c.get("source"),
                        "problem": "quote not found in the document",
                    }
                )
        rels = m.supported_markers(answer, citations, occurs)
        supported = {n for n, rel in rels.items() if m.citation_supported(rel)}
        counts["n_supported"] = sum(1 for c in citations if int(c.get("n", 0)) in supported)
        for c in citations:
            n = int(c.get("n", 0))
            if occurs.get(n) and n not in supported:
                rel = rels.get(n)
                problems.append(
                    {
                        "n": n,
                        "source": c.get("source"),
                        "problem": "marker not in the answer"
                        if rel is None
                        else "sentence states a number the quote lacks"
                        if rel == 0 and _unbacked_number(answer, n, c.get("quote") or "")
                        else f"quote covers {rel:.0%} of its sentence",
                    }
                )
        if answerable:
            counts["n_citations_answerable"] = len(citations)
            counts["n_cited_expected"] = sum(
                m.match_source(str(c.get("source", "")), q["sources"]) is not None
                for c in citations
            )
        rec["sentence_support"] = m.sentence_support_share(answer, supported)
        rec["answered_with_citation"] = float(bool(citations))
        dangling = [
            n for n in m.markers(answer) if n not in {int(c.get("n", 0)) for c in citations}
        ]
        if dangling:
            problems.append({"n": dangling, "source": None, "problem": "marker without a citation"})
    rec.update(counts)
    rec["citation_problems"] = problems

    total = timings.get("total")
    if total is None and timings:
        total = sum(v for k, v in timings.items() if k in ("retrieve", "answer"))
    rec["latency_ms"] = total
    rec["retrieve_ms"] = timings.get("retrieve")
    rec["answer_ms"] = timings.get("answer")
    return _rounded(rec)


def _unbacked_number(answer: str, n: int, quote: str) -> bool:
    return any(
        n in m.markers(s) and not m.numbers(s) <= m.numbers(quote)
        for s in m.split_sentences(answer)
    )


def _rounded(obj):
    if isinstance(obj, float):
        return round(obj, ROUND)
    if isinstance(obj, dict):
        return {k: _rounded(v) for k, v in obj.items()}
    if isinstance(obj, list):
        return [_rounded(v) for v in obj]
    return obj


# --------------------------------------------------------------------------------------------
# Aggregation
# --------------------------------------------------------------------------------------------


def aggregate(records: list[dict]) -> tuple[dict, dict]:
    """``(metrics, n)``: each metric over ``records`` and how many questions it covers."""
    metrics: dict[str, float | None] = {}
    n: dict[str, int] = {}
    for key in _MEAN_KEYS:
        vals = [r[key] for r in records if r.get(key) is not None]
        metrics[key] = m.mean(vals)
        n[key] = len(vals)
    for key, num, den in _POOLED:
        total = sum(r[den] for r in records)
        metrics[key] = sum(r[num] for r in records) / total if total else None
        n[key] = total  # citations, not questions
    refusal = m.refusal_metrics((r["answerable"], r["refused"]) for r in records)
    metrics.update(refusal)
    n["refusal_accuracy"] = len(records)
    n["refusal_precision"] = sum(r["refused"] for r in records)
    n["refusal_recall"] = sum(not r["answerable"] for r in records)
    n["false_refusal_rate"] = sum(r["answerable"] for r in records)
    n["refusal_balanced_accuracy"] = len(records)
    for name, field, q in (
        ("latency_p50_ms", "latency_ms", 50),
        ("latency_p95_ms", "latency_ms", 95),
        ("retrieve_p50_ms", "retrieve_ms", 50),
        ("answer_p50_ms", "answer_ms", 50),
    ):
        vals = [r[field] for r in records if r.get(field) is not None]
        metrics[name] = m.percentile(vals, q)
        n[name] = len(vals)
    return _rounded(metrics), n


def score_records(questions: list[dict], answers: list[dict], corpus_dir: str | Path) -> dict:
    """Score answers (dicts shaped like answers.jsonl lines) against questions.

    A question without an answer is scored as an empty, unrefused answer with nothing
    retrieved (it fails every metric) and listed under ``missing_answers``.
    """
    corpus = CorpusTexts(corpus_dir)
    by_id = {}
    for a in answers:
        by_id.setdefault(str(a.get("id")), a)
    qids = {q["id"] for q in questions}
    records, missing = [], []
    for q in questions:
        a = by_id.get(q["id"])
        if a is None:
            missing.append(q["id"])
            a = {"id": q["id"], "answer": "", "refused": False}
        records.append(score_question(q, a, corpus))
    overall, overall_n = aggregate(records)
    by_type, by_type_n = {}, {}
    groups: dict[str, list[dict]] = defaultdict(list)
    for r in records:
        groups[r["type"]].append(r)
    for t in sorted(groups):
        by_type[t], by_type_n[t] = aggregate(groups[t])
    return {
        "n_questions": len(questions),
        "n_answerable": sum(q["answerable"] for q in questions),
        "n_unanswerable": sum(not q["answerable"] for q in questions),
        "missing_answers": missing,
        "unknown_answers": sorted(set(by_id) - qids),
        "overall": overall,
        "overall_n": overall_n,
        "by_type": by_type,
        "by_type_n": by_type_n,
        "questions": records,
    }


def score_answers(
    answers_path: str | Path, questions_path: str | Path, corpus_dir: str | Path
) -> dict:
    """Score an answers.jsonl file: the dict the runner stores per configuration in
    summary.json (``overall``, ``by_type``, their ``_n`` counts, per-question ``questions``).

    Example::

        s = score_answers("eval_out/answers.jsonl", "evals/questions_docs_corpus.jsonl",
                          "docs_corpus")
        s["overall"]["hit@5"], s["by_type"]["why"]["fact_recall"]
    """
    return score_records(load_questions(questions_path), read_jsonl(answers_path), corpus_dir)


def main(argv: list[str] | None = None) -> int:
    parser = argparse.ArgumentParser(
        prog="python -m evals.score",
        description="Re-score an answers.jsonl; prints the metrics summary.json holds.",
    )
    parser.add_argument("answers", help="answers.jsonl written by `tradechat eval`")
    parser.add_argument("--questions", required=True, help="the question set (JSONL)")
    parser.add_argument("--corpus", required=True, help="the corpus folder that was ingested")
    parser.add_argument(
        "--per-question", action="store_true", help="include the per-question values"
    )
    args = parser.parse_args(argv)
    try:
        result = score_answers(args.answers, args.questions, args.corpus)
    except (ConfigError, OSError) as exc:
        print(f"error: {exc}", file=sys.stderr)
        return 2
    if not args.per_question:
        result.pop("questions")
    print(json.dumps(result, indent=2, ensure_ascii=False))
    return 0


if __name__ == "__main__":
    sys.exit(main())
