"""Django's command line for the example site (run from the repository root):

python examples/django_site/manage.py runserver
python examples/django_site/manage.py livejobs_worker --concurrency 4
"""

from __future__ import annotations

import os
import sys
from pathlib import Path

if __name__ == "__main__":
    sys.path.insert(0, str(Path(__file__).resolve().parents[2]))  # `examples` imports
    os.environ.setdefault("DJANGO_SETTINGS_MODULE", "examples.django_site.settings")
    from django.core.management import execute_from_command_line

    execute_from_command_line(sys.argv)
