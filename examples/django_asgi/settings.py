"""The smallest Django settings for the example: one page, no database, no apps.

A real project keeps its own settings: what the example needs from them is
only that Django runs under ASGI (``asgi.py``).
"""

import os

# Set DJANGO_SECRET_KEY in production; this default is for trying the example only.
SECRET_KEY = os.environ.get("DJANGO_SECRET_KEY", "insecure-example-key-change-me")
DEBUG = os.environ.get("DJANGO_DEBUG", "0") == "1"
ALLOWED_HOSTS = ["127.0.0.1", "localhost"]
ROOT_URLCONF = "urls"
INSTALLED_APPS: list[str] = []
MIDDLEWARE: list[str] = []
DATABASES: dict[str, dict[str, str]] = {}
USE_TZ = True
