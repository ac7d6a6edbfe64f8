"""Read models built from the event store."""
