"""Follow-up questions: turn "And how much notice does it require?" plus the chat history
into a standalone question before retrieval (by the LLM when one is configured, by a
deterministic rule otherwise)."""

from __future__ import annotations

import re

from rag.models import Turn
from rag.text import terms

_FOLLOW_UP = re.compile(
    r"^\s*(and|also|but|so|then|what about|how about|plus)\b|"
    r"\b(it|its|they|them|their|theirs|this|that|these|those|he|she|his|her|him|"
    r"the same|there|such|former|latter|above)\b",
    re.I,
)


def looks_like_follow_up(question: str) -> bool:
    """True for questions that lean on the conversation.

    >>> looks_like_follow_up("And how much notice does it require?")
    True
    >>> looks_like_follow_up("What does Article 2205 of NAFTA provide?")
    False
    """
    return bool(_FOLLOW_UP.search(question)) or len(terms(question)) <= 2


def rule_standalone(question: str, history: list[Turn]) -> str:
    """Deterministic rewrite: a follow-up gets the previous user question as its context.

    >>> rule_standalone("And how much notice does it require?",
    ...                 [Turn(role="user", content="How can a Party withdraw from NAFTA?"),
    ...                  Turn(role="assistant", content="By written notice [1].")])
    'And how much notice does it require? (How can a Party withdraw from NAFTA?)'
    """
    previous = [t.content.strip() for t in history if t.role == "user" and t.content.strip()]
    if not previous or not looks_like_follow_up(question):
        return question
    return f"{question.strip()} ({previous[-1]})"


def llm_standalone(question: str, history: list[Turn], llm) -> str:
    from rag.prompts import condense_messages

    if not history:
        return question
    msgs = condense_messages(question, [t.model_dump() for t in history[-6:]])
    try:
        text = llm.invoke(msgs).content
    except Exception:  # the LLM is down: the rule still gives a usable question
        return rule_standalone(question, history)
    text = str(text).strip().strip('"').strip()
    return text if 3 < len(text) < 1000 else rule_standalone(question, history)
