// Drives a ringstore ring with ioredis 6's Cluster client (default options):
// a SET and GET of one key in every one of the 16384 slots, a few other
// commands, then a load of SET/GET during which the test kills a node.
//
// Usage: node ioredis_cluster.js PORT[,PORT...]
//
// Protocol with the test: after the first checks the script starts the load
// and prints "KILL" on a line of its own; the test kills a node and writes
// "killed" to the script's stdin. The script then waits until calls have
// succeeded for QUIET_MS in a row (at most RECOVER_MS after the kill),
// checks every slot again, prints a summary line starting with "kill:" and
// "ioredis cluster ok", and exits 0. Any failed check exits 1.
'use strict';
const Redis = require('ioredis');
const calculateSlot = require('cluster-key-slot');
const assert = require('assert');
const readline = require('readline');

const SLOTS = 16384;
const WORKERS = 8;
const KEYS_PER_WORKER = 64;
const QUIET_MS = 3000;
const RECOVER_MS = 45000;

const sleep = (ms) => new Promise((resolve) => setTimeout(resolve, ms));

// keysForEverySlot returns, for each slot, the first key prefix+i hashing to it.
function keysForEverySlot(prefix) {
  const keys = new Array(SLOTS);
  let left = SLOTS;
  for (let i = 0; left > 0; i++) {
    const k = prefix + i;
    const s = calculateSlot(k);
    if (keys[s] === undefined) {
      keys[s] = k;
      left--;
    }
  }
  return keys;
}

// inChunks runs fn over items, at most size calls in flight.
async function inChunks(items, size, fn) {
  const out = [];
  for (let i = 0; i < items.length; i += size) {
    out.push(...(await Promise.all(items.slice(i, i + size).map(fn))));
  }
  return out;
}

// everySlot writes a value to one key of every slot and reads all back.
async function everySlot(cluster, keys, tag) {
  const sets = await inChunks(keys, 512, (k) => cluster.set(k, tag + k));
  assert.ok(sets.every((r) => r === 'OK'), 'SET of every slot');
  const gets = await inChunks(keys, 512, (k) => cluster.get(k));
  gets.forEach((v, s) => assert.strictEqual(v, tag + keys[s], `GET ${keys[s]} (slot ${s})`));
}

async function main() {
  const ports = process.argv[2].split(',').map(Number);
  const cluster = new Redis.Cluster(ports.map((port) => ({ host: '127.0.0.1', port })));
  const nodeErrors = {};
  cluster.on('node error', (err, key) => {
    const k = `${key}: ${err.message}`;
    nodeErrors[k] = (nodeErrors[k] || 0) + 1;
  });
  cluster.on('error', (err) => console.error('cluster error event:', err.message));

  try {
    assert.strictEqual(await cluster.set('io:first', 'v'), 'OK');
    assert.strictEqual(cluster.nodes('master').length, ports.length, 'one master per node');
    const keys = keysForEverySlot('io:');
    for (const k of keys.slice(0, 50)) {
      assert.strictEqual(await cluster.cluster('KEYSLOT', k), calculateSlot(k), `CLUSTER KEYSLOT ${k}`);
    }
    await everySlot(cluster, keys, 'a:');

    // Other commands, on keys in different slots; MGET within one slot.
    assert.strictEqual(await cluster.incr('io:n'), 1);
    assert.strictEqual(await cluster.incrby('io:n', 9), 10);
    assert.strictEqual(await cluster.set('io:t', 'v', 'EX', 100), 'OK');
    assert.ok((await cluster.ttl('io:t')) > 95);
    assert.strictEqual(await cluster.mset('{io}a', '1', '{io}b', '2'), 'OK');
    assert.deepStrictEqual(await cluster.mget('{io}a', '{io}missing', '{io}b'), ['1', null, '2']);
    assert.strictEqual(await cluster.del('io:t'), 1);
    assert.strictEqual(await cluster.exists('io:t'), 0);
    const p = cluster.pipeline(); // one slot per pipeline in ioredis
    for (let i = 0; i < 100; i++) p.set('{io:p}' + i, String(i));
    for (let i = 0; i < 100; i++) p.get('{io:p}' + i);
    const res = await p.exec();
    for (let i = 0; i < 100; i++) assert.strictEqual(res[100 + i][1], String(i));
    console.log(`every slot: ${SLOTS} SET and GET through ${ports.length} masters`);

    await killUnderLoad(cluster);
    await everySlot(cluster, keys, 'b:');
    console.log('every slot again after the kill: ok');
    const errs = Object.entries(nodeErrors).map(([k, n]) => `${n} x ${k}`);
    if (errs.length) console.log('node errors seen:\n  ' + errs.join('\n  '));
    console.log('ioredis cluster ok');
  } finally {
    cluster.disconnect();
  }
}

// killUnderLoad runs SET/GET workers, asks the test to kill a node, and
// waits until the calls have recovered; no acknowledged write may be lost.
async function killUnderLoad(cluster) {
  let killedAt = 0;
  let stop = false;
  let calls = 0;
  let lastOk = 0;
  const failures = []; // [ms since kill (-1 before), message]
  const lost = [];
  let longest = 0;
  const timed = async (fn) => {
    const start = Date.now();
    try {
      return await fn();
    } finally {
      longest = killedAt ? Math.max(longest, Date.now() - start) : longest;
    }
  };
  const worker = async (w) => {
    const acked = new Array(KEYS_PER_WORKER).fill(0);
    for (let seq = 1; !stop; seq++) {
      const i = seq % KEYS_PER_WORKER;
      const key = `io:kill:${w}:${i}`;
      try {
        calls++;
        await timed(() => cluster.set(key, String(seq)));
        acked[i] = seq;
        calls++;
        const got = Number(await timed(() => cluster.get(key)));
        if (got < acked[i]) lost.push(`${key} = ${got} after SET ${acked[i]} was acknowledged`);
        lastOk = Date.now();
      } catch (err) {
        failures.push([killedAt ? Date.now() - killedAt : -1, err.message]);
        await sleep(10);
      }
    }
  };
  const workers = [];
  for (let w = 0; w < WORKERS; w++) workers.push(worker(w));

  await sleep(1000);
  const killed = new Promise((resolve) => {
    const rl = readline.createInterface({ input: process.stdin });
    rl.on('line', (line) => {
      if (line.trim() === 'killed') {
        killedAt = Date.now();
        rl.close();
        resolve();
      }
    });
  });
  console.log('KILL');
  await killed;

  // Recovered: QUIET_MS past the kill and past the last failure, with calls
  // succeeding.
  for (;;) {
    const now = Date.now();
    const lastFail = failures.length ? failures[failures.length - 1][0] + killedAt : 0;
    if (now - killedAt > QUIET_MS && now - lastFail > QUIET_MS && now - lastOk < 1000) break;
    if (now - killedAt > RECOVER_MS) {
      stop = true;
      await Promise.all(workers);
      throw new Error(`not recovered ${RECOVER_MS} ms after the kill: ${failures.length} failures, last: ${JSON.stringify(failures[failures.length - 1])}`);
    }
    await sleep(20);
  }
  stop = true;
  await Promise.all(workers);

  const kinds = {};
  for (const [, msg] of failures) {
    const k = msg.replace(/[0-9]+/g, 'N');
    kinds[k] = (kinds[k] || 0) + 1;
  }
  const before = failures.filter(([at]) => at < 0).length;
  const first = failures.length ? failures[0][0] : -1;
  const last = failures.length ? failures[failures.length - 1][0] : -1;
  console.log(`kill: ${calls} calls, ${failures.length} failed (first ${first} ms, last ${last} ms after the kill), ` +
    `longest call after the kill ${longest} ms`);
  for (const [k, n] of Object.entries(kinds)) console.log(`  ${n} x ${k}`);
  assert.strictEqual(before, 0, 'no call fails before the kill');
  assert.deepStrictEqual(lost, [], 'no acknowledged write lost');
}

main().then(() => process.exit(0), (err) => {
  console.error(err);
  process.exit(1);
});
