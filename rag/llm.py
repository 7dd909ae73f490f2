"""Optional LLM backends, as LangChain chat models: any OpenAI-compatible server (vLLM,
llama.cpp server, LM Studio, OpenAI) or Ollama. Never used unless TRADECHAT_ANSWERER says so."""

from __future__ import annotations

from tradechat.errors import ConfigError
from tradechat.settings import Settings


def make_chat_model(settings: Settings):
    """The chat model the settings ask for, or None for the extractive answerer."""
    if settings.answerer == "extractive":
        return None
    if settings.answerer == "openai":
        from langchain_openai import ChatOpenAI

        key = settings.llm_api_key.get_secret_value() if settings.llm_api_key else None
        if not key and not settings.llm_base_url:
            raise ConfigError(
                "TRADECHAT_ANSWERER=openai needs TRADECHAT_LLM_BASE_URL (a local "
                "OpenAI-compatible server) or TRADECHAT_LLM_API_KEY"
            )
        return ChatOpenAI(
            model=settings.llm_model,
            base_url=settings.llm_base_url,
            api_key=key or "not-needed",
            temperature=settings.llm_temperature,
            streaming=True,
            timeout=120,
            max_retries=1,
        )
    if settings.answerer == "ollama":
        from langchain_ollama import ChatOllama

        return ChatOllama(
            model=settings.llm_model,
            base_url=settings.ollama_url,
            temperature=settings.llm_temperature,
        )
    raise ConfigError(f"unknown TRADECHAT_ANSWERER '{settings.answerer}'")
