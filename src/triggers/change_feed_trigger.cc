#include "triggers/change_feed_trigger.h"

#include <unistd.h>

#include <boost/asio.hpp>
#include <boost/json.hpp>
#include <chrono>
#include <map>

#include "common/ids.h"
#include "runtime/pull_listener.h"
#include "triggers/output_commit.h"

namespace asio = boost::asio;
namespace json = boost::json;
using asio::awaitable;
using std::chrono::milliseconds;

namespace nimbus::triggers {

namespace {

constexpr milliseconds kDefaultFirstRetry{1000}, kDefaultMaxRetry{60000};

// The lease's position as Cosmos writes a change feed continuation: the feed's etag, "\"<lsn>\"".
std::string continuation_token(int64_t lsn) {
  std::string t(1, '"');
  t += std::to_string(lsn);
  t += '"';
  return t;
}

std::optional<int64_t> parse_continuation(const json::object& lease) {
  auto* v = lease.if_contains("ContinuationToken");
  if (!v || !v->is_string()) return std::nullopt;
  std::string_view t = v->as_string();
  if (t.size() >= 2 && t.front() == '"' && t.back() == '"') t = t.substr(1, t.size() - 2);
  if (t.empty()) return std::nullopt;
  int64_t n = 0;
  for (char ch : t) {
    if (ch < '0' || ch > '9' || n > (INT64_MAX - 9) / 10) return std::nullopt;
    n = n * 10 + (ch - '0');
  }
  return n;
}

bool lost_lease(const api::QueueError& e) {
  return e.code == api::QueueErrc::message_not_found ||
         e.code == api::QueueErrc::pop_receipt_mismatch;
}

std::string describe(const api::ContainerRef& r) {
  return "container \"" + r.container + "\" of database \"" + r.database + "\"";
}

}  // namespace

struct ChangeFeedTrigger::Listener {
  explicit Listener(asio::any_io_executor ex) : wait(ex) {}
  const api::FunctionSpec* fn = nullptr;
  api::ContainerRef monitored, leases;
  std::string lease_id;
  json::object lease;  // the lease document as last read or written
  std::string etag;    // its _etag, for the next advance's If-Match
  int64_t lsn = 0;     // the next batch starts after this LSN
  int64_t latest = 0;  // the container's highest LSN seen in a notice
  int in_flight = 0;
  bool stopped = false;
  bool ready = false;  // the lease is read: the loop runs
  // The monitored container did not exist when the function started: every change in it is
  // newer than the function, so "from now" means from its beginning.
  bool container_was_missing = false;
  asio::steady_timer wait;  // waits for containers, and between retries of a failed batch
  std::optional<runtime::PullListener> loop;
};

std::string ChangeFeedTrigger::lease_id(const api::DocumentTriggerSpec& t) {
  return t.lease_prefix + "nimbus_" + t.database + "_" + t.container + "..0";
}

std::string ChangeFeedTrigger::check(const config::AppSpec& app) {
  std::map<std::string, std::string> owners;  // lease container + id -> function
  for (const auto& fn : app.functions) {
    const auto* t = fn.documents();
    if (fn.disabled || !t) continue;
    std::string key = t->lease_database + "/" + t->lease_container + "/" + lease_id(*t);
    auto [it, fresh] = owners.emplace(key, fn.name);
    if (!fresh)
      return "functions \"" + it->second + "\" and \"" + fn.name +
             "\" both watch container \"" + t->container + "\" of database \"" + t->database +
             "\" with the same lease (" + key + "); give each a different leaseContainerPrefix";
  }
  return "";
}

ChangeFeedTrigger::ChangeFeedTrigger(asio::io_context& io, documents::AsyncDocumentStore& store,
                                     runtime::EffectsCommitter& effects,
                                     runtime::Dispatcher& dispatcher, const config::AppSpec& app,
                                     bindings::OutputOptions outputs,
                                     observability::Metrics& metrics, Logger& log)
    : io_(io),
      store_(store),
      effects_(effects),
      dispatcher_(dispatcher),
      app_(app),
      outputs_(std::move(outputs)),
      metrics_(metrics),
      log_(log) {
  char host[256] = {};
  gethostname(host, sizeof host - 1);
  owner_ = std::string(host) + "/" + std::to_string(getpid());
}

ChangeFeedTrigger::~ChangeFeedTrigger() { stop(); }

void ChangeFeedTrigger::start() {
  for (const auto& fn : app_.functions) {
    const auto* t = fn.documents();
    if (fn.disabled || !t) continue;
    auto l = std::make_shared<Listener>(io_.get_executor());
    l->fn = &fn;
    l->monitored = {t->database, t->container};
    l->leases = {t->lease_database, t->lease_container};
    l->lease_id = lease_id(*t);
    // One batch at a time, in order: a lease's batches are sequential, as in Azure.
    runtime::PullListener::Options o{1, 1, t->feed_poll_delay,
                                     std::min(milliseconds(100), t->feed_poll_delay)};
    l->loop.emplace(io_.get_executor(), o,
                    [this, w = std::weak_ptr<Listener>(l)](
                        runtime::Admission::Permit batch) -> awaitable<int> {
                      auto l = w.lock();
                      co_return l ? co_await fetch(l, std::move(batch)) : 0;
                    });
    listeners_.push_back(l);
    asio::co_spawn(io_, run(l),
                   log_if_thrown(log_, "Host.Triggers.CosmosDB",
                                 "change feed listener for " + fn.name + " stopped"));
  }
}

void ChangeFeedTrigger::stop() {
  for (auto& l : listeners_) {
    l->stopped = true;
    l->wait.cancel();
    l->loop->stop();
  }
}

int ChangeFeedTrigger::in_flight() const {
  int n = manual_in_flight_;
  for (const auto& l : listeners_) n += l->in_flight;
  return n;
}

void ChangeFeedTrigger::notify(const api::CommitNotice& notice) {
  const auto* changed = std::get_if<api::DocumentChanged>(&notice);
  if (!changed) return;
  for (auto& l : listeners_) {
    if (!(l->monitored == changed->container)) continue;
    if (!l->ready) {
      l->wait.cancel();  // waiting for the container: it has items now, so try again at once
      continue;
    }
    l->latest = std::max(l->latest, changed->lsn);
    report_lag(*l);
    l->loop->poke();
  }
}

void ChangeFeedTrigger::report_lag(Listener& l) {
  metrics_.change_feed_lag(l.fn->name, std::max<int64_t>(0, l.latest - l.lsn));
}

awaitable<void> ChangeFeedTrigger::run(std::shared_ptr<Listener> l) {
  std::string last_why;
  milliseconds backoff{500};
  while (!l->stopped) {
    std::string why;
    if (co_await acquire(*l, why)) break;
    if (why != last_why)
      log_.error("Host.Triggers.CosmosDB", why + "; the function starts once that is fixed",
                 {{"function", l->fn->name}});
    last_why = why;
    l->wait.expires_after(backoff);
    boost::system::error_code ec;
    co_await l->wait.async_wait(asio::redirect_error(asio::use_awaitable, ec));
    backoff = std::min(backoff * 2, l->fn->documents()->feed_poll_delay);
  }
  if (l->stopped) co_return;
  l->ready = true;
  log_.info("Host.Triggers.CosmosDB", "listening",
            {{"function", l->fn->name},
             {"database", l->monitored.database},
             {"container", l->monitored.container},
             {"lease", l->leases.container + "/" + l->lease_id},
             {"continuation", l->lsn}});
  co_await l->loop->run();
}

awaitable<bool> ChangeFeedTrigger::acquire(Listener& l, std::string& why) {
  const auto& t = *l.fn->documents();
  auto& store = store_.store();
  auto monitored = co_await store_.call<api::ContainerInfo>(
      [&](auto cb) { store.read_container(l.monitored, std::move(cb)); });
  if (!monitored) {
    l.container_was_missing = true;
    why = "cosmosDBTrigger of \"" + l.fn->name + "\": " + describe(l.monitored) +
          " cannot be read (" + monitored.error().message + "); create it";
    co_return false;
  }
  auto leases = co_await store_.call<api::ContainerInfo>(
      [&](auto cb) { store.read_container(l.leases, std::move(cb)); });
  if (!leases && leases.error().code == api::DocErrc::not_found && t.create_lease_container) {
    // The database too, as Azure's createLeaseContainerIfNotExists does.
    co_await store_.call<api::DatabaseInfo>(
        [&](auto cb) { store.create_database(l.leases.database, std::nullopt, std::move(cb)); });
    api::ContainerSpec spec;
    spec.id = l.leases.container;
    spec.partition_key_paths = {"/id"};
    leases = co_await store_.call<api::ContainerInfo>(
        [&](auto cb) { store.create_container(l.leases.database, spec, std::move(cb)); });
    if (!leases && leases.error().code == api::DocErrc::conflict)  // another function made it
      leases = co_await store_.call<api::ContainerInfo>(
          [&](auto cb) { store.read_container(l.leases, std::move(cb)); });
  }
  if (!leases) {
    why = "cosmosDBTrigger of \"" + l.fn->name + "\": the lease " + describe(l.leases) +
          " cannot be read (" + leases.error().message +
          "); create it with partition key /id, or set \"createLeaseContainerIfNotExists\": "
          "true on the binding";
    co_return false;
  }
  const auto& paths = leases.value().spec.partition_key_paths;
  if (paths.size() != 1 || paths[0] != "/id") {
    why = "cosmosDBTrigger of \"" + l.fn->name + "\": the lease " + describe(l.leases) +
          " has partition key " + (paths.empty() ? std::string("(none)") : paths[0]) +
          "; lease containers need /id, so create another one (leaseContainerName)";
    co_return false;
  }
  api::PartitionKey pk{json::string(l.lease_id)};
  auto read = co_await store_.call<api::Item>(
      [&](auto cb) { store.read_item(l.leases, l.lease_id, pk, api::ItemForm::parsed, std::move(cb)); });
  if (!read && read.error().code == api::DocErrc::not_found) {
    // No lease yet: where to start is decided once, as Azure's startFrom* options are.
    int64_t start = 0;
    if (!t.start_from_beginning && (t.start_from_time_ms || !l.container_was_missing)) {
      api::ChangeFeedOptions o;
      o.max_item_count = 1;
      o.start.kind = api::ChangeFeedStart::Kind::now;
      if (t.start_from_time_ms) {
        o.start.kind = api::ChangeFeedStart::Kind::time;
        o.start.time_ms = *t.start_from_time_ms;
      }
      auto page = co_await store_.call<api::ChangeFeedPage>(
          [&](auto cb) { store.read_change_feed(l.monitored, o, std::move(cb)); });
      if (!page) {
        why = "cosmosDBTrigger of \"" + l.fn->name + "\": cannot read the change feed of " +
              describe(l.monitored) + ": " + page.error().message;
        co_return false;
      }
      // From a time: just before the first item written at or after it (LSNs grow with
      // time), or, with none, the present.
      const auto& items = page.value().items;
      start = !items.empty() && items[0].contains("_lsn") && items[0].at("_lsn").is_int64()
                  ? items[0].at("_lsn").as_int64() - 1
                  : page.value().continuation_lsn;
    }
    json::object lease{{"id", l.lease_id},
                       {"LeaseToken", "0"},
                       {"FeedRange", json::object{{"EffectiveRange",
                                                   json::object{{"min", ""}, {"max", "FF"}}}}},
                       {"ContinuationToken", continuation_token(start)},
                       {"Owner", owner_},
                       {"timestamp", iso8601_now_ms()},
                       {"Function", l.fn->name},
                       {"Database", l.monitored.database},
                       {"Container", l.monitored.container}};
    auto created = co_await store_.call<api::Item>(
        [&](auto cb) { store.create_item(l.leases, pk, lease, std::move(cb)); });
    if (!created && created.error().code == api::DocErrc::conflict)
      read = co_await store_.call<api::Item>(
          [&](auto cb) { store.read_item(l.leases, l.lease_id, pk, api::ItemForm::parsed, std::move(cb)); });
    else
      read = std::move(created);
  }
  if (!read) {
    why = "cosmosDBTrigger of \"" + l.fn->name + "\": cannot read or create lease \"" +
          l.lease_id + "\": " + read.error().message;
    co_return false;
  }
  auto lsn = parse_continuation(read.value().document);
  if (!lsn) {
    why = "cosmosDBTrigger of \"" + l.fn->name + "\": lease \"" + l.lease_id + "\" in " +
          describe(l.leases) + " has no readable ContinuationToken (\"\\\"<lsn>\\\"\"); delete "
          "that lease document to start again from the binding's start options";
    co_return false;
  }
  l.lease = std::move(read.value().document);
  l.etag = read.value().etag;
  l.lsn = *lsn;
  l.latest = std::max(l.latest, l.lsn);
  report_lag(l);
  co_return true;
}

awaitable<int> ChangeFeedTrigger::fetch(std::shared_ptr<Listener> l,
                                        runtime::Admission::Permit batch) {
  api::ChangeFeedOptions o;
  o.start.kind = api::ChangeFeedStart::Kind::lsn;
  o.start.lsn = l->lsn;
  o.max_item_count = l->fn->documents()->max_items_per_invocation;
  auto page = co_await store_.call<api::ChangeFeedPage>(
      [&](auto cb) { store_.store().read_change_feed(l->monitored, o, std::move(cb)); });
  if (!page) {
    log_.warn("Host.Triggers.CosmosDB", "change feed read failed: " + page.error().message,
              {{"function", l->fn->name}});
    co_return 0;
  }
  if (page.value().items.empty()) {
    // Only deletes (or expiries) since the lease: nothing to run. The lease keeps its
    // position; the next batch's advance covers these LSNs.
    l->lsn = std::max(l->lsn, page.value().continuation_lsn);
    l->latest = std::max(l->latest, l->lsn);
    report_lag(*l);
    co_return 0;
  }
  asio::co_spawn(io_, process(l, std::move(page.value()), batch.split(1)),
                 log_if_thrown(log_, "Host.Triggers.CosmosDB", "batch handling failed"));
  co_return 1;
}

awaitable<void> ChangeFeedTrigger::process(std::shared_ptr<Listener> l, api::ChangeFeedPage page,
                                           runtime::Admission::Permit permit) {
  ++l->in_flight;
  api::DocumentBatchData data;
  json::array docs;
  docs.reserve(page.items.size());
  size_t bytes = 0;
  for (auto& d : page.items) {
    size_t size = json::serialize(d).size();
    if (!docs.empty() && bytes + size > kMaxBatchBytes) {
      // The rest comes in the next batch: this one ends at the last document it holds.
      auto* lsn = docs.back().as_object().if_contains("_lsn");
      if (lsn && lsn->is_int64()) page.continuation_lsn = lsn->as_int64();
      break;
    }
    bytes += size;
    docs.emplace_back(std::move(d));
  }
  data.count = docs.size();
  auto lsn_of = [](const json::value& d) {
    auto* v = d.as_object().if_contains("_lsn");
    return v && v->is_int64() ? v->as_int64() : 0;
  };
  data.first_lsn = lsn_of(docs.front());
  data.last_lsn = lsn_of(docs.back());
  data.documents = json::serialize(docs);

  for (int attempt = 1; !l->stopped; ++attempt) {
    api::Invocation inv;
    inv.function = l->fn;
    inv.input = &data;
    bool done = false;
    auto complete = [&](api::Invocation& inv, api::InvocationResult& r) -> awaitable<void> {
      done = co_await settle(*l, page, inv, r, attempt);
    };
    co_await dispatcher_.dispatch(inv, complete);
    if (done) break;
    const auto* retry = l->fn->retry ? &*l->fn->retry : app_.retry ? &*app_.retry : nullptr;
    milliseconds delay = retry ? retry->delay_after(attempt)
                               : std::min(kDefaultMaxRetry, kDefaultFirstRetry * (1 << std::min(attempt - 1, 6)));
    l->wait.expires_after(delay);
    boost::system::error_code ec;
    co_await l->wait.async_wait(asio::redirect_error(asio::use_awaitable, ec));
  }
  permit.release();
  --l->in_flight;
  l->loop->poke();
}

awaitable<api::QueueResult<api::CommitReceipt>> ChangeFeedTrigger::advance(Listener& l,
                                                                           int64_t lsn,
                                                                           api::Effects fx) {
  json::object lease = l.lease;
  lease["ContinuationToken"] = continuation_token(lsn);
  lease["Owner"] = owner_;
  lease["timestamp"] = iso8601_now_ms();
  fx.acknowledge(api::LeaseAdvance{l.leases, lease, api::PartitionKey{json::string(l.lease_id)},
                                   l.etag});
  auto r = co_await effects_.commit(std::move(fx));
  if (r) {
    l.lease = std::move(lease);
    l.etag = r.value().lease ? r.value().lease->etag : l.etag;
    l.lsn = lsn;
    report_lag(l);
  }
  co_return r;
}

awaitable<bool> ChangeFeedTrigger::settle(Listener& l, const api::ChangeFeedPage& page,
                                          const api::Invocation& inv,
                                          api::InvocationResult& result, int attempt) {
  const auto& fn = *l.fn;
  json::object where{{"function", fn.name},
                     {"invocationId", inv.id},
                     {"firstLsn", inv.documents()->first_lsn},
                     {"lastLsn", inv.documents()->last_lsn},
                     {"documents", inv.documents()->count},
                     {"attempt", attempt}};
  if (result.outcome == api::Outcome::succeeded) {
    api::Effects fx;
    if (auto e = bindings::add_output_writes(inv, result.outputs, outputs_, fx); !e.empty()) {
      result.outcome = api::Outcome::failed;
      result.error = e;
    } else {
      auto r = co_await advance(l, page.continuation_lsn, std::move(fx));
      if (r) {
        metrics_.change_feed_batch(fn.name, "processed");
        co_return true;
      }
      if (lost_lease(r.error())) {
        // Someone else moved or deleted the lease (a second host, a hand edit): its position
        // wins; the listener continues from what the lease now says.
        log_.warn("Host.Triggers.CosmosDB",
                  "the lease changed under this batch; its outputs were not written and the "
                  "listener continues from the lease: " + r.error().message,
                  where);
        std::string why;
        if (!co_await acquire(l, why)) log_.error("Host.Triggers.CosmosDB", why, where);
        co_return true;
      }
      result.outcome = api::Outcome::failed;
      result.error = "could not write the batch's outputs and advance its lease: " +
                     r.error().message;
    }
  }
  const auto* retry = fn.retry ? &*fn.retry : app_.retry ? &*app_.retry : nullptr;
  if (retry && retry->max_retry_count >= 0 && attempt >= 1 + retry->max_retry_count) {
    // Retries spent: move on, loudly (the batch's documents are named by their LSNs).
    auto r = co_await advance(l, page.continuation_lsn, {});
    metrics_.change_feed_batch(fn.name, "skipped");
    where["error"] = result.error;
    log_.error("Host.Triggers.CosmosDB",
               "batch failed " + std::to_string(attempt) +
                   " attempts (1 + retry.maxRetryCount); skipping it" +
                   (r ? std::string() : " (the lease could not move: " + r.error().message + ")"),
               where);
    co_return true;
  }
  metrics_.change_feed_batch(fn.name, "failed");
  where["error"] = result.error;
  log_.warn("Host.Triggers.CosmosDB", "batch failed; it will be retried", where);
  co_return false;
}

std::string ChangeFeedTrigger::run_once(const api::FunctionSpec& fn, std::string_view documents,
                                        std::shared_ptr<const void> keep) {
  boost::system::error_code ec;
  json::value v = json::parse(documents, ec);
  json::array docs;
  if (!ec && v.is_object()) docs.push_back(v);
  if (!ec && v.is_array()) docs = v.as_array();
  bool objects = !docs.empty();
  for (const auto& d : docs) objects = objects && d.is_object();
  if (ec || !objects)
    return "the input of cosmosDBTrigger function \"" + fn.name +
           "\" must be a JSON object or a non-empty array of objects (the batch of documents), "
           "as a string";
  auto data = std::make_shared<api::DocumentBatchData>();
  data->count = docs.size();
  data->documents = json::serialize(docs);
  ++manual_in_flight_;
  asio::co_spawn(
      io_,
      [this, &fn, data, keep = std::move(keep)]() -> awaitable<void> {
        api::Invocation inv;
        inv.function = &fn;
        inv.input = data.get();
        inv.manual = true;
        auto complete = [this](api::Invocation& inv, api::InvocationResult& r) -> awaitable<void> {
          co_await commit_outputs(&effects_, inv, r, outputs_, &log_);
        };
        co_await dispatcher_.dispatch(inv, complete);
        --manual_in_flight_;
      },
      log_if_thrown(log_, "Host.Triggers.CosmosDB", "manual run of " + fn.name + " failed"));
  return "";
}

}  // namespace nimbus::triggers
