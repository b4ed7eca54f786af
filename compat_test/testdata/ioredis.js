// Drives a ringstore node with ioredis 6 (default options: it sends HELLO 3
// and falls back to RESP2 on NOPROTO, then CLIENT SETINFO). Usage:
// node ioredis.js PORT. Prints "ioredis ok" and exits 0 on success.
'use strict';
const Redis = require('ioredis');
const assert = require('assert');

async function main() {
  const port = Number(process.argv[2]);
  const r = new Redis({ host: '127.0.0.1', port, maxRetriesPerRequest: 1 });
  r.on('error', (err) => { console.error('ioredis error event:', err.message); });
  try {
    assert.strictEqual(await r.ping(), 'PONG');
    assert.strictEqual(await r.set('io:k', 'v'), 'OK');
    assert.strictEqual(await r.get('io:k'), 'v');
    assert.strictEqual(await r.get('io:missing'), null);
    assert.strictEqual(await r.incr('io:n'), 1);
    assert.strictEqual(await r.incrby('io:n', 9), 10);
    assert.strictEqual(await r.set('io:t', 'v', 'EX', 100), 'OK');
    assert.strictEqual(await r.ttl('io:t'), 100);
    assert.deepStrictEqual(await r.mget('io:k', 'io:missing', 'io:n'), ['v', null, '10']);
    const p = r.pipeline();
    for (let i = 0; i < 500; i++) p.set('io:p:' + i, String(i));
    for (let i = 0; i < 500; i++) p.get('io:p:' + i);
    const res = await p.exec();
    for (let i = 0; i < 500; i++) {
      assert.strictEqual(res[i][0], null);
      assert.strictEqual(res[500 + i][1], String(i));
    }
    assert.strictEqual(await r.del('io:k', 'io:missing'), 1);
    let failed = false;
    try { await r.incr('io:t'); } catch (e) {
      failed = true;
      assert.match(e.message, /^ERR value is not an integer or out of range/);
    }
    assert.ok(failed, 'INCR on a non-integer must fail');
    console.log('ioredis ok');
  } finally {
    r.disconnect();
  }
}

main().catch((err) => { console.error(err); process.exit(1); });
