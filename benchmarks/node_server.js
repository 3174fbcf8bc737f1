"use strict";
/*
 * The Node.js rows of benchmarks/scenarios.py: socket.io 4.8 with
 * @socket.io/redis-adapter 8.3 (node-redis v4 clients), modules taken from
 * tests/node/node_modules.
 *
 * Usage: node --expose-gc node_server.js REDIS_URL KEY [classic|sharded]
 *   classic (default): createAdapter(pub, sub, {key: KEY})
 *   sharded:           createShardedAdapter(pub, sub, {channelPrefix: KEY,
 *                      subscriptionMode: "dynamic"})
 *   REDIS_URL redis://h:p/db for createClient, or redis+cluster://h:p,h:p,... for
 *   createCluster({rootNodes}) (the URL form our adapter takes).
 * Clients join the rooms listed in their CONNECT auth {"rooms": [...]}.
 * Protocol (same as _scenario_server.py): JSON lines.
 *   stdout {"event": "ready", "port": P}, then per stdin command {"id": N, "cmd": ...}
 *   {"event": "reply", "id": N, "ok": true|false, "result"|"error": ...}
 *   commands: cpu, sockets, gc, stats, emit_loop {n, room},
 *   request_loop {kind, n, room}: n cross-server requests one after another, kind
 *   fetch_sockets (io.in(room).fetchSockets()), all_rooms (adapter.allRooms()) or
 *   server_side_call (io.serverSideEmitWithAck("ping"), answered "pong" by the others);
 *   replies {cpu, wall, latencies_ms}
 */

const path = require("path");
const http = require("http");
const readline = require("readline");

const modules = path.join(__dirname, "..", "tests", "node", "node_modules");
const { Server } = require(path.join(modules, "socket.io"));
const { createAdapter, createShardedAdapter } = require(
  path.join(modules, "@socket.io", "redis-adapter")
);
const { createClient, createCluster } = require(path.join(modules, "redis"));

const [REDIS_URL, KEY, FLAVOUR = "classic"] = process.argv.slice(2);
const CLUSTER_PREFIX = "redis+cluster://";
const IS_CLUSTER = REDIS_URL.startsWith(CLUSTER_PREFIX);

function createRedis() {
  if (!IS_CLUSTER) return createClient({ url: REDIS_URL });
  const hosts = REDIS_URL.slice(CLUSTER_PREFIX.length).split("/")[0].split(",");
  return createCluster({ rootNodes: hosts.map((h) => ({ url: "redis://" + h })) });
}

function createAdapterFactory(pub, sub) {
  if (FLAVOUR === "sharded") {
    return createShardedAdapter(pub, sub, { channelPrefix: KEY, subscriptionMode: "dynamic" });
  }
  if (FLAVOUR !== "classic") throw new Error("unknown flavour " + FLAVOUR);
  return createAdapter(pub, sub, { key: KEY });
}

/** Resolves once every command sent so far on the connection publishing to `room` is answered. */
function publishedAll(pub, room) {
  if (!IS_CLUSTER) return pub.ping();
  // a cluster client routes (S)PUBLISH by the channel's slot, one connection per
  // master: a PING routed by the same channel follows them on that connection
  return pub.sendCommand(`${KEY}#/#${room}#`, false, ["PING"]);
}

function out(obj) {
  process.stdout.write(JSON.stringify(obj) + "\n");
}

function cpuSeconds() {
  const u = process.cpuUsage();
  return (u.user + u.system) / 1e6;
}

async function main() {
  const pub = createRedis();
  const sub = pub.duplicate();
  pub.on("error", (err) => process.stderr.write("redis pub: " + err + "\n"));
  sub.on("error", (err) => process.stderr.write("redis sub: " + err + "\n"));
  await Promise.all([pub.connect(), sub.connect()]);

  const httpServer = http.createServer();
  const io = new Server(httpServer, { adapter: createAdapterFactory(pub, sub) });
  io.on("connection", (socket) => {
    const rooms = socket.handshake.auth && socket.handshake.auth.rooms;
    if (Array.isArray(rooms) && rooms.length) socket.join(rooms);
  });
  await new Promise((resolve) => httpServer.listen(0, "127.0.0.1", 4096, resolve));

  io.on("ping", (callback) => callback("pong"));

  const requests = {
    fetch_sockets: (room) => io.in(room).fetchSockets(),
    all_rooms: () => io.of("/").adapter.allRooms(),
    server_side_call: () => io.serverSideEmitWithAck("ping"),
  };

  async function requestLoop(kind, n, room) {
    const request = requests[kind];
    if (!request) throw new Error("unknown request kind " + kind);
    const latencies = [];
    const cpu0 = cpuSeconds();
    const start = process.hrtime.bigint();
    for (let i = 0; i < n; i++) {
      const t0 = process.hrtime.bigint();
      await request(room);
      latencies.push(Number(process.hrtime.bigint() - t0) / 1e6);
    }
    const wall = Number(process.hrtime.bigint() - start) / 1e9;
    return { cpu: cpuSeconds() - cpu0, wall, latencies_ms: latencies };
  }

  async function emitLoop(n, room) {
    const cpu0 = cpuSeconds();
    const t0 = process.hrtime.bigint();
    for (let i = 0; i < n; i++) {
      io.to(room).emit("ev", { n: i });
      // yield now and then so node-redis writes as we go, as a real app would
      if ((i & 1023) === 1023) await new Promise((r) => setImmediate(r));
    }
    await publishedAll(pub, room); // every (S)PUBLISH before it has been answered
    const wall = Number(process.hrtime.bigint() - t0) / 1e9;
    await new Promise((r) => setTimeout(r, 300));
    return { cpu: cpuSeconds() - cpu0, wall };
  }

  const rl = readline.createInterface({ input: process.stdin });
  rl.on("line", async (line) => {
    let cmd;
    try {
      cmd = JSON.parse(line);
      let result;
      switch (cmd.cmd) {
        case "cpu":
          result = { cpu: cpuSeconds() };
          break;
        case "sockets":
          result = { sockets: io.of("/").sockets.size };
          break;
        case "gc":
          if (global.gc) global.gc();
          result = {};
          break;
        case "stats": // what our adapter reports; nothing here
          result = {};
          break;
        case "emit_loop":
          result = await emitLoop(cmd.n, cmd.room);
          break;
        case "request_loop":
          result = await requestLoop(cmd.kind, cmd.n, cmd.room);
          break;
        default:
          throw new Error("unknown command " + cmd.cmd);
      }
      out({ event: "reply", id: cmd.id, ok: true, result });
    } catch (err) {
      out({ event: "reply", id: cmd && cmd.id, ok: false, error: String(err) });
    }
  });
  rl.on("close", () => process.exit(0));
  out({ event: "ready", port: httpServer.address().port, pid: process.pid });
}

main().catch((err) => {
  out({ event: "fatal", error: String(err && err.stack ? err.stack : err) });
  process.exit(1);
});
