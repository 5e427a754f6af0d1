// A raw HTTP client for the queue REST API with its own SharedKey signer (written from the
// "Authorize with Shared Key" rules, independent of the C++ one), for requests the SDK cannot
// make: malformed XML, wrong signatures, missing headers, odd versions.
import http from "node:http";
import { createHmac } from "node:crypto";
import { DEV_ACCOUNT, DEV_KEY } from "./queue_server.mjs";

// `encoding` is how the string to sign becomes bytes: "utf8" as the SDKs do, "latin1" to sign
// header bytes exactly as Node sends them (one byte per character).
export function sign({ method, path, query = "", headers, account = DEV_ACCOUNT, key = DEV_KEY,
  encoding = "utf8" }) {
  const h = Object.fromEntries(Object.entries(headers).map(([k, v]) => [k.toLowerCase(), String(v)]));
  const len = h["content-length"] && h["content-length"] !== "0" ? h["content-length"] : "";
  const xms = Object.keys(h).filter((k) => k.startsWith("x-ms-")).sort()
    .map((k) => `${k}:${h[k].trimStart()}\n`).join("");
  let resource = `/${account}${path}`;
  const params = {};
  for (const part of query.split("&").filter(Boolean)) {
    const [k, v] = part.split("=");
    if (v) (params[k.toLowerCase()] ??= []).push(decodeURIComponent(v));
  }
  for (const k of Object.keys(params).sort()) resource += `\n${k}:${params[k].sort().join(",")}`;
  const sts = [method, h["content-encoding"] || "", h["content-language"] || "", len,
    h["content-md5"] || "", h["content-type"] || "", h["date"] || "", "", "", "", "", ""].join("\n") +
    "\n" + xms + resource;
  return createHmac("sha256", Buffer.from(key, "base64")).update(Buffer.from(sts, encoding)).digest("base64");
}

// Sends one request; resolves { status, headers, body }. `auth: false` omits Authorization;
// `key` signs with another key; `agent` reuses connections. `sentQuery` / `sentBody` replace
// what was signed on the wire (a captured request, altered); `encoding` as in sign(). A Buffer
// body is sent byte for byte.
export function request(port, { method = "GET", path, query = "", body = "", headers = {}, auth = true,
  account = DEV_ACCOUNT, key = DEV_KEY, agent, timeoutMs = 10000, sentQuery, sentBody, encoding }) {
  const all = {
    "x-ms-version": "2025-05-05",
    "x-ms-date": new Date().toUTCString(),
    ...headers,
  };
  if (body) {
    all["content-type"] ??= "application/xml";
    all["content-length"] = Buffer.byteLength(body);
  }
  if (auth) all.authorization = `SharedKey ${account}:${sign({ method, path, query, headers: all, account, key, encoding })}`;
  const q = sentQuery ?? query;
  const wire = sentBody ?? body;
  return new Promise((resolve, reject) => {
    const req = http.request({ host: "127.0.0.1", port, method, path: q ? `${path}?${q}` : path,
      headers: all, agent, timeout: timeoutMs }, (res) => {
      let data = "";
      res.setEncoding("utf8");
      res.on("data", (d) => { data += d; });
      res.on("end", () => resolve({ status: res.statusCode, headers: res.headers, body: data }));
    });
    req.on("timeout", () => req.destroy(new Error(`${method} ${path} timed out`)));
    req.on("error", reject);
    if (wire) req.write(wire);
    req.end();
  });
}
