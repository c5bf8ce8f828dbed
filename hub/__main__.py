"""``python -m hub`` runs the CLI."""

import sys

from hub.cli import main

sys.exit(main())
