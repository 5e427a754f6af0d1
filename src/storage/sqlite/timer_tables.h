#pragma once
// The timer domain's one table on the storage engine: timer_status (function name -> last,
// next, last_updated, Unix ms), and api::TimerStore over it.
// Threading: the table functions run on the engine's writer thread inside its batch
// transaction; SqliteTimerStore only enqueues.
#include <optional>

#include "api/timer_store.h"
#include "storage/sqlite/sqlite_db.h"
#include "storage/sqlite/sqlite_engine.h"

namespace nimbus::storage {

namespace timer_tables {
extern const char* const kSchema;
std::optional<api::TimerStatus> find(SqliteDb& db, std::string_view function);
void write(SqliteDb& db, const api::TimerStatus& s);
}  // namespace timer_tables

class SqliteTimerStore final : public api::TimerStore {
 public:
  explicit SqliteTimerStore(SqliteEngine& engine) : engine_(engine) {}
  void get_status(std::string function,
                  api::QueueCallback<std::optional<api::TimerStatus>> done) override;
  void put_status(api::TimerStatus status, api::QueueCallback<void> done) override;

 private:
  SqliteEngine& engine_;
};

}  // namespace nimbus::storage
