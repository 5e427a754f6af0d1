#include "server/scaffold.h"

#include <boost/json.hpp>
#include <algorithm>
#include <cctype>
#include <cerrno>
#include <cstring>
#include <filesystem>
#include <fstream>
#include <iostream>
#include <optional>
#include <sstream>
#include <string_view>
#include <vector>

#include "api/queue_store.h"
#include "config/loader.h"

namespace fs = std::filesystem;
namespace json = boost::json;

namespace nimbus::server {

namespace {

// ---- Templates. {{KEY}} is replaced by fill(); everything else is written as is. ----

constexpr const char* kLocalSettings = R"({
  "IsEncrypted": false,
  "Values": {
    "FUNCTIONS_WORKER_RUNTIME": "custom",
    "AzureWebJobsStorage": "UseDevelopmentStorage=true"
  },
  "Host": { "LocalHttpPort": 7071 }
}
)";

constexpr const char* kGitignore = R"(.nimbus-data/
bin/
build/
__pycache__/
local.settings.json
)";

constexpr const char* kHostJsonHandler = R"({
  "version": "2.0",
  "logging": { "logLevel": { "default": "Information" } },
  "customHandler": {
    "description": { "defaultExecutablePath": "{{EXE}}", "arguments": ["{{SCRIPT}}"] }
  }
}
)";

constexpr const char* kHostJsonNative = R"({
  "version": "2.0",
  "logging": { "logLevel": { "default": "Information" } },
  "nimbus": {
    "native": { "library": "bin/libapp.so" }
  }
}
)";

// The HTTP function the custom-handler apps start with (the native one declares it in code).
constexpr const char* kHelloFunctionJson = R"({
  "bindings": [
    {
      "type": "httpTrigger",
      "direction": "in",
      "name": "req",
      "authLevel": "anonymous",
      "methods": ["get", "post"],
      "route": "hello/{name?}"
    },
    { "type": "http", "direction": "out", "name": "res" }
  ]
}
)";

constexpr const char* kHandlerJs = R"(// The app's custom handler, on Node's http module alone (no packages to install).
// The host starts it with FUNCTIONS_CUSTOMHANDLER_PORT and POSTs /<FunctionName> with
// {Data, Metadata}; the answer is {Outputs, Logs, ReturnValue}. Add a function with
// `nimbus new NAME --template http|queue`, then its entry in `functions` below.
const http = require("http");

const functions = {
  // HTTP: Data.req is the request; Outputs.res is the response.
  hello(invocation) {
    const req = invocation.Data.req;
    const name = req.Params.name || req.Query.name || "world";
    return {
      Outputs: { res: { statusCode: 200, headers: { "Content-Type": "text/plain" }, body: `Hello, ${name}!` } },
      Logs: [`greeting ${name}`],
      ReturnValue: null,
    };
  },
};

http
  .createServer((req, res) => {
    const chunks = [];
    req.on("data", (c) => chunks.push(c));
    req.on("end", () => {
      const fn = functions[req.url.slice(1).split("?")[0]];
      if (req.method !== "POST" || !fn) return res.writeHead(req.url === "/" ? 200 : 404).end();
      try {
        const out = fn(JSON.parse(Buffer.concat(chunks).toString("utf8")));
        res.writeHead(200, { "Content-Type": "application/json" }).end(JSON.stringify(out));
      } catch (e) {
        // A non-2xx answer fails the invocation (a queue message is retried, then poisoned).
        res.writeHead(500, { "Content-Type": "application/json" })
          .end(JSON.stringify({ Logs: [String(e && e.stack || e)] }));
      }
    });
  })
  .listen(Number(process.env.FUNCTIONS_CUSTOMHANDLER_PORT || 3000), "127.0.0.1");
)";

constexpr const char* kHandlerPy = R"("""The app's custom handler, on Python's standard library alone (no packages to install).

The host starts it with FUNCTIONS_CUSTOMHANDLER_PORT and POSTs /<FunctionName> with
{Data, Metadata}; the answer is {Outputs, Logs, ReturnValue}. Add a function with
`nimbus new NAME --template http|queue`, then its entry in FUNCTIONS below.
"""
import json
import os
import traceback
from http.server import BaseHTTPRequestHandler, ThreadingHTTPServer


def hello(invocation):
    """HTTP: Data.req is the request; Outputs.res is the response."""
    req = invocation["Data"]["req"]
    name = req["Params"].get("name") or req["Query"].get("name") or "world"
    return {
        "Outputs": {"res": {"statusCode": 200, "headers": {"Content-Type": "text/plain"},
                            "body": f"Hello, {name}!"}},
        "Logs": [f"greeting {name}"],
        "ReturnValue": None,
    }


FUNCTIONS = {"hello": hello}


class Handler(BaseHTTPRequestHandler):
    protocol_version = "HTTP/1.1"  # keep-alive: the host reuses connections
    # http.server sends the head and the body in two writes; with Nagle on, the second waits
    # for the host's delayed ACK (~40 ms per call). TCP_NODELAY sends both at once.
    disable_nagle_algorithm = True

    def _answer(self, status, body=b""):
        self.send_response(status)
        self.send_header("Content-Type", "application/json")
        self.send_header("Content-Length", str(len(body)))
        self.end_headers()
        self.wfile.write(body)

    def do_GET(self):  # readiness and health probes
        self._answer(200)

    def do_POST(self):
        length = int(self.headers.get("Content-Length") or 0)
        payload = json.loads(self.rfile.read(length) or b"{}")
        fn = FUNCTIONS.get(self.path.lstrip("/").split("?")[0])
        if fn is None:
            self._answer(404)
            return
        try:
            self._answer(200, json.dumps(fn(payload)).encode())
        except Exception:  # a non-2xx answer fails the invocation; the log says why
            self._answer(500, json.dumps({"Logs": [traceback.format_exc()]}).encode())

    def log_message(self, fmt, *args):  # the host logs every invocation already
        pass


if __name__ == "__main__":
    port = int(os.environ.get("FUNCTIONS_CUSTOMHANDLER_PORT", "3000"))
    ThreadingHTTPServer(("127.0.0.1", port), Handler).serve_forever()
)";

constexpr const char* kHelloCc = R"(// The app's functions, in native C++ with the Nimbus SDK (<nimbus/nimbus.h>, header-only).
// Built into bin/libapp.so, which host.json names; see README.md. Add a function with
// `nimbus new NAME --template http|queue`, which prints the code to paste below.
#include <nimbus/nimbus.h>

#include <string>

NIMBUS_APP(app) {
  // GET or POST /api/hello/{name}: anyone may call it.
  app.http("hello",
           {.route = "hello/{name?}", .methods = {"GET", "POST"},
            .auth = nimbus::AuthLevel::anonymous},
           [](const nimbus::HttpRequest& req, nimbus::Context& ctx) {
             std::string name(req.param("name"));
             if (name.empty()) name = req.query_value("name");
             if (name.empty()) name = "world";
             ctx.log("greeting " + name);
             return nimbus::HttpResponse::text(200, "Hello, " + name + "!");
           });
}
)";

constexpr const char* kCMakeLists = R"(cmake_minimum_required(VERSION 3.20)
project(app LANGUAGES CXX)
if(NOT CMAKE_BUILD_TYPE)
  set(CMAKE_BUILD_TYPE Release)  # optimised unless asked otherwise (-DCMAKE_BUILD_TYPE=Debug)
endif()

# The Nimbus SDK's CMake package: pass -DNimbus_DIR=<prefix>/lib/cmake/Nimbus (installed with
# `cmake --install`) or -DNimbus_DIR=<nimbus>/build/release (a build tree).
find_package(Nimbus REQUIRED)

# bin/libapp.so beside this file, which host.json's nimbus.native.library names.
nimbus_add_app(app hello.cc)
)";

constexpr const char* kReadmeNative = R"(# {{APP}} (native C++)

One HTTP function, `hello`, in `hello.cc`, built with the Nimbus SDK into `bin/libapp.so`,
which `host.json` names in `nimbus.native.library`.

Build with CMake (`find_package(Nimbus)`):

```sh
cmake -S . -B build -DNimbus_DIR={{CMAKE_DIR}}
cmake --build build
```

or with one compiler command (the SDK is header-only):

```sh
mkdir -p bin && c++ -std=c++20 -O2 -shared -fPIC -fvisibility=hidden -I {{INCLUDE_DIR}} hello.cc -o bin/libapp.so
```

Then:

```sh
nimbus start .
curl http://127.0.0.1:7071/api/hello/ada        # Hello, ada!
```

`nimbus new NAME --template http|queue` prints the code of another function to paste into
`hello.cc`; rebuild and restart to run it.
)";

constexpr const char* kReadmeHandler = R"(# {{APP}} ({{LANG}} custom handler)

One HTTP function, `hello` (`hello/function.json`), served by `{{SCRIPT}}`, a custom handler
on {{LANG}}'s standard library alone.

```sh
nimbus start .
curl http://127.0.0.1:7071/api/hello/ada        # Hello, ada!
```

`nimbus new NAME --template http|queue` adds `NAME/function.json` and prints the code to add
to `{{SCRIPT}}`. `nimbus start . --functions hello` runs only the functions named.
)";

// ---- Helpers ----

std::string fill(std::string text, const std::vector<std::pair<std::string, std::string>>& vars) {
  for (const auto& [key, value] : vars) {
    std::string token = "{{" + key + "}}";
    for (size_t at = text.find(token); at != std::string::npos;
         at = text.find(token, at + value.size()))
      text.replace(at, token.size(), value);
  }
  return text;
}

// Writes `text` to dir/rel (creating folders); "" or an error naming the file.
std::string write_file(const fs::path& dir, const std::string& rel, const std::string& text) {
  fs::path p = dir / rel;
  std::error_code ec;
  fs::create_directories(p.parent_path(), ec);
  std::ofstream out(p, std::ios::binary | std::ios::trunc);
  out << text;
  out.close();
  if (!out) return p.string() + ": cannot write (" + std::strerror(errno) + ")";
  return "";
}

int fail(const std::string& msg, int code = 1) {
  std::cerr << "nimbus: " << msg << "\n";
  return code;
}

constexpr const char* kInitUsage =
    "usage: nimbus init DIR --worker native|node|python\n"
    "  Create an app folder DIR (new or empty) with one HTTP function, hello.\n";
constexpr const char* kNewUsage =
    "usage: nimbus new NAME --template http|queue [--queue QUEUE] [DIR]\n"
    "  Add function NAME to the app in DIR (default: the current folder).\n";

int usage(const std::string& msg, const char* text) {
  std::cerr << "nimbus: " << msg << "\n\n" << text;
  return 64;
}

// Where the SDK is, as this nimbus sees it: a build tree (build/release/nimbus beside the
// NimbusConfig.cmake the build writes) or an install prefix (P/bin/nimbus, P/include,
// P/lib/cmake/Nimbus). Placeholders when neither, and `found` says so.
struct SdkPaths {
  std::string include_dir = "<nimbus>/include";
  std::string cmake_dir = "<nimbus>/build/release";
  bool found = false;
};

SdkPaths find_sdk(const std::string& exe_dir) {
  SdkPaths sdk;
  std::error_code ec;
  fs::path exe(exe_dir);
#ifdef NIMBUS_SOURCE_INCLUDE_DIR
  if (fs::exists(exe / "NimbusConfig.cmake", ec) &&
      fs::exists(fs::path(NIMBUS_SOURCE_INCLUDE_DIR) / "nimbus" / "nimbus.h", ec)) {
    sdk.include_dir = NIMBUS_SOURCE_INCLUDE_DIR;
    sdk.cmake_dir = exe.string();
    sdk.found = true;
    return sdk;
  }
#endif
  fs::path prefix = exe.parent_path();
  if (fs::exists(prefix / "lib/cmake/Nimbus/NimbusConfig.cmake", ec) &&
      fs::exists(prefix / "include/nimbus/nimbus.h", ec)) {
    sdk.include_dir = fs::weakly_canonical(prefix / "include").string();
    sdk.cmake_dir = fs::weakly_canonical(prefix / "lib/cmake/Nimbus").string();
    sdk.found = true;
  }
  return sdk;
}

// Reads DIR/host.json as an object; nullopt and `error` naming the file and the fix.
std::optional<json::object> read_host_json(const fs::path& dir, std::string& error) {
  fs::path file = dir / "host.json";
  std::ifstream in(file, std::ios::binary);
  if (!in) {
    error = file.string() + ": not found; pass the app folder (one made by `nimbus init`) as DIR "
            "or run `nimbus new` inside it";
    return std::nullopt;
  }
  std::stringstream ss;
  ss << in.rdbuf();
  boost::system::error_code ec;
  json::value v = json::parse(ss.str(), ec);
  if (ec || !v.is_object()) {
    error = file.string() + ": not a JSON object (" + (ec ? ec.message() : "wrong type") +
            "); fix the file first";
    return std::nullopt;
  }
  return v.as_object();
}

// The custom handler's language, from host.json's customHandler executable: "node",
// "python" or "" (anything else).
std::string handler_language(const json::object& host, std::string& script) {
  const auto* ch = host.if_contains("customHandler");
  const auto* desc = ch && ch->is_object() ? ch->as_object().if_contains("description") : nullptr;
  if (!desc || !desc->is_object()) return "";
  const auto& d = desc->as_object();
  std::string exe;
  if (const auto* e = d.if_contains("defaultExecutablePath"); e && e->is_string())
    exe = fs::path(std::string(e->as_string())).filename().string();
  if (const auto* a = d.if_contains("arguments"); a && a->is_array() && !a->as_array().empty() &&
                                                  a->as_array()[0].is_string())
    script = std::string(a->as_array()[0].as_string());
  if (exe == "node" || exe == "nodejs") return "node";
  if (exe.rfind("python", 0) == 0) return "python";
  return "";
}

std::string function_json(const std::string& tmpl, const std::string& queue) {
  if (tmpl == "http")
    return R"({
  "bindings": [
    {
      "type": "httpTrigger",
      "direction": "in",
      "name": "req",
      "authLevel": "function",
      "methods": ["get", "post"]
    },
    { "type": "http", "direction": "out", "name": "res" }
  ]
}
)";
  return fill(R"({
  "bindings": [
    { "type": "queueTrigger", "direction": "in", "name": "message", "queueName": "{{QUEUE}}" }
  ]
}
)",
              {{"QUEUE", queue}});
}

// What to add to the handler for a new function, in the handler's language.
std::string handler_snippet(const std::string& lang, const std::string& tmpl,
                            const std::string& name) {
  bool http = tmpl == "http";
  if (lang == "node")
    return fill(http ? R"(  {{NAME}}(invocation) {
    const req = invocation.Data.req;  // Method, Url, Headers, Query, Params, Body
    return {
      Outputs: { res: { statusCode: 200, headers: { "Content-Type": "text/plain" }, body: "{{NAME}} ran" } },
      Logs: [`{{NAME}}: ${req.Method} ${req.Url}`],
      ReturnValue: null,
    };
  },
)"
                     : R"(  {{NAME}}(invocation) {
    const message = invocation.Data.message;  // the message text
    // Throwing fails the invocation: the message is retried, then moved to <queue>-poison.
    return { Outputs: {}, Logs: [`{{NAME}}: message ${invocation.Metadata.Id}: ${message}`], ReturnValue: null };
  },
)",
                {{"NAME", name}});
  if (lang == "python")
    return fill(http ? R"(def {{PY}}(invocation):
    req = invocation["Data"]["req"]  # Method, Url, Headers, Query, Params, Body
    return {
        "Outputs": {"res": {"statusCode": 200, "headers": {"Content-Type": "text/plain"},
                            "body": "{{NAME}} ran"}},
        "Logs": [f"{{NAME}}: {req['Method']} {req['Url']}"],
        "ReturnValue": None,
    }

# and in FUNCTIONS:  "{{NAME}}": {{PY}},
)"
                     : R"(def {{PY}}(invocation):
    message = invocation["Data"]["message"]  # the message text
    # Raising fails the invocation: the message is retried, then moved to <queue>-poison.
    return {"Outputs": {}, "Logs": [f"{{NAME}}: message {invocation['Metadata']['Id']}: {message}"],
            "ReturnValue": None}

# and in FUNCTIONS:  "{{NAME}}": {{PY}},
)",
                {{"NAME", name}, {"PY", [&] {
                   std::string py = name;
                   for (char& c : py)
                     if (c == '-') c = '_';
                   return py;
                 }()}});
  return fill(http ? "  POST /{{NAME}} with {\"Data\": {\"req\": {Method, Url, Headers, Query, "
                     "Params, Body}}, \"Metadata\": {...}};\n  answer {\"Outputs\": {\"res\": "
                     "{\"statusCode\": 200, \"body\": \"...\"}}, \"Logs\": [], \"ReturnValue\": "
                     "null}\n"
                   : "  POST /{{NAME}} with {\"Data\": {\"message\": \"<text>\"}, \"Metadata\": "
                     "{\"Id\": ..., \"DequeueCount\": ...}};\n  answer {\"Outputs\": {}, "
                     "\"Logs\": []} (a non-2xx answer fails the invocation)\n",
              {{"NAME", name}});
}

std::string native_snippet(const std::string& tmpl, const std::string& name,
                           const std::string& queue) {
  if (tmpl == "http")
    return fill(R"(  // GET or POST /api/{{NAME}}: needs a function key (`nimbus keys list`).
  app.http("{{NAME}}", {.route = "{{NAME}}", .methods = {"GET", "POST"}},
           [](const nimbus::HttpRequest& req, nimbus::Context& ctx) {
             ctx.log(req.method + " " + req.url);
             return nimbus::HttpResponse::text(200, "{{NAME}} ran");
           });
)",
                {{"NAME", name}});
  return fill(R"(  // Each message on queue "{{QUEUE}}"; throwing fails it (retried, then <queue>-poison).
  app.queue("{{NAME}}", {.queue = "{{QUEUE}}"},
            [](const nimbus::QueueMessage& msg, nimbus::Context& ctx) {
              ctx.log("message " + msg.id + ": " + msg.text);
            });
)",
              {{"NAME", name}, {"QUEUE", queue}});
}

}  // namespace

int run_init(int argc, char** argv, const std::string& exe_dir) {
  std::string dir, worker;
  for (int i = 1; i < argc; ++i) {
    std::string a = argv[i];
    if (a == "--worker") {
      if (i + 1 >= argc) return usage("--worker needs native, node or python", kInitUsage);
      worker = argv[++i];
    } else if (a == "-h" || a == "--help") {
      std::cout << kInitUsage;
      return 0;
    } else if (!a.empty() && a[0] == '-') {
      return usage("init: unknown option " + a, kInitUsage);
    } else if (dir.empty()) {
      dir = a;
    } else {
      return usage("init: more than one DIR given (" + dir + ", " + a + ")", kInitUsage);
    }
  }
  if (dir.empty()) return usage("init needs DIR, the folder to create the app in", kInitUsage);
  if (worker.empty()) return usage("init needs --worker native, node or python", kInitUsage);
  if (worker != "native" && worker != "node" && worker != "python")
    return usage("--worker " + worker + ": not a worker; use native, node or python", kInitUsage);

  std::error_code ec;
  fs::path root(dir);
  if (fs::exists(root, ec)) {
    if (!fs::is_directory(root, ec))
      return fail(dir + ": exists and is not a folder; pass a new or empty folder");
    if (!fs::is_empty(root, ec))
      return fail(dir + ": is not empty; nimbus init writes a new app, so pass a new or empty "
                        "folder (or add functions to an existing app with `nimbus new`)");
  }
  fs::create_directories(root, ec);
  if (ec) return fail(dir + ": cannot create the folder (" + ec.message() + ")");

  std::string app = fs::weakly_canonical(root, ec).filename().string();
  std::vector<std::pair<std::string, std::string>> files = {
      {"local.settings.json", kLocalSettings}, {".gitignore", kGitignore}};
  SdkPaths sdk;
  if (worker == "native") {
    sdk = find_sdk(exe_dir);
    files.push_back({"host.json", kHostJsonNative});
    files.push_back({"hello.cc", kHelloCc});
    files.push_back({"CMakeLists.txt", kCMakeLists});
    files.push_back({"README.md", fill(kReadmeNative, {{"APP", app},
                                                       {"CMAKE_DIR", sdk.cmake_dir},
                                                       {"INCLUDE_DIR", sdk.include_dir}})});
  } else {
    bool node = worker == "node";
    std::vector<std::pair<std::string, std::string>> vars = {
        {"APP", app},
        {"EXE", node ? "node" : "python3"},
        {"SCRIPT", node ? "handler.js" : "handler.py"},
        {"LANG", node ? "Node" : "Python"}};
    files.push_back({"host.json", fill(kHostJsonHandler, vars)});
    files.push_back({node ? "handler.js" : "handler.py", node ? kHandlerJs : kHandlerPy});
    files.push_back({"hello/function.json", kHelloFunctionJson});
    files.push_back({"README.md", fill(kReadmeHandler, vars)});
  }
  for (const auto& [rel, text] : files)
    if (std::string e = write_file(root, rel, text); !e.empty()) return fail(e);

  std::cout << "Created a " << worker << " app in " << dir << ":";
  for (const auto& f : files) std::cout << " " << f.first;
  std::cout << "\n";
  if (worker == "native") {
    std::cout << "Build it:\n  cmake -S " << dir << " -B " << dir << "/build -DNimbus_DIR="
              << sdk.cmake_dir << "\n  cmake --build " << dir << "/build\n";
    if (!sdk.found)
      std::cout << "(the Nimbus SDK was not found beside this nimbus: replace " << sdk.cmake_dir
                << " with <prefix>/lib/cmake/Nimbus after `cmake --install <nimbus>/build/release "
                   "--prefix <prefix>`)\n";
  }
  // This very binary, so the line works from a build tree where nimbus is not on PATH.
  std::cout << "Run it:\n  " << (fs::path(exe_dir) / "nimbus").string() << " start " << dir
            << "\n  curl http://127.0.0.1:7071/api/hello/ada\n";
  return 0;
}

int run_new(int argc, char** argv) {
  std::string name, tmpl, queue, dir;
  for (int i = 1; i < argc; ++i) {
    std::string a = argv[i];
    auto value = [&]() -> const char* { return i + 1 < argc ? argv[++i] : nullptr; };
    if (a == "--template" || a == "-t") {
      const char* v = value();
      if (!v) return usage("--template needs http or queue", kNewUsage);
      tmpl = v;
    } else if (a == "--queue") {
      const char* v = value();
      if (!v) return usage("--queue needs a queue name, e.g. --queue orders", kNewUsage);
      queue = v;
    } else if (a == "-h" || a == "--help") {
      std::cout << kNewUsage;
      return 0;
    } else if (!a.empty() && a[0] == '-') {
      return usage("new: unknown option " + a, kNewUsage);
    } else if (name.empty()) {
      name = a;
    } else if (dir.empty()) {
      dir = a;
    } else {
      return usage("new: too many arguments (" + a + ")", kNewUsage);
    }
  }
  if (name.empty()) return usage("new needs NAME, the function's name", kNewUsage);
  if (tmpl.empty()) return usage("new needs --template http or --template queue", kNewUsage);
  if (tmpl != "http" && tmpl != "queue")
    return usage("--template " + tmpl + ": not a template; use http or queue", kNewUsage);
  if (!config::is_valid_function_name(name))
    return fail("\"" + name + "\" is not a valid function name; start with a letter and use "
                "only letters, digits, '_' and '-' (at most 128 characters)", 64);
  if (tmpl == "http" && !queue.empty())
    return usage("--queue is for --template queue only", kNewUsage);
  if (tmpl == "queue") {
    if (queue.empty()) {
      // The function's name, as a queue name, when it is one ("orders" listens on "orders").
      queue = name;
      for (char& c : queue)
        c = c == '_' ? '-' : static_cast<char>(std::tolower(static_cast<unsigned char>(c)));
      if (!api::is_valid_queue_name(queue))
        return usage("\"" + name + "\" is not a valid queue name; pass --queue QUEUE", kNewUsage);
    } else if (!api::is_valid_queue_name(queue)) {
      return fail("--queue " + queue + ": not a valid queue name; use 3-63 lowercase letters, "
                  "digits and single hyphens, starting and ending with a letter or digit", 64);
    }
  }
  fs::path root = dir.empty() ? fs::path(".") : fs::path(dir);
  std::string error;
  auto host = read_host_json(root, error);
  if (!host) return fail(error);

  bool has_handler = host->contains("customHandler");
  const auto* nb = host->if_contains("nimbus");
  bool native = nb && nb->is_object() && nb->as_object().contains("native");
  if (native && !has_handler) {
    // A native app declares its functions in code; a function.json would be refused at start.
    std::cout << "A native app declares its functions in code, so nothing was written. Paste "
                 "this into NIMBUS_APP(app) { ... } (hello.cc), then rebuild and restart:\n\n"
              << native_snippet(tmpl, name, queue);
    if (tmpl == "queue")
      std::cout << "\nPut a message on it: nimbus queue put " << queue << " hello --base64\n";
    return 0;
  }
  if (!has_handler)
    return fail((root / "host.json").string() + ": no \"customHandler\" or \"nimbus.native\" "
                "section, so no worker would run the function; create the app with "
                "`nimbus init DIR --worker native|node|python`");

  std::error_code ec;
  fs::path fdir = root / name;
  if (fs::exists(fdir, ec))
    return fail(fdir.string() + ": already exists; choose another name or remove it first");
  // Azure's function names are case-insensitive: "Orders" and "orders" would collide at start.
  for (const auto& entry : fs::directory_iterator(root, ec)) {
    std::string other = entry.path().filename().string();
    if (entry.is_directory() && fs::exists(entry.path() / "function.json", ec) &&
        other.size() == name.size() &&
        std::equal(other.begin(), other.end(), name.begin(), [](char a, char b) {
          return std::tolower(static_cast<unsigned char>(a)) ==
                 std::tolower(static_cast<unsigned char>(b));
        }))
      return fail(entry.path().string() + ": a function named \"" + other +
                  "\" exists (names are case-insensitive); choose another name");
  }
  if (std::string e = write_file(root, name + "/function.json", function_json(tmpl, queue));
      !e.empty())
    return fail(e);

  std::string script;
  std::string lang = handler_language(*host, script);
  std::cout << "Created " << (fdir / "function.json").string() << " ("
            << (tmpl == "http" ? "httpTrigger, authLevel function: route /api/" + name
                               : "queueTrigger on queue \"" + queue + "\"")
            << ").\n";
  if (lang == "node")
    std::cout << "Add this to the `functions` object in " << (script.empty() ? "handler.js" : script)
              << ":\n\n";
  else if (lang == "python")
    std::cout << "Add this to " << (script.empty() ? "handler.py" : script)
              << " (before FUNCTIONS) and register it in FUNCTIONS:\n\n";
  else
    std::cout << "Make the custom handler answer it:\n\n";
  std::cout << handler_snippet(lang, tmpl, name);
  if (tmpl == "queue")
    std::cout << "\nPut a message on it: nimbus queue put " << queue << " hello --base64\n";
  return 0;
}

}  // namespace nimbus::server
