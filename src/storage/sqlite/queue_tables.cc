#include "storage/sqlite/queue_tables.h"

#include <algorithm>
#include <boost/json/array.hpp>
#include <boost/json/parse.hpp>
#include <boost/json/serialize.hpp>

namespace nimbus::storage::queue_tables {

using api::QueueErrc;
using api::QueueError;

const char* const kSchema = R"sql(
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
  body BLOB NOT NULL,
  trace TEXT NOT NULL DEFAULT '');
CREATE INDEX IF NOT EXISTS queue_messages_next ON queue_messages(qid, visible, seq, expires);
CREATE TABLE IF NOT EXISTS queue_service(
  account TEXT PRIMARY KEY,
  properties TEXT NOT NULL);
)sql";

void migrate(SqliteDb& db) {
  // Data directories made before messages carried a traceparent lack the column.
  bool has_trace = false;
  auto st = db.q("SELECT name FROM pragma_table_info('queue_messages')");
  while (st.step()) has_trace = has_trace || st.text(0) == "trace";
  if (!has_trace) db.exec("ALTER TABLE queue_messages ADD COLUMN trace TEXT NOT NULL DEFAULT ''");
}

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

static void append_hex64(std::string& out, uint64_t v, int digits) {
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

static int hex_value(char c) {
  if (c >= '0' && c <= '9') return c - '0';
  if (c >= 'a' && c <= 'f') return c - 'a' + 10;
  if (c >= 'A' && c <= 'F') return c - 'A' + 10;
  return -1;
}

static bool parse_hex64(std::string_view s, uint64_t& out) {
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

static std::string lower(std::string_view s) {
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

// ---------------------------------------------------------------------------------------------
// Rows.

std::optional<int64_t> find_queue(SqliteDb& db, const api::QueueRef& q) {
  auto st = db.q("SELECT qid FROM queue_queues WHERE account=?1 AND name=?2");
  st.bind(1, q.account).bind(2, q.name);
  if (!st.step()) return std::nullopt;
  return st.i64(0);
}

void delete_messages(SqliteDb& db, int64_t qid) {
  auto st = db.q("DELETE FROM queue_messages WHERE qid=?1");
  st.bind(1, qid);
  st.step();
}

int64_t ensure_queue(SqliteDb& db, const api::QueueRef& q) {
  {
    auto st = db.q(
        "INSERT INTO queue_queues(account,name,created) VALUES(?1,?2,?3) "
        "ON CONFLICT(account,name) DO NOTHING");
    st.bind(1, q.account).bind(2, q.name).bind(3, db.now);
    st.step();
  }
  auto qid = find_queue(db, q);
  if (!qid) throw SqlError("queue vanished while being created");
  return *qid;
}

std::optional<QueueError> validate(const api::NewMessage& m) {
  if (auto e = check_name(m.queue)) return e;
  if (m.text.size() > api::kMaxMessageBytes)
    return err(QueueErrc::message_too_large,
               "message of " + std::to_string(m.text.size()) + " bytes for " + describe(m.queue) +
                   " is over the limit of " + std::to_string(api::kMaxMessageBytes) +
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

api::MessageReceipt insert(SqliteDb& db, int64_t qid, const api::NewMessage& m) {
  UnixMillis now = db.now;
  UnixMillis expires = api::kNeverExpires;
  if (m.ttl_seconds != api::kMessageTtlForever)
    expires = std::min<int64_t>(api::kNeverExpires, now + m.ttl_seconds * 1000);
  UnixMillis visible = now + m.visibility_delay_seconds * 1000;
  uint64_t salt = db.random64(), pop = db.random64();
  auto st = db.q(
      "INSERT INTO queue_messages(qid,salt,inserted,expires,visible,pop,dequeue,body,trace) "
      "VALUES(?1,?2,?3,?4,?5,?6,0,?7,?8)");
  st.bind(1, qid)
      .bind(2, static_cast<int64_t>(salt))
      .bind(3, now)
      .bind(4, expires)
      .bind(5, visible)
      .bind(6, static_cast<int64_t>(pop))
      .bind_blob(7, m.text)
      .bind(8, m.traceparent);
  st.step();
  auto seq = static_cast<uint64_t>(sqlite3_last_insert_rowid(db.conn));
  db.notices.emplace_back(api::QueueVisible{m.queue, visible});
  return api::MessageReceipt{format_message_id(salt, seq), now, expires, visible,
                             format_pop_receipt(pop)};
}

std::variant<Located, QueueError> locate(SqliteDb& db, int64_t qid, const api::QueueRef& queue,
                                         std::string_view id, std::string_view pop_receipt) {
  uint64_t salt = 0, seq = 0;
  auto not_found = [&] {
    return err(QueueErrc::message_not_found,
               "message \"" + std::string(id) + "\" is not in " + describe(queue) +
                   " (deleted, expired or never there); get messages again for current ids");
  };
  if (!parse_message_id(id, salt, seq)) return not_found();
  auto st = db.q("SELECT qid, salt, expires, pop, body, trace FROM queue_messages WHERE seq=?1");
  st.bind(1, static_cast<int64_t>(seq));
  if (!st.step() || st.i64(0) != qid || static_cast<uint64_t>(st.i64(1)) != salt ||
      st.i64(2) <= db.now)
    return not_found();
  uint64_t pop = 0;
  if (!parse_hex64(pop_receipt, pop) || static_cast<uint64_t>(st.i64(3)) != pop)
    return err(QueueErrc::pop_receipt_mismatch,
               "pop receipt \"" + std::string(pop_receipt) + "\" does not match message \"" +
                   std::string(id) + "\" in " + describe(queue) +
                   ": it was received or updated again since; use the latest pop receipt");
  return Located{static_cast<int64_t>(seq), st.text(4), st.text(5)};
}

void delete_row(SqliteDb& db, int64_t seq) {
  auto st = db.q("DELETE FROM queue_messages WHERE seq=?1");
  st.bind(1, seq);
  st.step();
}

void sweep_expired(SqliteDb& db, UnixMillis now) {
  auto st = db.q(
      "DELETE FROM queue_messages WHERE seq IN "
      "(SELECT seq FROM queue_messages WHERE expires<=?1 LIMIT 20000)");
  st.bind(1, now);
  st.step();
}

// ---------------------------------------------------------------------------------------------
// The queue parts of an api::Effects.

std::optional<QueueError> check(const api::QueueAck& ack) {
  if (ack.dead_letter) {
    if (!api::is_valid_queue_name(ack.dead_letter->name))
      return err(QueueErrc::invalid_argument,
                 "the dead-letter queue of " + describe(ack.queue) + " would be \"" +
                     ack.dead_letter->name +
                     "\", which is not a valid queue name (3-63 lower-case letters, digits and "
                     "single hyphens); for \"<queue>-poison\", use a queue name of at most 56 "
                     "characters");
    if (ack.dead_letter->account.empty())
      return err(QueueErrc::invalid_argument,
                 "the dead-letter queue \"" + ack.dead_letter->name + "\" names no account");
  }
  return std::nullopt;
}

std::optional<QueueError> check(const api::QueuePut& put) {
  if (auto e = validate(put.message)) return e;
  if (put.message.queue.account.empty())
    return err(QueueErrc::invalid_argument,
               "a message for queue \"" + put.message.queue.name +
                   "\" names no account; set the binding's queueName and connection");
  return std::nullopt;
}

std::variant<std::optional<api::MessageReceipt>, QueueError> apply(SqliteDb& db,
                                                                   const api::QueueAck& ack) {
  auto qid = find_queue(db, ack.queue);
  if (!qid) return queue_not_found(ack.queue);
  auto found = locate(db, *qid, ack.queue, ack.id, ack.pop_receipt);
  if (auto* e = std::get_if<QueueError>(&found)) return *e;
  auto& located = std::get<Located>(found);
  delete_row(db, located.seq);
  if (!ack.dead_letter) return std::optional<api::MessageReceipt>();
  api::NewMessage moved{*ack.dead_letter, std::move(located.body), api::kDefaultMessageTtlSeconds,
                        0, std::move(located.trace)};
  return std::optional<api::MessageReceipt>(insert(db, ensure_queue(db, moved.queue), moved));
}

api::MessageReceipt apply(SqliteDb& db, const api::QueuePut& put) {
  return insert(db, ensure_queue(db, put.message.queue), put.message);
}

}  // namespace nimbus::storage::queue_tables
