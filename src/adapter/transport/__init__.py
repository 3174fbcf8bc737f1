"""How messages reach Redis: transport interfaces and their implementations."""
