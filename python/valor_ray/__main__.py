"""`python -m valor_ray`: the driver's command line (valor_ray/cli.py)."""

import sys

from valor_ray.cli import main

sys.exit(main(sys.argv[1:]))
