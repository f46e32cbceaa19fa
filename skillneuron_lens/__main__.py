"""``python -m skillneuron_lens``: the same command line as ``skillneuron-lens``."""

import sys

from skillneuron_lens.cli.app import main

sys.exit(main())
