"""rag/condense.py: follow-up questions made standalone, by rule and by a (fake) LLM."""

from __future__ import annotations

import pytest
from langchain_core.language_models.fake_chat_models import FakeListChatModel

from rag.condense import llm_standalone, looks_like_follow_up, rule_standalone
from rag.models import Turn

HISTORY = [
    Turn(role="user", content="How can a Party withdraw from NAFTA?"),
    Turn(role="assistant", content="By written notice to the other Parties [1]."),
    Turn(role="user", content="  What are the USMCA rules of origin for passenger cars? "),
    Turn(role="assistant", content="75 percent regional value content [1]."),
]


@pytest.mark.parametrize(
    "question",
    [
        "And what about light trucks?",
        "What does it require?",
        "How long do they have?",
        "Also Mexico?",
        "why?",
        "What about the same rule for trucks?",
    ],
)
def test_follow_ups_get_the_last_user_question_as_context(question):
    assert looks_like_follow_up(question)
    assert rule_standalone(question, HISTORY) == (
        f"{question} (What are the USMCA rules of origin for passenger cars?)"
    )


@pytest.mark.parametrize(
    "question",
    [
        "What does Article 2205 of NAFTA provide?",
        "When did the USMCA enter into force?",
        "Which executive order imposed tariffs on Canadian goods?",
    ],
)
def test_self_contained_questions_are_left_alone(question):
    assert not looks_like_follow_up(question)
    assert rule_standalone(question, HISTORY) == question


def test_without_a_previous_user_question_the_follow_up_stays_as_asked():
    assert rule_standalone("And what about it?", []) == "And what about it?"
    only_assistant = [Turn(role="assistant", content="Welcome. Ask about trade documents.")]
    assert rule_standalone("And what about it?", only_assistant) == "And what about it?"
    blank_user = [Turn(role="user", content="   ")]
    assert rule_standalone("And what about it?", blank_user) == "And what about it?"


def test_the_llm_rewrites_the_follow_up_and_sees_the_conversation():
    llm = FakeListChatModel(responses=['  "What are the USMCA rules of origin for light trucks?" '])
    assert llm_standalone("And for light trucks?", HISTORY, llm) == (
        "What are the USMCA rules of origin for light trucks?"
    )


def test_the_llm_is_not_called_without_history():
    llm = FakeListChatModel(responses=[])  # would raise if called
    assert llm_standalone("And for light trucks?", [], llm) == "And for light trucks?"


class _DownLLM:
    def invoke(self, messages):
        raise ConnectionError("connection refused")


@pytest.mark.parametrize(
    "llm",
    [_DownLLM(), FakeListChatModel(responses=[""]), FakeListChatModel(responses=["x" * 2000])],
)
def test_a_failing_or_useless_llm_falls_back_to_the_rule(llm):
    assert llm_standalone("And for light trucks?", HISTORY, llm) == rule_standalone(
        "And for light trucks?", HISTORY
    )
