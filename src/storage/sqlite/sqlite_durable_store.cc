#include "storage/sqlite/sqlite_durable_store.h"

#include <algorithm>

#include "storage/sqlite/durable_tables.h"

namespace nimbus::storage {

using api::QueueErrc;
using api::QueueError;
using api::QueueResult;

namespace {
QueueError not_found(const std::string& id) {
  return QueueError{QueueErrc::queue_not_found,
                    "orchestration instance '" + id + "' does not exist"};
}
}  // namespace

void SqliteDurableStore::get_instance(std::string id, api::QueueCallback<api::InstanceState> done) {
  engine_.submit(make_op<api::InstanceState>(
      [id = std::move(id)](SqliteDb& db) -> QueueResult<api::InstanceState> {
        auto s = durable_tables::find_instance(db, id);
        if (!s) return not_found(id);
        return std::move(*s);
      },
      std::move(done)));
}

void SqliteDurableStore::load_episode(std::string id, bool with_history, int max_inbox,
                                      api::QueueCallback<api::Episode> done) {
  engine_.submit(make_op<api::Episode>(
      [id = std::move(id), with_history, max_inbox](SqliteDb& db) -> QueueResult<api::Episode> {
        auto ep = durable_tables::load_episode(db, id, with_history, max_inbox);
        if (ep.instance.id.empty()) return not_found(id);
        return ep;
      },
      std::move(done)));
}

void SqliteDurableStore::get_history(std::string id,
                                     api::QueueCallback<std::vector<std::string>> done) {
  engine_.submit(make_op<std::vector<std::string>>(
      [id = std::move(id)](SqliteDb& db) -> QueueResult<std::vector<std::string>> {
        if (!durable_tables::find_instance(db, id)) return not_found(id);
        return durable_tables::read_history(db, id);
      },
      std::move(done)));
}

void SqliteDurableStore::list_instances(api::InstanceQuery query,
                                        api::QueueCallback<api::InstancePage> done) {
  engine_.submit(make_op<api::InstancePage>(
      [query = std::move(query)](SqliteDb& db) -> QueueResult<api::InstancePage> {
        return durable_tables::list(db, query);
      },
      std::move(done)));
}

void SqliteDurableStore::purge(std::vector<std::string> ids, api::QueueCallback<int64_t> done) {
  engine_.submit(make_op<int64_t>(
      [ids = std::move(ids)](SqliteDb& db) -> QueueResult<int64_t> {
        int64_t n = 0;
        for (const auto& id : ids) {
          auto s = durable_tables::find_instance(db, id);
          if (!s || !api::is_terminal(s->status)) continue;
          durable_tables::delete_instance(db, id);
          ++n;
        }
        return n;
      },
      std::move(done)));
}

void SqliteDurableStore::purge_matching(api::InstanceQuery query, api::QueueCallback<int64_t> done) {
  engine_.submit(make_op<int64_t>(
      [query = std::move(query)](SqliteDb& db) mutable -> QueueResult<int64_t> {
        // Only terminal instances are purged, whatever the filter says (as Azure does). The
        // filter's non-terminal statuses are dropped before listing: kept, they could fill the
        // bounded page below with instances that are never deleted, so a caller repeating
        // until 0 stopped before the terminal ones (conformance suite,
        // RepeatedPurgeMatchingReachesTerminalInstancesBehindManyRunning).
        std::vector<api::RuntimeStatus> terminal;
        for (auto st : {api::RuntimeStatus::completed, api::RuntimeStatus::failed,
                        api::RuntimeStatus::terminated, api::RuntimeStatus::canceled})
          if (query.statuses.empty() ||
              std::find(query.statuses.begin(), query.statuses.end(), st) != query.statuses.end())
            terminal.push_back(st);
        if (terminal.empty()) return int64_t{0};
        query.statuses = std::move(terminal);
        int64_t n = 0;
        query.top = 1000;
        // Bounded per call so one purge never holds the writer for long; the caller repeats.
        auto page = durable_tables::list(db, query);
        for (const auto& s : page.instances) {
          if (!api::is_terminal(s.status)) continue;
          durable_tables::delete_instance(db, s.id);
          ++n;
        }
        return n;
      },
      std::move(done)));
}

void SqliteDurableStore::recover(api::QueueCallback<api::DurableRecovery> done) {
  engine_.submit(make_op<api::DurableRecovery>(
      [](SqliteDb& db) -> QueueResult<api::DurableRecovery> { return durable_tables::recover(db); },
      std::move(done)));
}

}  // namespace nimbus::storage
