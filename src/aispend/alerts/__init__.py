"""Alerts: pure rules (``rules``) → state in the database (``state``) → notices delivered once.

``rules`` imports no Slack, SQL or HTTP; ``model`` holds the records the Slack layer and the digest
read (no SQL either); ``state`` owns the alert tables, the exactly-once claim and the listings
(``open_alerts``, ``alerts_between``); ``job.run_alerts`` is the scheduled job. The Slack side
(``aispend.slack.alerts``: the notifier and the buttons; ``aispend.slack.alert_blocks``: pure
Block Kit builders and routing) implements the ``model.Notifier`` seam.
"""
