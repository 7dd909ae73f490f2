"""Optional LLM-judged faithfulness and relevance, reported apart from the deterministic
metrics.

It runs only when an LLM backend is configured (``settings.answerer`` is ``openai`` or
``ollama``) and uses that same backend as the judge, so its scores are opinions of a model,
not measurements: the report shows them in their own section, and ``python -m evals.score``
does not reproduce them. With the extractive answerer it is skipped with a reason.

The judge prompts live here rather than with the chain's prompts (rag/) because they are
part of the evaluation, not of the product.
"""

from __future__ import annotations

import re
from collections.abc import Callable

from evals.metrics import mean

FAITHFULNESS_PROMPT = """You check whether an answer is supported by its quoted sources.

Sources:
{sources}

Answer:
{answer}

Rate from 1 to 5 how fully every claim in the answer is supported by the sources
(5 = every claim supported, 1 = mostly unsupported). Reply with the number only."""

RELEVANCE_PROMPT = """Question:
{question}

Answer:
{answer}

Rate from 1 to 5 how directly and completely the answer addresses the question
(5 = fully answers it, 1 = does not address it). Reply with the number only."""

Judge = Callable[[str], str]


def make_judge(settings) -> Judge | None:
    """A prompt -> reply function on the configured LLM backend, or None for extractive."""
    if settings.answerer == "openai":
        from langchain_openai import ChatOpenAI

        key = settings.llm_api_key.get_secret_value() if settings.llm_api_key else "none"
        llm = ChatOpenAI(
            base_url=settings.llm_base_url,
            model=settings.llm_model,
            api_key=key,
            temperature=0.0,
            timeout=120,
        )
    elif settings.answerer == "ollama":
        from langchain_ollama import ChatOllama

        llm = ChatOllama(base_url=settings.ollama_url, model=settings.llm_model, temperature=0.0)
    else:
        return None
    return lambda prompt: str(llm.invoke(prompt).content)


def parse_rating(reply: str) -> float | None:
    """The first 1-5 rating in a reply, scaled to 0-1; None when there is none.

    >>> parse_rating("4"), parse_rating("Rating: 5/5"), parse_rating("no idea")
    (0.75, 1.0, None)
    """
    found = re.search(r"\b([1-5])\b", reply)
    return (int(found.group(1)) - 1) / 4 if found else None


def judge_answers(answers: list[dict], judge: Judge | None, reason_if_skipped: str = "") -> dict:
    """Faithfulness (to the cited quotes) and relevance (to the question) of every answered
    question, each the mean of 1-5 ratings scaled to 0-1.

    >>> judge_answers([{"id": "q", "question": "Q?", "answer": "A [1].", "refused": False,
    ...                 "citations": [{"n": 1, "quote": "A."}]}], lambda p: "5")["overall"]
    {'faithfulness': 1.0, 'relevance': 1.0}
    >>> judge_answers([], None, "answerer is extractive")["status"]
    'skipped'
    """
    if judge is None:
        return {"status": "skipped", "reason": reason_if_skipped or "no LLM backend configured"}
    per_question = []
    for a in answers:
        if a.get("refused"):
            continue
        sources = (
            "\n".join(f"[{c.get('n')}] {c.get('quote', '')}" for c in a.get("citations") or [])
            or "(none)"
        )
        try:
            faith = parse_rating(
                judge(FAITHFULNESS_PROMPT.format(sources=sources, answer=a["answer"]))
            )
            rel = parse_rating(
                judge(RELEVANCE_PROMPT.format(question=a["question"], answer=a["answer"]))
            )
        except Exception as exc:  # a judge outage must not lose the deterministic report
            return {"status": "failed", "reason": f"{type(exc).__name__}: {exc}"}
        per_question.append({"id": a.get("id"), "faithfulness": faith, "relevance": rel})
    overall = {key: mean(q[key] for q in per_question) for key in ("faithfulness", "relevance")}
    return {"status": "ok", "overall": overall, "n": len(per_question), "questions": per_question}
