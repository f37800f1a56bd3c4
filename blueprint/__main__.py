"""``python -m blueprint`` runs the CLI."""

import sys

from blueprint.cli import main

sys.exit(main())
