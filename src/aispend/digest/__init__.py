"""The weekly digest: what it says (``content``, pure), its chart (``chart``), which week is due
(``weeks``) and posting it once per ISO week (``job``)."""
