"""Trends, seasonality, change points and forecasts of stored series (DESIGN §14)."""
