"""What exists only for ``aispend demo`` and the tests: the demo run (``run``), simulated
providers (``simulated``) and the Block Kit → terminal renderer (``terminal``).

Nothing outside this package imports it, except the ``aispend demo`` command that launches it.
"""
