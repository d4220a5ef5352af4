"""PostgreSQL store: the source of truth for every exact figure (ARCHITECTURE.md invariant 1)."""
