"""Typed results of the answering chain. ``Answer.model_dump()`` is exactly the JSON that
``tradechat ask --json`` prints, that ``POST /api/ask`` serves and that evals/ records."""

from __future__ import annotations

from typing import Literal

from pydantic import BaseModel, Field


class Turn(BaseModel):
    """One prior chat turn."""

    role: Literal["user", "assistant"]
    content: str


class Citation(BaseModel):
    """A verified citation: ``[n]`` in the answer resolves to this passage."""

    n: int = Field(description="The marker number used in the answer text.")
    source: str = Field(description="Path relative to the ingested root.")
    title: str
    section: str | None = Field(None, description="'Article 2205: Withdrawal', '§ 4611. ...'")
    page: int | None = None
    quote: str = Field(description="The supporting text, verbatim from the document.")
    start: int = Field(description="Character offset of the quote in the document text.")
    end: int
    score: float = Field(description="Support score of the quote for its sentence (0-1).")


class RetrievedRef(BaseModel):
    """One retrieved passage, in rank order."""

    source: str
    section: str | None = None
    page: int | None = None
    score: float


class Answer(BaseModel):
    """The chain's result. A refusal is a normal Answer with ``refused=True``."""

    question: str
    answer: str
    refused: bool = False
    citations: list[Citation] = Field(default_factory=list)
    retrieved: list[RetrievedRef] = Field(default_factory=list)
    timings_ms: dict[str, float] = Field(
        default_factory=dict, description="retrieve, answer, total"
    )
    standalone_question: str | None = Field(
        None, description="The question as rewritten from chat history, when it was."
    )
