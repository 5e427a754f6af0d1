#include "storage/sqlite/durable_tables.h"

#include <algorithm>

namespace nimbus::storage::durable_tables {

using api::QueueErrc;
using api::QueueError;

// Inbox and work-item numbers are never reused: an EpisodeAck or ActivityAck names rows by
// them, and a plain rowid reuses the number of a deleted last row, so a duplicate activity run
// (or a stale episode) would acknowledge a newer work item (inbox event) that took the consumed
// one's number instead of failing (conformance suite,
// WorkItemAndInboxNumbersAreNeverReusedAfterTheyAreConsumed). The writer hands the numbers out
// from SqliteDb::next_inbox_seq / next_task_seq and saves where they stand in
// durable_next_seq at the end of each transaction that took any (save_next_seq), so a reopen
// goes on from there. AUTOINCREMENT did the same by reading and rewriting its sqlite_sequence
// row in every INSERT: a quarter of the b-tree inserts of a fan-out of 10. Files created before
// 2026-11-30 keep their AUTOINCREMENT tables (CREATE TABLE IF NOT EXISTS); the explicit
// numbers work there too (SQLite still keeps their sqlite_sequence), and open_next_seq starts
// from the highest of their rows and sqlite_sequence.
const char* const kSchema = R"sql(
CREATE TABLE IF NOT EXISTS durable_instances(
  id TEXT PRIMARY KEY,
  name TEXT NOT NULL,
  execution_id TEXT NOT NULL,
  status INTEGER NOT NULL,
  input TEXT NOT NULL DEFAULT '',
  output TEXT NOT NULL DEFAULT '',
  custom_status TEXT NOT NULL DEFAULT '',
  failure TEXT NOT NULL DEFAULT '',
  parent TEXT NOT NULL DEFAULT '',
  created INTEGER NOT NULL,
  updated INTEGER NOT NULL,
  completed INTEGER NOT NULL DEFAULT 0,
  history_events INTEGER NOT NULL DEFAULT 0
) WITHOUT ROWID;
CREATE INDEX IF NOT EXISTS durable_instances_created ON durable_instances(created);
CREATE TABLE IF NOT EXISTS durable_history(
  instance TEXT NOT NULL,
  seq INTEGER NOT NULL,
  event TEXT NOT NULL,
  PRIMARY KEY(instance, seq)
) WITHOUT ROWID;
CREATE TABLE IF NOT EXISTS durable_inbox(
  seq INTEGER PRIMARY KEY,
  instance TEXT NOT NULL,
  visible INTEGER NOT NULL,
  event TEXT NOT NULL
);
CREATE INDEX IF NOT EXISTS durable_inbox_instance ON durable_inbox(instance, seq);
CREATE TABLE IF NOT EXISTS durable_tasks(
  seq INTEGER PRIMARY KEY,
  instance TEXT NOT NULL,
  execution_id TEXT NOT NULL,
  task_id INTEGER NOT NULL,
  name TEXT NOT NULL,
  input TEXT NOT NULL
);
CREATE INDEX IF NOT EXISTS durable_tasks_instance ON durable_tasks(instance);
CREATE TABLE IF NOT EXISTS durable_next_seq(
  id INTEGER PRIMARY KEY CHECK(id = 1),
  inbox INTEGER NOT NULL,
  tasks INTEGER NOT NULL
);
INSERT OR IGNORE INTO durable_next_seq(id,inbox,tasks) VALUES(1,1,1);
)sql";

namespace {

QueueError err(QueueErrc code, std::string message) { return {code, std::move(message)}; }

constexpr const char* kInstanceColumns =
    "id,name,execution_id,status,input,output,custom_status,failure,parent,created,updated,"
    "completed,history_events";

api::InstanceState read_row(SqliteDb::Query& st) {
  api::InstanceState s;
  s.id = st.text(0);
  s.name = st.text(1);
  s.execution_id = st.text(2);
  s.status = static_cast<api::RuntimeStatus>(st.i64(3));
  s.input = st.text(4);
  s.output = st.text(5);
  s.custom_status = st.text(6);
  s.failure = st.text(7);
  s.parent = st.text(8);
  s.created = st.i64(9);
  s.updated = st.i64(10);
  s.completed = st.i64(11);
  s.history_events = st.i64(12);
  return s;
}

// Instance ids appear in URLs and logs; Azure allows 1..100 characters without '/', '\', '#',
// '?' or control characters.
std::optional<QueueError> check_id(std::string_view id) {
  if (id.empty() || id.size() > 100)
    return err(QueueErrc::invalid_argument,
               "instance id '" + std::string(id.substr(0, 120)) +
                   "' must be 1 to 100 characters long");
  for (unsigned char c : id)
    if (c < 0x20 || c == 0x7f || c == '/' || c == '\\' || c == '#' || c == '?')
      return err(QueueErrc::invalid_argument,
                 "instance id '" + std::string(id) +
                     "' holds a character ids may not (/ \\ # ? or a control character)");
  return std::nullopt;
}

int64_t insert_inbox(SqliteDb& db, std::string_view instance, UnixMillis visible,
                     std::string_view event) {
  int64_t seq = db.next_inbox_seq++;
  auto st = db.q("INSERT INTO durable_inbox(seq,instance,visible,event) VALUES(?1,?2,?3,?4)");
  st.bind(1, seq).bind(2, instance).bind(3, visible).bind(4, event);
  st.step();
  return seq;
}

// The highest number `sql` finds, 0 when none.
int64_t highest(SqliteDb& db, const char* sql) {
  auto st = db.q(sql);
  return st.step() ? st.i64(0) : 0;
}

void notice_ready(SqliteDb& db, std::string_view instance, UnixMillis visible, int64_t seq,
                  std::string_view event) {
  // One notice per inbox row, always appended (never changed in place: a rollback of this
  // Effects only truncates db.notices, so an in-place change to an earlier Effects' notice
  // would survive it; conformance suite,
  // SqliteDurableStore.ARolledBackEffectsDoesNotChangeTheNoticesOfItsBatch).
  // SqliteEngine::notify merges an instance's notices into one, at the earliest time.
  db.notices.emplace_back(api::OrchestrationReady{
      std::string(instance), visible, {api::InboxAddition{seq, visible, std::string(event)}}});
}

// The events of one row of several (apply(EpisodeAck)): a JSON array of event objects, cut at the
// commas between its elements, outside strings, without parsing the events themselves. A row
// that ends before its array closes (a damaged file) hands on what follows the last whole
// event as one more event: it is not JSON, so the replay fails that instance naming it ("a
// history event is not JSON"), where dropping it would replay a history with an event missing.
void split_row(std::string_view row, std::vector<std::string>& out) {
  int depth = 0;
  bool in_string = false, escaped = false;
  size_t start = 1;
  for (size_t i = 0; i < row.size(); ++i) {
    char c = row[i];
    if (in_string) {
      if (escaped) escaped = false;
      else if (c == '\\') escaped = true;
      else if (c == '"') in_string = false;
      continue;
    }
    if (c == '"') {
      in_string = true;
    } else if (c == '{' || c == '[') {
      ++depth;
    } else if (c == '}' || c == ']') {
      if (--depth == 0) {
        if (i > start) out.emplace_back(row.substr(start, i - start));
        return;
      }
    } else if (c == ',' && depth == 1) {
      out.emplace_back(row.substr(start, i - start));
      start = i + 1;
    }
  }
  out.emplace_back(row.substr(std::min(start, row.size())));  // unterminated: see above
}

}  // namespace

void open_next_seq(SqliteDb& db) {
  // The saved counters, or past every number a row still holds; in a file made before the
  // counters were saved, past what its sqlite_sequence (AUTOINCREMENT) remembers as well.
  int64_t inbox = highest(db, "SELECT inbox FROM durable_next_seq WHERE id=1");
  int64_t tasks = highest(db, "SELECT tasks FROM durable_next_seq WHERE id=1");
  inbox = std::max(inbox, highest(db, "SELECT max(seq) + 1 FROM durable_inbox"));
  tasks = std::max(tasks, highest(db, "SELECT max(seq) + 1 FROM durable_tasks"));
  if (highest(db, "SELECT count(*) FROM sqlite_master WHERE name='sqlite_sequence'") > 0) {
    inbox = std::max(inbox, highest(db, "SELECT seq + 1 FROM sqlite_sequence "
                                        "WHERE name='durable_inbox'"));
    tasks = std::max(tasks, highest(db, "SELECT seq + 1 FROM sqlite_sequence "
                                        "WHERE name='durable_tasks'"));
  }
  db.next_inbox_seq = db.saved_inbox_seq = std::max<int64_t>(inbox, 1);
  db.next_task_seq = db.saved_task_seq = std::max<int64_t>(tasks, 1);
}

void save_next_seq(SqliteDb& db) {
  if (db.next_inbox_seq == db.saved_inbox_seq && db.next_task_seq == db.saved_task_seq) return;
  auto st = db.q("UPDATE durable_next_seq SET inbox=?1, tasks=?2 WHERE id=1");
  st.bind(1, db.next_inbox_seq).bind(2, db.next_task_seq);
  st.step();
  // Counted as saved before the COMMIT. If the transaction rolls back instead, the numbers it
  // gave out named rows that were never committed (its operations fail, their receipts and
  // notices are dropped), so nothing can name them; this process still never reuses them.
  db.saved_inbox_seq = db.next_inbox_seq;
  db.saved_task_seq = db.next_task_seq;
}

std::optional<api::InstanceState> find_instance(SqliteDb& db, std::string_view id) {
  auto st = db.q(
      "SELECT id,name,execution_id,status,input,output,custom_status,failure,parent,created,"
      "updated,completed,history_events FROM durable_instances WHERE id=?1");
  st.bind(1, id);
  if (!st.step()) return std::nullopt;
  return read_row(st);
}

std::vector<std::string> read_history(SqliteDb& db, std::string_view id) {
  std::vector<std::string> out;
  auto st = db.q("SELECT event FROM durable_history WHERE instance=?1 ORDER BY seq");
  st.bind(1, id);
  while (st.step()) {
    std::string_view row = st.text_view(0);
    if (!row.empty() && row.front() == '[')
      split_row(row, out);
    else
      out.emplace_back(row);  // one event (every row of a file written before 2026-11-30)
  }
  return out;
}

api::Episode load_episode(SqliteDb& db, std::string_view id, bool with_history, int max_inbox) {
  api::Episode ep;
  auto inst = find_instance(db, id);
  if (!inst) return ep;
  ep.instance = std::move(*inst);
  if (with_history) ep.history = read_history(db, id);
  auto st = db.q("SELECT seq,visible,event FROM durable_inbox WHERE instance=?1 ORDER BY seq");
  st.bind(1, id);
  while (st.step()) {
    UnixMillis visible = st.i64(1);
    if (visible > db.now) {
      if (ep.next_visible == 0 || visible < ep.next_visible) ep.next_visible = visible;
      continue;
    }
    if (static_cast<int>(ep.inbox.size()) >= max_inbox) {
      ep.next_visible = db.now;  // more is waiting now
      break;
    }
    ep.inbox.push_back({st.i64(0), st.text(2)});
  }
  return ep;
}

api::InstancePage list(SqliteDb& db, const api::InstanceQuery& q) {
  api::InstancePage page;
  int top = std::clamp(q.top, 1, 1000);
  // Filters are few and optional; one ordered walk by id with the checks in code keeps the
  // SQL fixed (one cached statement) and the continuation a plain id.
  auto st = db.q(
      "SELECT id,name,execution_id,status,input,output,custom_status,failure,parent,created,"
      "updated,completed,history_events FROM durable_instances WHERE id>?1 AND id>=?2 "
      "ORDER BY id");
  st.bind(1, q.after).bind(2, q.id_prefix);
  while (st.step()) {
    auto s = read_row(st);
    if (!q.id_prefix.empty() && s.id.compare(0, q.id_prefix.size(), q.id_prefix) != 0) break;
    if (q.created_from && s.created < q.created_from) continue;
    if (q.created_to && s.created > q.created_to) continue;
    if (q.completed_before && (s.completed == 0 || s.completed >= q.completed_before)) continue;
    if (!q.statuses.empty() &&
        std::find(q.statuses.begin(), q.statuses.end(), s.status) == q.statuses.end())
      continue;
    if (static_cast<int>(page.instances.size()) == top) {
      page.continuation = page.instances.back().id;
      break;
    }
    page.instances.push_back(std::move(s));
  }
  return page;
}

void delete_instance(SqliteDb& db, std::string_view id) {
  {
    auto st = db.q("DELETE FROM durable_history WHERE instance=?1");
    st.bind(1, id);
    st.step();
  }
  {
    auto st = db.q("DELETE FROM durable_inbox WHERE instance=?1");
    st.bind(1, id);
    st.step();
  }
  {
    auto st = db.q("DELETE FROM durable_tasks WHERE instance=?1");
    st.bind(1, id);
    st.step();
  }
  auto st = db.q("DELETE FROM durable_instances WHERE id=?1");
  st.bind(1, id);
  st.step();
}

api::DurableRecovery recover(SqliteDb& db) {
  api::DurableRecovery r;
  {
    auto st = db.q(
        "SELECT seq,instance,execution_id,task_id,name,input FROM durable_tasks ORDER BY seq");
    while (st.step()) {
      api::ActivityReady a;
      a.task = st.i64(0);
      a.item.instance_id = st.text(1);
      a.item.execution_id = st.text(2);
      a.item.task_id = static_cast<int>(st.i64(3));
      a.item.name = st.text(4);
      a.item.input = st.text(5);
      r.tasks.push_back(std::move(a));
    }
  }
  auto st = db.q("SELECT instance, MIN(visible) FROM durable_inbox GROUP BY instance");
  while (st.step()) r.ready.push_back({st.text(0), st.i64(1)});
  return r;
}

// --- Effects parts ---

std::optional<QueueError> check(const api::OrchestrationStart& w) {
  if (auto e = check_id(w.instance.id)) return e;
  if (w.instance.name.empty())
    return err(QueueErrc::invalid_argument, "an orchestration start needs an orchestrator name");
  return std::nullopt;
}
std::optional<QueueError> check(const api::OrchestrationEvent& w) { return check_id(w.instance_id); }
std::optional<QueueError> check(const api::ActivityTask& w) { return check_id(w.instance_id); }
std::optional<QueueError> check(const api::EpisodeAck& a) { return check_id(a.instance_id); }
std::optional<QueueError> check(const api::ActivityAck&) { return std::nullopt; }

std::variant<api::WriteReceipt, QueueError> apply(SqliteDb& db, const api::OrchestrationStart& w) {
  if (auto old = find_instance(db, w.instance.id)) {
    if (!api::is_terminal(old->status))
      return err(QueueErrc::queue_already_exists,
                 "orchestration instance '" + w.instance.id + "' already exists and is " +
                     api::runtime_status_name(old->status) +
                     "; use another instance id, or terminate or purge it first");
    delete_instance(db, w.instance.id);
  }
  const auto& i = w.instance;
  auto st = db.q(
      "INSERT INTO durable_instances(id,name,execution_id,status,input,parent,created,updated) "
      "VALUES(?1,?2,?3,?4,?5,?6,?7,?7)");
  st.bind(1, i.id).bind(2, i.name).bind(3, i.execution_id)
      .bind(4, static_cast<int64_t>(api::RuntimeStatus::pending)).bind(5, i.input)
      .bind(6, i.parent).bind(7, db.now);
  st.step();
  UnixMillis visible = std::max(w.start_at, db.now);
  int64_t seq = insert_inbox(db, i.id, visible, w.started);
  notice_ready(db, i.id, visible, seq, w.started);
  return api::WriteReceipt(api::DurableReceipt{seq});
}

std::variant<api::WriteReceipt, QueueError> apply(SqliteDb& db, const api::OrchestrationEvent& w) {
  auto st = db.q("SELECT 1 FROM durable_instances WHERE id=?1");
  st.bind(1, w.instance_id);
  if (!st.step()) {
    if (w.require_instance)
      return err(QueueErrc::queue_not_found,
                 "orchestration instance '" + w.instance_id + "' does not exist");
    return api::WriteReceipt(api::DurableReceipt{0});
  }
  UnixMillis visible = std::max(w.visible_at, db.now);
  int64_t seq = insert_inbox(db, w.instance_id, visible, w.event);
  notice_ready(db, w.instance_id, visible, seq, w.event);
  return api::WriteReceipt(api::DurableReceipt{seq});
}

std::variant<api::WriteReceipt, QueueError> apply(SqliteDb& db, const api::ActivityTask& w) {
  int64_t seq = db.next_task_seq++;
  auto st = db.q(
      "INSERT INTO durable_tasks(seq,instance,execution_id,task_id,name,input) "
      "VALUES(?1,?2,?3,?4,?5,?6)");
  st.bind(1, seq).bind(2, w.instance_id).bind(3, w.execution_id)
      .bind(4, static_cast<int64_t>(w.task_id)).bind(5, w.name).bind(6, w.input);
  st.step();
  db.notices.emplace_back(api::ActivityReady{seq, w});
  return api::WriteReceipt(api::DurableReceipt{seq});
}

std::optional<QueueError> apply(SqliteDb& db, const api::EpisodeAck& a) {
  // Only what the checks and the history numbering need: an episode commits once per step,
  // and the row's input and output may be large.
  int64_t next = 0;
  {
    auto st = db.q("SELECT execution_id,history_events FROM durable_instances WHERE id=?1");
    st.bind(1, a.instance_id);
    bool found = st.step();
    if (!found || st.text_view(0) != a.execution_id)
      return err(QueueErrc::pop_receipt_mismatch,
                 "orchestration instance '" + a.instance_id + "' execution '" + a.execution_id +
                     "' is gone (purged, restarted or replaced); the episode is dropped");
    next = st.i64(1);
  }
  for (int64_t seq : a.consumed) {
    auto st = db.q("DELETE FROM durable_inbox WHERE seq=?1 AND instance=?2");
    st.bind(1, seq).bind(2, a.instance_id);
    st.step();
    if (db.changes() != 1)
      return err(QueueErrc::pop_receipt_mismatch,
                 "inbox event " + std::to_string(seq) + " of orchestration instance '" +
                     a.instance_id + "' was already consumed; the episode is dropped");
  }
  for (int64_t seq : a.tasks_done) {
    auto st = db.q("DELETE FROM durable_tasks WHERE seq=?1 AND instance=?2");
    st.bind(1, seq).bind(2, a.instance_id);
    st.step();
    if (db.changes() != 1)
      return err(QueueErrc::pop_receipt_mismatch,
                 "activity work item " + std::to_string(seq) + " of orchestration instance '" +
                     a.instance_id + "' was already completed; the episode is dropped");
  }
  if (a.reset_history) {
    auto st = db.q("DELETE FROM durable_history WHERE instance=?1");
    st.bind(1, a.instance_id);
    st.step();
    next = 0;
  }
  // An episode's events go in as few rows as keep each row inside its b-tree page: a JSON array
  // of the events, numbered by its first. A fan-out of 10 appends 12 events per episode, and a
  // row each cost more than the bytes; but a row over ~1,000 bytes (the in-page limit of a
  // WITHOUT ROWID table on 4 KiB pages) spills into an overflow page of its own, and writing
  // those pages to the WAL cost more (kernel time) than the rows saved. read_history splits
  // the rows again.
  constexpr size_t kRowText = 850;  // + an instance id of up to 100 bytes and the seq
  auto insert_row = [&](size_t first, size_t end) {
    std::string joined;
    if (end - first > 1) {
      joined += '[';
      for (size_t i = first; i < end; ++i) {
        if (i > first) joined += ',';
        joined += a.history[i];
      }
      joined += ']';
    }
    auto st = db.q("INSERT INTO durable_history(instance,seq,event) VALUES(?1,?2,?3)");
    st.bind(1, a.instance_id).bind(2, next + static_cast<int64_t>(first))
        .bind(3, end - first > 1 ? std::string_view(joined) : std::string_view(a.history[first]));
    st.step();
  };
  size_t first = 0, bytes = 0;
  for (size_t i = 0; i < a.history.size(); ++i) {
    size_t size = a.history[i].size() + 1;  // and its comma or bracket
    if (i > first && bytes + size + 1 > kRowText) {
      insert_row(first, i);
      first = i;
      bytes = 0;
    }
    bytes += size;
  }
  if (first < a.history.size()) insert_row(first, a.history.size());
  next += static_cast<int64_t>(a.history.size());
  const bool terminal = api::is_terminal(a.status);
  // Execution id and input change only with continue-as-new: unbound (NULL) keeps them.
  auto st = db.q(
      "UPDATE durable_instances SET status=?2, execution_id=COALESCE(?3,execution_id), "
      "input=COALESCE(?4,input), output=?5, custom_status=?6, failure=?7, updated=?8, "
      "completed=?9, history_events=?10 WHERE id=?1");
  st.bind(1, a.instance_id).bind(2, static_cast<int64_t>(a.status));
  if (!a.new_execution_id.empty()) st.bind(3, a.new_execution_id);
  if (a.input) st.bind(4, *a.input);
  st.bind(5, a.output).bind(6, a.custom_status).bind(7, a.failure).bind(8, db.now)
      .bind(9, terminal ? db.now : int64_t{0}).bind(10, next);
  st.step();
  return std::nullopt;
}

std::optional<QueueError> apply(SqliteDb& db, const api::ActivityAck& a) {
  auto st = db.q("DELETE FROM durable_tasks WHERE seq=?1");
  st.bind(1, a.task);
  st.step();
  if (db.changes() != 1)
    return err(QueueErrc::message_not_found,
               "activity work item " + std::to_string(a.task) + " was already completed");
  return std::nullopt;
}

}  // namespace nimbus::storage::durable_tables
