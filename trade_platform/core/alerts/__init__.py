"""Alerts to people: the message of each kind of failure (``messages``), where messages go
(``targets``) and how they get there, retried and never raising (``delivery``)."""
