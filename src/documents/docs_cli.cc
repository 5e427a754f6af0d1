#include "documents/docs_cli.h"

#include <boost/json.hpp>
#include <chrono>
#include <cstdlib>
#include <iostream>
#include <iterator>
#include <optional>
#include <string>
#include <vector>

#include "documents/cosmos_auth.h"
#include "http/http_client.h"

namespace nimbus::documents {

namespace {

namespace json = boost::json;

constexpr const char* kEmulatorKey =
    "C2y6yDjf5/R+ob0N8A7Cgv30VRDJIWEHLM+4QDU5DE2nQ9nDuVTqobD4b8mGGyPMbIZnqyMsEcaGQy67XIw/Jw==";

constexpr const char* kUsage =
    "usage: nimbus docs <command> [options]\n"
    "  databases                               list databases\n"
    "  containers DB                           list the containers of DB\n"
    "  create-database DB                      create a database\n"
    "  create-container DB C --pk /PATH        create a container partitioned on /PATH\n"
    "  get DB C ID --pk VALUE                  read one item (VALUE: JSON, or plain text)\n"
    "  put DB C JSON|-                         upsert an item (from stdin with -); its\n"
    "                                          partition key is read from the item\n"
    "  delete DB C ID --pk VALUE               delete one item\n"
    "  query DB C SQL [--pk VALUE] [--param @name=JSON ...]\n"
    "                                          run a query, every page, one JSON row per line\n"
    "options for every command:\n"
    "  --endpoint URL   default http://127.0.0.1:8081 (or NIMBUS_DOCS_ENDPOINT)\n"
    "  --key K          base64 master key, default the emulator's (or NIMBUS_DOCS_KEY)\n";

int bad_usage(const std::string& error) {
  std::cerr << "nimbus docs: " << error << "\n" << kUsage;
  return 2;
}

struct Client {
  std::string host = "127.0.0.1";
  std::string port = "8081";
  std::string key = kEmulatorKey;
};

using Response = http::ClientResponse;

bool parse_endpoint(std::string_view url, Client& c, std::string& error) {
  if (url.substr(0, 7) != "http://") {
    error = "--endpoint \"" + std::string(url) +
            "\" must start with http://, e.g. http://127.0.0.1:8081 (HTTPS is not served yet)";
    return false;
  }
  url.remove_prefix(7);
  while (!url.empty() && url.back() == '/') url.remove_suffix(1);
  auto colon = url.rfind(':');
  if (colon == std::string_view::npos || colon + 1 == url.size() ||
      url.find('/') != std::string_view::npos) {
    error = "--endpoint \"http://" + std::string(url) + "\" must be http://HOST:PORT";
    return false;
  }
  c.host = std::string(url.substr(0, colon));
  c.port = std::string(url.substr(colon + 1));
  return true;
}

// Percent-encodes a path segment as the SDK's encodeURI would leave it readable.
std::string encode_segment(std::string_view s) {
  static const char* hex = "0123456789ABCDEF";
  std::string out;
  for (unsigned char ch : s) {
    if (std::isalnum(ch) || std::string_view("-_.~!$&'()*+,;=:@").find(static_cast<char>(ch)) !=
                                std::string_view::npos)
      out += static_cast<char>(ch);
    else {
      out += '%';
      out += hex[ch >> 4];
      out += hex[ch & 15];
    }
  }
  return out;
}

// `segments` are decoded; the signature names them decoded, the URL carries them encoded.
std::optional<Response> call(const Client& c, const std::string& method,
                             const std::vector<std::string>& segments,
                             std::vector<std::pair<std::string, std::string>> headers,
                             std::string body, std::string& error) {
  std::string path;
  for (const auto& s : segments) path += "/" + encode_segment(s);
  if (path.empty()) path = "/";
  // Even segment count: the type is the second-to-last segment and the link the whole path;
  // odd: the type is the last segment and the link its parent (reference §2).
  size_t n = segments.size();
  std::string type = n == 0 ? "" : n % 2 ? segments[n - 1] : segments[n - 2];
  std::string link;
  for (size_t i = 0; i < (n % 2 ? n - 1 : n); ++i) link += (i ? "/" : "") + segments[i];
  auto now = std::chrono::duration_cast<std::chrono::milliseconds>(
                 std::chrono::system_clock::now().time_since_epoch())
                 .count();
  std::string date = rfc1123(now);
  headers.emplace_back("x-ms-date", date);
  headers.emplace_back("x-ms-version", "2020-07-15");
  headers.emplace_back("authorization", master_authorization(c.key, method, type, link, date));
  bool network = false;
  auto r = http::send_request(c.host, c.port, method, path, headers, std::move(body), error,
                              &network);
  if (!r)
    error = (network ? "cannot reach the document service at http://" : "no answer from the document service at http://") +
            c.host + ":" + c.port + " (" + error + ")" +
            (network ? "; start it with `nimbus start` or pass --endpoint" : "");
  return r;
}

int refused(const Response& r) {
  std::string code, message;
  boost::system::error_code ec;
  auto v = json::parse(r.body, ec);
  if (!ec && v.is_object()) {
    if (auto* c = v.as_object().if_contains("code"); c && c->is_string()) code = c->as_string();
    if (auto* m = v.as_object().if_contains("message"); m && m->is_string()) message = m->as_string();
  }
  std::cerr << "nimbus docs: the service answered " << r.status << (code.empty() ? "" : " " + code)
            << (message.empty() ? "" : ": " + message) << "\n";
  return 1;
}

// A partition key value given on the command line: JSON when it parses ("5", "null",
// "\"x\""), else the text itself as a string.
std::string pk_header(const std::string& value) {
  boost::system::error_code ec;
  auto v = json::parse(value, ec);
  json::array a;
  a.push_back(ec ? json::value(value) : v);
  return json::serialize(a);
}

// The value at a partition key path ("/a/b") of `doc`; undefined when a step is missing.
std::optional<json::value> value_at(const json::value& doc, std::string_view path) {
  const json::value* v = &doc;
  size_t i = 1;
  while (i <= path.size()) {
    size_t j = path.find('/', i);
    if (j == std::string_view::npos) j = path.size();
    auto name = path.substr(i, j - i);
    if (!v->is_object()) return std::nullopt;
    auto* next = v->as_object().if_contains(name);
    if (!next) return std::nullopt;
    v = next;
    i = j + 1;
  }
  return *v;
}

int print_list(const Response& r, const char* field) {
  boost::system::error_code ec;
  auto v = json::parse(r.body, ec);
  if (ec || !v.is_object() || !v.as_object().contains(field)) {
    std::cerr << "nimbus docs: the service sent an unexpected answer\n";
    return 1;
  }
  for (const auto& x : v.as_object().at(field).as_array())
    if (x.is_object() && x.as_object().contains("id") && x.at("id").is_string())
      std::cout << std::string_view(x.at("id").as_string()) << "\n";
  return 0;
}

}  // namespace

int run_docs_cli(int argc, char** argv) {
  Client c;
  if (const char* e = std::getenv("NIMBUS_DOCS_KEY")) c.key = e;
  std::string endpoint = std::getenv("NIMBUS_DOCS_ENDPOINT") ? std::getenv("NIMBUS_DOCS_ENDPOINT")
                                                             : "http://127.0.0.1:8081";
  std::vector<std::string> args;
  std::optional<std::string> pk, pk_path;
  std::vector<std::pair<std::string, std::string>> params;
  for (int i = 1; i < argc; ++i) {
    std::string a = argv[i];
    auto value = [&](const char* what) -> std::optional<std::string> {
      if (i + 1 >= argc) return std::nullopt;
      (void)what;
      return std::string(argv[++i]);
    };
    if (a == "--endpoint" || a == "--key" || a == "--pk" || a == "--param") {
      auto v = value(a.c_str());
      if (!v) return bad_usage(a + " needs a value");
      if (a == "--endpoint") endpoint = *v;
      else if (a == "--key") c.key = *v;
      else if (a == "--pk") pk = pk_path = *v;
      else {
        auto eq = v->find('=');
        if (v->empty() || (*v)[0] != '@' || eq == std::string::npos)
          return bad_usage("--param must look like @name=JSON, e.g. @min=5 or @city='\"Oslo\"'");
        params.emplace_back(v->substr(0, eq), v->substr(eq + 1));
      }
    } else if (a == "-h" || a == "--help") {
      std::cout << kUsage;
      return 0;
    } else {
      args.push_back(a);
    }
  }
  std::string error;
  if (!parse_endpoint(endpoint, c, error)) return bad_usage(error);
  if (args.empty()) return bad_usage("a command is required");
  const std::string cmd = args[0];
  auto need = [&](size_t n, const char* form) -> std::optional<int> {
    if (args.size() != n) return bad_usage(std::string("usage: nimbus docs ") + form);
    return std::nullopt;
  };
  auto run = [&](const std::string& method, const std::vector<std::string>& segs,
                 std::vector<std::pair<std::string, std::string>> headers,
                 std::string body) -> std::optional<Response> {
    auto r = call(c, method, segs, std::move(headers), std::move(body), error);
    if (!r) std::cerr << "nimbus docs: " << error << "\n";
    return r;
  };
  if (cmd == "databases") {
    if (auto u = need(1, "databases")) return *u;
    auto r = run("GET", {"dbs"}, {}, "");
    if (!r) return 2;
    return r->status == 200 ? print_list(*r, "Databases") : refused(*r);
  }
  if (cmd == "containers") {
    if (auto u = need(2, "containers DB")) return *u;
    auto r = run("GET", {"dbs", args[1], "colls"}, {}, "");
    if (!r) return 2;
    return r->status == 200 ? print_list(*r, "DocumentCollections") : refused(*r);
  }
  if (cmd == "create-database") {
    if (auto u = need(2, "create-database DB")) return *u;
    auto r = run("POST", {"dbs"}, {{"content-type", "application/json"}},
                 json::serialize(json::object{{"id", args[1]}}));
    if (!r) return 2;
    return r->status == 201 ? 0 : refused(*r);
  }
  if (cmd == "create-container") {
    if (auto u = need(3, "create-container DB C --pk /PATH")) return *u;
    if (!pk_path || pk_path->empty() || (*pk_path)[0] != '/')
      return bad_usage("create-container needs --pk /PATH, e.g. --pk /customerId");
    json::object spec{{"id", args[2]},
                      {"partitionKey", json::object{{"paths", json::array{json::value(*pk_path)}},
                                                    {"kind", "Hash"},
                                                    {"version", 2}}}};
    auto r = run("POST", {"dbs", args[1], "colls"}, {{"content-type", "application/json"}},
                 json::serialize(spec));
    if (!r) return 2;
    return r->status == 201 ? 0 : refused(*r);
  }
  if (cmd == "get" || cmd == "delete") {
    if (auto u = need(4, (cmd + " DB C ID --pk VALUE").c_str())) return *u;
    if (!pk) return bad_usage(cmd + " needs --pk VALUE (the item's partition key value)");
    auto r = run(cmd == "get" ? "GET" : "DELETE", {"dbs", args[1], "colls", args[2], "docs", args[3]},
                 {{"x-ms-documentdb-partitionkey", pk_header(*pk)}}, "");
    if (!r) return 2;
    if (cmd == "get" && r->status == 200) {
      std::cout << r->body << "\n";
      return 0;
    }
    return (cmd == "delete" && r->status == 204) ? 0 : refused(*r);
  }
  if (cmd == "put") {
    if (auto u = need(4, "put DB C JSON|-")) return *u;
    std::string text = args[3];
    if (text == "-") text.assign(std::istreambuf_iterator<char>(std::cin), {});
    boost::system::error_code ec;
    auto doc = json::parse(text, ec);
    if (ec || !doc.is_object())
      return bad_usage("put needs a JSON object, e.g. '{\"id\":\"1\",\"customerId\":\"c1\"}'");
    // The container's partition key path, to send the value the SDKs would.
    auto def = run("GET", {"dbs", args[1], "colls", args[2]}, {}, "");
    if (!def) return 2;
    if (def->status != 200) return refused(*def);
    json::array key;
    auto d = json::parse(def->body, ec);
    if (!ec && d.is_object())
      if (auto* p = d.as_object().if_contains("partitionKey"); p && p->is_object())
        if (auto* paths = p->as_object().if_contains("paths"); paths && paths->is_array())
          for (const auto& path : paths->as_array())
            if (path.is_string()) {
              auto v = value_at(doc, path.as_string());
              key.push_back(v ? *v : json::value(json::object()));
            }
    auto r = run("POST", {"dbs", args[1], "colls", args[2], "docs"},
                 {{"content-type", "application/json"},
                  {"x-ms-documentdb-is-upsert", "true"},
                  {"x-ms-documentdb-partitionkey", json::serialize(key)}},
                 text);
    if (!r) return 2;
    if (r->status == 200 || r->status == 201) {
      std::cout << r->body << "\n";
      return 0;
    }
    return refused(*r);
  }
  if (cmd == "query") {
    if (auto u = need(4, "query DB C SQL [--pk VALUE] [--param @name=JSON]")) return *u;
    json::array parameters;
    for (const auto& [name, value] : params) {
      boost::system::error_code ec;
      auto v = json::parse(value, ec);
      if (ec) return bad_usage("--param " + name + "=" + value + ": the value must be JSON");
      parameters.push_back(json::object{{"name", name}, {"value", v}});
    }
    std::string body =
        json::serialize(json::object{{"query", args[3]}, {"parameters", parameters}});
    std::string continuation;
    for (int page = 0; page < 100000; ++page) {
      std::vector<std::pair<std::string, std::string>> h{
          {"content-type", "application/query+json"},
          {"x-ms-documentdb-isquery", "true"},
          {"x-ms-documentdb-query-enablecrosspartition", "true"},
          {"x-ms-max-item-count", "100"}};
      if (pk) h.emplace_back("x-ms-documentdb-partitionkey", pk_header(*pk));
      if (!continuation.empty()) h.emplace_back("x-ms-continuation", continuation);
      auto r = run("POST", {"dbs", args[1], "colls", args[2], "docs"}, h, body);
      if (!r) return 2;
      if (r->status != 200) return refused(*r);
      boost::system::error_code ec;
      auto v = json::parse(r->body, ec);
      if (ec || !v.is_object() || !v.as_object().contains("Documents")) {
        std::cerr << "nimbus docs: the service sent an unexpected answer\n";
        return 1;
      }
      for (const auto& row : v.as_object().at("Documents").as_array())
        std::cout << json::serialize(row) << "\n";
      continuation = r->header("x-ms-continuation");
      if (continuation.empty()) return 0;
    }
    return 0;
  }
  return bad_usage("unknown command \"" + cmd + "\"");
}

}  // namespace nimbus::documents
