"""``python -m hybrid_ai_platform.cli`` runs the CLI."""

import sys

from hybrid_ai_platform.cli.main import main

sys.exit(main())
