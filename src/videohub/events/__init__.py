"""Standard city events: schema, store, handling process and the change outbox."""
