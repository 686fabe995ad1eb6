"""Training: the engine (Lightning, early stopping, resume checkpoints), batches and the
auto settings."""
