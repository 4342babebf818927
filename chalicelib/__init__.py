"""Dangol: a loyalty-points service on AWS Chalice and DynamoDB."""
