"""Scale-out on PostgreSQL (DESIGN §12): several replicas share the engine by shards of
services. Ownership is a session-level advisory lock per shard (ownership.py); samples reach
their owner through the store in a safe order (engine/sharded.py, repository.py); changes made
on any replica reach the others by NOTIFY (bus.py)."""
