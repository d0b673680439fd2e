"""`python -m cfgroll` runs the command-line interface."""

from cfgroll.cli.main import exit_with, main

exit_with(main())
