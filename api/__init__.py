"""The HTTP gateway: an OpenAI-compatible endpoint on the Trellis engine (`create_app`)."""

from api.app import create_app

__all__ = ["create_app"]
