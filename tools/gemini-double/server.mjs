#!/usr/bin/env node
// A test double of the Gemini REST API's models.generateContent (v1beta), standard library
// only, loopback only. Deterministic verdicts from the user text, and fault modes per request
// (header x-double-fault) or for every call (POST /_double/faults). README.md documents both.
//
//   node tools/gemini-double/server.mjs [--port N]   (0 or absent: ephemeral)
// Prints one line `gemini-double listening <port>` on stdout once it accepts connections.
import fs from 'node:fs';
import http from 'node:http';
import https from 'node:https';

const args = process.argv.slice(2);
let port = 0;
let tlsCert, tlsKey;
for (let i = 0; i < args.length; i++) {
  if (args[i] === '--port') port = Number(args[++i]);
  else if (args[i] === '--tls-cert') tlsCert = args[++i];
  else if (args[i] === '--tls-key') tlsKey = args[++i];
  else {
    console.error(`gemini-double: unknown argument "${args[i]}"; use --port N [--tls-cert PEM --tls-key PEM]`);
    process.exit(2);
  }
}
if (!tlsCert !== !tlsKey) {
  console.error('gemini-double: --tls-cert and --tls-key go together (HTTPS needs both)'); process.exit(2);
}
if (!Number.isInteger(port) || port < 0 || port > 65535) {
  console.error(`gemini-double: --port "${port}" is not 0..65535`); process.exit(2);
}

// Faults for every call until changed; a request's x-double-fault header overrides them.
let faults = {};
const stats = { calls: 0, byOutcome: {} };
let failCounter = 0;
let hangCounter = 0;
const hanging = new Set();

// "latency=200,status=429,fail=30,malformed,hang" -> object
function parseFaultSpec(spec) {
  const out = {};
  for (const part of spec.split(',').map((s) => s.trim()).filter(Boolean)) {
    const [k, v] = part.split('=');
    if (k === 'latency') out.latencyMs = Number(v);
    else if (k === 'status') out.status = Number(v);
    else if (k === 'fail') out.failPercent = Number(v);
    else if (k === 'failstatus') out.failStatus = Number(v);
    else if (k === 'malformed') out.malformed = true;
    else if (k === 'hang') out.hang = true;
    else if (k === 'hangpct') out.hangPercent = Number(v);
    else if (k === 'retryafter') out.retryAfter = Number(v);
    else throw new Error(`unknown fault "${k}"; known: latency=ms, status=code, fail=percent, failstatus=code, retryafter=s, malformed, hang, hangpct=percent`);
  }
  return out;
}

const PROB_RANK = ['NEGLIGIBLE', 'LOW', 'MEDIUM', 'HIGH'];
const CATEGORIES = {
  dangerous: 'HARM_CATEGORY_DANGEROUS_CONTENT',
  hate: 'HARM_CATEGORY_HATE_SPEECH',
  harassment: 'HARM_CATEGORY_HARASSMENT',
  sexual: 'HARM_CATEGORY_SEXUALLY_EXPLICIT',
};

// The deterministic "model": words decide. "blockprompt" makes the prompt itself blocked,
// "attack" stops the candidate with finishReason SAFETY, "hate" is a model rejection,
// "insult" a HIGH harassment rating on an approval, "unsure" a review.
function judge(text) {
  const t = text.toLowerCase();
  const ratings = (high) => Object.entries(CATEGORIES).map(([name, category]) => ({
    category, probability: high === name ? 'HIGH' : 'NEGLIGIBLE',
  }));
  if (/\bblockprompt\b/.test(t)) {
    return { promptFeedback: { blockReason: 'SAFETY', safetyRatings: ratings('dangerous') } };
  }
  if (/\battack\b/.test(t)) {
    return { candidates: [{ finishReason: 'SAFETY', index: 0, safetyRatings: ratings('dangerous') }] };
  }
  let verdict, high = null;
  if (/\bhate\b/.test(t)) {
    verdict = { decision: 'reject', categories: [{ name: 'hate', score: 0.92 }], reason: 'hateful language' };
  } else if (/\bunsure\b/.test(t)) {
    verdict = { decision: 'review', categories: [], reason: 'ambiguous' };
  } else if (/\binsult\b/.test(t)) {
    verdict = { decision: 'approve', categories: [], reason: 'mild' };
    high = 'harassment';
  } else {
    verdict = { decision: 'approve', categories: [], reason: 'nothing harmful' };
  }
  return modelAnswer(JSON.stringify(verdict), ratings(high));
}

function modelAnswer(text, safetyRatings) {
  return {
    candidates: [{
      content: { role: 'model', parts: [{ text }] },
      finishReason: 'STOP', index: 0, safetyRatings,
    }],
    usageMetadata: { promptTokenCount: 1, candidatesTokenCount: 1, totalTokenCount: 2 },
    modelVersion: 'gemini-double',
  };
}

function apiError(res, code, status, message, extraHeaders = {}) {
  res.writeHead(code, { 'content-type': 'application/json', ...extraHeaders });
  res.end(JSON.stringify({ error: { code, message, status } }));
}

function count(outcome) { stats.byOutcome[outcome] = (stats.byOutcome[outcome] || 0) + 1; }

// Deterministic "X % of calls": call n fails when floor(n*p/100) advances, so any window of
// 100 calls holds exactly p failures, spread out, with no randomness to make tests flaky.
function spread(n, percent) {
  return Math.floor(((n + 1) * percent) / 100) > Math.floor((n * percent) / 100);
}
function failsThisCall(percent) { return percent > 0 && spread(failCounter++, percent); }
function hangsThisCall(percent) { return percent > 0 && spread(hangCounter++, percent); }

function userText(body) {
  const contents = Array.isArray(body.contents) ? body.contents : [];
  const parts = [];
  for (const c of contents) {
    if (c && c.role !== 'model' && Array.isArray(c.parts)) {
      for (const p of c.parts) if (p && typeof p.text === 'string') parts.push(p.text);
    }
  }
  return parts.join('\n');
}

async function handleGenerate(req, res, model, raw) {
  stats.calls++;
  let f = faults;
  if (req.headers['x-double-fault'] !== undefined) {
    try { f = parseFaultSpec(String(req.headers['x-double-fault'])); } catch (e) {
      count('bad-fault'); return apiError(res, 400, 'INVALID_ARGUMENT', `x-double-fault: ${e.message}`);
    }
  }
  if (!req.headers['x-goog-api-key']) {
    count('401'); return apiError(res, 401, 'UNAUTHENTICATED', 'missing x-goog-api-key header; set the app setting GEMINI_API_KEY');
  }
  let body;
  try { body = JSON.parse(raw); } catch {
    count('400'); return apiError(res, 400, 'INVALID_ARGUMENT', 'request body is not JSON');
  }
  const text = userText(body);
  if (!text) { count('400'); return apiError(res, 400, 'INVALID_ARGUMENT', 'contents[].parts[].text is empty'); }
  if (f.latencyMs > 0) await new Promise((r) => setTimeout(r, f.latencyMs));
  if (f.hang || hangsThisCall(f.hangPercent)) { count('hang'); hanging.add(res); res.on('close', () => hanging.delete(res)); return; }
  let status = f.status;
  if (!status && failsThisCall(f.failPercent)) status = f.failStatus || 500;
  if (status === 429) {
    count('429');
    const h = f.retryAfter !== undefined ? { 'retry-after': String(f.retryAfter) } : {};
    return apiError(res, 429, 'RESOURCE_EXHAUSTED', 'quota exceeded (test double)', h);
  }
  if (status && status !== 200) {
    count(String(status));
    return apiError(res, status, status >= 500 ? 'INTERNAL' : 'FAILED_PRECONDITION', `fault injected: ${status}`);
  }
  if (f.malformed) {
    count('malformed');
    res.writeHead(200, { 'content-type': 'application/json' });
    return res.end('{"candidates":[{"content":{"parts":[{"text":"{\\"decision\\": \\"appr');
  }
  count('ok');
  res.writeHead(200, { 'content-type': 'application/json' });
  res.end(JSON.stringify(judge(text)));
}

function onRequest(req, res) {
  const chunks = [];
  req.on('data', (c) => chunks.push(c));
  req.on('end', () => {
    const raw = Buffer.concat(chunks).toString('utf8');
    const url = new URL(req.url, 'http://127.0.0.1');
    const m = /^\/v1beta\/models\/([A-Za-z0-9._-]+):generateContent$/.exec(url.pathname);
    if (m && req.method === 'POST') return void handleGenerate(req, res, m[1], raw);
    if (url.pathname === '/_double/faults' && req.method === 'POST') {
      try {
        const b = raw.trim() ? JSON.parse(raw) : {};
        faults = typeof b.spec === 'string' ? parseFaultSpec(b.spec) : b;
        failCounter = 0;
        hangCounter = 0;
      } catch (e) { return apiError(res, 400, 'INVALID_ARGUMENT', `/_double/faults: ${e.message}`); }
      res.writeHead(200, { 'content-type': 'application/json' });
      return res.end(JSON.stringify({ faults }));
    }
    if (url.pathname === '/_double/stats' && req.method === 'GET') {
      res.writeHead(200, { 'content-type': 'application/json' });
      return res.end(JSON.stringify({ ...stats, hanging: hanging.size, faults }));
    }
    apiError(res, 404, 'NOT_FOUND', `no route ${req.method} ${url.pathname}; the double serves POST /v1beta/models/{model}:generateContent`);
  });
}
const server = tlsCert
  ? https.createServer({ cert: fs.readFileSync(tlsCert), key: fs.readFileSync(tlsKey) }, onRequest)
  : http.createServer(onRequest);
// Hanging requests must not keep the double alive past a test.
server.keepAliveTimeout = 1000;
process.on('SIGTERM', () => { for (const r of hanging) r.destroy(); server.close(() => process.exit(0)); });
server.listen(port, '127.0.0.1', () => {
  console.log(`gemini-double listening ${server.address().port}`);
});
