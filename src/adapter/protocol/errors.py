"""The one error the protocol layer raises for unusable input."""


class MalformedMessage(ValueError):
    """A message on one of the adapter's channels that cannot be used."""


__all__ = ["MalformedMessage"]
