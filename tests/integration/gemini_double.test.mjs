// The Gemini test double (tools/gemini-double) itself: wire shapes, deterministic verdicts,
// and every fault mode, so the C++ tests and the chaos demo can rely on them.
import { test, before, after } from 'node:test';
import assert from 'node:assert/strict';
import { spawn } from 'node:child_process';
import http from 'node:http';
import path from 'node:path';

const root = process.env.NIMBUS_ROOT || path.resolve(import.meta.dirname, '../..');
let child, port;

before(async () => {
  child = spawn(process.execPath, [path.join(root, 'tools/gemini-double/server.mjs'), '--port', '0'],
    { stdio: ['ignore', 'pipe', 'inherit'] });
  port = await new Promise((resolve, reject) => {
    let out = '';
    child.stdout.on('data', (d) => {
      out += d;
      const m = /listening (\d+)/.exec(out);
      if (m) resolve(Number(m[1]));
    });
    child.on('exit', (c) => reject(new Error(`the double exited with ${c}: ${out}`)));
  });
});
after(() => child.kill('SIGTERM'));

function post(p, body, headers = {}, timeoutMs = 5000) {
  return new Promise((resolve, reject) => {
    const req = http.request({ host: '127.0.0.1', port, path: p, method: 'POST',
      headers: { 'content-type': 'application/json', 'x-goog-api-key': 'k', ...headers } }, (res) => {
      let b = '';
      res.on('data', (d) => { b += d; });
      res.on('end', () => resolve({ status: res.statusCode, headers: res.headers, body: b }));
    });
    req.setTimeout(timeoutMs, () => { req.destroy(new Error('timeout')); });
    req.on('error', reject);
    req.end(typeof body === 'string' ? body : JSON.stringify(body));
  });
}
const gen = (text, headers) => post('/v1beta/models/gemini-2.0-flash:generateContent',
  { contents: [{ role: 'user', parts: [{ text }] }] }, headers);
const setFaults = (spec) => post('/_double/faults', { spec });

test('verdicts follow the words and use the public shapes', async () => {
  const ok = JSON.parse((await gen('a calm day')).body);
  assert.equal(ok.candidates[0].finishReason, 'STOP');
  assert.equal(JSON.parse(ok.candidates[0].content.parts[0].text).decision, 'approve');
  assert.ok(ok.candidates[0].safetyRatings.every((r) => r.category.startsWith('HARM_CATEGORY_')));
  const hate = JSON.parse((await gen('I hate it')).body);
  assert.equal(JSON.parse(hate.candidates[0].content.parts[0].text).decision, 'reject');
  const attack = JSON.parse((await gen('attack now')).body);
  assert.equal(attack.candidates[0].finishReason, 'SAFETY');
  assert.equal(attack.candidates[0].content, undefined);
  const blocked = JSON.parse((await gen('blockprompt')).body);
  assert.equal(blocked.promptFeedback.blockReason, 'SAFETY');
  assert.equal(blocked.candidates, undefined);
});

test('errors: no key, bad body, unknown route', async () => {
  const r = await gen('x', { 'x-goog-api-key': '' });
  assert.equal(r.status, 401);
  assert.equal(JSON.parse(r.body).error.status, 'UNAUTHENTICATED');
  assert.equal((await post('/v1beta/models/m:generateContent', 'nope')).status, 400);
  assert.equal((await post('/v1/other', '{}')).status, 404);
});

test('per-request faults: 429 with Retry-After, 500, malformed, latency, hang', async () => {
  const r429 = await gen('x', { 'x-double-fault': 'status=429,retryafter=2' });
  assert.equal(r429.status, 429);
  assert.equal(r429.headers['retry-after'], '2');
  assert.equal(JSON.parse(r429.body).error.status, 'RESOURCE_EXHAUSTED');
  assert.equal((await gen('x', { 'x-double-fault': 'status=500' })).status, 500);
  const bad = await gen('x', { 'x-double-fault': 'malformed' });
  assert.equal(bad.status, 200);
  assert.throws(() => JSON.parse(bad.body));
  const t0 = Date.now();
  assert.equal((await gen('x', { 'x-double-fault': 'latency=120' })).status, 200);
  assert.ok(Date.now() - t0 >= 110);
  await assert.rejects(post('/v1beta/models/m:generateContent',
    { contents: [{ parts: [{ text: 'x' }] }] }, { 'x-double-fault': 'hang' }, 200), /timeout/);
  assert.equal((await gen('x', { 'x-double-fault': 'bogus=1' })).status, 400);
});

test('fail=30 fails exactly 30 of 100 calls, hangpct counts separately; clearing restores', async () => {
  assert.equal((await setFaults('fail=30,failstatus=503')).status, 200);
  let failed = 0;
  for (let i = 0; i < 100; i++) if ((await gen('x')).status === 503) failed++;
  assert.equal(failed, 30);
  await setFaults('hangpct=50');
  const results = await Promise.allSettled([0, 1, 2, 3].map(() =>
    post('/v1beta/models/m:generateContent', { contents: [{ parts: [{ text: 'x' }] }] }, {}, 300)));
  assert.equal(results.filter((r) => r.status === 'rejected').length, 2);
  await setFaults('');
  assert.equal((await gen('x')).status, 200);
});
