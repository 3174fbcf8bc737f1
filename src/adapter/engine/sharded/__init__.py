"""The sharded flavour's engine: Node's ShardedRedisAdapter messages and subscriptions."""
