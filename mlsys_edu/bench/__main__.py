"""``python -m mlsys_edu.bench``: the same as ``mlsys-edu bench``."""

from mlsys_edu.bench.cli import main

raise SystemExit(main())
