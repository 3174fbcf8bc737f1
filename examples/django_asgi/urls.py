"""The Django side of the example: one view that serves the chat page."""

from pathlib import Path

from django.http import FileResponse, HttpRequest
from django.urls import path

INDEX = Path(__file__).with_name("index.html")


def index(request: HttpRequest) -> FileResponse:
    return FileResponse(INDEX.open("rb"), content_type="text/html")


urlpatterns = [path("", index)]
