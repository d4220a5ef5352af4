"""Processes of the ROMs service: stream processors, store, API, CLI and embedded runtime."""
