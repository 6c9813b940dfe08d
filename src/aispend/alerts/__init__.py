"""Alerts: pure rules (``rules``) → state in the database (``state``) → notifications (``notify``).

``rules`` imports no Slack, SQL or HTTP; ``state`` owns the alert tables and the exactly-once
claim; ``notify`` posts through a small ``Notifier`` seam that the Slack layer implements.
"""
