"""Optimization reports: a period's samples, alerts and actions summarised, with evidence."""
