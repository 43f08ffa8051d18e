import dagster as dg
from pydantic import Field


class AIResource(dg.ConfigurableResource):
    """What enrichment and chain steps ask for: a provider of AI tasks and an embedding model. The
    environment binds the `ai` key to the local provider or to an OpenAI-compatible endpoint
    (LLMResource)."""

    def provider(self, taxonomy: str = "documents", descriptions: bool = False):
        raise NotImplementedError

    def embedder(self):
        raise NotImplementedError


class LocalAIResource(AIResource):
    """The embedded default: offline, deterministic, no download, no network."""

    embedding_model: str = Field(
        default="wordllama",
        description="'wordllama' (pretrained static 256-d, shipped in its wheel) or 'hashed' (lexical, for comparison)",
    )

    def embedder(self):
        from .embedding import local_embedder

        return local_embedder(self.embedding_model)

    def provider(self, taxonomy: str = "documents", descriptions: bool = False):
        from .ai_providers import LocalProvider

        return LocalProvider(taxonomy=taxonomy, embedder=self.embedder(), descriptions=descriptions)
