"""`python -m bot` is `thoth-bot`."""

import sys

from bot.cli import main

sys.exit(main())
