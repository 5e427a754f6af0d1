#include "storage/sqlite/sqlite_queue_store.h"

#include <sqlite3.h>

#include <fcntl.h>
#include <unistd.h>

#include <algorithm>
#include <boost/json/array.hpp>
#include <boost/json/parse.hpp>
#include <boost/json/serialize.hpp>
#include <cerrno>
#include <cstring>
#include <random>
#include <stdexcept>
#include <unordered_map>

#include "common/ids.h"

namespace nimbus::storage {

using api::QueueErrc;
using api::QueueError;
using api::UnixMillis;

namespace {

// An SQLite failure inside a batch: the whole transaction is rolled back and every operation
// in it fails with storage_failure. Never leaves this file.
struct SqlError : std::runtime_error {
  using std::runtime_error::runtime_error;
};

constexpr const char* kSchema = R"sql(
CREATE TABLE IF NOT EXISTS queue_queues(
  qid INTEGER PRIMARY KEY AUTOINCREMENT,
  account TEXT NOT NULL,
  name TEXT NOT NULL,
  metadata TEXT NOT NULL DEFAULT '[]',
  acl TEXT NOT NULL DEFAULT '[]',
  created INTEGER NOT NULL,
  UNIQUE(account, name));
CREATE TABLE IF NOT EXISTS queue_messages(
  seq INTEGER PRIMARY KEY,
  qid INTEGER NOT NULL,
  salt INTEGER NOT NULL,
  inserted INTEGER NOT NULL,
  expires INTEGER NOT NULL,
  visible INTEGER NOT NULL,
  pop INTEGER NOT NULL,
  dequeue INTEGER NOT NULL DEFAULT 0,
  body BLOB NOT NULL);
CREATE INDEX IF NOT EXISTS queue_messages_next ON queue_messages(qid, visible, seq, expires);
CREATE TABLE IF NOT EXISTS queue_service(
  account TEXT PRIMARY KEY,
  properties TEXT NOT NULL);
)sql";

QueueError err(QueueErrc code, std::string message) { return QueueError{code, std::move(message)}; }

std::string describe(const api::QueueRef& q) {
  return "queue \"" + q.name + "\" of account \"" + q.account + "\"";
}

// Every write path checks the name, so nothing (an output binding, a poison move) can create a
// queue the REST API cannot address.
std::optional<QueueError> check_name(const api::QueueRef& q) {
  if (api::is_valid_queue_name(q.name)) return std::nullopt;
  return err(QueueErrc::invalid_argument,
             "\"" + q.name + "\" (" + std::to_string(q.name.size()) +
                 " characters) is not a valid queue name; use 3-63 lower-case letters, digits "
                 "and single hyphens, not at either end");
}

// Metadata goes back out as HTTP headers: names are identifiers, values printable ASCII.
std::optional<QueueError> check_metadata(const api::QueueMetadata& md) {
  for (auto& [k, v] : md) {
    bool name_ok = !k.empty() && !(k[0] >= '0' && k[0] <= '9');
    for (char c : k)
      name_ok = name_ok && ((c >= 'a' && c <= 'z') || (c >= 'A' && c <= 'Z') ||
                            (c >= '0' && c <= '9') || c == '_');
    if (!name_ok)
      return err(QueueErrc::invalid_argument,
                 "metadata name \"" + k +
                     "\" is not an identifier (letters, digits, '_', not starting with a digit)");
    for (unsigned char c : v)
      if (c >= 0x7F || (c < 0x20 && c != '\t'))
        return err(QueueErrc::invalid_argument,
                   "metadata \"" + k + "\" has a non-ASCII or control character in its value; "
                   "values must be printable ASCII");
  }
  return std::nullopt;
}

QueueError queue_not_found(const api::QueueRef& q) {
  return err(QueueErrc::queue_not_found,
             describe(q) + " does not exist; create it first (PUT /" + q.account + "/" + q.name +
                 ")");
}

constexpr char kHex[] = "0123456789abcdef";

void append_hex64(std::string& out, uint64_t v, int digits) {
  for (int i = digits - 1; i >= 0; --i) out.push_back(kHex[(v >> (4 * i)) & 15]);
}

// Message ids look like GUIDs: 16 hex digits of salt, then 16 of the row id, grouped 8-4-4-4-12.
std::string format_message_id(uint64_t salt, uint64_t seq) {
  std::string hex;
  hex.reserve(32);
  append_hex64(hex, salt, 16);
  append_hex64(hex, seq, 16);
  std::string out;
  out.reserve(36);
  out.append(hex, 0, 8).push_back('-');
  out.append(hex, 8, 4).push_back('-');
  out.append(hex, 12, 4).push_back('-');
  out.append(hex, 16, 4).push_back('-');
  out.append(hex, 20, 12);
  return out;
}

int hex_value(char c) {
  if (c >= '0' && c <= '9') return c - '0';
  if (c >= 'a' && c <= 'f') return c - 'a' + 10;
  if (c >= 'A' && c <= 'F') return c - 'A' + 10;
  return -1;
}

bool parse_hex64(std::string_view s, uint64_t& out) {
  if (s.size() != 16) return false;
  out = 0;
  for (char c : s) {
    int v = hex_value(c);
    if (v < 0) return false;
    out = (out << 4) | static_cast<uint64_t>(v);
  }
  return true;
}

bool parse_message_id(std::string_view id, uint64_t& salt, uint64_t& seq) {
  if (id.size() != 36 || id[8] != '-' || id[13] != '-' || id[18] != '-' || id[23] != '-')
    return false;
  std::string hex;
  hex.reserve(32);
  for (char c : id)
    if (c != '-') hex.push_back(c);
  return hex.size() == 32 && parse_hex64(std::string_view(hex).substr(0, 16), salt) &&
         parse_hex64(std::string_view(hex).substr(16), seq);
}

std::string format_pop_receipt(uint64_t pop) {
  std::string out;
  out.reserve(16);
  append_hex64(out, pop, 16);
  return out;
}

std::string metadata_to_json(const api::QueueMetadata& md) {
  boost::json::array a;
  for (auto& [k, v] : md) a.push_back(boost::json::array{boost::json::string(k), boost::json::string(v)});
  return boost::json::serialize(a);
}

api::QueueMetadata metadata_from_json(std::string_view text) {
  api::QueueMetadata md;
  boost::system::error_code ec;
  auto v = boost::json::parse(text, ec);
  if (ec || !v.is_array()) return md;
  for (auto& e : v.as_array()) {
    if (!e.is_array() || e.as_array().size() != 2) continue;
    auto& p = e.as_array();
    if (p[0].is_string() && p[1].is_string())
      md.emplace_back(std::string(p[0].as_string()), std::string(p[1].as_string()));
  }
  return md;
}

std::string acl_to_json(const std::vector<api::SignedIdentifier>& acl) {
  boost::json::array a;
  for (auto& s : acl)
    a.push_back(boost::json::array{boost::json::string(s.id), boost::json::string(s.start),
                                   boost::json::string(s.expiry),
                                   boost::json::string(s.permission)});
  return boost::json::serialize(a);
}

std::vector<api::SignedIdentifier> acl_from_json(std::string_view text) {
  std::vector<api::SignedIdentifier> acl;
  boost::system::error_code ec;
  auto v = boost::json::parse(text, ec);
  if (ec || !v.is_array()) return acl;
  for (auto& e : v.as_array()) {
    if (!e.is_array() || e.as_array().size() != 4) continue;
    auto& p = e.as_array();
    api::SignedIdentifier s;
    if (p[0].is_string()) s.id = p[0].as_string();
    if (p[1].is_string()) s.start = p[1].as_string();
    if (p[2].is_string()) s.expiry = p[2].as_string();
    if (p[3].is_string()) s.permission = p[3].as_string();
    acl.push_back(std::move(s));
  }
  return acl;
}

std::string lower(std::string_view s) {
  std::string out(s);
  for (char& c : out) c = static_cast<char>(std::tolower(static_cast<unsigned char>(c)));
  return out;
}

// Azure compares metadata names case-insensitively; order does not matter.
bool same_metadata(const api::QueueMetadata& a, const api::QueueMetadata& b) {
  auto norm = [](const api::QueueMetadata& m) {
    std::vector<std::pair<std::string, std::string>> out;
    for (auto& [k, v] : m) out.emplace_back(lower(k), v);
    std::sort(out.begin(), out.end());
    return out;
  };
  return norm(a) == norm(b);
}

UnixMillis system_now_ms() {
  return std::chrono::duration_cast<std::chrono::milliseconds>(
             std::chrono::system_clock::now().time_since_epoch())
      .count();
}

}  // namespace

// ---------------------------------------------------------------------------------------------
// The connection, its statement cache and the per-batch context. Store thread only.

struct SqliteQueueStore::Db {
  sqlite3* conn = nullptr;
  std::unordered_map<const char*, sqlite3_stmt*> stmts;  // keyed by the SQL literal's address
  std::mt19937_64 rng;
  UnixMillis now = 0;  // the batch's clock reading: every op of a batch sees the same time
  std::vector<std::pair<api::QueueRef, UnixMillis>> notices;  // for the listener, per batch

  ~Db() {
    for (auto& [_, s] : stmts) sqlite3_finalize(s);
    if (conn) sqlite3_close(conn);
  }

  [[noreturn]] void fail(const char* what) {
    throw SqlError(std::string(what) + ": " + sqlite3_errmsg(conn));
  }

  void exec(const char* sql) {
    char* msg = nullptr;
    if (sqlite3_exec(conn, sql, nullptr, nullptr, &msg) != SQLITE_OK) {
      std::string m = msg ? msg : "unknown error";
      sqlite3_free(msg);
      throw SqlError(std::string(sql).substr(0, 40) + ": " + m);
    }
  }

  // A prepared statement, reset and unbound when the Query goes out of scope.
  class Query {
   public:
    Query(Db& db, sqlite3_stmt* s) : db_(db), s_(s) {}
    ~Query() {
      sqlite3_reset(s_);
      sqlite3_clear_bindings(s_);
    }
    Query& bind(int i, int64_t v) {
      if (sqlite3_bind_int64(s_, i, v) != SQLITE_OK) db_.fail("bind");
      return *this;
    }
    Query& bind(int i, std::string_view v) {
      if (sqlite3_bind_text(s_, i, v.data(), static_cast<int>(v.size()), SQLITE_STATIC) !=
          SQLITE_OK)
        db_.fail("bind");
      return *this;
    }
    Query& bind_blob(int i, std::string_view v) {
      if (sqlite3_bind_blob(s_, i, v.data(), static_cast<int>(v.size()), SQLITE_STATIC) !=
          SQLITE_OK)
        db_.fail("bind");
      return *this;
    }
    bool step() {
      int rc = sqlite3_step(s_);
      if (rc == SQLITE_ROW) return true;
      if (rc == SQLITE_DONE) return false;
      db_.fail("step");
    }
    int64_t i64(int col) { return sqlite3_column_int64(s_, col); }
    std::string text(int col) {
      auto p = static_cast<const char*>(sqlite3_column_blob(s_, col));
      int n = sqlite3_column_bytes(s_, col);
      return p ? std::string(p, static_cast<size_t>(n)) : std::string();
    }

   private:
    Db& db_;
    sqlite3_stmt* s_;
  };

  Query q(const char* sql) {
    auto it = stmts.find(sql);
    if (it == stmts.end()) {
      sqlite3_stmt* s = nullptr;
      if (sqlite3_prepare_v3(conn, sql, -1, SQLITE_PREPARE_PERSISTENT, &s, nullptr) != SQLITE_OK)
        fail("prepare");
      it = stmts.emplace(sql, s).first;
    }
    return Query(*this, it->second);
  }

  int64_t changes() { return sqlite3_changes64(conn); }

  // --- helpers shared by the operations ---

  std::optional<int64_t> find_queue(const api::QueueRef& q) {
    auto st = this->q("SELECT qid FROM queue_queues WHERE account=?1 AND name=?2");
    st.bind(1, q.account).bind(2, q.name);
    if (!st.step()) return std::nullopt;
    return st.i64(0);
  }

  // Every message of one queue (Clear Messages, and the first half of Delete Queue).
  void delete_messages(int64_t qid) {
    auto st = this->q("DELETE FROM queue_messages WHERE qid=?1");
    st.bind(1, qid);
    st.step();
  }

  int64_t ensure_queue(const api::QueueRef& q) {
    {
      auto st = this->q(
          "INSERT INTO queue_queues(account,name,created) VALUES(?1,?2,?3) "
          "ON CONFLICT(account,name) DO NOTHING");
      st.bind(1, q.account).bind(2, q.name).bind(3, now);
      st.step();
    }
    auto qid = find_queue(q);
    if (!qid) throw SqlError("queue vanished while being created");
    return *qid;
  }

  uint64_t random64() { return rng(); }

  static std::optional<QueueError> validate(const api::NewMessage& m) {
    if (auto e = check_name(m.queue)) return e;
    if (m.text.size() > api::kMaxMessageBytes)
      return err(QueueErrc::message_too_large,
                 "message of " + std::to_string(m.text.size()) + " bytes for " +
                     describe(m.queue) + " is over the limit of " +
                     std::to_string(api::kMaxMessageBytes) +
                     " bytes; store large payloads elsewhere and enqueue a reference");
    if (m.ttl_seconds != api::kMessageTtlForever && m.ttl_seconds < 1)
      return err(QueueErrc::invalid_argument,
                 "messagettl " + std::to_string(m.ttl_seconds) +
                     " is out of range; use a number of seconds >= 1, or -1 for never");
    if (m.visibility_delay_seconds < 0 || m.visibility_delay_seconds > api::kMaxVisibilitySeconds)
      return err(QueueErrc::invalid_argument,
                 "visibilitytimeout " + std::to_string(m.visibility_delay_seconds) +
                     " is out of range; use 0..604800 seconds");
    if (m.ttl_seconds != api::kMessageTtlForever && m.visibility_delay_seconds >= m.ttl_seconds)
      return err(QueueErrc::invalid_argument,
                 "visibilitytimeout " + std::to_string(m.visibility_delay_seconds) +
                     " must be smaller than messagettl " + std::to_string(m.ttl_seconds));
    return std::nullopt;
  }

  api::MessageReceipt insert(int64_t qid, const api::NewMessage& m) {
    UnixMillis expires = api::kNeverExpires;
    if (m.ttl_seconds != api::kMessageTtlForever)
      expires = std::min<int64_t>(api::kNeverExpires, now + m.ttl_seconds * 1000);
    UnixMillis visible = now + m.visibility_delay_seconds * 1000;
    uint64_t salt = random64(), pop = random64();
    auto st = q(
        "INSERT INTO queue_messages(qid,salt,inserted,expires,visible,pop,dequeue,body) "
        "VALUES(?1,?2,?3,?4,?5,?6,0,?7)");
    st.bind(1, qid)
        .bind(2, static_cast<int64_t>(salt))
        .bind(3, now)
        .bind(4, expires)
        .bind(5, visible)
        .bind(6, static_cast<int64_t>(pop))
        .bind_blob(7, m.text);
    st.step();
    auto seq = static_cast<uint64_t>(sqlite3_last_insert_rowid(conn));
    notices.emplace_back(m.queue, visible);
    return api::MessageReceipt{format_message_id(salt, seq), now, expires, visible,
                               format_pop_receipt(pop)};
  }

  struct Located {
    int64_t seq;
    std::string body;
  };

  // Finds an unexpired message of `qid` by id and checks its pop receipt.
  std::variant<Located, QueueError> locate(int64_t qid, const api::QueueRef& queue,
                                           std::string_view id, std::string_view pop_receipt) {
    uint64_t salt = 0, seq = 0;
    auto not_found = [&] {
      return err(QueueErrc::message_not_found,
                 "message \"" + std::string(id) + "\" is not in " + describe(queue) +
                     " (deleted, expired or never there); get messages again for current ids");
    };
    if (!parse_message_id(id, salt, seq)) return not_found();
    auto st = q("SELECT qid, salt, expires, pop, body FROM queue_messages WHERE seq=?1");
    st.bind(1, static_cast<int64_t>(seq));
    if (!st.step() || st.i64(0) != qid || static_cast<uint64_t>(st.i64(1)) != salt ||
        st.i64(2) <= now)
      return not_found();
    uint64_t pop = 0;
    if (!parse_hex64(pop_receipt, pop) || static_cast<uint64_t>(st.i64(3)) != pop)
      return err(QueueErrc::pop_receipt_mismatch,
                 "pop receipt \"" + std::string(pop_receipt) + "\" does not match message \"" +
                     std::string(id) + "\" in " + describe(queue) +
                     ": it was received or updated again since; use the latest pop receipt");
    return Located{static_cast<int64_t>(seq), st.text(4)};
  }

  void delete_row(int64_t seq) {
    auto st = q("DELETE FROM queue_messages WHERE seq=?1");
    st.bind(1, seq);
    st.step();
  }
};

// ---------------------------------------------------------------------------------------------
// Operations: a body that runs inside the batch's transaction and a completion after commit.

struct SqliteQueueStore::Op {
  virtual ~Op() = default;
  virtual void execute(Db& db) = 0;  // throws SqlError
  virtual void complete(const QueueError* failure) = 0;
};

namespace {

template <class T>
struct TypedOp final : SqliteQueueStore::Op {
  std::function<api::QueueResult<T>(SqliteQueueStore::Db&)> body;
  api::QueueCallback<T> done;
  std::optional<api::QueueResult<T>> result;

  TypedOp(std::function<api::QueueResult<T>(SqliteQueueStore::Db&)> b, api::QueueCallback<T> d)
      : body(std::move(b)), done(std::move(d)) {}
  void execute(SqliteQueueStore::Db& db) override { result.emplace(body(db)); }
  void complete(const QueueError* failure) override {
    if (!done) return;
    if (failure || !result) {
      done(failure ? *failure : err(QueueErrc::storage_failure, "operation did not run"));
    } else {
      done(std::move(*result));
    }
  }
};

template <class T, class F>
std::unique_ptr<SqliteQueueStore::Op> make_op(F&& body, api::QueueCallback<T> done) {
  return std::make_unique<TypedOp<T>>(std::forward<F>(body), std::move(done));
}

}  // namespace

// ---------------------------------------------------------------------------------------------

SqliteQueueStore::SqliteQueueStore(Options options) : options_(std::move(options)) {
  if (!options_.clock) options_.clock = system_now_ms;
}

bool SqliteQueueStore::parse_sync(std::string_view text, Sync& out) {
  if (text == "off") out = Sync::off;
  else if (text == "normal") out = Sync::normal;
  else if (text == "full") out = Sync::full;
  else return false;
  return true;
}

namespace {

// What to do about a database file that cannot be trusted: said the same way for every cause.
std::string damaged(const std::string& path, const std::string& detail) {
  return "the queue database " + path + " is damaged (" + detail +
         "); Nimbus will not serve from it, because it could hand out wrong or partial data. "
         "To recover: stop every process using it, move the damaged file aside (mv " + path +
         " " + path + ".damaged, and " + path + "-wal and " + path +
         "-shm if present) and start again, which starts with an empty queue store; or restore " +
         path + " from a backup";
}

}  // namespace

std::unique_ptr<SqliteQueueStore> SqliteQueueStore::open(Options options, std::string& error) {
  std::unique_ptr<SqliteQueueStore> store(new SqliteQueueStore(std::move(options)));
  auto db = std::make_unique<Db>();
  const std::string& path = store->options_.path;
  // Queue contents are the application's data: create the file owner-only. SQLite gives the
  // -wal and -shm files it creates later the permissions of the database file.
  if (int fd = ::open(path.c_str(), O_RDWR | O_CREAT | O_EXCL | O_CLOEXEC, 0600); fd >= 0) {
    ::close(fd);
  } else if (errno != EEXIST) {
    error = "cannot create the queue database " + path + ": " + std::strerror(errno) +
            "; check that the data directory exists and is writable";
    return nullptr;
  }
  int rc = sqlite3_open_v2(path.c_str(), &db->conn,
                           SQLITE_OPEN_READWRITE | SQLITE_OPEN_CREATE | SQLITE_OPEN_NOMUTEX,
                           nullptr);
  if (rc != SQLITE_OK) {
    error = "cannot open the queue database " + path + ": " +
            (db->conn ? sqlite3_errmsg(db->conn) : sqlite3_errstr(rc)) +
            "; check that the data directory exists and is writable";
    return nullptr;
  }
  sqlite3_busy_timeout(db->conn, 10000);
  auto is_damage = [&] {
    int code = sqlite3_errcode(db->conn) & 0xff;
    return code == SQLITE_CORRUPT || code == SQLITE_NOTADB;
  };
  try {
    db->exec("PRAGMA journal_mode=WAL");
    // Random bytes in a page can leave a file SQLite opens happily and then serves partly:
    // check every page's structure before the first request (linear in the file size).
    {
      sqlite3_stmt* check = nullptr;
      if (sqlite3_prepare_v2(db->conn, "PRAGMA quick_check(5)", -1, &check, nullptr) != SQLITE_OK)
        db->fail("quick_check");
      std::string problems;
      int step;
      while ((step = sqlite3_step(check)) == SQLITE_ROW) {
        auto text = reinterpret_cast<const char*>(sqlite3_column_text(check, 0));
        std::string line = text ? text : "";
        if (line == "ok") continue;
        if (!problems.empty()) problems += "; ";
        problems += line;
      }
      sqlite3_finalize(check);
      if (step != SQLITE_DONE) db->fail("quick_check");
      if (!problems.empty()) {
        error = damaged(path, "PRAGMA quick_check found: " + problems);
        return nullptr;
      }
    }
    switch (store->options_.sync) {
      case Sync::off: db->exec("PRAGMA synchronous=OFF"); break;
      case Sync::normal: db->exec("PRAGMA synchronous=NORMAL"); break;
      case Sync::full: db->exec("PRAGMA synchronous=FULL"); break;
    }
    db->exec("PRAGMA cache_size=-65536");  // 64 MiB: keeps a 200,000-deep queue's index hot
    db->exec("PRAGMA temp_store=MEMORY");
    db->exec(kSchema);
  } catch (const SqlError& e) {
    if (is_damage()) {
      error = damaged(path, e.what());
    } else {
      error = "cannot prepare the queue database " + path + ": " + e.what() +
              "; if the file is not a Nimbus database, move it away";
    }
    return nullptr;
  }
  std::string seed = random_bytes(sizeof(uint64_t) * 4);
  std::seed_seq seq(seed.begin(), seed.end());
  db->rng.seed(seq);
  store->db_ = std::move(db);
  store->thread_ = std::thread([s = store.get()] { s->run(); });
  return store;
}

SqliteQueueStore::~SqliteQueueStore() {
  {
    std::lock_guard lk(mu_);
    stopping_ = true;
  }
  cv_.notify_all();
  if (thread_.joinable()) thread_.join();
}

uint64_t SqliteQueueStore::commit_count() const { return commits_.load(); }

void SqliteQueueStore::set_message_listener(api::MessageListener listener) {
  std::lock_guard lk(mu_);
  listener_ = std::move(listener);
}

void SqliteQueueStore::submit(std::unique_ptr<Op> op) {
  {
    std::lock_guard lk(mu_);
    if (!stopping_) {
      pending_.push_back(std::move(op));
      if (pending_.size() == 1) cv_.notify_one();
      return;
    }
  }
  QueueError e = err(QueueErrc::unavailable, "the queue store is shutting down; retry later");
  op->complete(&e);
}

void SqliteQueueStore::run() {
  auto next_sweep = std::chrono::steady_clock::now() + options_.sweep_interval;
  std::deque<std::unique_ptr<Op>> batch;
  for (;;) {
    {
      std::unique_lock lk(mu_);
      cv_.wait_until(lk, next_sweep, [&] { return stopping_ || !pending_.empty(); });
      if (pending_.empty() && stopping_) break;
      size_t n = std::min(pending_.size(), options_.max_batch);
      for (size_t i = 0; i < n; ++i) {
        batch.push_back(std::move(pending_.front()));
        pending_.pop_front();
      }
    }
    if (!batch.empty()) run_batch(batch);
    batch.clear();
    if (std::chrono::steady_clock::now() >= next_sweep) {
      sweep_expired();
      next_sweep = std::chrono::steady_clock::now() + options_.sweep_interval;
    }
  }
}

void SqliteQueueStore::run_batch(std::deque<std::unique_ptr<Op>>& batch) {
  Db& db = *db_;
  db.now = options_.clock();
  db.notices.clear();
  try {
    db.exec("BEGIN IMMEDIATE");
  } catch (const SqlError& e) {
    QueueError failure = err(QueueErrc::storage_failure,
                             std::string("queue store could not start a transaction on ") +
                                 options_.path + ": " + e.what() + "; retry");
    for (auto& op : batch) op->complete(&failure);
    return;
  }
  try {
    for (auto& op : batch) op->execute(db);
    db.exec("COMMIT");
  } catch (const SqlError& e) {
    sqlite3_exec(db.conn, "ROLLBACK", nullptr, nullptr, nullptr);
    QueueError failure = err(QueueErrc::storage_failure,
                             std::string("queue store transaction on ") + options_.path +
                                 " failed and was rolled back: " + e.what() +
                                 "; check free disk space and retry");
    for (auto& op : batch) op->complete(&failure);
    return;
  }
  commits_.fetch_add(1, std::memory_order_relaxed);
  // Notify before completing, so a producer whose put was acknowledged knows the trigger
  // has already been told.
  notify(db);
  for (auto& op : batch) op->complete(nullptr);
}

void SqliteQueueStore::notify(Db& db) {
  if (db.notices.empty()) return;
  api::MessageListener listener;
  {
    std::lock_guard lk(mu_);
    listener = listener_;
  }
  if (!listener) return;
  // One notice per queue: the earliest time something becomes visible.
  std::sort(db.notices.begin(), db.notices.end(), [](const auto& a, const auto& b) {
    return std::tie(a.first.account, a.first.name, a.second) <
           std::tie(b.first.account, b.first.name, b.second);
  });
  for (size_t i = 0; i < db.notices.size(); ++i) {
    if (i > 0 && db.notices[i].first == db.notices[i - 1].first) continue;
    listener(db.notices[i].first, db.notices[i].second);
  }
}

void SqliteQueueStore::sweep_expired() {
  Db& db = *db_;
  try {
    auto st = db.q(
        "DELETE FROM queue_messages WHERE seq IN "
        "(SELECT seq FROM queue_messages WHERE expires<=?1 LIMIT 20000)");
    st.bind(1, options_.clock());
    st.step();
  } catch (const SqlError&) {
    // Expired rows are already invisible; the next sweep tries again.
  }
}

// ---------------------------------------------------------------------------------------------
// The operations.

void SqliteQueueStore::create_queue(api::QueueRef queue, api::QueueMetadata metadata,
                                    api::QueueCallback<api::CreateQueueOutcome> done) {
  submit(make_op<api::CreateQueueOutcome>(
      [queue = std::move(queue),
       metadata = std::move(metadata)](Db& db) -> api::QueueResult<api::CreateQueueOutcome> {
        if (auto e = check_name(queue)) return *e;
        if (auto e = check_metadata(metadata)) return *e;
        {
          auto st = db.q("SELECT metadata FROM queue_queues WHERE account=?1 AND name=?2");
          st.bind(1, queue.account).bind(2, queue.name);
          if (st.step()) {
            if (same_metadata(metadata_from_json(st.text(0)), metadata))
              return api::CreateQueueOutcome::already_exists;
            return err(QueueErrc::queue_already_exists,
                       describe(queue) +
                           " already exists with different metadata; delete it first or use "
                           "set metadata");
          }
        }
        auto st = db.q("INSERT INTO queue_queues(account,name,metadata,created) VALUES(?1,?2,?3,?4)");
        std::string md = metadata_to_json(metadata);
        st.bind(1, queue.account).bind(2, queue.name).bind(3, md).bind(4, db.now);
        st.step();
        return api::CreateQueueOutcome::created;
      },
      std::move(done)));
}

void SqliteQueueStore::delete_queue(api::QueueRef queue, api::QueueCallback<void> done) {
  submit(make_op<void>(
      [queue = std::move(queue)](Db& db) -> api::QueueResult<void> {
        auto qid = db.find_queue(queue);
        if (!qid) return queue_not_found(queue);
        db.delete_messages(*qid);
        auto st = db.q("DELETE FROM queue_queues WHERE qid=?1");
        st.bind(1, *qid);
        st.step();
        return {};
      },
      std::move(done)));
}

void SqliteQueueStore::list_queues(std::string account, api::ListQueuesOptions options,
                                   api::QueueCallback<api::QueueListing> done) {
  submit(make_op<api::QueueListing>(
      [account = std::move(account),
       options = std::move(options)](Db& db) -> api::QueueResult<api::QueueListing> {
        if (options.max_results < 1)
          return err(QueueErrc::invalid_argument,
                     "maxresults " + std::to_string(options.max_results) +
                         " is out of range; use 1..5000");
        std::string from = std::max(options.marker, options.prefix);
        auto st = db.q(
            "SELECT name, metadata FROM queue_queues WHERE account=?1 AND name>=?2 AND "
            "substr(name,1,?3)=?4 ORDER BY name LIMIT ?5");
        st.bind(1, account)
            .bind(2, from)
            .bind(3, static_cast<int64_t>(options.prefix.size()))
            .bind(4, options.prefix)
            .bind(5, static_cast<int64_t>(options.max_results) + 1);
        api::QueueListing out;
        while (st.step()) {
          if (out.queues.size() == static_cast<size_t>(options.max_results)) {
            out.next_marker = st.text(0);
            break;
          }
          api::QueueInfo info;
          info.name = st.text(0);
          if (options.include_metadata) info.metadata = metadata_from_json(st.text(1));
          out.queues.push_back(std::move(info));
        }
        return out;
      },
      std::move(done)));
}

void SqliteQueueStore::get_queue_properties(api::QueueRef queue,
                                            api::QueueCallback<api::QueueProperties> done) {
  submit(make_op<api::QueueProperties>(
      [queue = std::move(queue)](Db& db) -> api::QueueResult<api::QueueProperties> {
        api::QueueProperties props;
        int64_t qid = 0;
        {
          auto st = db.q("SELECT qid, metadata FROM queue_queues WHERE account=?1 AND name=?2");
          st.bind(1, queue.account).bind(2, queue.name);
          if (!st.step()) return queue_not_found(queue);
          qid = st.i64(0);
          props.metadata = metadata_from_json(st.text(1));
        }
        auto st = db.q("SELECT count(*) FROM queue_messages WHERE qid=?1 AND expires>?2");
        st.bind(1, qid).bind(2, db.now);
        if (st.step()) props.approximate_message_count = st.i64(0);
        return props;
      },
      std::move(done)));
}

void SqliteQueueStore::set_queue_metadata(api::QueueRef queue, api::QueueMetadata metadata,
                                          api::QueueCallback<void> done) {
  submit(make_op<void>(
      [queue = std::move(queue), metadata = std::move(metadata)](Db& db) -> api::QueueResult<void> {
        if (auto e = check_metadata(metadata)) return *e;
        auto st = db.q("UPDATE queue_queues SET metadata=?3 WHERE account=?1 AND name=?2");
        std::string md = metadata_to_json(metadata);
        st.bind(1, queue.account).bind(2, queue.name).bind(3, md);
        st.step();
        if (db.changes() == 0) return queue_not_found(queue);
        return {};
      },
      std::move(done)));
}

void SqliteQueueStore::get_queue_acl(api::QueueRef queue,
                                     api::QueueCallback<std::vector<api::SignedIdentifier>> done) {
  submit(make_op<std::vector<api::SignedIdentifier>>(
      [queue = std::move(queue)](Db& db) -> api::QueueResult<std::vector<api::SignedIdentifier>> {
        auto st = db.q("SELECT acl FROM queue_queues WHERE account=?1 AND name=?2");
        st.bind(1, queue.account).bind(2, queue.name);
        if (!st.step()) return queue_not_found(queue);
        return acl_from_json(st.text(0));
      },
      std::move(done)));
}

void SqliteQueueStore::set_queue_acl(api::QueueRef queue, std::vector<api::SignedIdentifier> acl,
                                     api::QueueCallback<void> done) {
  submit(make_op<void>(
      [queue = std::move(queue), acl = std::move(acl)](Db& db) -> api::QueueResult<void> {
        if (acl.size() > 5)
          return err(QueueErrc::invalid_argument,
                     std::to_string(acl.size()) +
                         " signed identifiers given; a queue holds at most 5 stored access "
                         "policies");
        auto st = db.q("UPDATE queue_queues SET acl=?3 WHERE account=?1 AND name=?2");
        std::string text = acl_to_json(acl);
        st.bind(1, queue.account).bind(2, queue.name).bind(3, text);
        st.step();
        if (db.changes() == 0) return queue_not_found(queue);
        return {};
      },
      std::move(done)));
}

void SqliteQueueStore::get_service_properties(std::string account,
                                              api::QueueCallback<std::string> done) {
  submit(make_op<std::string>(
      [account = std::move(account)](Db& db) -> api::QueueResult<std::string> {
        auto st = db.q("SELECT properties FROM queue_service WHERE account=?1");
        st.bind(1, account);
        if (!st.step()) return std::string();
        return st.text(0);
      },
      std::move(done)));
}

void SqliteQueueStore::set_service_properties(std::string account, std::string document,
                                              api::QueueCallback<void> done) {
  submit(make_op<void>(
      [account = std::move(account), document = std::move(document)](Db& db) -> api::QueueResult<void> {
        auto st = db.q(
            "INSERT INTO queue_service(account,properties) VALUES(?1,?2) "
            "ON CONFLICT(account) DO UPDATE SET properties=excluded.properties");
        st.bind(1, account).bind(2, document);
        st.step();
        return {};
      },
      std::move(done)));
}

void SqliteQueueStore::put_message(api::NewMessage message,
                                   api::QueueCallback<api::MessageReceipt> done) {
  submit(make_op<api::MessageReceipt>(
      [m = std::move(message)](Db& db) -> api::QueueResult<api::MessageReceipt> {
        if (auto e = Db::validate(m)) return *e;
        auto qid = db.find_queue(m.queue);
        if (!qid) return queue_not_found(m.queue);
        return db.insert(*qid, m);
      },
      std::move(done)));
}

void SqliteQueueStore::get_messages(api::QueueRef queue, int count,
                                    int64_t visibility_timeout_seconds,
                                    api::QueueCallback<std::vector<api::QueueMessage>> done) {
  submit(make_op<std::vector<api::QueueMessage>>(
      [queue = std::move(queue), count,
       vt = visibility_timeout_seconds](Db& db) -> api::QueueResult<std::vector<api::QueueMessage>> {
        if (count < 1 || count > api::kMaxMessagesPerGet)
          return err(QueueErrc::invalid_argument, "numofmessages " + std::to_string(count) +
                                                      " is out of range; use 1..32");
        if (vt < 1 || vt > api::kMaxVisibilitySeconds)
          return err(QueueErrc::invalid_argument, "visibilitytimeout " + std::to_string(vt) +
                                                      " is out of range; use 1..604800 seconds");
        auto qid = db.find_queue(queue);
        if (!qid) return queue_not_found(queue);
        std::vector<api::QueueMessage> out;
        std::vector<std::pair<int64_t, uint64_t>> rows;  // seq, salt
        {
          auto st = db.q(
              "SELECT seq, salt, inserted, expires, dequeue, body FROM queue_messages "
              "WHERE qid=?1 AND visible<=?2 AND expires>?2 ORDER BY visible, seq LIMIT ?3");
          st.bind(1, *qid).bind(2, db.now).bind(3, count);
          while (st.step()) {
            api::QueueMessage m;
            rows.emplace_back(st.i64(0), static_cast<uint64_t>(st.i64(1)));
            m.insertion_time = st.i64(2);
            m.expiration_time = st.i64(3);
            m.dequeue_count = st.i64(4) + 1;
            m.text = st.text(5);
            out.push_back(std::move(m));
          }
        }
        UnixMillis visible = db.now + vt * 1000;
        for (size_t i = 0; i < rows.size(); ++i) {
          uint64_t pop = db.random64();
          auto st = db.q("UPDATE queue_messages SET visible=?2, pop=?3, dequeue=dequeue+1 WHERE seq=?1");
          st.bind(1, rows[i].first).bind(2, visible).bind(3, static_cast<int64_t>(pop));
          st.step();
          out[i].id = format_message_id(rows[i].second, static_cast<uint64_t>(rows[i].first));
          out[i].pop_receipt = format_pop_receipt(pop);
          out[i].time_next_visible = visible;
        }
        return out;
      },
      std::move(done)));
}

void SqliteQueueStore::peek_messages(api::QueueRef queue, int count,
                                     api::QueueCallback<std::vector<api::QueueMessage>> done) {
  submit(make_op<std::vector<api::QueueMessage>>(
      [queue = std::move(queue), count](Db& db) -> api::QueueResult<std::vector<api::QueueMessage>> {
        if (count < 1 || count > api::kMaxMessagesPerGet)
          return err(QueueErrc::invalid_argument, "numofmessages " + std::to_string(count) +
                                                      " is out of range; use 1..32");
        auto qid = db.find_queue(queue);
        if (!qid) return queue_not_found(queue);
        std::vector<api::QueueMessage> out;
        auto st = db.q(
            "SELECT seq, salt, inserted, expires, dequeue, body, visible FROM queue_messages "
            "WHERE qid=?1 AND visible<=?2 AND expires>?2 ORDER BY visible, seq LIMIT ?3");
        st.bind(1, *qid).bind(2, db.now).bind(3, count);
        while (st.step()) {
          api::QueueMessage m;
          m.id = format_message_id(static_cast<uint64_t>(st.i64(1)), static_cast<uint64_t>(st.i64(0)));
          m.insertion_time = st.i64(2);
          m.expiration_time = st.i64(3);
          m.dequeue_count = st.i64(4);
          m.text = st.text(5);
          m.time_next_visible = st.i64(6);
          out.push_back(std::move(m));
        }
        return out;
      },
      std::move(done)));
}

void SqliteQueueStore::delete_message(api::QueueRef queue, std::string id, std::string pop_receipt,
                                      api::QueueCallback<void> done) {
  submit(make_op<void>(
      [queue = std::move(queue), id = std::move(id),
       pop = std::move(pop_receipt)](Db& db) -> api::QueueResult<void> {
        auto qid = db.find_queue(queue);
        if (!qid) return queue_not_found(queue);
        auto found = db.locate(*qid, queue, id, pop);
        if (auto* e = std::get_if<QueueError>(&found)) return *e;
        db.delete_row(std::get<Db::Located>(found).seq);
        return {};
      },
      std::move(done)));
}

void SqliteQueueStore::update_message(api::QueueRef queue, std::string id, std::string pop_receipt,
                                      std::optional<std::string> text,
                                      int64_t visibility_timeout_seconds,
                                      api::QueueCallback<api::UpdateReceipt> done) {
  submit(make_op<api::UpdateReceipt>(
      [queue = std::move(queue), id = std::move(id), pop = std::move(pop_receipt),
       text = std::move(text),
       vt = visibility_timeout_seconds](Db& db) -> api::QueueResult<api::UpdateReceipt> {
        if (vt < 0 || vt > api::kMaxVisibilitySeconds)
          return err(QueueErrc::invalid_argument, "visibilitytimeout " + std::to_string(vt) +
                                                      " is out of range; use 0..604800 seconds");
        if (text && text->size() > api::kMaxMessageBytes)
          return err(QueueErrc::message_too_large,
                     "message of " + std::to_string(text->size()) + " bytes is over the limit of " +
                         std::to_string(api::kMaxMessageBytes) + " bytes");
        auto qid = db.find_queue(queue);
        if (!qid) return queue_not_found(queue);
        auto found = db.locate(*qid, queue, id, pop);
        if (auto* e = std::get_if<QueueError>(&found)) return *e;
        int64_t seq = std::get<Db::Located>(found).seq;
        uint64_t new_pop = db.random64();
        UnixMillis visible = db.now + vt * 1000;
        if (text) {
          auto st = db.q("UPDATE queue_messages SET visible=?2, pop=?3, body=?4 WHERE seq=?1");
          st.bind(1, seq).bind(2, visible).bind(3, static_cast<int64_t>(new_pop)).bind_blob(4, *text);
          st.step();
        } else {
          auto st = db.q("UPDATE queue_messages SET visible=?2, pop=?3 WHERE seq=?1");
          st.bind(1, seq).bind(2, visible).bind(3, static_cast<int64_t>(new_pop));
          st.step();
        }
        db.notices.emplace_back(queue, visible);
        return api::UpdateReceipt{format_pop_receipt(new_pop), visible};
      },
      std::move(done)));
}

void SqliteQueueStore::clear_messages(api::QueueRef queue, api::QueueCallback<void> done) {
  submit(make_op<void>(
      [queue = std::move(queue)](Db& db) -> api::QueueResult<void> {
        auto qid = db.find_queue(queue);
        if (!qid) return queue_not_found(queue);
        db.delete_messages(*qid);
        return {};
      },
      std::move(done)));
}

void SqliteQueueStore::complete_message(api::QueueRef queue, std::string id,
                                        std::string pop_receipt,
                                        std::vector<api::NewMessage> outputs,
                                        api::QueueCallback<std::vector<api::MessageReceipt>> done) {
  submit(make_op<std::vector<api::MessageReceipt>>(
      [queue = std::move(queue), id = std::move(id), pop = std::move(pop_receipt),
       outputs = std::move(outputs)](Db& db) -> api::QueueResult<std::vector<api::MessageReceipt>> {
        // Check everything before writing anything, so a failure leaves no partial effect.
        for (auto& m : outputs) {
          if (auto e = Db::validate(m)) return *e;
          if (m.queue.name.empty() || m.queue.account.empty())
            return err(QueueErrc::invalid_argument,
                       "an output message names no queue; set the binding's queueName");
        }
        auto qid = db.find_queue(queue);
        if (!qid) return queue_not_found(queue);
        auto found = db.locate(*qid, queue, id, pop);
        if (auto* e = std::get_if<QueueError>(&found)) return *e;
        db.delete_row(std::get<Db::Located>(found).seq);
        std::vector<api::MessageReceipt> receipts;
        receipts.reserve(outputs.size());
        for (auto& m : outputs) receipts.push_back(db.insert(db.ensure_queue(m.queue), m));
        return receipts;
      },
      std::move(done)));
}

void SqliteQueueStore::put_messages(std::vector<api::NewMessage> messages,
                                    api::QueueCallback<std::vector<api::MessageReceipt>> done) {
  submit(make_op<std::vector<api::MessageReceipt>>(
      [messages = std::move(messages)](Db& db) -> api::QueueResult<std::vector<api::MessageReceipt>> {
        // Check everything before writing anything: the batch lands whole or not at all.
        for (auto& m : messages) {
          if (auto e = Db::validate(m)) return *e;
          if (m.queue.account.empty())
            return err(QueueErrc::invalid_argument,
                       "a message for queue \"" + m.queue.name + "\" names no account");
        }
        std::vector<api::MessageReceipt> receipts;
        receipts.reserve(messages.size());
        for (auto& m : messages) receipts.push_back(db.insert(db.ensure_queue(m.queue), m));
        return receipts;
      },
      std::move(done)));
}

void SqliteQueueStore::move_to_poison(api::QueueRef queue, std::string id, std::string pop_receipt,
                                      api::QueueCallback<api::MessageReceipt> done) {
  submit(make_op<api::MessageReceipt>(
      [queue = std::move(queue), id = std::move(id),
       pop = std::move(pop_receipt)](Db& db) -> api::QueueResult<api::MessageReceipt> {
        api::QueueRef poison_queue{queue.account, queue.name + "-poison"};
        if (!api::is_valid_queue_name(poison_queue.name))
          return err(QueueErrc::invalid_argument,
                     "the poison queue of " + describe(queue) + " would be \"" +
                         poison_queue.name + "\", which is not a valid queue name (at most 63 "
                         "characters); use a queue name of at most 56 characters");
        auto qid = db.find_queue(queue);
        if (!qid) return queue_not_found(queue);
        auto found = db.locate(*qid, queue, id, pop);
        if (auto* e = std::get_if<QueueError>(&found)) return *e;
        auto& located = std::get<Db::Located>(found);
        db.delete_row(located.seq);
        api::NewMessage poison{std::move(poison_queue), std::move(located.body),
                               api::kDefaultMessageTtlSeconds, 0};
        return db.insert(db.ensure_queue(poison.queue), poison);
      },
      std::move(done)));
}

}  // namespace nimbus::storage
