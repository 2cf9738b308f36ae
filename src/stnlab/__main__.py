"""``python -m stnlab`` runs the command line."""

import sys

from stnlab.cli import main

sys.exit(main())
