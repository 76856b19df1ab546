"""``python -m docwatch …``: the same command line as the ``docwatch`` script."""
from docwatch.cli import main

raise SystemExit(main())
