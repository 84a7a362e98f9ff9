"""``python -m genguard``: the same command as ``genguard``."""

from .cli import main

raise SystemExit(main())
