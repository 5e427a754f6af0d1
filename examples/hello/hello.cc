// The native C++ example app: three HTTP functions defined in code with the Nimbus SDK.
// Built by CMake into examples/hello/bin/libhello.so, which host.json points at.
#include <nimbus/nimbus.h>

#include <string>

namespace {

// Escapes the few characters that would break a JSON string literal.
std::string json_string(std::string_view s) {
  std::string out = "\"";
  for (char c : s) {
    if (c == '"' || c == '\\') {
      out += '\\';
      out += c;
    } else if (static_cast<unsigned char>(c) < 0x20) {
      out += ' ';
    } else {
      out += c;
    }
  }
  return out + "\"";
}

}  // namespace

NIMBUS_APP(app) {
  // GET /api/hello or /api/hello/{name}: anyone may call it.
  app.http("hello",
           {.route = "hello/{name?}", .methods = {"GET"}, .auth = nimbus::AuthLevel::anonymous},
           [](const nimbus::HttpRequest& req, nimbus::Context& ctx) {
             std::string name(req.param("name"));
             if (name.empty()) name = req.query_value("name");
             if (name.empty()) name = "world";
             ctx.log("greeting " + name);
             return nimbus::HttpResponse::json(200, "{\"hello\":" + json_string(name) + "}");
           });

  // POST /api/echo: returns the body; needs a function key.
  app.http("echo", {.route = "echo", .methods = {"POST"}},
           [](const nimbus::HttpRequest& req, nimbus::Context&) {
             nimbus::HttpResponse res;
             std::string type(req.header("content-type"));
             res.headers.emplace_back("Content-Type",
                                      type.empty() ? "application/octet-stream" : type);
             res.body = req.body;
             return res;
           });

  // GET /api/items/{id:int}: shows a typed route parameter; needs a function key.
  app.http("item", {.route = "items/{id:int}", .methods = {"GET"}},
           [](const nimbus::HttpRequest& req, nimbus::Context&) {
             return nimbus::HttpResponse::json(
                 200, "{\"id\":" + std::string(req.param("id")) + "}");
           });
}
