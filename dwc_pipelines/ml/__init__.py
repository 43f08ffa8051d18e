"""ML: the document classifier tracked in MLflow (champion/challenger), and tabular models from specs."""

import dagster as dg

from . import tabular_assets
from .assets import champion_is_best, classifier_champion, document_classifier, document_predictions, labelled_texts

classifier_job = dg.define_asset_job(
    "ml_classifier_job",
    selection=dg.AssetSelection.assets(labelled_texts, document_classifier, classifier_champion, document_predictions),
    description="Load labels, train a challenger, decide the champion, predict every document.",
)

defs = dg.Definitions.merge(
    dg.Definitions(
        assets=[labelled_texts, document_classifier, classifier_champion, document_predictions],
        asset_checks=[champion_is_best],
        jobs=[classifier_job],
    ),
    tabular_assets.build_defs(),
)
