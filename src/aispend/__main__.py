"""``python -m aispend``."""

from aispend.cli import main

raise SystemExit(main())
