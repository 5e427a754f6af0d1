#!/usr/bin/env python3
"""Writes the seed corpora in fuzz/corpus/<target>/: a handful of real inputs per target.

Run from anywhere: python3 fuzz/make_seeds.py. The files are committed; this script says how
they were made (the SharedKey seeds carry real signatures with the development account key).
"""
import base64
import hashlib
import hmac
import json
import os
import struct
import urllib.parse

HERE = os.path.dirname(os.path.abspath(__file__))
DEV_ACCOUNT = "devstoreaccount1"
DEV_KEY = ("Eby8vdM02xNOcqFlqUwJPLlmEtlCDXJ1OUzFT50uSRZ6IFsuFq2UVErCz4I6tq/K1SZFPTOtr/"
           "KBHBeksoGMGw==")
DATE = "Sun, 29 Nov 2026 12:00:00 GMT"


def write(target, name, data):
    d = os.path.join(HERE, "corpus", target)
    os.makedirs(d, exist_ok=True)
    if isinstance(data, str):
        data = data.encode()
    with open(os.path.join(d, name), "wb") as f:
        f.write(data)


# --- router_fuzz: method, path, then route templates -----------------------------------------
ROUTER = {
    "constraints": "GET\n/api/products/books/42\nproducts/{category:alpha}/{id:int?}\n",
    "long_delete": "DELETE\n/api/products/x/9223372036854775807\nproducts/{c}/{id:long}\n",
    "catch_all": "GET\n/api/files/a/b%20c/d.txt\nfiles/{*path}\nfiles/readme\n{**rest}\n",
    "guid": ("POST\n/api/orders/3f2504e0-4f89-11d3-9a0c-0305e82c3301\norders/{id:guid}\n"
             "orders/{id}\n{x?}\n"),
    "head_bool_double": ("HEAD\n/api/v1/flags/TRUE/1.5e3\nflags/{on:bool}/{ratio:double}\n"
                         "{a}/{b}/{*c}\nflags/{on}/{p:decimal}\n"),
    "bad_escape": "GET\n/api/%zz/x\n",
    "bad_templates": "PUT\n/api/opt\nopt/{name?}\nbad/{id:nope}\n{a}{b}\nx//y\n{id=3}\n{*a}/b\n",
}
for name, text in ROUTER.items():
    write("router_fuzz", name, text)


# --- shared_key_fuzz: method, target, host, account, headers ---------------------------------
def string_to_sign(method, headers, account, target):
    path, _, query = target.partition("?")
    h = {}
    for k, v in headers:
        h.setdefault(k.lower(), v)
    length = h.get("content-length", "")
    if length == "0":
        length = ""
    parts = [method, h.get("content-encoding", ""), h.get("content-language", ""), length]
    for n in ["content-md5", "content-type", "date", "if-modified-since", "if-match",
              "if-none-match", "if-unmodified-since", "range"]:
        parts.append(h.get(n, ""))
    out = "\n".join(parts) + "\n"
    xms = sorted((k, v.lstrip(" \t")) for k, v in h.items() if k.startswith("x-ms-"))
    out += "".join(f"{k}:{v}\n" for k, v in xms)
    out += "/" + account + (path or "/")
    params = {}
    for pair in query.split("&") if query else []:
        name, eq, value = pair.partition("=")
        if not eq or not name or not value or "=" in value:
            continue
        params.setdefault(name.lower(), []).append(urllib.parse.unquote(value))
    for name in sorted(params):
        out += "\n" + name + ":" + ",".join(sorted(params[name]))
    return out


def lite_string_to_sign(method, headers, account, target):
    path, _, query = target.partition("?")
    h = {}
    for k, v in headers:
        h.setdefault(k.lower(), v)
    out = "\n".join([method, h.get("content-md5", ""), h.get("content-type", ""),
                     h.get("date", "")]) + "\n"
    xms = sorted((k, v.lstrip(" \t")) for k, v in h.items() if k.startswith("x-ms-"))
    out += "".join(f"{k}:{v}\n" for k, v in xms)
    out += "/" + account + (path or "/")
    for pair in query.split("&") if query else []:
        if pair.lower().startswith("comp=") and len(pair) > 5:
            out += "?comp=" + urllib.parse.unquote(pair[5:])
            break
    return out


def signed(method, target, host, account, headers, key=DEV_KEY, lite=False):
    sts = (lite_string_to_sign if lite else string_to_sign)(method, headers, account, target)
    sig = base64.b64encode(hmac.new(base64.b64decode(key), sts.encode(), hashlib.sha256)
                           .digest()).decode()
    scheme = "SharedKeyLite" if lite else "SharedKey"
    lines = [method, target, host, account] + [f"{k}: {v}" for k, v in headers]
    lines.append(f"Authorization: {scheme} {account}:{sig}")
    return "\n".join(lines) + "\n"


COMMON = [("x-ms-date", DATE), ("x-ms-version", "2021-12-02"),
          ("x-ms-client-request-id", "7b1e2d40-1c1a-4d8e-9c59-0b2f3a1d2e3f")]
write("shared_key_fuzz", "put_message", signed(
    "POST", "/devstoreaccount1/orders/messages?visibilitytimeout=0&messagettl=3600",
    "127.0.0.1:10001", DEV_ACCOUNT,
    COMMON + [("Content-Type", "application/xml"), ("Content-Length", "77")]))
write("shared_key_fuzz", "list_queues", signed(
    "GET", "/devstoreaccount1?comp=list&prefix=ord&include=metadata&maxresults=5",
    "127.0.0.1:10001", DEV_ACCOUNT, COMMON + [("Accept", "application/xml")]))
write("shared_key_fuzz", "get_messages_date_header", signed(
    "GET", "/devstoreaccount1/orders/messages?numofmessages=32&visibilitytimeout=30",
    "127.0.0.1:10001", DEV_ACCOUNT,
    [("Date", DATE), ("x-ms-version", "2019-02-02"), ("x-ms-meta-Owner", "  team")]))
write("shared_key_fuzz", "lite_set_metadata", signed(
    "PUT", "/devstoreaccount1/orders?comp=metadata", "127.0.0.1:10001", DEV_ACCOUNT,
    COMMON + [("x-ms-meta-color", "blue"), ("Content-Length", "0")], lite=True))
write("shared_key_fuzz", "host_style_key2", signed(
    "DELETE", "/orders/messages/0b6c1f8e?popreceipt=AgAAAAMAAAAAAAAA%2Fw%3D%3D",
    "acct2.queue.localhost", "acct2", COMMON, key="a2V5Mg=="))
write("shared_key_fuzz", "bad_signature",
      "GET\n/devstoreaccount1/orders?comp=acl\n127.0.0.1:10001\ndevstoreaccount1\n"
      f"x-ms-date: {DATE}\nAuthorization: SharedKey devstoreaccount1:AAAAbm90IGEgc2lnbmF0dXJl\n")
write("shared_key_fuzz", "accounts_spec",
      "GET\n/a?x=1&x=2&y=&%7a=3&q=a%3Db\nacct1:a2V5MQ==;acct2:a2V5MQ==:a2V5Mg==\nacct1\n"
      "Content-MD5: 1B2M2Y8AsgTpgAmY7PhCfg==\n")

# --- queue_xml_fuzz: request bodies -------------------------------------------------------------
DECL = '<?xml version="1.0" encoding="utf-8"?>'
write("queue_xml_fuzz", "message",
      DECL + "<QueueMessage><MessageText>aGVsbG8gd29ybGQ=</MessageText></QueueMessage>")
write("queue_xml_fuzz", "message_entities_cdata",
      "\ufeff" + DECL + "<!-- sent by a test -->\n<QueueMessage>\n  <MessageText>a &amp; b &lt; "
      "&#x1F600; &#233;<![CDATA[<raw> & ]]>tail&#xD;</MessageText>\n</QueueMessage>\n")
write("queue_xml_fuzz", "signed_identifiers",
      DECL + "<SignedIdentifiers><SignedIdentifier><Id>policy-1</Id><AccessPolicy>"
      "<Start>2026-11-01T00:00:00.0000000Z</Start><Expiry>2026-12-01T00:00:00.0000000Z</Expiry>"
      "<Permission>raup</Permission></AccessPolicy></SignedIdentifier><SignedIdentifier>"
      "<Id>read-only</Id><AccessPolicy><Permission>r</Permission></AccessPolicy>"
      "</SignedIdentifier></SignedIdentifiers>")
write("queue_xml_fuzz", "service_properties",
      DECL + "<StorageServiceProperties><Logging><Version>1.0</Version><Delete>true</Delete>"
      "<Read>false</Read><Write>true</Write><RetentionPolicy><Enabled>true</Enabled><Days>7</Days>"
      "</RetentionPolicy></Logging><HourMetrics><Version>1.0</Version><Enabled>true</Enabled>"
      "<IncludeAPIs>false</IncludeAPIs><RetentionPolicy><Enabled>false</Enabled>"
      "</RetentionPolicy></HourMetrics><Cors><CorsRule><AllowedOrigins>http://a.example"
      "</AllowedOrigins><AllowedMethods>GET,PUT</AllowedMethods><MaxAgeInSeconds>500"
      "</MaxAgeInSeconds><ExposedHeaders>x-ms-meta-*</ExposedHeaders><AllowedHeaders>x-ms-meta-abc"
      "</AllowedHeaders></CorsRule></Cors></StorageServiceProperties>")
write("queue_xml_fuzz", "attributes_empty",
      "<QueueMessage a='1' b=\"&quot;x&apos;\"><MessageText/><?pi data?></QueueMessage>")
write("queue_xml_fuzz", "doctype_refused",
      '<?xml version="1.0"?><!DOCTYPE x [<!ENTITY e "boom">]><QueueMessage>&e;</QueueMessage>')

# --- worker_frame_fuzz: frames as they cross the worker socket ----------------------------------
def frame(header, body=b""):
    h = json.dumps(header, separators=(",", ":")).encode()
    if isinstance(body, str):
        body = body.encode()
    return struct.pack("<II", len(h), len(body)) + h + body


write("worker_frame_fuzz", "invoke_http", frame(
    {"type": "invoke", "id": "9f1c", "function": "orders", "method": "POST",
     "target": "/api/orders/7?x=1", "path": "/api/orders/7", "query": {"x": "1"},
     "params": {"id": "7"}, "headers": [["Content-Type", "application/json"], ["Accept", "*/*"]]},
    '{"item":"book","qty":2}'))
write("worker_frame_fuzz", "invoke_queue", frame(
    {"type": "invoke", "id": "a1", "function": "work", "trigger": "queue",
     "message": {"id": "m-1", "dequeueCount": 2, "insertionTime": "2026-11-29T12:00:00.000Z",
                 "expirationTime": "2026-12-06T12:00:00.000Z",
                 "nextVisibleTime": "2026-11-29T12:00:30.000Z", "popReceipt": "AgAAAA=="}},
    "hello queue"))
write("worker_frame_fuzz", "result_then_error", frame(
    {"type": "result", "status": 201, "headers": [["Content-Type", "text/plain"]],
     "logs": ["created"], "queueOutputs": [["audit", "order 7"]]}, "created") + frame(
    {"type": "error", "message": "function threw: boom", "logs": ["before"]}))
write("worker_frame_fuzz", "ready", frame(
    {"type": "ready", "sdk": 1, "functions": [{"name": "hello", "bindings": [
        {"type": "httpTrigger", "direction": "in", "name": "req", "authLevel": "anonymous",
         "route": "hello/{name?}", "methods": ["GET"]},
        {"type": "http", "direction": "out", "name": "$return"}]}]}))
write("worker_frame_fuzz", "raw_bytes_body", frame(
    {"type": "result", "status": 200, "headers": [], "logs": []}, b"\x00\xff\xfe\xc3\x28 binary"))
write("worker_frame_fuzz", "truncated", frame({"type": "result", "status": 200}, "abc")[:-2])

# --- custom_handler_fuzz: "<status>\n" then the handler's response body -------------------------
CH = {
    "outputs_res": {"Outputs": {"res": {"statusCode": 201, "body": "created",
                                        "headers": {"Content-Type": "text/plain",
                                                    "Connection": "close"}},
                                "out": ["a", {"n": 1}], "audit": "x"},
                    "Logs": ["hello", {"level": "info"}], "ReturnValue": None},
    "return_string": {"Outputs": {}, "Logs": [],
                      "ReturnValue": '{"statusCode":"404","body":{"error":"nope"}}'},
    "return_plain": {"ReturnValue": [1, 2, 3], "Outputs": {"res": "plain text"}},
    "bad_status": {"Outputs": {"res": {"status": 99999}}, "ReturnValue": {"status": "abc"}},
}
for name, doc in CH.items():
    write("custom_handler_fuzz", name, "200\n" + json.dumps(doc))
write("custom_handler_fuzz", "failed_500", '500\n{"Logs":["crashed"],"Outputs":{}}')
write("custom_handler_fuzz", "not_json", "200\n<html>oops</html>")

# --- queue_sas_fuzz: query string, queue name, client IP, Authorization value ----------------
def sas_sig(string_to_sign):
    mac = hmac.new(base64.b64decode(DEV_KEY), string_to_sign.encode(), hashlib.sha256).digest()
    return urllib.parse.quote(base64.b64encode(mac).decode(), safe="")


def b64url(data):
    return base64.urlsafe_b64encode(json.dumps(data).encode()).decode().rstrip("=")


ACCOUNT_STS = (f"{DEV_ACCOUNT}\nrwdlacup\nq\nsco\n2026-01-01T00:00:00Z\n2026-12-31T23:59:59Z\n"
               "0.0.0.0-255.255.255.255\nhttps,http\n2019-02-02\n")
write("queue_sas_fuzz", "account_sas", (
    "sv=2019-02-02&ss=q&srt=sco&spr=https%2Chttp&st=2026-01-01T00%3A00%3A00Z"
    "&se=2026-12-31T23%3A59%3A59Z&sip=0.0.0.0-255.255.255.255&sp=rwdlacup&sig="
    + sas_sig(ACCOUNT_STS) + "&comp=list\n\n127.0.0.1\n"))
SCOPED_STS = f"{DEV_ACCOUNT}\nrl\nbq\ns\n\n2026-12-31\n\n\n2025-05-05\nscope\n"
write("queue_sas_fuzz", "account_sas_ses", (
    "sv=2025-05-05&ss=bq&srt=s&sp=rl&se=2026-12-31&ses=scope&sig=" + sas_sig(SCOPED_STS)
    + "\n\n10.1.2.3\n"))
QUEUE_STS = (f"raup\n2026-01-01T00:00Z\n2026-12-31T23:59:59Z\n/queue/{DEV_ACCOUNT}/orders\n\n"
             "10.0.0.1-10.0.0.9\nhttps\n2016-05-31")
write("queue_sas_fuzz", "service_sas", (
    "sv=2016-05-31&spr=https&st=2026-01-01T00%3A00Z&se=2026-12-31T23%3A59%3A59Z"
    "&sip=10.0.0.1-10.0.0.9&sp=raup&sig=" + sas_sig(QUEUE_STS) + "&peekonly=true\norders\n"
    "10.0.0.5\n"))
SI_STS = f"\n\n\n/queue/{DEV_ACCOUNT}/orders\npolicy-1\n\n\n2026-04-06"
write("queue_sas_fuzz", "stored_policy", (
    "sv=2026-04-06&si=policy-1&sig=" + sas_sig(SI_STS) + "&popreceipt=AAAA\norders\n::1\n"))
write("queue_sas_fuzz", "bearer", "comp=list\n\n127.0.0.1\nBearer " + b64url(
    {"alg": "none", "typ": "JWT"}) + "." + b64url(
    {"iss": "https://sts.windows.net/tenant/", "aud": ["https://storage.azure.com"],
     "nbf": 1770000000, "exp": 1790000000, "iat": 1770000000, "tid": "tenant"}) + ".")
write("queue_sas_fuzz", "bad_fields",
      "sv=20x&ss=qz&srt=q&sp=rr&st=never&se=2026-13-40&sip=1.2.3.4-1.2.3.3&spr=http&sig=%%\n"
      "q\n999.1.1.1\nBearer a.b.c.d")

# --- durable_events_fuzz: a worker's episode answer, an episode request, a stored event --------
write("durable_events_fuzz", "response_fanout", json.dumps({
    "actions": [{"kind": "scheduleTask", "id": 1, "name": "Square", "input": "3"},
                {"kind": "createTimer", "id": 2, "fireAt": 1750000060000},
                {"kind": "createSubOrchestration", "id": 3, "name": "Child", "input": "{}",
                 "instanceId": "child-1"},
                {"kind": "sendEvent", "id": 4, "name": "Ping", "instanceId": "other",
                 "input": "null"}],
    "customStatus": "{\"step\":1}"}))
write("durable_events_fuzz", "response_continue_as_new", json.dumps({
    "actions": [{"kind": "completeOrchestration", "id": 5, "status": 2, "result": "[1,2]",
                 "carryover": [{"kind": "eventRaised", "eventId": -1, "ts": 1750000000000,
                                "name": "Go", "input": "true"}]}]}))
write("durable_events_fuzz", "response_failed", json.dumps({
    "actions": [{"kind": "completeOrchestration", "id": 1, "status": 3,
                 "failure": {"errorType": "NonDeterminismError", "errorMessage": "x"}}]}))
write("durable_events_fuzz", "request", json.dumps({
    "instanceId": "order-1", "executionId": "0123456789abcdef0123456789abcdef",
    "past": [{"kind": "orchestratorStarted", "eventId": -1, "ts": 1750000000000},
             {"kind": "executionStarted", "eventId": -1, "ts": 1750000000000, "name": "Flow",
              "input": "\"in\"", "instanceId": "order-1", "executionId": "e"},
             {"kind": "taskScheduled", "eventId": 1, "ts": 1750000000001, "name": "Square",
              "input": "3"},
             {"kind": "executionSuspended", "eventId": -1, "ts": 1750000000002}],
    "new": [{"kind": "orchestratorStarted", "eventId": -1, "ts": 1750000001000},
            {"kind": "taskCompleted", "eventId": -1, "ts": 1750000001000,
             "taskScheduledId": 1, "result": "9"},
            {"kind": "timerFired", "eventId": -1, "taskScheduledId": 2, "fireAt": 1750000060000},
            {"kind": "taskFailed", "eventId": -1, "taskScheduledId": 3,
             "failure": {"errorType": "E", "errorMessage": "m"}}]}))
write("durable_events_fuzz", "event_completed", json.dumps({
    "kind": "executionCompleted", "eventId": 7, "ts": 1750000002000, "status": 1,
    "result": "\"done\""}))
# Found at once by the first run: a number out of int64 range (1e999 parses as infinity) was
# converted to an integer field with undefined behaviour.
write("durable_events_fuzz", "regress_number_out_of_range",
      '{"actions":[{"kind":"createTimer","id":1e300,"fireAt":1e999}],'
      '"past":[{"kind":"timerFired","ts":-1e999}],"new":[],"kind":"timerCreated","eventId":1e19}')

# --- gemini_response_fuzz: generateContent answers (the public REST shapes) and model texts ---
def _gemini(verdict=None, finish="STOP", ratings=None, prompt_block=None):
    if prompt_block:
        return json.dumps({"promptFeedback": {"blockReason": prompt_block, "safetyRatings": [
            {"category": "HARM_CATEGORY_DANGEROUS_CONTENT", "probability": "HIGH", "blocked": True}]}})
    cand = {"finishReason": finish, "index": 0, "safetyRatings": ratings or [
        {"category": "HARM_CATEGORY_HATE_SPEECH", "probability": "NEGLIGIBLE"}]}
    if verdict is not None:
        cand["content"] = {"role": "model", "parts": [{"text": verdict}]}
    return json.dumps({"candidates": [cand],
                       "usageMetadata": {"promptTokenCount": 3, "totalTokenCount": 9}})


write("gemini_response_fuzz", "approve", _gemini(json.dumps(
    {"decision": "approve", "categories": [{"name": "spam", "score": 0.1}], "reason": "fine"})))
write("gemini_response_fuzz", "reject_high_rating", _gemini(json.dumps(
    {"decision": "approve", "categories": [], "reason": "ok"}), ratings=[
    {"category": "HARM_CATEGORY_HARASSMENT", "probability": "HIGH"}]))
write("gemini_response_fuzz", "safety_finish", _gemini(finish="SAFETY"))
write("gemini_response_fuzz", "prompt_blocked", _gemini(prompt_block="SAFETY"))
write("gemini_response_fuzz", "truncated", '{"candidates":[{"content":{"parts":[{"text":"{\\"decision\\": \\"appr')
write("gemini_response_fuzz", "model_text", '{"decision":"review","categories":[{"name":"x","score":1e999}],"reason":""}')

# --- ncrontab_fuzz: a timerTrigger schedule -----------------------------------------------------
NCRONTAB = {
    "every_second": "*/1 * * * * *",
    "weekdays": "0 30 9 * * MON-FRI",
    "lists": "0-30/15 0 0 13 JAN,jul FRI",
    "timespan": "00:05:00",
    "five_fields": "*/15 * * * *",
    "never": "0 0 0 30 2 *",
}
for name, text in NCRONTAB.items():
    write("ncrontab_fuzz", name, text)

# --- binding_expressions_fuzz: "<template>\n<body>" and the whole input as a traceparent -------
EXPRESSIONS = {
    "body_text": '{text}\n{"text":"hello","n":2.5,"ok":true}',
    "route_and_query": "{id}-{Query.q}-{Headers.traceparent}\nplain body",
    "query_text": "SELECT * FROM c WHERE c.author = {author} AND c.id = {id}\n{\"author\":\"ada\"}",
    "traceparent": "00-4bf92f3577b34da6a3ce929d0e0e4736-00f067aa0ba902b7-01",
    "unclosed": "{text\n{}",
    "system": "{rand-guid}/{DateTime}/{sys.MethodName}\n[]",
}
for name, text in EXPRESSIONS.items():
    write("binding_expressions_fuzz", name, text)
