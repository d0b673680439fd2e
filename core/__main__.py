"""`python -m cfgroll` runs the command-line interface."""

import sys

from cfgroll.cli.main import main

sys.exit(main())
