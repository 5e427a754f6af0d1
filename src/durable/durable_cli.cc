#include "durable/durable_cli.h"

#include <boost/json.hpp>
#include <cstdlib>
#include <filesystem>
#include <fstream>
#include <iostream>
#include <optional>
#include <sstream>
#include <string>
#include <vector>

#include "http/http_client.h"

namespace nimbus::durable {

namespace {

namespace json = boost::json;

constexpr const char* kUsage =
    "usage: nimbus durable <command> [options]\n"
    "  start NAME [INPUT] [--id ID]     start orchestrator NAME (INPUT: JSON, default null)\n"
    "  status ID [--history]            the instance's status (and its history)\n"
    "  list [--status S,S] [--prefix P] [--top N]\n"
    "                                   instances, every page, one JSON object per line\n"
    "  raise ID EVENT [DATA]            deliver an external event (DATA: JSON)\n"
    "  terminate|suspend|resume ID [--reason TEXT]\n"
    "  restart ID [--same-id]           run a finished instance again\n"
    "  purge ID                         delete a finished instance's state\n"
    "options:\n"
    "  --endpoint URL   the host, default http://127.0.0.1:7071 (or NIMBUS_ENDPOINT)\n"
    "  --key KEY        the master key (or NIMBUS_KEY); default: read from --data\n"
    "  --data DIR       the host's data directory, default .nimbus-data\n";

using Response = http::ClientResponse;

struct Client {
  std::string host, port, key;
};

using http::url_encode;

std::optional<Response> call(const Client& c, const std::string& method, std::string path,
                             std::string body, const api::Headers& headers, std::string& error) {
  path = "/runtime/webhooks/durabletask" + path;
  if (!c.key.empty()) path += (path.find('?') == std::string::npos ? "?" : "&") + ("code=" + url_encode(c.key));
  api::Headers all = headers;
  if (!body.empty()) all.emplace_back("Content-Type", "application/json");
  auto r = http::send_request(c.host, c.port, method, path, all, std::move(body), error);
  if (!r)
    error = "cannot reach Nimbus at http://" + c.host + ":" + c.port + " (" + error +
            "); start it with `nimbus start APP` or pass --endpoint";
  return r;
}

int refused(const Response& r) {
  boost::system::error_code ec;
  auto v = json::parse(r.body, ec);
  std::string message = r.body;
  if (!ec && v.is_object())
    if (auto* e = v.as_object().if_contains("error"); e && e->is_object())
      if (auto* m = e->as_object().if_contains("message"); m && m->is_string())
        message = std::string(m->as_string());
  std::cerr << "nimbus durable: HTTP " << r.status << ": " << message << "\n";
  return 1;
}

int usage(const std::string& why) {
  std::cerr << "nimbus durable: " << why << "\n" << kUsage;
  return 2;
}

}  // namespace

int run_durable_cli(int argc, char** argv) {
  std::vector<std::string> pos;
  std::string endpoint = std::getenv("NIMBUS_ENDPOINT") ? std::getenv("NIMBUS_ENDPOINT") : "";
  std::string key = std::getenv("NIMBUS_KEY") ? std::getenv("NIMBUS_KEY") : "";
  std::string data = ".nimbus-data", id, reason, statuses, prefix, top;
  bool history = false, same_id = false;
  for (int i = 1; i < argc; ++i) {
    std::string a = argv[i];
    auto value = [&]() -> std::optional<std::string> {
      if (i + 1 >= argc) return std::nullopt;
      return std::string(argv[++i]);
    };
    if (a == "--help" || a == "-h") {
      std::cout << kUsage;
      return 0;
    }
    if (a == "--history") {
      history = true;
    } else if (a == "--same-id") {
      same_id = true;
    } else if (a == "--endpoint" || a == "--key" || a == "--data" || a == "--id" ||
               a == "--reason" || a == "--status" || a == "--prefix" || a == "--top") {
      auto v = value();
      if (!v) return usage(a + " needs a value");
      (a == "--endpoint" ? endpoint : a == "--key" ? key : a == "--data" ? data
       : a == "--id" ? id : a == "--reason" ? reason : a == "--status" ? statuses
       : a == "--prefix" ? prefix : top) = *v;
    } else if (a.size() > 1 && a[0] == '-' && a[1] == '-') {
      return usage("unknown option " + a);
    } else {
      pos.push_back(a);
    }
  }
  if (pos.empty()) return usage("a command is needed");
  Client c{"127.0.0.1", "7071", key};
  if (!endpoint.empty()) {
    std::string_view e = endpoint;
    if (!e.starts_with("http://"))
      return usage("--endpoint \"" + endpoint + "\" must be http://HOST:PORT");
    e.remove_prefix(7);
    while (!e.empty() && e.back() == '/') e.remove_suffix(1);
    auto colon = e.rfind(':');
    if (colon == std::string_view::npos) return usage("--endpoint needs a port: http://HOST:PORT");
    c.host = std::string(e.substr(0, colon));
    c.port = std::string(e.substr(colon + 1));
  }
  if (c.key.empty()) {
    std::ifstream in(std::filesystem::path(data) / "keys.json");
    std::stringstream ss;
    ss << in.rdbuf();
    boost::system::error_code ec;
    auto v = json::parse(ss.str(), ec);
    if (!ec && v.is_object())
      if (auto* m = v.as_object().if_contains("masterKey"); m && m->is_string())
        c.key = std::string(m->as_string());
    // No key: fine for a host started with --no-auth; otherwise the host answers 401.
  }
  const std::string& cmd = pos[0];
  auto need = [&](size_t n) { return pos.size() >= n; };
  std::string error, method = "GET", path, body;
  api::Headers headers;
  if (cmd == "start") {
    if (!need(2)) return usage("start needs NAME");
    method = "POST";
    path = "/orchestrators/" + url_encode(pos[1]) + (id.empty() ? "" : "/" + url_encode(id));
    body = pos.size() > 2 ? pos[2] : "";
  } else if (cmd == "status") {
    if (!need(2)) return usage("status needs ID");
    path = "/instances/" + url_encode(pos[1]) + (history ? "?showHistory=true&showHistoryOutput=true" : "");
  } else if (cmd == "raise") {
    if (!need(3)) return usage("raise needs ID and EVENT");
    method = "POST";
    path = "/instances/" + url_encode(pos[1]) + "/raiseEvent/" + url_encode(pos[2]);
    body = pos.size() > 3 ? pos[3] : "";
  } else if (cmd == "terminate" || cmd == "suspend" || cmd == "resume") {
    if (!need(2)) return usage(cmd + " needs ID");
    method = "POST";
    path = "/instances/" + url_encode(pos[1]) + "/" + cmd + (reason.empty() ? "" : "?reason=" + url_encode(reason));
  } else if (cmd == "restart") {
    if (!need(2)) return usage("restart needs ID");
    method = "POST";
    path = "/instances/" + url_encode(pos[1]) + "/restart?restartWithNewInstanceId=" + (same_id ? "false" : "true");
  } else if (cmd == "purge") {
    if (!need(2)) return usage("purge needs ID");
    method = "DELETE";
    path = "/instances/" + url_encode(pos[1]);
  } else if (cmd == "list") {
    std::string q = "?top=" + (top.empty() ? std::string("100") : url_encode(top));
    if (!statuses.empty()) q += "&runtimeStatus=" + url_encode(statuses);
    if (!prefix.empty()) q += "&instanceIdPrefix=" + url_encode(prefix);
    std::string token;
    for (int page = 0; page < 100000; ++page) {
      headers.clear();
      if (!token.empty()) headers.emplace_back("x-ms-continuation-token", token);
      auto r = call(c, "GET", "/instances" + q, "", headers, error);
      if (!r) {
        std::cerr << "nimbus durable: " << error << "\n";
        return 2;
      }
      if (r->status != 200) return refused(*r);
      boost::system::error_code ec;
      auto v = json::parse(r->body, ec);
      if (!ec && v.is_array())
        for (const auto& s : v.as_array()) std::cout << json::serialize(s) << "\n";
      token = r->header("x-ms-continuation-token");
      if (token.empty()) break;
    }
    return 0;
  } else {
    return usage("unknown command \"" + cmd + "\"");
  }
  auto r = call(c, method, path, body, headers, error);
  if (!r) {
    std::cerr << "nimbus durable: " << error << "\n";
    return 2;
  }
  if (r->status >= 400) return refused(*r);
  if (!r->body.empty()) std::cout << r->body << "\n";
  else std::cout << "accepted (HTTP " << r->status << ")\n";
  return 0;
}

}  // namespace nimbus::durable
