"""The release of the API: /health answers it and the OpenAPI document carries it."""
VERSION = "2.0.0"
