"""AI enrichment (issue 3, in progress): the offline local provider's logic lives here so far."""
