"""The smallest Django project that enqueues livejobs jobs: no database of its own (the jobs
live in livejobs). LIVEJOBS_URL and LIVEJOBS_TOKEN come from the environment, as for the
``livejobs`` command; examples/tasks.py reads them."""

from __future__ import annotations

import os

SECRET_KEY = os.environ.get("DJANGO_SECRET_KEY", "example-only-not-secret")
DEBUG = False
ALLOWED_HOSTS = ["127.0.0.1", "localhost"]
INSTALLED_APPS = ["examples.django_site.signups"]  # its management command: livejobs_worker
MIDDLEWARE: list[str] = []
ROOT_URLCONF = "examples.django_site.urls"
DATABASES: dict[str, dict[str, str]] = {}
USE_TZ = True
