"""``python -m shopmig``: the same as the ``shopmig`` command."""

import sys

from shopmig.cli import main

sys.exit(main())
