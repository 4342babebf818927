"""Developer tooling: the local service and a serial moto server (not deployed)."""
