"""MLflow, split by job: the store, names and tags, runs, the registry, promotion."""
