"use strict";
/*
 * Real socket.io-client 4.8 clients for the direct-frames tests.
 *
 * Usage: node clients.js <url> <count> <transports, comma-separated> <deflate 1|0> <rooms>
 * Each client joins <rooms> (comma-separated; auth {"rooms": [...]}) and, once connected,
 * writes {"event": "connected", "client": i, "transport": t, "extensions": "..."} (the
 * websocket extensions the server accepted: "permessage-deflate..." when negotiated).
 * Every event a client gets is written as {"event": "got", "client": i, "name": e,
 * "args": [...]} with binary values as {"$bin": "<base64>"}; an event whose last
 * argument is a function (an ack request) is acknowledged with ["node-ack", i].
 * The script ends when stdin closes, or after 120 s.
 * Only protocol lines go to stdout; diagnostics go to stderr.
 */

const { io } = require("socket.io-client");

const [url, countText, transportsText, deflateText, roomsText] = process.argv.slice(2);
const count = parseInt(countText, 10);
const transports = transportsText.split(",");
const perMessageDeflate = deflateText === "1" ? { threshold: 0 } : false;
const rooms = roomsText ? roomsText.split(",") : [];

function out(obj) {
  process.stdout.write(JSON.stringify(obj) + "\n");
}

function toWire(value) {
  if (Buffer.isBuffer(value) || value instanceof ArrayBuffer) {
    return { $bin: Buffer.from(value).toString("base64") };
  }
  if (Array.isArray(value)) return value.map(toWire);
  if (value && typeof value === "object") {
    const copy = {};
    for (const [k, v] of Object.entries(value)) copy[k] = toWire(v);
    return copy;
  }
  return value;
}

const sockets = [];
for (let i = 0; i < count; i++) {
  const socket = io(url, {
    transports,
    perMessageDeflate,
    reconnection: false,
    forceNew: true,
    auth: { rooms },
  });
  sockets.push(socket);
  socket.on("connect", () => {
    const report = () => {
      const transport = socket.io.engine.transport;
      out({
        event: "connected",
        client: i,
        transport: transport.name,
        extensions: transport.ws ? transport.ws.extensions : "",
      });
    };
    if (transports.length > 1) {
      // report once upgraded (or at once, if the upgrade already happened)
      if (socket.io.engine.transport.name === "websocket") report();
      else socket.io.engine.once("upgrade", report);
    } else {
      report();
    }
  });
  socket.on("connect_error", (err) => process.stderr.write(`client ${i}: ${err.message}\n`));
  socket.onAny((name, ...args) => {
    const last = args[args.length - 1];
    if (typeof last === "function") {
      args.pop();
      last("node-ack", i);
    }
    out({ event: "got", client: i, name, args: toWire(args) });
  });
}

function quit() {
  for (const socket of sockets) socket.close();
  setTimeout(() => process.exit(0), 50);
}
process.stdin.on("end", quit);
process.stdin.resume();
setTimeout(quit, 120000);
