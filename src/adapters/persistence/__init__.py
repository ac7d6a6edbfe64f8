"""Persistence: the eventsourcing library configured for doseledger's stores."""
