"""The release of the API, written once: /health answers it, the OpenAPI document carries it,
pyproject.toml reads it."""

VERSION = "2.1.0"
