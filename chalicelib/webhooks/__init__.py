"""Webhooks (contract §24): events recorded with the changes, delivered to the operator's URLs."""
