"""Ids in the format of Node's ``uid2``: server uids and request ids."""

import os

_ALPHABET = "ABCDEFGHIJKLMNOPQRSTUVWXYZabcdefghijklmnopqrstuvwxyz0123456789-_"


def new_uid(size: int = 6) -> str:
    """Return ``size`` random characters from ``A-Z a-z 0-9 - _``."""
    return "".join(_ALPHABET[byte % 64] for byte in os.urandom(size))
