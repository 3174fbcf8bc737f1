"use strict";
/*
 * A controllable Node.js Socket.IO server using the real @socket.io/redis-adapter
 * (classic `createAdapter`) with node-redis v4 clients, for the interop tests.
 *
 * Configuration (env): REDIS_URL, PORT, KEY, NAMESPACES, PARSER (msgpack|json),
 * REQUESTS_TIMEOUT (ms), SPECIFIC_RESPONSE_CHANNEL (1/0).
 *
 * Protocol: one JSON object per line.
 *   stdin  (commands): {"id": N, "cmd": "...", ...fields}
 *   stdout (events):   {"event": "ready", "port": P}
 *                      {"event": "reply", "id": N, "ok": true, "result": ...}
 *                      {"event": "reply", "id": N, "ok": false, "error": "..."}
 *                      {"event": "connection" | "disconnect" | "client_event" |
 *                                "server_side_event" | "error", ...}
 * Binary values are {"$bin": "<base64>"} both ways; dates are {"$date": ms}.
 * Only protocol lines go to stdout; diagnostics go to stderr.
 */

const http = require("http");
const readline = require("readline");
const { Server } = require("socket.io");
const { createAdapter } = require("@socket.io/redis-adapter");
const { createClient } = require("redis");

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

const ackReplies = { default: { reply: "node-ack" }, byEvent: new Map() };

function jsonParser() {
  return {
    encode: (v) => JSON.stringify(v),
    decode: (buf) => JSON.parse(Buffer.isBuffer(buf) ? buf.toString("utf8") : String(buf)),
  };
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
    const rooms = await nspOf(msg.nsp).adapter.allRooms();
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
    };
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

async function main() {
  if (PARSER !== "json" && PARSER !== "msgpack") throw new Error(`unknown PARSER ${PARSER}`);
  pubClient = createClient({ url: REDIS_URL });
  subClient = pubClient.duplicate();
  pubClient.on("error", (e) => logErr("redis pub client error:", errMessage(e)));
  subClient.on("error", (e) => logErr("redis sub client error:", errMessage(e)));
  await Promise.all([pubClient.connect(), subClient.connect()]);

  // Track the adapter's (fire-and-forget) subscriptions so "ready" comes after them.
  const pending = [];
  for (const method of ["subscribe", "pSubscribe"]) {
    const original = subClient[method].bind(subClient);
    subClient[method] = (...args) => {
      const p = original(...args);
      if (p && typeof p.then === "function") {
        pending.push(p);
        p.catch((e) => logErr(`${method} failed:`, errMessage(e)));
      }
      return p;
    };
  }

  const opts = { key: KEY, publishOnSpecificResponseChannel: SPECIFIC_RESPONSE_CHANNEL };
  if (REQUESTS_TIMEOUT) opts.requestsTimeout = REQUESTS_TIMEOUT;
  if (PARSER === "json") opts.parser = jsonParser();

  httpServer = http.createServer();
  io = new Server(httpServer, { adapter: createAdapter(pubClient, subClient, opts) });
  for (const name of NAMESPACES) {
    const nsp = io.of(name);
    attachConnectionHandlers(nsp);
    nsp.adapter.on("error", (e) => logErr(`adapter error (${name}):`, errMessage(e)));
  }
  await Promise.all(pending);

  await new Promise((resolve, reject) => {
    httpServer.once("error", reject);
    httpServer.listen(PORT, "127.0.0.1", () => resolve());
  });
  out({ event: "ready", port: httpServer.address().port, pid: process.pid });
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
