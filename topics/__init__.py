"""Event contracts: models, topic names and keys, validation. Nothing else."""
