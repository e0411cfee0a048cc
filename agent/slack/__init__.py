"""The Slack bot: pages (PagerDuty, Alertmanager) and mentions start investigations whose progress and
cited report land in the incident's thread."""
