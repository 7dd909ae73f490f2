"""The chain with an LLM answerer: a scripted fake chat model (langchain_core's
GenericFakeChatModel) in place of the remote server, over the real docs_corpus index.
Also the chat models that the settings ask for (built, never called)."""

from __future__ import annotations

import re

import pytest
from langchain_core.language_models.fake_chat_models import GenericFakeChatModel
from langchain_core.messages import HumanMessage, SystemMessage
from pydantic import Field
from rag_support import make_settings

from rag import prompts
from rag.chain import RagPipeline, answer_question, stream_answer
from rag.llm import make_chat_model
from rag.models import Answer, Turn
from rag.text import sentences
from tradechat.errors import ConfigError

QUESTION = "How long is the USMCA's term?"
OFF_TOPIC = "Emperor penguins huddle together to survive the Antarctic winter"
CHEESE = "The moon is made of green cheese and orbits Jupiter"


class ScriptedChatModel(GenericFakeChatModel):
    """Replies with the scripted messages in turn and keeps the prompts it was sent."""

    seen: list = Field(default_factory=list)

    def _generate(self, messages, stop=None, run_manager=None, **kwargs):
        self.seen.append(messages)
        return super()._generate(messages, stop=stop, run_manager=run_manager, **kwargs)


@pytest.fixture
def llm_pipeline(docs_settings, docs_pipeline):
    """``llm_pipeline(*replies)``: a pipeline over the shared index whose LLM says ``replies``."""

    def make(*replies: str) -> RagPipeline:
        fake = ScriptedChatModel(messages=iter(replies))
        return RagPipeline(
            docs_settings, encoder=docs_pipeline.encoder, store=docs_pipeline.store, llm=fake
        )

    return make


@pytest.fixture(scope="module")
def first_passage(docs_pipeline):
    """(source, a sentence) of passage [1] for QUESTION: what an honest LLM would cite."""
    passage = docs_pipeline.prepare({"question": QUESTION}).passages[0]
    text = next(
        " ".join(s.text.split())
        for s in sentences(passage.text)
        if len(s.text.split()) >= 8 and not s.text.startswith(("#", "-"))
    )
    return passage.meta.source, text.rstrip(".")


def run(pipeline: RagPipeline, question: str = QUESTION, history=None) -> tuple[list, Answer]:
    events = list(stream_answer(question, history=history, pipeline=pipeline))
    assert [e["event"] for e in events].count("answer") == 1
    assert events[-1]["event"] == "answer"
    final = events[-1]["data"]
    for c in final.citations:
        doc = pipeline.store.document_text(c.source)
        assert doc[c.start : c.end] == c.quote
    markers = {int(n) for n in re.findall(r"\[(\d+)\]", final.answer)}
    assert markers == set(range(1, len(final.citations) + 1))
    return [e["data"] for e in events[:-1]], final


def test_tokens_stream_before_the_answer_and_a_supported_citation_is_kept(
    llm_pipeline, first_passage
):
    source, sentence = first_passage
    reply = f"{sentence} [1]."
    tokens, answer = run(llm_pipeline(reply))
    assert len(tokens) > 3 and "".join(tokens) == reply
    assert not answer.refused
    assert [c.source for c in answer.citations] == [source]
    assert answer.answer == reply
    assert sentence.split()[-1] in answer.citations[0].quote


def test_a_marker_after_the_full_stop_is_kept_too(llm_pipeline, first_passage):
    source, sentence = first_passage
    _, answer = run(llm_pipeline(f"{sentence}. [1]"))
    assert [c.source for c in answer.citations] == [source]
    assert answer.answer == f"{sentence} [1]."


def test_a_marker_to_no_passage_is_dropped(llm_pipeline, first_passage):
    source, sentence = first_passage
    _, answer = run(llm_pipeline(f"{sentence} [1]. {OFF_TOPIC} [9]."))
    assert not answer.refused
    assert [c.source for c in answer.citations] == [source]
    assert "[9]" not in answer.answer
    assert answer.answer.endswith(f"{OFF_TOPIC}.")  # kept as said, but uncited


def test_an_answer_of_unsupported_claims_is_refused(llm_pipeline):
    tokens, answer = run(llm_pipeline(f"{OFF_TOPIC} [1]. {CHEESE} [2]."))
    assert answer.refused and answer.citations == []
    assert answer.answer.startswith(prompts.EXTRACTIVE_REFUSAL_EMPTY.rstrip("."))
    assert "penguins" not in answer.answer
    assert tokens[-1] == answer.answer  # the refusal follows the streamed draft


@pytest.mark.parametrize(
    "reply", [prompts.REFUSAL_TEXT, f"I am sorry. {prompts.REFUSAL_TEXT.lower()}"]
)
def test_the_refusal_sentence_is_a_refusal(llm_pipeline, reply):
    _, answer = run(llm_pipeline(reply))
    assert answer.refused and answer.citations == []
    assert answer.retrieved and "closest sources" in answer.answer


def test_the_llm_is_not_asked_when_the_evidence_cannot_answer(llm_pipeline):
    pipeline = llm_pipeline()  # no replies: a call would raise StopIteration
    _, answer = run(pipeline, "What tariff cuts did the European Union and Japan agree on cars?")
    assert answer.refused and pipeline.llm.seen == []


def test_the_prompt_numbers_every_retrieved_passage(llm_pipeline, first_passage, docs_settings):
    pipeline = llm_pipeline(f"{first_passage[1]} [1].")
    _, answer = run(pipeline)
    [messages] = pipeline.llm.seen
    assert isinstance(messages[0], SystemMessage)
    assert prompts.REFUSAL_TEXT in messages[0].content and "[1]" in messages[0].content
    assert isinstance(messages[-1], HumanMessage)
    prompt = messages[-1].content
    assert prompt.rstrip().endswith(f"Question: {QUESTION}")
    numbered = re.findall(r"^\[(\d+)\] ", prompt, flags=re.M)
    assert numbered == [str(n) for n in range(1, len(answer.retrieved) + 1)]
    assert 1 <= len(answer.retrieved) <= docs_settings.top_k


def test_the_llm_condenses_a_follow_up_and_sees_the_history(llm_pipeline):
    history = [
        Turn(role="user", content="What are the USMCA rules of origin for cars?"),
        Turn(role="assistant", content="75 percent regional value content [1]."),
    ]
    rewrite = "What labour value content do USMCA rules of origin require for light trucks?"
    pipeline = llm_pipeline(rewrite, prompts.REFUSAL_TEXT)
    _, answer = run(pipeline, "And for light trucks?", history=history)
    assert answer.standalone_question == rewrite
    assert answer.retrieved[0].source == "usmca_auto_rules_of_origin.pdf"
    condense, answer_prompt = pipeline.llm.seen
    assert "75 percent regional value content" in condense[-1].content
    assert [m.content for m in answer_prompt[1:3]] == [t.content for t in history]
    assert answer_prompt[-1].content.rstrip().endswith(f"Question: {rewrite}")


def test_answer_question_returns_the_final_answer(llm_pipeline, first_passage):
    answer = answer_question(QUESTION, pipeline=llm_pipeline(f"{first_passage[1]} [1]."))
    assert isinstance(answer, Answer) and len(answer.citations) == 1


# --- the chat models the settings ask for ------------------------------------------------------
def test_the_extractive_answerer_needs_no_chat_model(tmp_path):
    assert make_chat_model(make_settings(tmp_path)) is None


@pytest.mark.parametrize(
    "overrides",
    [{"llm_base_url": "http://127.0.0.1:9/v1"}, {"llm_api_key": "sk-test-not-a-real-key"}],
)
def test_openai_backend_is_a_streaming_chat_openai(tmp_path, overrides):
    from langchain_openai import ChatOpenAI

    settings = make_settings(
        tmp_path,
        answerer="openai",
        llm_model="qwen2.5-7b-instruct",
        llm_temperature=0.2,
        **overrides,
    )
    model = make_chat_model(settings)
    assert isinstance(model, ChatOpenAI)
    assert model.model_name == "qwen2.5-7b-instruct"
    assert model.temperature == 0.2 and model.streaming
    assert model.openai_api_base == overrides.get("llm_base_url")
    key = overrides.get("llm_api_key", "not-needed")
    assert model.openai_api_key.get_secret_value() == key


def test_openai_backend_without_url_or_key_is_a_config_error(tmp_path):
    with pytest.raises(ConfigError, match="TRADECHAT_LLM_BASE_URL"):
        make_chat_model(make_settings(tmp_path, answerer="openai"))


def test_ollama_backend_is_a_chat_ollama(tmp_path):
    from langchain_ollama import ChatOllama

    settings = make_settings(
        tmp_path, answerer="ollama", llm_model="llama3.2", ollama_url="http://127.0.0.1:9"
    )
    model = make_chat_model(settings)
    assert isinstance(model, ChatOllama)
    assert model.model == "llama3.2" and model.base_url == "http://127.0.0.1:9"


def test_the_pipeline_takes_its_chat_model_from_the_settings(tmp_path, encoder):
    from langchain_openai import ChatOpenAI

    settings = make_settings(tmp_path, answerer="openai", llm_base_url="http://127.0.0.1:9/v1")
    assert isinstance(RagPipeline(settings, encoder=encoder).llm, ChatOpenAI)
