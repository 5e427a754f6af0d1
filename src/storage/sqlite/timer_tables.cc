#include "storage/sqlite/timer_tables.h"

namespace nimbus::storage {

namespace timer_tables {

const char* const kSchema = R"sql(
CREATE TABLE IF NOT EXISTS timer_status(
  function TEXT PRIMARY KEY,
  last INTEGER NOT NULL,
  next INTEGER NOT NULL,
  last_updated INTEGER NOT NULL
) WITHOUT ROWID;
)sql";

std::optional<api::TimerStatus> find(SqliteDb& db, std::string_view function) {
  auto q = db.q("SELECT last, next, last_updated FROM timer_status WHERE function = ?1");
  q.bind(1, function);
  if (!q.step()) return std::nullopt;
  return api::TimerStatus{std::string(function), q.i64(0), q.i64(1), q.i64(2)};
}

void write(SqliteDb& db, const api::TimerStatus& s) {
  auto q = db.q(
      "INSERT INTO timer_status(function, last, next, last_updated) VALUES(?1, ?2, ?3, ?4) "
      "ON CONFLICT(function) DO UPDATE SET last = excluded.last, next = excluded.next, "
      "last_updated = excluded.last_updated");
  q.bind(1, s.function).bind(2, s.last).bind(3, s.next).bind(4, s.last_updated);
  q.step();
}

}  // namespace timer_tables

void SqliteTimerStore::get_status(std::string function,
                                  api::QueueCallback<std::optional<api::TimerStatus>> done) {
  engine_.submit(make_op<std::optional<api::TimerStatus>>(
      [function = std::move(function)](SqliteDb& db) -> api::QueueResult<std::optional<api::TimerStatus>> {
        return timer_tables::find(db, function);
      },
      std::move(done)));
}

void SqliteTimerStore::put_status(api::TimerStatus status, api::QueueCallback<void> done) {
  engine_.submit(make_op<void>(
      [status = std::move(status)](SqliteDb& db) -> api::QueueResult<void> {
        timer_tables::write(db, status);
        return {};
      },
      std::move(done)));
}

}  // namespace nimbus::storage
