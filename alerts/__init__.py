"""Alerts: rule evaluation over every landed reading, the alert lifecycle, escalation, silences and the audit record."""
