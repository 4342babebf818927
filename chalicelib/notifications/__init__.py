"""Notifications: the outbox, the sweeper, and delivery through SES and SNS."""
