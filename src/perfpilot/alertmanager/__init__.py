"""Alertmanager both ways (DESIGN §13): forward Perfpilot's alerts to Alertmanagers, and
receive Alertmanager's notifications as alerts that run bound actions."""
