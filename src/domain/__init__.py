"""doseledger's domain model: protocols, aggregates, events and designs. Pure: no I/O."""
