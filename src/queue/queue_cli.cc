#include "queue/queue_cli.h"

#include <climits>
#include <boost/json.hpp>
#include <cstdlib>
#include <iostream>
#include <iterator>
#include <optional>
#include <string>
#include <vector>

#include "common/ids.h"
#include "http/http_client.h"
#include "queue/queue_protocol.h"
#include "queue/queue_xml.h"
#include "queue/shared_key.h"

namespace nimbus::queue {

namespace {


constexpr const char* kUsage =
    "usage: nimbus queue <command> [options]\n"
    "  list [--prefix P]                       queues of the account\n"
    "  create QUEUE                            create a queue\n"
    "  put QUEUE TEXT|- [--ttl S] [--delay S]  enqueue TEXT (or stdin with -)\n"
    "  peek QUEUE [-n N]                       show up to N (1..32) messages without hiding them\n"
    "  get QUEUE [-n N] [--visibility S]       receive up to N messages (hidden for S seconds)\n"
    "  delete QUEUE                            delete a queue and its messages\n"
    "  delete QUEUE MESSAGE_ID POP_RECEIPT     delete one received message\n"
    "  clear QUEUE                             delete every message of a queue\n"
    "  --base64         put: base64-encode TEXT (what queue triggers expect by default);\n"
    "                   peek/get: also show a base64 MessageText decoded as \"text\"\n"
    "options for every command:\n"
    "  --endpoint URL   queue endpoint, default http://127.0.0.1:10001/devstoreaccount1\n"
    "                   (or NIMBUS_QUEUE_ENDPOINT)\n"
    "  --account-key K  base64 account key, default the devstoreaccount1 key\n"
    "  --connection-string S  an Azure Storage connection string (or\n"
    "                   AZURE_STORAGE_CONNECTION_STRING); UseDevelopmentStorage=true works\n";

int bad_usage(const std::string& error) {
  std::cerr << "nimbus queue: " << error << "\n" << kUsage;
  return 2;
}

struct Endpoint {
  std::string host = "127.0.0.1";
  std::string port = "10001";
  std::string account = std::string(kDevAccountName);
  std::string key_b64 = std::string(kDevAccountKey);
};

// http://host:port/account
bool parse_endpoint(std::string_view url, Endpoint& ep, std::string& error) {
  if (url.substr(0, 7) != "http://") {
    error = "endpoint \"" + std::string(url) +
            "\" must start with http://, e.g. http://127.0.0.1:10001/devstoreaccount1";
    return false;
  }
  url.remove_prefix(7);
  auto slash = url.find('/');
  std::string_view hostport = url.substr(0, slash);
  std::string_view path = slash == std::string_view::npos ? "" : url.substr(slash + 1);
  while (!path.empty() && path.back() == '/') path.remove_suffix(1);
  auto colon = hostport.rfind(':');
  ep.host = std::string(hostport.substr(0, colon));
  ep.port = colon == std::string_view::npos ? "80" : std::string(hostport.substr(colon + 1));
  if (path.empty() || path.find('/') != std::string_view::npos) {
    error = "endpoint \"http://" + std::string(url) +
            "\" must end with the account name, e.g. http://127.0.0.1:10001/devstoreaccount1";
    return false;
  }
  ep.account = std::string(path);
  return true;
}

bool parse_connection_string(std::string_view cs, Endpoint& ep, std::string& error) {
  if (cs.find("UseDevelopmentStorage=true") != std::string_view::npos) {
    ep = Endpoint{};
    return true;
  }
  std::optional<std::string> endpoint, name, key;
  std::string_view rest = cs;
  while (!rest.empty()) {
    auto semi = rest.find(';');
    std::string_view part = rest.substr(0, semi);
    rest = semi == std::string_view::npos ? std::string_view() : rest.substr(semi + 1);
    auto eq = part.find('=');
    if (eq == std::string_view::npos) continue;
    std::string_view k = part.substr(0, eq), v = part.substr(eq + 1);
    if (k == "QueueEndpoint") endpoint = std::string(v);
    else if (k == "AccountName") name = std::string(v);
    else if (k == "AccountKey") key = std::string(v);
  }
  if (!endpoint) {
    error = "connection string has no QueueEndpoint=; add QueueEndpoint=http://127.0.0.1:10001/<account>";
    return false;
  }
  if (!parse_endpoint(*endpoint, ep, error)) return false;
  if (name) ep.account = *name;
  if (key) ep.key_b64 = *key;
  return true;
}

using http::url_encode;
using Response = http::ClientResponse;

// One signed request; nullopt with `error` when the endpoint cannot be reached.
std::optional<Response> call(const Endpoint& ep, std::string method, std::string path_and_query,
                             std::string body, std::string& error) {
  std::string key;
  if (!base64_decode(ep.key_b64, key)) {
    error = "the account key is not valid base64; copy it exactly from the connection string";
    return std::nullopt;
  }
  api::Headers headers{{"x-ms-version", "2025-05-05"},
                       {"x-ms-date", rfc1123(now_ms())},
                       {"x-ms-client-request-id", new_uuid()}};
  if (!body.empty()) {
    headers.emplace_back("Content-Type", "application/xml");
    headers.emplace_back("Content-Length", std::to_string(body.size()));
  }
  auto q = path_and_query.find('?');
  std::string_view raw_path = std::string_view(path_and_query).substr(0, q);
  std::string_view raw_query =
      q == std::string::npos ? std::string_view() : std::string_view(path_and_query).substr(q + 1);
  std::string sig = hmac_sha256_base64(
      key, shared_key_string_to_sign(method, headers, ep.account, raw_path, raw_query));
  headers.emplace_back("Authorization", "SharedKey " + ep.account + ":" + sig);
  auto r = http::send_request(ep.host, ep.port, method, path_and_query, headers, std::move(body),
                              error);
  if (!r)
    error = "cannot reach the queue service at http://" + ep.host + ":" + ep.port + " (" + error +
            "); start it with `nimbus start` or pass --endpoint";
  return r;
}

int refused(const Response& r) {
  std::string code = r.header("x-ms-error-code");
  std::string message;
  if (auto x = parse_xml(r.body); x.root) {
    if (auto m = x.root->child("Message")) message = m->text.substr(0, m->text.find("\nRequestId:"));
  }
  std::cerr << "nimbus queue: the service answered " << r.status << " " << code
            << (message.empty() ? "" : ": " + message) << "\n";
  return 1;
}

// With `decode`, a base64 MessageText (what queue triggers expect by default) is also shown
// decoded as "text".
int print_messages(const Response& r, bool decode = false) {
  auto x = parse_xml(r.body);
  if (!x.root) {
    std::cerr << "nimbus queue: the service sent malformed XML: " << x.error << "\n";
    return 1;
  }
  for (auto& m : x.root->children) {
    boost::json::object o;
    for (auto& f : m.children) {
      if (f.name == "DequeueCount") o["dequeueCount"] = std::atoll(f.text.c_str());
      else {
        std::string k = f.name;
        k[0] = static_cast<char>(std::tolower(static_cast<unsigned char>(k[0])));
        o[k] = f.text;
        std::string plain;
        if (decode && f.name == "MessageText" && base64_decode(f.text, plain)) o["text"] = plain;
      }
    }
    std::cout << boost::json::serialize(o) << "\n";
  }
  return 0;
}

bool parse_count(const std::string& v, long lo, long hi, long& out) {
  char* end = nullptr;
  out = std::strtol(v.c_str(), &end, 10);
  return !v.empty() && *end == 0 && out >= lo && out <= hi;
}

}  // namespace

int run_cli(int argc, char** argv) {
  std::vector<std::string> pos;
  Endpoint ep;
  std::string error, prefix;
  long n = 1, ttl = -2, delay = 0, visibility = 30;
  bool have_endpoint = false;
  bool b64 = false;
  if (const char* cs = std::getenv("AZURE_STORAGE_CONNECTION_STRING"); cs && *cs) {
    if (!parse_connection_string(cs, ep, error)) return bad_usage("AZURE_STORAGE_CONNECTION_STRING: " + error);
    have_endpoint = true;
  }
  if (const char* e = std::getenv("NIMBUS_QUEUE_ENDPOINT"); e && *e && !have_endpoint) {
    if (!parse_endpoint(e, ep, error)) return bad_usage("NIMBUS_QUEUE_ENDPOINT: " + error);
  }
  for (int i = 1; i < argc; ++i) {
    std::string a = argv[i];
    auto next = [&](std::string& out) {
      if (i + 1 >= argc) return false;
      out = argv[++i];
      return true;
    };
    std::string v;
    if (a == "--endpoint") {
      if (!next(v) || !parse_endpoint(v, ep, error)) return bad_usage("--endpoint: " + (error.empty() ? "needs a URL" : error));
    } else if (a == "--account-key") {
      if (!next(ep.key_b64)) return bad_usage("--account-key needs the base64 key");
    } else if (a == "--connection-string") {
      if (!next(v) || !parse_connection_string(v, ep, error))
        return bad_usage("--connection-string: " + (error.empty() ? "needs a value" : error));
    } else if (a == "--prefix") {
      if (!next(prefix)) return bad_usage("--prefix needs a value");
    } else if (a == "-n" || a == "--count") {
      if (!next(v) || !parse_count(v, 1, 32, n)) return bad_usage(a + " needs a number from 1 to 32");
    } else if (a == "--ttl") {
      if (!next(v) || !parse_count(v, -1, LONG_MAX, ttl) || ttl == 0)
        return bad_usage("--ttl needs seconds >= 1, or -1 for never");
    } else if (a == "--delay") {
      if (!next(v) || !parse_count(v, 0, 604800, delay)) return bad_usage("--delay needs seconds from 0 to 604800");
    } else if (a == "--visibility") {
      if (!next(v) || !parse_count(v, 1, 604800, visibility))
        return bad_usage("--visibility needs seconds from 1 to 604800");
    } else if (a == "--base64") {
      b64 = true;
    } else if (a == "--help" || a == "-h") {
      std::cout << kUsage;
      return 0;
    } else if (a.size() > 1 && a[0] == '-' && a != "-") {
      return bad_usage("unknown option " + a);
    } else {
      pos.push_back(a);
    }
  }
  if (pos.empty()) return bad_usage("missing command");
  const std::string cmd = pos[0];
  auto need = [&](size_t count, const char* what) -> std::optional<int> {
    if (pos.size() != count + 1) return bad_usage(cmd + " takes " + what);
    return std::nullopt;
  };
  auto check_name = [&](const std::string& name) -> std::optional<int> {
    if (auto e = check_queue_name(name)) return bad_usage(e->message);
    return std::nullopt;
  };
  std::string base = "/" + ep.account;
  std::optional<Response> r;
  if (cmd == "list") {
    if (auto e = need(0, "no arguments (use --prefix)")) return *e;
    std::string marker;
    for (int page = 0; page < 1000; ++page) {
      std::string path = base + "/?comp=list&include=metadata";
      if (!prefix.empty()) path += "&prefix=" + url_encode(prefix);
      if (!marker.empty()) path += "&marker=" + url_encode(marker);
      r = call(ep, "GET", path, "", error);
      if (!r) break;
      if (r->status != 200) return refused(*r);
      auto x = parse_xml(r->body);
      if (!x.root) return refused(*r);
      if (auto qs = x.root->child("Queues"))
        for (auto& q : qs->children)
          if (auto name = q.child("Name")) std::cout << name->text << "\n";
      auto nm = x.root->child("NextMarker");
      marker = nm ? nm->text : "";
      if (marker.empty()) return 0;
    }
  } else if (cmd == "create" || cmd == "clear" || (cmd == "delete" && pos.size() == 2)) {
    if (auto e = need(1, "a queue name")) return *e;
    if (auto e = check_name(pos[1])) return *e;
    std::string path = base + "/" + pos[1];
    if (cmd == "clear") path += "/messages";
    r = call(ep, cmd == "create" ? "PUT" : "DELETE", path, "", error);
    if (r) {
      if (r->status >= 300) return refused(*r);
      if (cmd == "create")
        std::cout << (r->status == 201 ? "created " : "already exists ") << pos[1] << "\n";
      return 0;
    }
  } else if (cmd == "delete") {
    if (auto e = need(3, "QUEUE, or QUEUE MESSAGE_ID POP_RECEIPT")) return *e;
    if (auto e = check_name(pos[1])) return *e;
    r = call(ep, "DELETE",
             base + "/" + pos[1] + "/messages/" + url_encode(pos[2]) + "?popreceipt=" + url_encode(pos[3]),
             "", error);
    if (r) return r->status == 204 ? 0 : refused(*r);
  } else if (cmd == "put") {
    if (auto e = need(2, "QUEUE and TEXT (or - to read stdin)")) return *e;
    if (auto e = check_name(pos[1])) return *e;
    std::string text = pos[2];
    if (text == "-") text.assign(std::istreambuf_iterator<char>(std::cin), std::istreambuf_iterator<char>());
    if (b64) text = base64_encode(text);
    if (text.size() > api::kMaxMessageBytes)
      return bad_usage("the message has " + std::to_string(text.size()) +
                       " bytes; the limit is 65536");
    std::string path = base + "/" + pos[1] + "/messages?visibilitytimeout=" + std::to_string(delay);
    if (ttl != -2) path += "&messagettl=" + std::to_string(ttl);
    r = call(ep, "POST", path,
             "<QueueMessage><MessageText>" + xml_escape(text) + "</MessageText></QueueMessage>", error);
    if (r) return r->status == 201 ? print_messages(*r) : refused(*r);
  } else if (cmd == "peek" || cmd == "get") {
    if (auto e = need(1, "a queue name")) return *e;
    if (auto e = check_name(pos[1])) return *e;
    std::string path = base + "/" + pos[1] + "/messages?numofmessages=" + std::to_string(n);
    path += cmd == "peek" ? "&peekonly=true" : "&visibilitytimeout=" + std::to_string(visibility);
    r = call(ep, "GET", path, "", error);
    if (r) return r->status == 200 ? print_messages(*r, b64) : refused(*r);
  } else {
    return bad_usage("unknown command \"" + cmd + "\"");
  }
  std::cerr << "nimbus queue: " << error << "\n";
  return 1;
}

}  // namespace nimbus::queue
