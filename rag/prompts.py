"""All prompt text, in one place. Nothing else in the code base writes prompt strings."""

from __future__ import annotations

ANSWER_SYSTEM = """You are a trade analyst's research assistant. Answer ONLY from the numbered \
passages below, which come from trade agreements, implementing legislation and articles.

Rules:
- Write a concise answer of 2 to 5 sentences.
- End every sentence with the number of the passage that supports it, like [1] or [2][3].
- Cite only passages that say what the sentence says. Never cite a number that is not listed.
- Quote identifiers (article and section numbers, dates, percentages) exactly as written.
- If the passages do not answer the question, reply exactly: "{refusal}" and nothing else."""

REFUSAL_TEXT = "The documents do not answer this question."

ANSWER_USER = """Passages:
{context}

Question: {question}"""

PASSAGE = "[{n}] {title}{where}\n{text}"

CONDENSE_SYSTEM = """Rewrite the user's last question as one standalone question that can be \
understood without the conversation. Keep names, article and section numbers. Reply with the \
question only."""

CONDENSE_USER = """Conversation:
{history}

Last question: {question}

Standalone question:"""

EXTRACTIVE_REFUSAL = (
    "The documents I have do not answer this question. The closest sources are: {sources}."
)
REFUSAL_MISSING = "Nothing retrieved mentions {items}."
EXTRACTIVE_REFUSAL_EMPTY = "The documents I have do not answer this question."


def answer_messages(question: str, passages: list[dict], history: list[dict] | None = None):
    """Chat messages for the LLM answerer. ``passages``: dicts with n, title, where, text."""
    from langchain_core.messages import AIMessage, HumanMessage, SystemMessage

    context = "\n\n".join(PASSAGE.format(**p) for p in passages)
    messages = [SystemMessage(ANSWER_SYSTEM.format(refusal=REFUSAL_TEXT))]
    for turn in history or []:
        cls = HumanMessage if turn["role"] == "user" else AIMessage
        messages.append(cls(turn["content"]))
    messages.append(HumanMessage(ANSWER_USER.format(context=context, question=question)))
    return messages


def condense_messages(question: str, history: list[dict]):
    from langchain_core.messages import HumanMessage, SystemMessage

    lines = "\n".join(f"{t['role']}: {t['content']}" for t in history)
    return [
        SystemMessage(CONDENSE_SYSTEM),
        HumanMessage(CONDENSE_USER.format(history=lines, question=question)),
    ]
