"""Our adapter, both flavours, over TLS, as a least-privilege ACL user, and under Sentinel.

Each test runs the bounded scenario of :mod:`tests.support.secure_rig` (two Python
servers, a client on each: start, server count, binary broadcast, room, fetch_sockets,
server-side call with acknowledgements, a client leaving its room, an idle phase with the
subscribers' PING, close).

* TLS: ``rediss://`` on a TLS-only redis-server and ``rediss+cluster://`` on the TLS-only
  cluster, with the CA given in the URL's query (``?ssl_ca_certs=...``) or in
  ``redis_options={"ssl_ca_certs": ...}``; without the CA the adapter cannot start.
* ACL: the rule sets of :mod:`tests.support.acl_rules` are enough (the scenario passes and
  ``ACL LOG`` holds no refusal), and every rule is needed (without it, Redis refuses a
  command the adapter sends, at the step where the adapter then fails, or with an error
  the adapter logs).
* Sentinel: ``redis+sentinel://`` URLs, plain and with an ACL user; ``rediss+sentinel://``
  on a TLS-only Sentinel set (master's CA in ``ssl_ca_certs``, the Sentinels' TLS in
  ``sentinel_kwargs={"ssl": True, "ssl_ca_certs": ...}``), through a failover too; without
  either CA, or with plain TCP to the Sentinels, the adapter cannot start.
"""

from __future__ import annotations

import asyncio
import fnmatch
import logging
import uuid
from collections.abc import Iterator
from typing import Any

import pytest
import redis

from socketio_redis_adapter import RedisRefusedError
from tests.support.acl_rules import classic_rules, sentinel_rules, sharded_rules, user_rules
from tests.support.redis_server import RedisServer, running
from tests.support.secure_rig import (
    STEPS,
    ProbeClassic,
    acl_denials,
    adapter_options,
    delete_user,
    logged_command,
    run_scenario,
)
from tests.support.servers import SERVER
from tests.support.sio_cluster import Client, PyServer, close_all, settle
from tests.support.topologies import (
    RedisCluster,
    RedisSentinelSet,
    acl_setuser,
    admin_command,
    apply_acl,
    user_url,
)

pytestmark = pytest.mark.topology

FLAVOURS = ("classic", "sharded")
PASSWORD = "s3cret-pw"


@pytest.fixture(scope="module")
def tls_server() -> Iterator[RedisServer]:
    """A TLS-only redis-server (CA in ``tls_files["ca"]``) for this module."""
    yield from running(RedisServer(tls=True))


def _hosts(cluster: RedisCluster) -> str:
    return ",".join(f"{host}:{port}" for host, port in cluster.startup_nodes)


# --------------------------------------------------------------------------- TLS


def _tls_target(request: pytest.FixtureRequest, topology: str, form: str
                ) -> tuple[str, dict[str, Any] | None]:
    """The URL and ``redis_options`` that reach ``topology`` over TLS with the CA in ``form``."""
    if topology == "standalone":
        server: RedisServer = request.getfixturevalue("tls_server")
        base, ca = f"rediss://127.0.0.1:{server.port}/0", server.tls_files["ca"]
    else:
        cluster: RedisCluster = request.getfixturevalue("tls_cluster")
        base, ca = f"rediss+cluster://{_hosts(cluster)}", cluster.ca_file
    if form == "query":
        return f"{base}?ssl_ca_certs={ca}", None
    return base, {"ssl_ca_certs": ca}


@pytest.mark.needs_tls
@pytest.mark.parametrize("form", ["query", "redis_options"])
@pytest.mark.parametrize("topology", ["standalone", "cluster"])
@pytest.mark.parametrize("flavour", FLAVOURS)
async def test_tls_every_feature_across_servers(
    request: pytest.FixtureRequest, flavour: str, topology: str, form: str
) -> None:
    url, options = _tls_target(request, topology, form)
    result = await run_scenario(url, flavour, redis_options=options)
    assert result.ok, result.describe()
    assert result.passed == list(STEPS)


@pytest.mark.needs_tls
@pytest.mark.parametrize("topology", ["standalone", "cluster"])
@pytest.mark.parametrize("flavour", FLAVOURS)
async def test_tls_without_the_ca_the_adapter_cannot_start(
    request: pytest.FixtureRequest, flavour: str, topology: str
) -> None:
    """The server certificate is verified: the test CA is not a system CA."""
    url, _ = _tls_target(request, topology, "redis_options")
    result = await run_scenario(url, flavour)
    assert result.failed == "start", result.describe()
    assert result.passed == []


# --------------------------------------------------------------------------- ACL


def _username() -> str:
    return f"sio-{uuid.uuid4().hex[:10]}"


def _rules(flavour: str, prefix: str, cluster: bool = False, sentinel: bool = False
           ) -> list[str]:
    if flavour == "classic":
        return classic_rules(prefix, ("/",), cluster=cluster, sentinel=sentinel)
    return sharded_rules(prefix, cluster=cluster, sentinel=sentinel)


class AclTarget:
    """A standalone server or the shared cluster, with users created (and deleted) on it."""

    def __init__(self, topology: str, server: RedisServer | None,
                 cluster: RedisCluster | None) -> None:
        self.topology = topology
        self.server = server
        self.cluster = cluster
        self.users: list[str] = []

    @property
    def is_cluster(self) -> bool:
        return self.cluster is not None

    @property
    def ports(self) -> list[int]:
        if self.cluster is not None:
            return [node.port for node in self.cluster.nodes if node.alive]
        assert self.server is not None
        return [self.server.port]

    def url(self, username: str) -> str:
        if self.cluster is not None:
            plain = f"redis+cluster://{_hosts(self.cluster)}"
        else:
            assert self.server is not None
            plain = f"redis://127.0.0.1:{self.server.port}/0"
        return user_url(plain, username, PASSWORD)

    def add_user(self, username: str, rules: list[str]) -> None:
        self.users.append(username)
        if self.cluster is not None:
            apply_acl(self.cluster, username, *user_rules(PASSWORD, rules))
        else:
            assert self.server is not None
            acl_setuser("127.0.0.1", self.server.port, username, *user_rules(PASSWORD, rules))

    @property
    def admin_password(self) -> str | None:
        return self.cluster.password if self.cluster is not None else None

    def denials(self, username: str) -> set[tuple[str, str]]:
        return acl_denials(self.ports, username, admin_password=self.admin_password)

    def cleanup(self) -> None:
        for username in self.users:
            delete_user(self.ports, username, admin_password=self.admin_password)


@pytest.fixture(params=["standalone", "cluster"])
def acl_target(request: pytest.FixtureRequest) -> Iterator[AclTarget]:
    if request.param == "cluster":
        target = AclTarget("cluster", None, request.getfixturevalue("redis_cluster"))
    else:
        target = AclTarget("standalone", request.getfixturevalue("redis_server"), None)
    yield target
    target.cleanup()


@pytest.mark.parametrize("flavour", FLAVOURS)
async def test_acl_minimal_rules_are_enough(acl_target: AclTarget, flavour: str) -> None:
    username, prefix = _username(), f"acl-{uuid.uuid4().hex[:8]}"
    acl_target.add_user(username, _rules(flavour, prefix, cluster=acl_target.is_cluster))
    result = await run_scenario(acl_target.url(username), flavour, prefix=prefix)
    assert result.ok, result.describe()
    assert acl_target.denials(username) == set()  # nothing the adapter sent was refused


def _allow_rules(flavour: str, cluster: bool) -> list[str]:
    """The rules that grant something (``resetchannels`` and ``-@all`` only take away)."""
    rules = _rules(flavour, "{prefix}", cluster=cluster)
    return [rule for rule in rules if rule.startswith(("+", "&"))]


#: the step that fails without a rule (None: every step passes, but Redis refuses a
#: command the adapter sends: an idle PING or a room's SUNSUBSCRIBE, whose refusal the
#: adapter logs as an error, or the (P)UNSUBSCRIBE it sends on close, which only
#: ``ACL LOG`` shows)
FAILING_STEP = {
    "+publish": "broadcast",
    "+subscribe": "start",
    "+psubscribe": "start",
    "+unsubscribe": None,
    "+punsubscribe": None,
    "+pubsub|numsub": "server_count",
    "+spublish": "broadcast",
    "+ssubscribe": "start",
    "+sunsubscribe": None,
    "+pubsub|shardnumsub": "server_count",
    "+ping": None,
    "+cluster|slots": "start",
    "&{prefix}#/#*": "start",
    "&{prefix}-request#*": "start",
    "&{prefix}-response#*": "start",
    "&{prefix}#*": "start",
}
#: rules whose refusal the adapter logs while it runs (the others are sent on close only)
LOGGED = {"+ping", "+sunsubscribe"}
#: the command ``start()`` names in its RedisRefusedError without the rule
REFUSED_AT_START = {
    "+subscribe": "SUBSCRIBE",
    "+psubscribe": "PSUBSCRIBE",
    "+ssubscribe": "SSUBSCRIBE",
    "+cluster|slots": "CLUSTER SLOTS",
    "&{prefix}#/#*": "PSUBSCRIBE",
    "&{prefix}-request#*": "SUBSCRIBE",
    "&{prefix}-response#*": "SUBSCRIBE",
    "&{prefix}#*": "SSUBSCRIBE",
}

_NEEDED = [
    pytest.param(topology, flavour, rule, id=f"{topology}-{flavour}-{rule}")
    for topology in ("standalone", "cluster")
    for flavour in FLAVOURS
    for rule in _allow_rules(flavour, cluster=topology == "cluster")
]


@pytest.mark.parametrize(("topology", "flavour", "rule"), _NEEDED)
async def test_acl_every_rule_is_needed(
    request: pytest.FixtureRequest, caplog: pytest.LogCaptureFixture,
    topology: str, flavour: str, rule: str,
) -> None:
    if topology == "cluster":
        target = AclTarget(topology, None, request.getfixturevalue("redis_cluster"))
    else:
        target = AclTarget(topology, request.getfixturevalue("redis_server"), None)
    username, prefix = _username(), f"acl-{uuid.uuid4().hex[:8]}"
    dropped = rule.format(prefix=prefix)
    rules = [r for r in _rules(flavour, prefix, cluster=target.is_cluster) if r != dropped]
    assert len(rules) == len(_rules(flavour, prefix, cluster=target.is_cluster)) - 1
    target.add_user(username, rules)
    caplog.set_level(logging.ERROR)
    try:
        result = await run_scenario(target.url(username), flavour, prefix=prefix)
        denials = target.denials(username)
    finally:
        target.cleanup()

    expected_step = FAILING_STEP[rule]
    assert result.failed == expected_step, result.describe()
    if expected_step == "start":  # a clear error, not a timeout: which command, which channel
        error = result.error
        assert isinstance(error, RedisRefusedError), result.describe()
        assert (error.command, error.code) == (REFUSED_AT_START[rule], "NOPERM"), error
        assert str(error).startswith(f"Redis refused {error.command}"), error
        if dropped.startswith("&"):
            assert any(fnmatch.fnmatchcase(target, dropped[1:]) or target == dropped[1:]
                       for target in error.targets), error
    # Redis refused exactly what the missing rule grants
    if dropped.startswith("+"):
        assert denials == {("command", logged_command(dropped[1:]))}, denials
    else:
        assert denials, "no channel refused"
        for reason, channel in denials:
            assert reason == "channel" and (
                channel == dropped[1:] or fnmatch.fnmatchcase(channel, dropped[1:])
            ), denials
    if rule in LOGGED:  # while the adapter runs, not at close
        assert result.closing_at is not None
        assert any(
            "NOPERM" in record.getMessage() and record.created < result.closing_at
            for record in caplog.records
        ), [record.getMessage() for record in caplog.records]


# --------------------------------------------------------------------------- Sentinel


@pytest.mark.parametrize("flavour", FLAVOURS)
async def test_sentinel_every_feature_plain_and_as_acl_users(
    sentinel_set: RedisSentinelSet, flavour: str
) -> None:
    """Through ``redis+sentinel://``: with the default users; with the minimal rules on the
    data nodes (which include ``+role``: the adapter checks the master's role) and a
    sentinel user given in ``sentinel_kwargs``; then without ``+role``, and without the
    sentinel user's one command."""
    result = await run_scenario(sentinel_set.url, flavour)
    assert result.ok, result.describe()
    assert result.passed == list(STEPS)

    data_ports = [node.port for node in sentinel_set.data_nodes]
    sentinel_ports = [sentinel.port for sentinel in sentinel_set.sentinels]
    prefix = f"acl-{uuid.uuid4().hex[:8]}"
    rules = _rules(flavour, prefix, sentinel=True)

    def users(master_rules: list[str], watcher_rules: list[str]
              ) -> tuple[str, dict[str, Any], str, str]:
        master_user, watcher = _username(), _username()
        apply_acl(sentinel_set, master_user, *user_rules(PASSWORD, master_rules))
        for sentinel in sentinel_set.sentinels:
            sentinel.command("ACL", "SETUSER", watcher, *user_rules(PASSWORD, watcher_rules))
        options = {"sentinel_kwargs": {"username": watcher, "password": PASSWORD}}
        return user_url(sentinel_set.url, master_user, PASSWORD), options, master_user, watcher

    url, options, master_user, watcher = users(rules, sentinel_rules())
    result = await run_scenario(url, flavour, prefix=prefix, redis_options=options)
    assert result.ok, result.describe()
    assert acl_denials(data_ports, master_user) == set()
    assert acl_denials(sentinel_ports, watcher) == set()

    url, options, master_user, watcher = users(
        [rule for rule in rules if rule != "+role"], sentinel_rules()
    )
    result = await run_scenario(url, flavour, prefix=prefix, redis_options=options)
    assert result.failed == "start", result.describe()
    assert acl_denials(data_ports, master_user) == {("command", "role")}

    url, options, master_user, watcher = users(rules, ["resetchannels", "-@all"])
    result = await run_scenario(url, flavour, prefix=prefix, redis_options=options)
    assert result.failed == "start", result.describe()
    assert acl_denials(sentinel_ports, watcher) == {
        ("command", logged_command("sentinel|get-master-addr-by-name"))
    }
    assert acl_denials(data_ports, master_user) == set()


async def test_acl_classic_needs_the_pattern_of_each_namespace(
    redis_server: RedisServer, caplog: pytest.LogCaptureFixture
) -> None:
    """Redis checks a PSUBSCRIBE pattern literally: ``&key#/#*`` does not cover ``/chat``."""
    key = f"acl-{uuid.uuid4().hex[:8]}"
    target = AclTarget("standalone", redis_server, None)
    with_chat, without_chat = _username(), _username()
    target.add_user(with_chat, classic_rules(key, ("/", "/chat")))
    target.add_user(without_chat, classic_rules(key, ("/",)))
    caplog.set_level(logging.ERROR)
    try:
        for username, allowed in ((with_chat, True), (without_chat, False)):
            servers = [await PyServer.start(target.url(username), adapter_class=ProbeClassic,
                                            key=key) for _ in range(2)]
            clients: list[Client] = []
            try:
                for server in servers:
                    clients.append(await Client.connect(server.url, namespaces=["/chat"]))
                await servers[0].sio.emit("news", b"\x01", namespace="/chat")
                if allowed:
                    await clients[1].wait_for("news", namespace="/chat", timeout=3)
                else:
                    await wait_stat(servers[0].adapter, "publish_failures", 1)
                    await settle(0.5)
                    assert clients[1].named("news", "/chat") == []
            finally:
                await close_all(clients, servers)
    finally:
        target.cleanup()
    assert acl_denials([redis_server.port], with_chat) == set()
    assert acl_denials([redis_server.port], without_chat) == {
        ("channel", f"{key}#/chat#*"), ("channel", f"{key}#/chat#")
    }


async def wait_stat(adapter: Any, name: str, at_least: int, timeout: float = 5.0) -> None:
    """Bounded wait until ``adapter.stats[name] >= at_least``."""
    loop = asyncio.get_running_loop()
    deadline = loop.time() + timeout
    while adapter.stats[name] < at_least:
        assert loop.time() < deadline, f"stats[{name!r}] stayed {adapter.stats[name]}"
        await asyncio.sleep(0.05)


#: how the tests below reach one server where the classic flavour runs on redis-py's
#: connections: ``rediss://`` on the TLS-only server, or ``redis://`` with ``redis_options``
#: on the plain one (any ``redis_options`` give the classic flavour redis-py's connections)
REDIS_PY_TRANSPORTS = [pytest.param("tls", marks=pytest.mark.needs_tls), "plain"]


class RedisPyTarget:
    """The TLS-only server of this module or the session's plain one, for ACL users."""

    def __init__(self, request: pytest.FixtureRequest, transport: str) -> None:
        if transport == "tls":
            self.server: RedisServer = request.getfixturevalue("tls_server")
            self.ca: str | None = self.server.tls_files["ca"]
            self.scheme = "rediss"
        else:
            self.server = request.getfixturevalue("redis_server")
            self.ca = None
            self.scheme = "redis"
        self.users: list[str] = []

    @property
    def redis_options(self) -> dict[str, Any]:
        return {"ssl_ca_certs": self.ca} if self.ca else {"socket_connect_timeout": 5}

    def url(self, username: str, db: int = 0) -> str:
        return user_url(f"{self.scheme}://127.0.0.1:{self.server.port}/{db}", username, PASSWORD)

    def add_user(self, rules: list[str]) -> str:
        username = _username()
        self.users.append(username)
        acl_setuser("127.0.0.1", self.server.port, username, *user_rules(PASSWORD, rules),
                    tls_ca=self.ca)
        return username

    def denials(self, username: str) -> set[tuple[str, str]]:
        return acl_denials([self.server.port], username, tls_ca=self.ca)

    def knows(self, command: str) -> bool:
        """Whether the server knows ``command`` (``client|setinfo``: Redis 7.2+, Valkey)."""
        reply = admin_command(self.server.port, "COMMAND", "INFO", command, tls_ca=self.ca)
        return bool(reply and reply[0])

    def cleanup(self) -> None:
        for username in self.users:
            delete_user([self.server.port], username, tls_ca=self.ca)


@pytest.mark.parametrize("flavour", FLAVOURS)
@pytest.mark.parametrize("transport", REDIS_PY_TRANSPORTS)
async def test_acl_minimal_rules_on_redis_py_connections(
    request: pytest.FixtureRequest, transport: str, flavour: str
) -> None:
    """The same rules where the classic flavour runs on redis-py's connections (over TLS, or
    with ``redis_options``), which also send ``CLIENT SETINFO LIB-NAME/LIB-VER`` and ignore
    its refusal: Redis 7.0 does not know it (no ACL LOG entry); Redis 7.2+ and Valkey refuse
    it to these rules and log it, and so does Redis 6.2 (which checks ``CLIENT`` before
    the subcommand, and logs ``client``).  The sharded flavour's own connections send
    neither."""
    target = RedisPyTarget(request, transport)
    prefix = f"acl-{uuid.uuid4().hex[:8]}"
    try:
        username = target.add_user(_rules(flavour, prefix))
        result = await run_scenario(target.url(username), flavour, prefix=prefix,
                                    redis_options=target.redis_options)
        denials = target.denials(username)
    finally:
        target.cleanup()
    assert result.ok, result.describe()
    if flavour == "classic" and (target.knows("client|setinfo")
                                 or not SERVER.acl_by_subcommand):
        assert denials == {("command", logged_command("client|setinfo"))}, denials
    else:
        assert denials == set(), denials


@pytest.mark.parametrize("flavour", FLAVOURS)
@pytest.mark.parametrize("transport", REDIS_PY_TRANSPORTS)
async def test_acl_on_redis_py_connections_with_a_database_number(
    request: pytest.FixtureRequest, transport: str, flavour: str
) -> None:
    """A URL with database 1: redis-py (the classic flavour's connections over TLS or with
    ``redis_options``) sends ``SELECT 1`` on connect, which these rules refuse, so the adapter
    cannot start without ``+select``; the sharded flavour's own connections send no SELECT
    (pub/sub ignores databases)."""
    target = RedisPyTarget(request, transport)
    prefix = f"acl-{uuid.uuid4().hex[:8]}"
    try:
        names = [target.add_user([*_rules(flavour, prefix), *extra])
                 for extra in ([], ["+select"])]
        results = [
            await run_scenario(target.url(username, db=1), flavour, prefix=prefix,
                               redis_options=target.redis_options)
            for username in names
        ]
        denials = [target.denials(username) for username in names]
    finally:
        target.cleanup()
    if flavour == "classic":
        assert results[0].failed == "start", results[0].describe()
        assert ("command", "select") in denials[0]
    else:
        assert results[0].ok, results[0].describe()
        assert denials[0] == set()
    assert results[1].ok, results[1].describe()


@pytest.mark.parametrize("flavour", FLAVOURS)
async def test_acl_database_rules_leave_pub_sub_alone(
    request: pytest.FixtureRequest, flavour: str
) -> None:
    """Valkey 9 has database rules (``alldbs``, ``resetdbs``, ``db=N``), and pub/sub is in no
    database: a user allowed no database at all runs the adapter with the same rules, on its
    own connections and on redis-py's with database 0 (no SELECT); only redis-py's SELECT of
    a URL's other database needs that database allowed (``ACL LOG`` reason ``database``).
    Redis has no database rules: its ``ACL SETUSER`` refuses them."""
    target = RedisPyTarget(request, "plain")
    prefix = f"acl-{uuid.uuid4().hex[:8]}"
    rules = _rules(flavour, prefix)
    try:
        try:
            nowhere = target.add_user([*rules, "resetdbs"])
        except redis.ResponseError as error:
            assert SERVER.name != "valkey", error
            assert "resetdbs" in str(error), error
            return
        assert SERVER.name == "valkey"
        results = [
            await run_scenario(target.url(nowhere), flavour, prefix=prefix),
            await run_scenario(target.url(nowhere), flavour, prefix=prefix,
                               redis_options=target.redis_options),
        ]
        only_0 = target.add_user([*rules, "+select", "resetdbs", "db=0"])
        other_db = await run_scenario(target.url(only_0, db=1), flavour, prefix=prefix,
                                      redis_options=target.redis_options)
        denials = [target.denials(username) for username in (nowhere, only_0)]
    finally:
        target.cleanup()
    for result in results:
        assert result.ok, result.describe()
    if flavour == "classic":
        assert denials[0] == {("command", "client|setinfo")}, denials  # redis-py's, ignored
        assert other_db.failed == "start", other_db.describe()
        assert ("database", "1") in denials[1], denials
    else:
        assert denials[0] == set(), denials
        assert other_db.ok, other_db.describe()


# --------------------------------------------------------------------------- Sentinel over TLS


@pytest.fixture(scope="module")
def tls_sentinel_set() -> Iterator[RedisSentinelSet]:
    """A master, one replica and 3 Sentinels, every one TLS only (CA in ``ca_file``)."""
    with RedisSentinelSet(service="mymaster", replicas=1, sentinels=3, tls=True) as sentinels:
        yield sentinels


def _sentinel_tls_options(ca: str | None, sentinel_kwargs: dict[str, Any]) -> dict[str, Any]:
    """``redis_options`` for ``rediss+sentinel://``: the master's CA, the Sentinels' TLS."""
    options: dict[str, Any] = {"sentinel_kwargs": sentinel_kwargs}
    if ca is not None:
        options["ssl_ca_certs"] = ca
    return options


@pytest.mark.needs_tls
@pytest.mark.parametrize("flavour", FLAVOURS)
async def test_sentinel_over_tls_every_feature(
    tls_sentinel_set: RedisSentinelSet, flavour: str
) -> None:
    """``rediss+sentinel://`` to TLS-only Sentinels and a TLS-only master: the URL's
    scheme and ``ssl_ca_certs`` are the master's; ``sentinel_kwargs={"ssl": True,
    "ssl_ca_certs": ca}`` turns TLS on for the Sentinels."""
    ca = tls_sentinel_set.ca_file
    assert tls_sentinel_set.url.startswith("rediss+sentinel://127.0.0.1:")
    options = _sentinel_tls_options(ca, {"ssl": True, "ssl_ca_certs": ca})
    result = await run_scenario(tls_sentinel_set.url, flavour, redis_options=options)
    assert result.ok, result.describe()
    assert result.passed == list(STEPS)


#: ``redis_options`` that lack something the TLS Sentinel set needs: the error the
#: adapter's start then fails with names it
_MISSING = {
    # no CA anywhere: the Sentinels are asked over plain TCP, which they refuse
    "nothing": (None, {}),
    # the CA of the master only: the Sentinels are still asked over plain TCP
    "sentinel-tls": ("ca", {}),
    # TLS to the Sentinels without the CA: their certificate is not verified
    "sentinel-ca": ("ca", {"ssl": True}),
    # the Sentinels over TLS, the master without the CA: its certificate is not verified
    "master-ca": (None, {"ssl": True, "ssl_ca_certs": "ca"}),
}


@pytest.mark.needs_tls
@pytest.mark.parametrize("missing", sorted(_MISSING))
@pytest.mark.parametrize("flavour", FLAVOURS)
async def test_sentinel_over_tls_without_the_ca_the_adapter_cannot_start(
    tls_sentinel_set: RedisSentinelSet, caplog: pytest.LogCaptureFixture,
    flavour: str, missing: str,
) -> None:
    """Both the Sentinels' and the master's certificates are verified (the test CA is not a
    system CA), and plain TCP does not reach the TLS-only Sentinels.  Why the start failed
    is in the error or in what the adapter logged (the classic flavour's start fails on the
    subscription's confirmation timeout and logs the connection errors)."""
    ca = tls_sentinel_set.ca_file
    master_ca, sentinel_kwargs = _MISSING[missing]
    options = _sentinel_tls_options(
        ca if master_ca else None,
        {key: (ca if value == "ca" else value) for key, value in sentinel_kwargs.items()},
    )
    caplog.set_level(logging.WARNING)
    result = await run_scenario(tls_sentinel_set.url, flavour, redis_options=options)
    assert result.failed == "start", result.describe()
    assert result.passed == []
    text = "\n".join([repr(result.error), *(record.getMessage() for record in caplog.records)])
    master = f"127.0.0.1:{tls_sentinel_set.master.port}"
    if missing == "master-ca":
        # the Sentinels answered over TLS; the master's certificate was refused
        assert f"{master}: SSLCertVerificationError" in text, text
    else:
        # no Sentinel answered, so the master was never asked
        assert master not in text, text
        for host, port in tls_sentinel_set.sentinel_addresses:
            assert f"{host}:{port}: " in text, text
        if missing == "sentinel-ca":
            assert "CERTIFICATE_VERIFY_FAILED" in text, text


@pytest.fixture
def tls_sentinel_failover() -> Iterator[RedisSentinelSet]:
    """A TLS-only Sentinel set of one test, whose master the test kills."""
    with RedisSentinelSet(service="mymaster", replicas=1, sentinels=3, tls=True) as sentinels:
        yield sentinels


async def _delivered(sender: PyServer, receiver: Client, event: str, timeout: float) -> int:
    """Emit ``event`` to room ``r`` from ``sender`` every 0.25 s (bounded) until ``receiver``
    gets one; returns how many were sent."""
    loop = asyncio.get_running_loop()
    deadline = loop.time() + timeout
    for sent in range(1, int(timeout / 0.25) + 2):
        await sender.sio.emit(event, sent, to="r")
        await asyncio.sleep(0.25)
        if receiver.named(event):
            return sent
        if loop.time() >= deadline:
            break
    raise AssertionError(f"no {event!r} arrived within {timeout}s")


@pytest.mark.needs_tls
@pytest.mark.timeout(150)
@pytest.mark.parametrize("flavour", FLAVOURS)
async def test_sentinel_over_tls_follows_a_failover(
    tls_sentinel_failover: RedisSentinelSet, flavour: str
) -> None:
    """The Sentinels promote the replica over TLS; the running adapters ask them again
    (over TLS) and carry room broadcasts both ways through the new master."""
    sentinels = tls_sentinel_failover
    ca = sentinels.ca_file
    options = {
        **adapter_options(flavour, f"fo-{uuid.uuid4().hex[:8]}"),
        "redis_options": _sentinel_tls_options(ca, {"ssl": True, "ssl_ca_certs": ca}),
    }
    servers: list[PyServer] = []
    clients: list[Client] = []
    try:
        for _ in range(2):
            servers.append(await PyServer.start(sentinels.url, **options))
            assert servers[-1].adapter.start_error is None, servers[-1].adapter.start_error
            clients.append(await Client.connect(servers[-1].url, rooms=["r"]))
        old = sentinels.master
        for server in servers:
            assert server.adapter.connection.topology.primary().port == old.port
        await _delivered(servers[0], clients[1], "before", timeout=10.0)

        sentinels.kill_master()
        new = await asyncio.get_running_loop().run_in_executor(
            None, lambda: sentinels.wait_new_master(timeout=30.0)
        )
        assert new.port != old.port
        await _delivered(servers[0], clients[1], "after-a", timeout=30.0)
        await _delivered(servers[1], clients[0], "after-b", timeout=30.0)
        for server in servers:
            assert server.adapter.connection.topology.primary().port == new.port
    finally:
        await close_all(clients, servers)
