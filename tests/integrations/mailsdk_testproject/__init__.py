"""A small Django project for the integration tests: settings, one app view, URLs."""
