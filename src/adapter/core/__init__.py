"""What every flavour of manager shares: local rooms, fan-out, waiters, counters, tasks."""
