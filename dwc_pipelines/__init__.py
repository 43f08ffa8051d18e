"""DWC: Document Workflow Chain on Dagster."""
