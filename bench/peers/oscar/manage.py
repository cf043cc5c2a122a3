"""Django's manage.py for the Oscar peer: ``python bench/peers/oscar/manage.py migrate`` from the repository root."""

import os
import sys
from pathlib import Path

if __name__ == "__main__":
    sys.path.insert(0, str(Path(__file__).resolve().parents[3]))  # the repository root, for bench.peers.oscar
    os.environ.setdefault("DJANGO_SETTINGS_MODULE", "bench.peers.oscar.settings")
    from django.core.management import execute_from_command_line

    execute_from_command_line(sys.argv)
