"""Dangol: a loyalty-points service on AWS Chalice and DynamoDB."""

__version__ = "2.1.0"  # the one place the version is written (pyproject.toml and /health read it)
