#pragma once
// Where timerTrigger functions keep their schedule status (useMonitor): per function, the
// last occurrence that ran, the next one due, and when the status was written. After a
// restart the trigger compares `next` with the clock: an occurrence that came due while the
// host was down runs once at start, past due (Azure's ScheduleMonitor keeps the same three
// times in a blob per function).
// Thread-safety: implementations only enqueue; completions run on the store's own thread.
#include <optional>
#include <string>

#include "api/queue_store.h"

namespace nimbus::api {

struct TimerStatus {
  std::string function;
  UnixMillis last = 0;          // the occurrence that last ran (0: never)
  UnixMillis next = 0;          // the occurrence due next
  UnixMillis last_updated = 0;  // when this row was written
};

class TimerStore {
 public:
  virtual ~TimerStore() = default;
  // nullopt when the function has no status yet.
  virtual void get_status(std::string function, QueueCallback<std::optional<TimerStatus>> done) = 0;
  virtual void put_status(TimerStatus status, QueueCallback<void> done) = 0;
};

}  // namespace nimbus::api
