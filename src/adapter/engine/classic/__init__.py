"""The classic flavour's engine: Node's RedisAdapter requests, responses and subscriptions."""
