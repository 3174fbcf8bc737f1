"use strict";
/*
 * The Node.js row of benchmarks/scenarios.py: socket.io 4.8 with
 * @socket.io/redis-adapter 8.3 (node-redis v4 clients), modules taken from
 * tests/node/node_modules.
 *
 * Usage: node --expose-gc node_server.js REDIS_URL KEY
 * Clients join the rooms listed in their CONNECT auth {"rooms": [...]}.
 * Protocol (same as _scenario_server.py): JSON lines.
 *   stdout {"event": "ready", "port": P}, then per stdin command {"id": N, "cmd": ...}
 *   {"event": "reply", "id": N, "ok": true|false, "result"|"error": ...}
 *   commands: cpu, sockets, gc, emit_loop {n, room}
 */

const path = require("path");
const http = require("http");
const readline = require("readline");

const modules = path.join(__dirname, "..", "tests", "node", "node_modules");
const { Server } = require(path.join(modules, "socket.io"));
const { createAdapter } = require(path.join(modules, "@socket.io", "redis-adapter"));
const { createClient } = require(path.join(modules, "redis"));

const [REDIS_URL, KEY] = process.argv.slice(2);

function out(obj) {
  process.stdout.write(JSON.stringify(obj) + "\n");
}

function cpuSeconds() {
  const u = process.cpuUsage();
  return (u.user + u.system) / 1e6;
}

async function main() {
  const pub = createClient({ url: REDIS_URL });
  const sub = pub.duplicate();
  pub.on("error", (err) => process.stderr.write("redis pub: " + err + "\n"));
  sub.on("error", (err) => process.stderr.write("redis sub: " + err + "\n"));
  await Promise.all([pub.connect(), sub.connect()]);

  const httpServer = http.createServer();
  const io = new Server(httpServer, { adapter: createAdapter(pub, sub, { key: KEY }) });
  io.on("connection", (socket) => {
    const rooms = socket.handshake.auth && socket.handshake.auth.rooms;
    if (Array.isArray(rooms) && rooms.length) socket.join(rooms);
  });
  await new Promise((resolve) => httpServer.listen(0, "127.0.0.1", 4096, resolve));

  async function emitLoop(n, room) {
    const cpu0 = cpuSeconds();
    const t0 = process.hrtime.bigint();
    for (let i = 0; i < n; i++) {
      io.to(room).emit("ev", { n: i });
      // yield now and then so node-redis writes as we go, as a real app would
      if ((i & 1023) === 1023) await new Promise((r) => setImmediate(r));
    }
    await pub.ping(); // every PUBLISH before it has been answered
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
        case "emit_loop":
          result = await emitLoop(cmd.n, cmd.room);
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
