"""`python -m hepinfer` runs the command line."""

import sys

from hepinfer.cli import main

sys.exit(main())
