#pragma once
// SqliteDb: the storage engine's one SQLite connection, its prepared-statement cache and the
// state of the batch being applied (clock reading, random source, commit notices). Every table
// set (queues today; documents, orchestration state and timers later) reads and writes through
// it inside the engine's batch transaction.
//
// Errors: an SQLite failure throws SqlError, which the engine catches at the batch boundary
// (the batch is rolled back and every operation in it fails with storage_failure); it never
// leaves src/storage/sqlite/. Expected failures are values (api::QueueError) instead.
// Thread-safety: none; only the engine's writer thread touches it after open.
#include <sqlite3.h>

#include <cstdint>
#include <map>
#include <memory>
#include <random>
#include <stdexcept>
#include <string>
#include <string_view>
#include <unordered_map>
#include <vector>

#include "api/effects.h"

namespace nimbus::storage {

using api::UnixMillis;

struct SqlError : std::runtime_error {
  using std::runtime_error::runtime_error;
};

struct SqliteDb {
  sqlite3* conn = nullptr;
  std::unordered_map<const char*, sqlite3_stmt*> stmts;  // keyed by the SQL literal's address
  std::mt19937_64 rng;
  UnixMillis now = 0;  // the batch's clock reading: every op of a batch sees the same time
  // What this batch's commit will announce (api/effects.h); an Effects that rolls back to its
  // savepoint truncates it again.
  std::vector<api::CommitNotice> notices;
  // The next durable inbox and work-item numbers and the values last saved in the file
  // (durable_tables.cc says why they are kept here and not by AUTOINCREMENT).
  int64_t next_inbox_seq = 1, next_task_seq = 1;
  int64_t saved_inbox_seq = 1, saved_task_seq = 1;
  // Point reads' view of doc_containers (document_tables.cc, load_point_container): database ->
  // container -> its cid and parsed definition (a ContainerDef there), so a read does not look
  // the row up again. Only container creation, replacement and deletion change what it holds,
  // and they clear it, as does a batch that rolls back (it may have done one of those).
  // `lsn`: the container's LSN as this connection last wrote or read it for a write (-1: not
  // known; a point read does not load it). Writes take it from here instead of reading the
  // container's row, and their LSN UPDATE checks it against the row (document_tables.cc,
  // bump_lsn), so a rolled-back savepoint that took back an LSN is noticed, not trusted.
  struct DocCatalogEntry {
    int64_t cid = 0;
    std::shared_ptr<const void> def;
    int64_t lsn = -1;
  };
  std::map<std::string, std::map<std::string, DocCatalogEntry, std::less<>>, std::less<>>
      doc_catalog;
  // The answers of document queries that are re-run per page (GROUP BY, DISTINCT, ...), kept
  // for their later pages (document_tables.cc, QueryAnswers): type-erased like `def` above,
  // so this header stays free of the document types. Touched only with the connection held.
  std::shared_ptr<void> doc_query_answers;

  ~SqliteDb() {
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
    Query(SqliteDb& db, sqlite3_stmt* s) : db_(db), s_(s) {}
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
    // Valid until the next step or the end of the Query.
    std::string_view text_view(int col) {
      auto p = static_cast<const char*>(sqlite3_column_blob(s_, col));
      int n = sqlite3_column_bytes(s_, col);
      return p ? std::string_view(p, static_cast<size_t>(n)) : std::string_view();
    }
    std::string text(int col) {
      auto p = static_cast<const char*>(sqlite3_column_blob(s_, col));
      int n = sqlite3_column_bytes(s_, col);
      return p ? std::string(p, static_cast<size_t>(n)) : std::string();
    }

   private:
    SqliteDb& db_;
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

  uint64_t random64() { return rng(); }
};

}  // namespace nimbus::storage
