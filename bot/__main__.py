"""`python -m bot` is the same as the `ishowtts-bot` console script."""

from bot.cli import main

raise SystemExit(main())
