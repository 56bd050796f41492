"""The ASGI app uvicorn imports (`api.asgi:app`); services are built on start-up."""

from api.app import create_app

app = create_app()
