-- wrk script: call the Node custom handler directly, as the host would (POST /hello with the
-- {Data, Metadata} payload the host sends for GET /api/hello/bench).
wrk.method = "POST"
wrk.headers["Content-Type"] = "application/json"
wrk.body = '{"Data":{"req":{"Url":"http://127.0.0.1/api/hello/bench","Method":"GET","Query":{},' ..
  '"Headers":{"Host":["127.0.0.1"]},"Params":{"name":"bench"},"Identities":[],"Body":""}},' ..
  '"Metadata":{"name":"bench","sys":{"MethodName":"hello","UtcNow":"2026-01-01T00:00:00Z","RandGuid":"x"}}}'
