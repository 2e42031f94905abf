"""``python -m claudette``: the same as the ``claudette`` command."""

from claudette.cli import main

raise SystemExit(main())
