"""Document ingestion: landing zone -> documents, quarantine, chunks, near-duplicates.

The Dagster definitions load on first use (`ingestion.defs`): extraction workers import only
the plain-Python modules they run, so a worker starts in a fraction of the time.
"""

_LAZY = {
    "defs",
    "ingest_job",
    "landing_documents",
    "chunks",
    "near_duplicates",
    "documents_unique_versions",
    "accepted_documents_have_text",
    "quarantine_reasons_present",
}


def __getattr__(name: str):
    if name not in _LAZY:  # submodules and anything else: the normal import machinery
        raise AttributeError(name)
    from . import definitions

    return getattr(definitions, name)
