"""The HTTP query API and ingest gateway (issue 5): ``create_app`` and the token store."""

from services.api.app import create_app

__all__ = ["create_app"]
