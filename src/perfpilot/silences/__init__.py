"""Silences (DESIGN §13): operators mute notifications and actions for matching alerts."""
