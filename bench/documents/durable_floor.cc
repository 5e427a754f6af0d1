// The durable floor of a Cosmos DB write on this machine, for crud_cpu.mjs --durable-floor.
//
// The least a server can do per SDK operation and still acknowledge every write only after it
// is on disk: one thread, epoll, plain HTTP/1.1 keep-alive, the same fixed answers as the nginx
// floor, and for every POST, PUT and DELETE a write of the request into a log that is
// fdatasynced before the answer leaves. Writes that arrive together share one pwrite() and one
// fdatasync (group commit by epoll wake-up; what arrives during a sync waits for the next), as a
// real store's group commit does. The log is written full of zeros and synced at start and then
// overwritten in a ring, as SQLite reuses its WAL: an fdatasync of a file that grows, or of
// blocks still unwritten, also commits the file system's journal, which costs several times
// more (measured: 80-160 µs per operation when the log was appended to). It keeps no
// data, parses no JSON, checks no signature, maintains no index: whatever a real store costs
// above this, it costs for those things.
//
// Usage: docs_durable_floor PORT LOGFILE
// Bounded by its caller: crud_cpu.mjs kills it at the end of the run.

#include <arpa/inet.h>
#include <fcntl.h>
#include <netinet/in.h>
#include <netinet/tcp.h>
#include <sys/epoll.h>
#include <sys/socket.h>
#include <unistd.h>

#include <csignal>

#include <algorithm>
#include <cerrno>
#include <ctime>
#include <cstdio>
#include <cstdlib>
#include <cstring>
#include <string>
#include <string_view>
#include <unordered_map>
#include <vector>

namespace {

struct Conn {
  std::string in;
  std::string out;
  bool held = false;  // a write of this connection waits for the group's fdatasync
};

volatile sig_atomic_t stopping = 0;
void on_term(int) { stopping = 1; }

int64_t now_ms() {
  timespec t{};
  ::clock_gettime(CLOCK_MONOTONIC, &t);
  return int64_t{t.tv_sec} * 1000 + t.tv_nsec / 1000000;
}

// Answers are small and the client reads them at once; a short send would only mean a stalled
// client, which this bench does not have, so the rest is dropped rather than queued.
void send_all(int fd, std::string& out) {
  ::send(fd, out.data(), out.size(), MSG_NOSIGNAL);
  out.clear();
}

std::string answer(int status, std::string_view body) {
  const char* reason = status == 200 ? "OK" : status == 201 ? "Created" : "No Content";
  std::string r = "HTTP/1.1 " + std::to_string(status) + " " + reason +
                  "\r\nContent-Type: application/json\r\nContent-Length: " +
                  std::to_string(body.size()) + "\r\n\r\n";
  r.append(body);
  return r;
}

bool iequal_prefix(std::string_view s, std::string_view prefix) {
  if (s.size() < prefix.size()) return false;
  for (size_t i = 0; i < prefix.size(); ++i)
    if (std::tolower(static_cast<unsigned char>(s[i])) != prefix[i]) return false;
  return true;
}

// The length of the first whole request in `in`, or 0 while it is incomplete.
size_t whole_request(const std::string& in) {
  size_t head = in.find("\r\n\r\n");
  if (head == std::string::npos) return 0;
  size_t body = 0;
  for (size_t at = in.find("\r\n"); at < head; at = in.find("\r\n", at + 2)) {
    std::string_view line(in.data() + at + 2, head - at - 2);
    if (iequal_prefix(line, "content-length:")) body = std::strtoul(line.data() + 15, nullptr, 10);
  }
  return in.size() >= head + 4 + body ? head + 4 + body : 0;
}

}  // namespace

int main(int argc, char** argv) {
  if (argc != 3) {
    std::fprintf(stderr, "usage: docs_durable_floor PORT LOGFILE\n");
    return 2;
  }
  const std::string port(argv[1]);
  std::string account = "{\"id\":\"floor\",\"_self\":\"\",\"writableLocations\":[{\"name\":\"floor\","
                        "\"databaseAccountEndpoint\":\"http://127.0.0.1:" + port + "/\"}],"
                        "\"readableLocations\":[{\"name\":\"floor\",\"databaseAccountEndpoint\":"
                        "\"http://127.0.0.1:" + port + "/\"}],\"enableMultipleWriteLocations\":"
                        "false,\"userConsistencyPolicy\":{\"defaultConsistencyLevel\":\"Session\"}}";
  const std::string database = "{\"id\":\"bench\",\"_rid\":\"AAAAAA==\",\"_self\":\"dbs/AAAAAA==/\","
                               "\"_etag\":\"e1\",\"_ts\":1}";
  const std::string container = "{\"id\":\"items\",\"partitionKey\":{\"paths\":[\"/pk\"],\"kind\":"
                                "\"Hash\",\"version\":2},\"_rid\":\"AAAAAAAAAAA=\",\"_etag\":\"e1\","
                                "\"_ts\":1}";
  const std::string item = "{\"id\":\"item\",\"pk\":\"p0\",\"n\":0,\"v\":0,\"tag\":\"t0\",\"name\":"
                           "\"name 0\",\"_rid\":\"AAAAAAAAAAABAAAAAAAAAA==\",\"_etag\":\"e1\","
                           "\"_ts\":1}";

  constexpr size_t kLogBytes = 64 << 20;
  int log = ::open(argv[2], O_WRONLY | O_CREAT | O_TRUNC | O_CLOEXEC, 0600);
  {
    std::string zeros(1 << 20, '\0');
    for (size_t at = 0; log >= 0 && at < kLogBytes; at += zeros.size())
      if (::pwrite(log, zeros.data(), zeros.size(), static_cast<off_t>(at)) !=
          static_cast<ssize_t>(zeros.size()))
        log = -1;
    if (log >= 0 && ::fsync(log) != 0) log = -1;
  }
  size_t log_at = 0;
  int lfd = ::socket(AF_INET, SOCK_STREAM | SOCK_NONBLOCK | SOCK_CLOEXEC, 0);
  int one = 1;
  ::setsockopt(lfd, SOL_SOCKET, SO_REUSEADDR, &one, sizeof one);
  sockaddr_in addr{};
  addr.sin_family = AF_INET;
  addr.sin_port = htons(static_cast<uint16_t>(std::atoi(argv[1])));
  addr.sin_addr.s_addr = htonl(INADDR_LOOPBACK);
  if (log < 0 || lfd < 0 || ::bind(lfd, reinterpret_cast<sockaddr*>(&addr), sizeof addr) != 0 ||
      ::listen(lfd, 1024) != 0) {
    std::perror("docs_durable_floor");
    return 1;
  }
  int ep = ::epoll_create1(EPOLL_CLOEXEC);
  epoll_event ev{EPOLLIN, {.fd = lfd}};
  ::epoll_ctl(ep, EPOLL_CTL_ADD, lfd, &ev);

  std::unordered_map<int, Conn> conns;
  std::vector<epoll_event> ready(256);
  std::vector<int> held;   // connections whose answers wait for the group's fdatasync
  std::string pending;     // the group's writes, written and synced together
  size_t pending_ops = 0;
  int64_t first_ms = 0, last_ms = 0;  // the group's first and latest write
  char buf[65536];
  uint64_t writes = 0, syncs = 0;
  struct sigaction sa {};
  sa.sa_handler = on_term;
  ::sigaction(SIGTERM, &sa, nullptr);
  while (!stopping) {
    // The commit window, as Nimbus's (storage README): a group is synced when half the
    // connections have a write in it, when writes pause for 3 ms, or 10 ms after its first.
    int timeout = -1;
    if (pending_ops > 0)
      timeout = static_cast<int>(std::max<int64_t>(0, std::min(first_ms + 10, last_ms + 3) - now_ms()));
    int n = ::epoll_wait(ep, ready.data(), static_cast<int>(ready.size()), timeout);
    if (n < 0 && errno == EINTR) continue;
    for (int i = 0; i < n; ++i) {
      int fd = ready[i].data.fd;
      if (fd == lfd) {
        for (int c; (c = ::accept4(lfd, nullptr, nullptr, SOCK_NONBLOCK | SOCK_CLOEXEC)) >= 0;) {
          ::setsockopt(c, IPPROTO_TCP, TCP_NODELAY, &one, sizeof one);
          epoll_event cev{EPOLLIN, {.fd = c}};
          ::epoll_ctl(ep, EPOLL_CTL_ADD, c, &cev);
          conns[c];
        }
        continue;
      }
      Conn& conn = conns[fd];
      ssize_t got;
      while ((got = ::recv(fd, buf, sizeof buf, 0)) > 0) conn.in.append(buf, static_cast<size_t>(got));
      if (got == 0 || (got < 0 && errno != EAGAIN)) {
        // A held connection that closes keeps its slot in `held`; its answer is dropped.
        ::close(fd);
        conns.erase(fd);
        continue;
      }
      for (size_t len; (len = whole_request(conn.in)) > 0; conn.in.erase(0, len)) {
        std::string_view req(conn.in.data(), len);
        std::string_view target = req.substr(req.find(' ') + 1);
        target = target.substr(0, target.find(' '));
        if (req.starts_with("GET ")) {
          conn.out += target == "/"                      ? answer(200, account)
                      : target == "/dbs/bench"             ? answer(200, database)
                      : target == "/dbs/bench/colls/items" ? answer(200, container)
                                                           : answer(200, item);
        } else {
          pending.append(req);
          if (pending_ops++ == 0) first_ms = now_ms();
          last_ms = now_ms();
          conn.out += req.starts_with("DELETE ") ? answer(204, "") : answer(201, item);
          if (!conn.held) held.push_back(fd);
          conn.held = true;
        }
      }
      // Answers on a connection leave in order: behind a held write, a read waits too.
      if (!conn.held && !conn.out.empty()) send_all(fd, conn.out);
    }
    if (pending_ops == 0) continue;
    int64_t now = now_ms();
    if (pending_ops * 2 < conns.size() && now < last_ms + 3 && now < first_ms + 10) continue;
    if (pending.size() > kLogBytes) pending.resize(kLogBytes);  // only the cost is modelled
    if (log_at + pending.size() > kLogBytes) log_at = 0;
    if (::pwrite(log, pending.data(), pending.size(), static_cast<off_t>(log_at)) !=
            static_cast<ssize_t>(pending.size()) ||
        ::fdatasync(log) != 0) {
      std::perror("docs_durable_floor: the log");
      return 1;
    }
    log_at += pending.size();
    writes += pending_ops;
    ++syncs;
    pending.clear();
    pending_ops = 0;
    for (int fd : held) {
      auto it = conns.find(fd);
      if (it == conns.end()) continue;
      send_all(fd, it->second.out);
      it->second.held = false;
    }
    held.clear();
  }
  std::fprintf(stderr, "docs_durable_floor: %llu writes in %llu fdatasyncs\n",
               static_cast<unsigned long long>(writes), static_cast<unsigned long long>(syncs));
}
