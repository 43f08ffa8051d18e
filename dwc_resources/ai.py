import dagster as dg


class AIResource(dg.ConfigurableResource):
    """What enrichment and chain steps ask for: a provider of AI tasks. The environment binds
    the `ai` key to the local provider or to an OpenAI-compatible endpoint (LLMResource)."""

    def provider(self, taxonomy: str = "documents"):
        raise NotImplementedError


class LocalAIResource(AIResource):
    """The embedded default: offline, deterministic, no download, no network."""

    def provider(self, taxonomy: str = "documents"):
        from .ai_providers import LocalProvider

        return LocalProvider(taxonomy=taxonomy)
