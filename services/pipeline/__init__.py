"""Stream processing: events in, scored assessments, outcomes and aggregates out."""
