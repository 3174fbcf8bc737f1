"use strict";
/*
 * The Node.js half of a mixed cluster: a Socket.IO 4 server with the official
 * @socket.io/redis-adapter.  app.py (python-socketio with AsyncRedisAdapter) is
 * the Python half; both use one Redis and the same key, so they share rooms.
 *
 * Run (with a Redis server on 127.0.0.1:6379), from this directory:
 *
 *     npm ci                 # once: installs the packages of package-lock.json
 *     PORT=3000 node server.js
 *     PORT=3001 python app.py
 *
 * then open http://127.0.0.1:3000 and http://127.0.0.1:3001, join the same room in
 * both and say something: each tab sees the other's messages.
 *
 * Settings (environment): REDIS_URL (default redis://127.0.0.1:6379/0), PORT
 * (default 3000).  The events are app.py's: join, say, who.
 */

const fs = require("fs");
const http = require("http");
const path = require("path");
const { Server } = require("socket.io");
const { createAdapter } = require("@socket.io/redis-adapter");
const { createClient } = require("redis");

const REDIS_URL = process.env.REDIS_URL || "redis://127.0.0.1:6379/0";
const PORT = parseInt(process.env.PORT || "3000", 10);
const SERVER = `node:${PORT}`; // shown to the clients: which server relayed a message
const INDEX = fs.readFileSync(path.join(__dirname, "index.html"));

async function main() {
  // The adapter needs two connections: one publishes, one subscribes.
  const pubClient = createClient({ url: REDIS_URL });
  const subClient = pubClient.duplicate();
  pubClient.on("error", (err) => console.error("redis:", err.message));
  subClient.on("error", (err) => console.error("redis:", err.message));
  await Promise.all([pubClient.connect(), subClient.connect()]);

  const httpServer = http.createServer((req, res) => {
    if (req.url === "/" || req.url === "/index.html") {
      res.writeHead(200, { "Content-Type": "text/html" });
      res.end(INDEX);
    } else {
      res.writeHead(404).end();
    }
  });
  // The Python servers' defaults are Node's: key "socket.io", msgpack.
  const io = new Server(httpServer, { adapter: createAdapter(pubClient, subClient) });

  io.on("connection", (socket) => {
    socket.on("join", (room, ack) => {
      socket.join(room);
      if (typeof ack === "function") ack({ room, server: SERVER });
    });
    socket.on("say", (data) => {
      // A broadcast to a room reaches its members on every server, Python ones too.
      io.to(data.room).emit("message", {
        room: data.room, text: data.text, from: socket.id, server: SERVER,
      });
    });
    socket.on("who", async (room, ack) => {
      // Asks every server of the cluster, Python ones too.
      const sockets = await io.in(room).fetchSockets();
      if (typeof ack === "function") ack(sockets.map((s) => s.id).sort());
    });
  });

  httpServer.listen(PORT, "127.0.0.1", () => console.log(`listening on 127.0.0.1:${PORT}`));

  const stop = () => {
    io.close(() => Promise.all([pubClient.quit(), subClient.quit()]).finally(() => process.exit(0)));
  };
  process.on("SIGINT", stop);
  process.on("SIGTERM", stop);
}

main().catch((err) => {
  console.error(err);
  process.exit(1);
});
