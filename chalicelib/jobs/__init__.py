"""Scheduled jobs: what is due (plans), what each member gets (steps), the fan-out pipeline."""
