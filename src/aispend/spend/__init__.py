"""Pure spend domain: attribution, project and team reports, budget pace, credit runway, model mix, routes.

Plain records in (``TeamProject``, ``SpendLine``, ``KeyDay``, ``Directory``, provider records),
plain results out (``aispend.spend.model``). No Slack, HTTP, SQL, validation framework or clock
reads: callers pass ``now``, so every function is deterministic and testable. Import from the
module that defines a name; this file stays empty so importing one module loads only what it needs.
"""
