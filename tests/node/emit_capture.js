"use strict";
/*
 * Runs calls of the real @socket.io/redis-emitter against Redis, then exits,
 * so the tests can capture what it publishes (tests/test_emitter.py).
 *
 * Environment: REDIS_URL, KEY (the emitter's `key` option).
 * Input: one JSON object, as argv[2] or on stdin:
 *   {"calls": [{"of": "/nsp", "to": rooms, "except": rooms, "volatile": true,
 *               "compress": false, "method": "emit", "args": [...]}, ...]}
 * Every field but "method" is optional.  "method" is one of emit, socketsJoin,
 * socketsLeave, disconnectSockets, serverSideEmit; "args" are its arguments.
 * Binary values are {"$bin": "<base64>"} (become Buffers).
 * Prints {"published": N} on stdout once every PUBLISH has been answered.
 */

const { Emitter } = require("@socket.io/redis-emitter");
const { createClient } = require("redis");

function fromWire(value) {
  if (Array.isArray(value)) return value.map(fromWire);
  if (value !== null && typeof value === "object") {
    const keys = Object.keys(value);
    if (keys.length === 1 && keys[0] === "$bin") return Buffer.from(value.$bin, "base64");
    const obj = {};
    for (const k of keys) obj[k] = fromWire(value[k]);
    return obj;
  }
  return value;
}

async function readInput() {
  if (process.argv[2]) return process.argv[2];
  const chunks = [];
  for await (const chunk of process.stdin) chunks.push(chunk);
  return Buffer.concat(chunks).toString("utf8");
}

const METHODS = ["emit", "socketsJoin", "socketsLeave", "disconnectSockets", "serverSideEmit"];

async function main() {
  const input = JSON.parse(await readInput());
  const client = createClient({ url: process.env.REDIS_URL || "redis://127.0.0.1:6379/0" });
  client.on("error", (err) => process.stderr.write(`redis error: ${err}\n`));
  await client.connect();
  const emitter = new Emitter(client, { key: process.env.KEY || "socket.io" });
  let count = 0;
  for (const call of input.calls) {
    if (!METHODS.includes(call.method)) throw new Error(`unknown method ${call.method}`);
    let target = call.of !== undefined ? emitter.of(call.of) : emitter;
    if (call.to !== undefined) target = target.to(call.to);
    if (call.except !== undefined) target = target.except(call.except);
    if (call.volatile) target = target.volatile;
    if (call.compress !== undefined) target = target.compress(call.compress);
    target[call.method](...fromWire(call.args || []));
    count += 1;
  }
  // commands are answered in order: once PING is, every PUBLISH before it was
  await client.ping();
  await client.quit();
  process.stdout.write(JSON.stringify({ published: count }) + "\n");
}

main().catch((err) => {
  process.stderr.write(`emit_capture failed: ${err && err.stack ? err.stack : err}\n`);
  process.exit(1);
});
