"""``python -m emojax.cli``."""

import sys

from . import main

sys.exit(main())
