from pydantic import Field

from .ai import AIResource
from .llm_client import LLMClient, LLMSettings


class LLMResource(AIResource):
    """An OpenAI-compatible endpoint (OpenAI, Azure OpenAI, vLLM, Ollama, llama.cpp server).

    Configure `api_key` with `dg.EnvVar(...)`: it never reaches logs, metadata or the warehouse.
    Each `client()` starts its own usage count, so one client per asset execution gives the
    per-run token and cost accounting (and budget) that the asset reports in its metadata.
    """

    base_url: str | None = Field(default=None, description="None means api.openai.com; e.g. http://localhost:11434/v1")
    model: str = Field(description="Chat model name as the endpoint knows it")
    embedding_model: str = Field(default="text-embedding-3-small")
    api_key: str = Field(description="Use dg.EnvVar; local servers accept any non-empty value")
    timeout_seconds: float = 60.0
    max_retries: int = 5
    max_concurrency: int = 4
    max_invalid_retries: int = 2
    prompt_usd_per_1k_tokens: float = 0.0
    completion_usd_per_1k_tokens: float = 0.0
    budget_usd: float | None = Field(default=None, description="Stop calling (not the run) past this spend per client")
    budget_tokens: int | None = None

    def client(self) -> LLMClient:
        fields = {
            name: getattr(self, name) for name in LLMSettings.__dataclass_fields__ if name in type(self).model_fields
        }
        return LLMClient(LLMSettings(**fields))

    def embedder(self):
        from .embedding import EndpointEmbedder

        return EndpointEmbedder(self.client(), self.embedding_model)

    def provider(self, taxonomy: str = "documents", descriptions: bool = False):
        from .ai_providers import LLMProvider

        client = self.client()
        return LLMProvider(client, taxonomy=taxonomy, descriptions=descriptions)
