"""The smallest Redis ACL rule sets our adapter needs, per flavour and topology.

The README quotes them.

Each function returns the rules to give after ``ACL SETUSER <user> on ><password>``.
They allow exactly what the adapter sends on its own connections (no key access, no
other command), and each rule is proven necessary by ``tests/topology/test_adapter_secure.py``
(without it, Redis refuses a command that the adapter sends, the ``ACL LOG`` shows it,
and where it matters the adapter visibly fails).

What the adapter sends (raw RESP2 connections: ``redis://``, ``redis+cluster://``,
``redis+sentinel://`` URLs, and every URL of the sharded flavour):

* on connect: ``AUTH user password`` only (always allowed; no HELLO, no SELECT, no
  CLIENT SETINFO);
* classic (``AsyncRedisAdapter``): per namespace ``PSUBSCRIBE key#nsp#*`` and
  ``SUBSCRIBE key-request#nsp# key-response#nsp# key-response#nsp#<uid>#``;
  ``PUBLISH`` on those channels (and ``key#nsp#room#``); ``PUBSUB NUMSUB
  key-request#nsp#`` for the server count; ``PING`` on an idle subscriber;
  ``PUNSUBSCRIBE``/``UNSUBSCRIBE`` on close;
* sharded (``AsyncShardedRedisAdapter``): ``SSUBSCRIBE``/``SUNSUBSCRIBE`` (rooms come
  and go in the dynamic modes, and on close), ``SPUBLISH``, ``PUBSUB SHARDNUMSUB``, and
  ``PING`` on an idle subscriber, all on channels ``prefix#...``;
* on a cluster: ``CLUSTER SLOTS`` (learning the slot map), on every node;
* under Sentinel: ``ROLE`` on the master named by the sentinels; the sentinels themselves
  are asked ``SENTINEL get-master-addr-by-name`` only, with the credentials of
  ``redis_options={"sentinel_kwargs": {"username": ..., "password": ...}}``
  (:func:`sentinel_rules`).

Redis (and Valkey 9 alike) checks a PSUBSCRIBE pattern *literally* against the user's
channel rules (a rule ``&key#*`` does not allow ``PSUBSCRIBE key#/#*``), so the classic
flavour needs the pattern ``&key#<nsp>#*`` of every namespace it serves (which also allows
publishing to that namespace's broadcast and room channels).  Keys here have no glob
characters (``* ? [ ] \\``); the adapter escapes those in its pattern, and the rule must
then be written escaped the same way.

Redis 7.0 does not know ``client|setinfo``: do not name it in a rule there.  Valkey 9's
database rules (``resetdbs``, ``db=N``) do not concern pub/sub (see
``test_acl_database_rules_leave_pub_sub_alone``).
"""

from __future__ import annotations

from collections.abc import Iterable


def classic_rules(key: str = "socket.io", namespaces: Iterable[str] = ("/",),
                  cluster: bool = False, sentinel: bool = False) -> list[str]:
    """The rules of ``AsyncRedisAdapter(url, key=key)`` serving ``namespaces``.

    ``cluster``: on a Redis Cluster (``redis+cluster://``); ``sentinel``: on a
    Sentinel-watched master (``redis+sentinel://``).
    """
    rules = ["resetchannels", "-@all",
             "+publish", "+subscribe", "+psubscribe", "+unsubscribe", "+punsubscribe",
             "+pubsub|numsub", "+ping"]
    if cluster:
        rules.append("+cluster|slots")
    if sentinel:
        rules.append("+role")
    rules += [f"&{key}#{nsp}#*" for nsp in namespaces]
    rules += [f"&{key}-request#*", f"&{key}-response#*"]
    return rules


def sharded_rules(prefix: str = "socket.io", cluster: bool = False,
                  sentinel: bool = False) -> list[str]:
    """The rules of ``AsyncShardedRedisAdapter(url, channel_prefix=prefix)`` (any mode).

    ``cluster``: on a Redis Cluster; ``sentinel``: on a Sentinel-watched master.
    """
    rules = ["resetchannels", "-@all",
             "+spublish", "+ssubscribe", "+sunsubscribe", "+pubsub|shardnumsub", "+ping"]
    if cluster:
        rules.append("+cluster|slots")
    if sentinel:
        rules.append("+role")
    rules.append(f"&{prefix}#*")
    return rules


def sentinel_rules() -> list[str]:
    """The rules of a user on the *sentinels* (given in ``sentinel_kwargs``), both flavours."""
    return ["resetchannels", "-@all", "+sentinel|get-master-addr-by-name"]


def user_rules(password: str, rules: Iterable[str]) -> list[str]:
    """The full ``ACL SETUSER`` arguments: a fresh enabled user with ``password`` and ``rules``."""
    return ["reset", "on", f">{password}", *rules]


__all__ = ["classic_rules", "sentinel_rules", "sharded_rules", "user_rules"]
