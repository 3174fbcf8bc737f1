"use strict";
/*
 * A controllable Node.js Socket.IO server using the real @socket.io/redis-adapter
 * (classic `createAdapter` or sharded `createShardedAdapter`) with node-redis v4 clients
 * (standalone `createClient` or Redis Cluster `createCluster`), for the interop tests.
 *
 * Configuration (env): REDIS_URL, PORT, KEY, NAMESPACES, PARSER (msgpack|json),
 * REQUESTS_TIMEOUT (ms), SPECIFIC_RESPONSE_CHANNEL (1/0), and:
 *   ADAPTER            classic (default) | sharded
 *   SUBSCRIPTION_MODE  static | dynamic (default) | dynamic-private   (sharded only)
 *   CHANNEL_PREFIX     the sharded adapter's channelPrefix (default: KEY)   (sharded only)
 *   REDIS_CLUSTER      comma-separated root nodes, "host:port" or "redis[s]://host:port":
 *                      use createCluster({rootNodes}) instead of createClient(REDIS_URL)
 *   REDIS_TLS_CA       a CA file: connect with TLS (rediss://, socket {tls: true, ca})
 *   REDIS_USERNAME / REDIS_PASSWORD   an ACL user (standalone and cluster)
 * PARSER, REQUESTS_TIMEOUT and SPECIFIC_RESPONSE_CHANNEL apply to the classic adapter only
 * (the sharded adapter has no such options).
 *
 * "ready" is sent once every subscription the adapters made at startup is confirmed by
 * Redis and each namespace's serverCount() counts this server (bounded; see main()).
 *
 * Protocol: one JSON object per line.
 *   stdin  (commands): {"id": N, "cmd": "...", ...fields}
 *   stdout (events):   {"event": "ready", "port": P, "pid": N, "adapter": "classic"|"sharded",
 *                       "cluster": bool, "server_counts": {nsp: n}}
 *                      {"event": "reply", "id": N, "ok": true, "result": ...}
 *                      {"event": "reply", "id": N, "ok": false, "error": "..."}
 *                      {"event": "connection" | "disconnect" | "client_event" |
 *                                "server_side_event" | "error", ...}
 * Binary values are {"$bin": "<base64>"} both ways; dates are {"$date": ms}.
 * Only protocol lines go to stdout; diagnostics go to stderr.
 */

const fs = require("fs");
const http = require("http");
const readline = require("readline");
const { Server } = require("socket.io");
const { createAdapter, createShardedAdapter } = require("@socket.io/redis-adapter");
const { createClient, createCluster } = require("redis");

const REDIS_URL = process.env.REDIS_URL || "redis://127.0.0.1:6379/0";
const PORT = parseInt(process.env.PORT || "0", 10);
const KEY = process.env.KEY || "socket.io";
const NAMESPACES = (process.env.NAMESPACES || "/")
  .split(",")
  .map((s) => s.trim())
  .filter((s) => s.length > 0)
  .map((s) => (s.startsWith("/") ? s : "/" + s));
const PARSER = (process.env.PARSER || "msgpack").toLowerCase();
const REQUESTS_TIMEOUT = process.env.REQUESTS_TIMEOUT
  ? parseInt(process.env.REQUESTS_TIMEOUT, 10)
  : undefined;
const SPECIFIC_RESPONSE_CHANNEL = ["1", "true", "yes"].includes(
  (process.env.SPECIFIC_RESPONSE_CHANNEL || "0").toLowerCase()
);
const ADAPTER = (process.env.ADAPTER || "classic").toLowerCase();
const SUBSCRIPTION_MODE = process.env.SUBSCRIPTION_MODE || "";
const CHANNEL_PREFIX = process.env.CHANNEL_PREFIX || "";
const REDIS_CLUSTER = (process.env.REDIS_CLUSTER || "")
  .split(",")
  .map((s) => s.trim())
  .filter((s) => s.length > 0);
const REDIS_TLS_CA = process.env.REDIS_TLS_CA || "";
const REDIS_USERNAME = process.env.REDIS_USERNAME || "";
const REDIS_PASSWORD = process.env.REDIS_PASSWORD || "";
// How long "ready" waits for serverCount() >= 1 on each namespace, and how long
// wait_subscriptions waits by default.
const SERVER_COUNT_WAIT_MS = 5000;
const SUBSCRIPTIONS_WAIT_MS = 5000;
const STARTUP_SUBSCRIPTIONS_WAIT_MS = 15000;
const CONNECT_WAIT_MS = 15000;

// ---------------------------------------------------------------- output

function out(obj) {
  process.stdout.write(JSON.stringify(obj) + "\n");
}

function logErr(...args) {
  process.stderr.write("[peer " + process.pid + "] " + args.join(" ") + "\n");
}

function errMessage(err) {
  if (err && typeof err === "object" && "message" in err) return String(err.message);
  return String(err);
}

// ------------------------------------------------------- value conversion

/** Received JS values -> JSON-safe values ({"$bin"}, {"$date"}). */
function toWire(value, depth = 0) {
  if (depth > 64) return null;
  if (value === undefined || typeof value === "function") return null;
  if (value === null || typeof value === "string" || typeof value === "boolean") {
    return value;
  }
  if (typeof value === "number") {
    return Number.isFinite(value) ? value : String(value);
  }
  if (typeof value === "bigint") return value.toString();
  if (Buffer.isBuffer(value)) return { $bin: value.toString("base64") };
  if (value instanceof ArrayBuffer) return { $bin: Buffer.from(value).toString("base64") };
  if (ArrayBuffer.isView(value)) {
    return {
      $bin: Buffer.from(value.buffer, value.byteOffset, value.byteLength).toString("base64"),
    };
  }
  if (value instanceof Date) return { $date: value.getTime() };
  if (value instanceof Error) return { $error: value.message };
  if (value instanceof Set) return [...value].map((v) => toWire(v, depth + 1));
  if (value instanceof Map) {
    const obj = {};
    for (const [k, v] of value) obj[String(k)] = toWire(v, depth + 1);
    return obj;
  }
  if (Array.isArray(value)) return value.map((v) => toWire(v, depth + 1));
  if (typeof value === "object") {
    const obj = {};
    for (const k of Object.keys(value)) {
      const v = value[k];
      if (v === undefined || typeof v === "function") continue;
      obj[k] = toWire(v, depth + 1);
    }
    return obj;
  }
  return String(value);
}

/** JSON values from the test -> JS values ({"$bin"} -> Buffer, {"$date"} -> Date). */
function fromWire(value) {
  if (Array.isArray(value)) return value.map(fromWire);
  if (value !== null && typeof value === "object") {
    const keys = Object.keys(value);
    if (keys.length === 1 && keys[0] === "$bin" && typeof value.$bin === "string") {
      return Buffer.from(value.$bin, "base64");
    }
    if (keys.length === 1 && keys[0] === "$date" && typeof value.$date === "number") {
      return new Date(value.$date);
    }
    const obj = {};
    for (const k of keys) obj[k] = fromWire(value[k]);
    return obj;
  }
  return value;
}

/** Drops a trailing ack function from received args; returns [args, ack|null]. */
function splitAck(args) {
  if (args.length > 0 && typeof args[args.length - 1] === "function") {
    return [args.slice(0, -1), args[args.length - 1]];
  }
  return [args, null];
}

function required(v, name) {
  if (v === undefined || v === null) throw new Error(`missing field ${name}`);
  return v;
}

function asList(v) {
  if (v === undefined || v === null) return [];
  return Array.isArray(v) ? v : [v];
}

// ----------------------------------------------------------------- state

let io = null;
let pubClient = null;
let subClient = null;
let httpServer = null;
let shuttingDown = false;

// Subscription commands (SUBSCRIBE, PSUBSCRIBE, SSUBSCRIBE and their UN-) the adapters sent
// and Redis has not confirmed yet. The adapters never await them: the classic adapter
// subscribes in its constructor, the sharded one also SSUBSCRIBEs on "create-room" and
// SUNSUBSCRIBEs on "delete-room" (dynamic modes), i.e. synchronously inside join()/leave().
const pendingSubscriptions = new Set();
const subscriptionFailures = [];
let subscriptionCommands = 0;

const ackReplies = { default: { reply: "node-ack" }, byEvent: new Map() };

function jsonParser() {
  return {
    encode: (v) => JSON.stringify(v),
    decode: (buf) => JSON.parse(Buffer.isBuffer(buf) ? buf.toString("utf8") : String(buf)),
  };
}

function delay(ms) {
  return new Promise((resolve) => setTimeout(resolve, ms));
}

/** Wraps the sub client's (un)subscribe methods so their promises are tracked. */
function trackSubscriptions(client) {
  const methods = [
    "subscribe",
    "pSubscribe",
    "sSubscribe",
    "unsubscribe",
    "pUnsubscribe",
    "sUnsubscribe",
  ];
  for (const method of methods) {
    // A node-redis client and a node-redis cluster both have these as own, writable
    // properties (aliases of SUBSCRIBE, ...); the adapters call them on the object.
    if (typeof client[method] !== "function") continue;
    const original = client[method].bind(client);
    client[method] = (...args) => {
      const p = original(...args);
      if (p && typeof p.then === "function") {
        subscriptionCommands += 1;
        pendingSubscriptions.add(p);
        p.then(
          () => pendingSubscriptions.delete(p),
          (e) => {
            pendingSubscriptions.delete(p);
            const channels = typeof args[0] === "string" ? args[0] : JSON.stringify(args[0]);
            const text = `${method}(${channels}) failed: ${errMessage(e)}`;
            subscriptionFailures.push(text);
            if (!shuttingDown) logErr(text);
          }
        );
      }
      return p;
    };
  }
}

/**
 * Resolves once every tracked subscription command (including those sent while waiting)
 * is confirmed; rejects on a failed one or after `timeoutMs`. Returns how many waited.
 */
async function settleSubscriptions(timeoutMs) {
  const deadline = Date.now() + timeoutMs;
  let waited = 0;
  while (pendingSubscriptions.size > 0) {
    const batch = [...pendingSubscriptions];
    const remaining = deadline - Date.now();
    if (remaining <= 0) break;
    // Each promise leaves the set in its own handler, which runs before allSettled's.
    const settled = await withGuard(remaining, "subscriptions", (resolve) => {
      Promise.allSettled(batch).then(() => resolve(true));
    }).catch(() => false);
    if (!settled) break;
    waited += batch.length;
  }
  if (pendingSubscriptions.size > 0) {
    throw new Error(
      `${pendingSubscriptions.size} subscription command(s) not confirmed within ${timeoutMs} ms`
    );
  }
  if (subscriptionFailures.length > 0) {
    throw new Error(subscriptionFailures.splice(0).join("; "));
  }
  return waited;
}

function nspOf(name) {
  return io.of(name === undefined || name === null ? "/" : name);
}

function findSocket(sid, nspName) {
  const names = nspName !== undefined && nspName !== null ? [nspName] : [...io._nsps.keys()];
  for (const name of names) {
    const nsp = io._nsps.get(name);
    if (nsp && nsp.sockets.has(sid)) return nsp.sockets.get(sid);
  }
  throw new Error(`no local socket ${sid}` + (nspName ? ` in namespace ${nspName}` : ""));
}

/** io.of(nsp) + to(rooms) + except(except) [+ local]. */
function operator(msg) {
  let op = nspOf(msg.nsp).to(asList(msg.rooms));
  const except = asList(msg.except);
  if (except.length) op = op.except(except);
  if (msg.local) op = op.local;
  return op;
}

function attachConnectionHandlers(nsp) {
  nsp.on("connection", (socket) => {
    const auth = socket.handshake.auth || {};
    if (Array.isArray(auth.rooms) && auth.rooms.length) socket.join(auth.rooms);
    if (Object.prototype.hasOwnProperty.call(auth, "data")) socket.data = auth.data;
    out({ event: "connection", nsp: nsp.name, id: socket.id });

    socket.onAny((name, ...rawArgs) => {
      const [args, ack] = splitAck(rawArgs);
      out({
        event: "client_event",
        nsp: nsp.name,
        id: socket.id,
        name,
        args: toWire(args),
        ack: ack !== null,
      });
      if (ack) {
        const conf = ackReplies.byEvent.has(name) ? ackReplies.byEvent.get(name) : ackReplies.default;
        if (!conf.none) ack(conf.reply);
      }
    });

    socket.on("disconnect", (reason) => {
      out({ event: "disconnect", nsp: nsp.name, id: socket.id, reason });
    });
  });
}

// --------------------------------------------------------------- commands

function withGuard(ms, what, executor) {
  return new Promise((resolve, reject) => {
    const timer = setTimeout(() => reject(new Error(`${what}: no callback within ${ms} ms`)), ms);
    try {
      executor(
        (v) => {
          clearTimeout(timer);
          resolve(v);
        },
        (e) => {
          clearTimeout(timer);
          reject(e);
        }
      );
    } catch (e) {
      clearTimeout(timer);
      reject(e);
    }
  });
}

const commands = {
  async ping() {
    return "pong";
  },

  async emit(msg) {
    let op = operator(msg);
    if (msg.volatile) op = op.volatile;
    if (msg.compress !== undefined && msg.compress !== null) op = op.compress(!!msg.compress);
    op.emit(msg.event, ...fromWire(asList(msg.args)));
    return true;
  },

  async socket_emit(msg) {
    const socket = findSocket(msg.sid, msg.nsp);
    const args = fromWire(asList(msg.args));
    const rooms = asList(msg.rooms);
    if (rooms.length) {
      let op = socket.to(rooms);
      const except = asList(msg.except);
      if (except.length) op = op.except(except);
      op.emit(msg.event, ...args);
    } else if (msg.broadcast) {
      let op = socket.broadcast;
      const except = asList(msg.except);
      if (except.length) op = op.except(except);
      op.emit(msg.event, ...args);
    } else {
      socket.emit(msg.event, ...args);
    }
    return true;
  },

  async join(msg) {
    const socket = findSocket(msg.sid, msg.nsp);
    await socket.join(required(msg.room !== undefined ? msg.room : msg.rooms, "room"));
    return [...socket.rooms];
  },

  async leave(msg) {
    const socket = findSocket(msg.sid, msg.nsp);
    for (const room of asList(required(msg.room !== undefined ? msg.room : msg.rooms, "room"))) {
      await socket.leave(room);
    }
    return [...socket.rooms];
  },

  async sockets() {
    const result = {};
    for (const [name, nsp] of io._nsps) {
      result[name] = [...nsp.sockets.values()].map((s) => ({
        id: s.id,
        rooms: toWire([...s.rooms]),
      }));
    }
    return result;
  },

  async fetch_sockets(msg) {
    const sockets = await operator(msg).fetchSockets();
    return sockets.map((s) => ({
      id: s.id,
      rooms: toWire([...s.rooms]),
      data: toWire(s.data),
      handshake: toWire(s.handshake),
    }));
  },

  async sockets_join(msg) {
    operator(msg).socketsJoin(required(msg.target, "target"));
    return true;
  },

  async sockets_leave(msg) {
    operator(msg).socketsLeave(required(msg.target, "target"));
    return true;
  },

  async disconnect_sockets(msg) {
    operator(msg).disconnectSockets(!!msg.close);
    return true;
  },

  async all_rooms(msg) {
    const adapter = nspOf(msg.nsp).adapter;
    if (typeof adapter.allRooms !== "function") {
      // The sharded adapter extends socket.io-adapter's ClusterAdapter, which has no
      // allRooms() (neither has the in-memory Adapter nor socket.io's operators).
      throw new Error(
        `allRooms() is not supported by the ${ADAPTER} adapter ` +
          `(${adapter.constructor.name} has no allRooms method)`
      );
    }
    const rooms = await adapter.allRooms();
    return toWire([...rooms]);
  },

  async server_count(msg) {
    return await nspOf(msg.nsp).adapter.serverCount();
  },

  async adapter_state(msg) {
    const adapter = nspOf(msg.nsp).adapter;
    return {
      uid: adapter.uid,
      requests: adapter.requests ? adapter.requests.size : null,
      ackRequests: adapter.ackRequests ? adapter.ackRequests.size : null,
      rooms: toWire([...adapter.rooms.keys()]),
      adapter: ADAPTER,
      channel: adapter.channel,
      subscriptionMode: adapter.opts ? adapter.opts.subscriptionMode : null,
    };
  },

  /**
   * Waits until Redis confirmed every (un)subscription the adapters sent so far, e.g.
   * the sharded adapter's SSUBSCRIBE for a room that a socket just joined (dynamic modes),
   * which join() does not await. Fails on a failed subscription or after `timeout_ms`.
   * Returns how many subscription commands it waited for.
   */
  async wait_subscriptions(msg) {
    return await settleSubscriptions(msg.timeout_ms || SUBSCRIPTIONS_WAIT_MS);
  },

  async server_side_emit(msg) {
    const nsp = nspOf(msg.nsp);
    const args = fromWire(asList(msg.args));
    if (!msg.ack) {
      nsp.serverSideEmit(msg.event, ...args);
      return true;
    }
    // The adapter's requestsTimeout bounds the ack; `timeout` is an outer guard only
    // (socket.io's `.timeout()` flag does not apply to serverSideEmit).
    const guard = msg.timeout || (REQUESTS_TIMEOUT || 5000) + 3000;
    return await withGuard(guard, "serverSideEmit", (resolve) => {
      nsp.serverSideEmit(msg.event, ...args, (err, responses) => {
        resolve({ err: err ? err.message : null, responses: toWire(responses || []) });
      });
    });
  },

  async emit_with_ack(msg) {
    const timeout = msg.timeout || 1000;
    const op = operator(msg).timeout(timeout);
    const args = fromWire(asList(msg.args));
    return await withGuard(timeout + 5000, "emit with ack", (resolve) => {
      op.emit(msg.event, ...args, (err, responses) => {
        resolve({ err: err ? err.message : null, responses: toWire(responses || []) });
      });
    });
  },

  async on_server_side_event(msg) {
    const nspName = nspOf(msg.nsp).name;
    const noReply = !!msg.no_reply;
    const reply = fromWire(msg.reply);
    nspOf(msg.nsp).on(msg.event, (...rawArgs) => {
      const [args, ack] = splitAck(rawArgs);
      out({
        event: "server_side_event",
        nsp: nspName,
        name: msg.event,
        args: toWire(args),
        ack: ack !== null,
      });
      if (ack && !noReply) ack(reply);
    });
    return true;
  },

  async set_ack_reply(msg) {
    const conf = { reply: fromWire(msg.value), none: !!msg.none };
    if (msg.event !== undefined && msg.event !== null) ackReplies.byEvent.set(msg.event, conf);
    else ackReplies.default = conf;
    return true;
  },

  async quit(msg) {
    setImmediate(() => shutdown(0));
    return true;
  },
};

async function handleLine(line) {
  line = line.trim();
  if (!line) return;
  let msg;
  try {
    msg = JSON.parse(line);
  } catch (e) {
    out({ event: "error", source: "stdin", message: `bad JSON command: ${errMessage(e)}` });
    return;
  }
  const id = msg && msg.id !== undefined ? msg.id : null;
  try {
    const handler = Object.prototype.hasOwnProperty.call(commands, msg.cmd)
      ? commands[msg.cmd]
      : null;
    if (!handler) throw new Error(`unknown command ${JSON.stringify(msg.cmd)}`);
    const result = await handler(msg);
    out({ event: "reply", id, ok: true, result: toWire(result === undefined ? null : result) });
  } catch (e) {
    out({ event: "reply", id, ok: false, error: errMessage(e) });
  }
}

// ------------------------------------------------------ startup/shutdown

async function shutdown(code) {
  if (shuttingDown) return;
  shuttingDown = true;
  const force = setTimeout(() => process.exit(code), 3000);
  force.unref();
  try {
    if (io) await new Promise((resolve) => io.close(() => resolve()));
  } catch (e) {
    logErr("io.close failed:", errMessage(e));
  }
  for (const client of [subClient, pubClient]) {
    try {
      if (client && client.isOpen) await client.quit();
    } catch (e) {
      logErr("redis quit failed:", errMessage(e));
    }
  }
  process.exit(code);
}

/** "host:port" or a URL -> a node-redis URL (rediss:// when REDIS_TLS_CA is set). */
function redisUrl(entry) {
  let url = /^[a-z][a-z0-9+.-]*:\/\//i.test(entry) ? entry : `redis://${entry}`;
  if (REDIS_TLS_CA && url.startsWith("redis://")) url = "rediss://" + url.slice("redis://".length);
  return url;
}

/** Client options shared by standalone and cluster clients: TLS and the ACL user. */
function clientOptions() {
  const options = {};
  if (REDIS_TLS_CA) options.socket = { tls: true, ca: fs.readFileSync(REDIS_TLS_CA) };
  if (REDIS_USERNAME) options.username = REDIS_USERNAME;
  if (REDIS_PASSWORD) options.password = REDIS_PASSWORD;
  return options;
}

function createRedisClient() {
  if (REDIS_CLUSTER.length) {
    // A node-redis RedisCluster: commands are routed by slot (MOVED/ASK followed), and
    // PUBSUB NUMSUB/SHARDNUMSUB are summed over `cluster.masters` by the adapter.
    return createCluster({
      rootNodes: REDIS_CLUSTER.map((entry) => ({ url: redisUrl(entry) })),
      defaults: clientOptions(),
    });
  }
  if (!REDIS_TLS_CA && !REDIS_USERNAME && !REDIS_PASSWORD) {
    return createClient({ url: REDIS_URL }); // exactly as before these options existed
  }
  return createClient({ url: redisUrl(REDIS_URL), ...clientOptions() });
}

function adapterFactory() {
  if (ADAPTER === "sharded") {
    const opts = {
      channelPrefix: CHANNEL_PREFIX || KEY,
      subscriptionMode: SUBSCRIPTION_MODE || "dynamic",
    };
    return createShardedAdapter(pubClient, subClient, opts);
  }
  const opts = { key: KEY, publishOnSpecificResponseChannel: SPECIFIC_RESPONSE_CHANNEL };
  if (REQUESTS_TIMEOUT) opts.requestsTimeout = REQUESTS_TIMEOUT;
  if (PARSER === "json") opts.parser = jsonParser();
  return createAdapter(pubClient, subClient, opts);
}

/**
 * Polls serverCount() (PUBSUB NUMSUB / SHARDNUMSUB, summed over the masters on a
 * cluster) until it counts this server, at most `timeoutMs` per namespace. On a cluster
 * the count can lag the confirmed subscription. Returns {nsp: last count or error}.
 */
async function waitUntilCounted(timeoutMs) {
  const counts = {};
  for (const name of NAMESPACES) {
    const adapter = io.of(name).adapter;
    const deadline = Date.now() + timeoutMs;
    let last = null;
    for (;;) {
      const remaining = Math.max(deadline - Date.now(), 1);
      try {
        last = await withGuard(remaining, "serverCount()", (resolve, reject) => {
          adapter.serverCount().then(resolve, reject);
        });
      } catch (e) {
        last = `error: ${errMessage(e)}`;
      }
      if (typeof last === "number" && last >= 1) break;
      if (Date.now() >= deadline) {
        logErr(`warning: serverCount() of ${name} is ${last} after ${timeoutMs} ms`);
        break;
      }
      await delay(50);
    }
    counts[name] = last;
  }
  return counts;
}

async function main() {
  if (PARSER !== "json" && PARSER !== "msgpack") throw new Error(`unknown PARSER ${PARSER}`);
  if (ADAPTER !== "classic" && ADAPTER !== "sharded") {
    throw new Error(`unknown ADAPTER ${ADAPTER} (classic or sharded)`);
  }
  if (ADAPTER !== "sharded" && (SUBSCRIPTION_MODE || CHANNEL_PREFIX)) {
    throw new Error("SUBSCRIPTION_MODE and CHANNEL_PREFIX need ADAPTER=sharded");
  }
  if (SUBSCRIPTION_MODE && !["static", "dynamic", "dynamic-private"].includes(SUBSCRIPTION_MODE)) {
    throw new Error(`unknown SUBSCRIPTION_MODE ${SUBSCRIPTION_MODE}`);
  }
  pubClient = createRedisClient();
  subClient = pubClient.duplicate();
  let lastRedisError = null;
  pubClient.on("error", (e) => {
    lastRedisError = errMessage(e);
    logErr("redis pub client error:", errMessage(e));
  });
  subClient.on("error", (e) => {
    lastRedisError = errMessage(e);
    logErr("redis sub client error:", errMessage(e));
  });
  if (REDIS_CLUSTER.length) {
    // node-redis' cluster emits this (sic) when it cannot move a sharded channel's
    // listeners after the server SUNSUBSCRIBEd them (slot migration/failover).
    subClient.on("sharded-shannel-moved-error", (e, channel) =>
      logErr(`sharded channel ${channel} could not be moved:`, errMessage(e))
    );
  }
  // node-redis retries a failing connection (refused, WRONGPASS, TLS error) forever:
  // give up after CONNECT_WAIT_MS with the last error, instead of never getting ready.
  await withGuard(CONNECT_WAIT_MS, "connecting to Redis", (resolve, reject) => {
    Promise.all([pubClient.connect(), subClient.connect()]).then(resolve, reject);
  }).catch((e) => {
    throw new Error(errMessage(e) + (lastRedisError ? ` (last error: ${lastRedisError})` : ""));
  });

  // Track the adapters' (fire-and-forget) subscriptions so "ready" comes after them.
  trackSubscriptions(subClient);

  httpServer = http.createServer();
  io = new Server(httpServer, { adapter: adapterFactory() });
  for (const name of NAMESPACES) {
    const nsp = io.of(name);
    attachConnectionHandlers(nsp);
    nsp.adapter.on("error", (e) => logErr(`adapter error (${name}):`, errMessage(e)));
  }
  await settleSubscriptions(STARTUP_SUBSCRIPTIONS_WAIT_MS);
  const serverCounts = await waitUntilCounted(SERVER_COUNT_WAIT_MS);

  await new Promise((resolve, reject) => {
    httpServer.once("error", reject);
    httpServer.listen(PORT, "127.0.0.1", () => resolve());
  });
  out({
    event: "ready",
    port: httpServer.address().port,
    pid: process.pid,
    adapter: ADAPTER,
    cluster: REDIS_CLUSTER.length > 0,
    server_counts: serverCounts,
  });
}

process.on("unhandledRejection", (e) => {
  logErr("unhandled rejection:", (e && e.stack) || errMessage(e));
  out({ event: "error", source: "unhandledRejection", message: errMessage(e) });
});
process.on("uncaughtException", (e) => {
  logErr("uncaught exception:", (e && e.stack) || errMessage(e));
  out({ event: "error", source: "uncaughtException", message: errMessage(e) });
});

const rl = readline.createInterface({ input: process.stdin, terminal: false });
let started = null;
rl.on("line", (line) => {
  // Commands wait until startup is complete.
  started.then(() => handleLine(line)).catch(() => {});
});
rl.on("close", () => shutdown(0));

started = main().catch((e) => {
  logErr("startup failed:", (e && e.stack) || errMessage(e));
  out({ event: "error", source: "startup", message: errMessage(e) });
  shutdown(1);
  throw e;
});
