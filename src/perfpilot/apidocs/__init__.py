"""Swagger UI (/docs) and ReDoc (/redoc) served from the installed package, not a CDN."""
