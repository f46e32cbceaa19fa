"""Shared test helpers: tiny models, slow references, and scripts run in a subprocess."""
