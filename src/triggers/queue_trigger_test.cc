// The queue trigger against a real (temporary) SQLite store and a fake invoker: admission
// before the fetch, completion with outputs, poison, and the HTTP limit not touching queues.
#include "triggers/queue_trigger.h"

#include <gtest/gtest.h>

#include <boost/asio.hpp>
#include <future>

#include "queue/async_queue_store.h"
#include "storage/sqlite/sqlite_document_store.h"
#include "storage/sqlite/sqlite_queue_store.h"
#include "testing/fake_invoker.h"
#include "testing/run_until.h"
#include "testing/temp_dir.h"

namespace asio = boost::asio;
using namespace nimbus;

namespace {

constexpr const char* kAccount = "devstoreaccount1";

template <class T, class Submit>
api::QueueResult<T> wait(Submit&& submit) {
  std::promise<api::QueueResult<T>> p;
  submit([&p](api::QueueResult<T> r) { p.set_value(std::move(r)); });
  return p.get_future().get();
}

// One host's worth of queue-trigger wiring on a temporary database.
struct QueueHost {
  fakes::TempDir dir{"nimbus-queue-trigger-"};
  asio::io_context io;
  config::AppSpec app;
  observability::Metrics metrics;
  Logger log{LogLevel::none};
  std::unique_ptr<storage::SqliteQueueStore> store;
  std::unique_ptr<queue::AsyncQueueStore> async_store;
  std::unique_ptr<runtime::EffectsCommitter> effects;
  std::unique_ptr<runtime::Dispatcher> dispatcher;
  std::unique_ptr<fakes::FakeInvoker> invoker;
  std::unique_ptr<triggers::QueueTrigger> trigger;

  explicit QueueHost(int http_limit) {
    app.max_concurrent_requests = http_limit;
    app.queues.batch_size = 16;
    app.queues.new_batch_threshold = 8;
    app.queues.max_dequeue_count = 3;
    app.queues.base64 = false;
    api::FunctionSpec fn;
    fn.name = "work";
    fn.trigger = api::QueueTriggerSpec{"jobs"};
    fn.outputs.push_back({"done", api::QueueOutputSpec{"jobs-done"}});
    fn.outputs.push_back({"anywhere", api::QueueOutputSpec{"{queueTrigger}"}});
    app.functions.push_back(fn);
    storage::SqliteQueueStore::Options o;
    o.path = dir.path() + "/nimbus.db";
    o.sync = storage::SqliteQueueStore::Sync::off;
    std::string error;
    store = storage::SqliteQueueStore::open(o, error);
    EXPECT_NE(store, nullptr) << error;
    async_store = std::make_unique<queue::AsyncQueueStore>(*store, io.get_executor());
    effects = std::make_unique<runtime::EffectsCommitter>(store->engine(), io.get_executor());
    dispatcher = std::make_unique<runtime::Dispatcher>(
        runtime::Dispatcher::Options{std::chrono::minutes(5), http_limit}, metrics, log);
    invoker = std::make_unique<fakes::FakeInvoker>(io.get_executor());
    dispatcher->bind("work", invoker.get());
    trigger = std::make_unique<triggers::QueueTrigger>(io, *async_store, *effects, *dispatcher,
                                                       app, kAccount, metrics, log);
    effects->set_notice_listener([this](const api::CommitNotice& n) { trigger->notify(n); });
  }
  ~QueueHost() {
    trigger->stop();
    // Let settled messages finish their store calls before the store goes away.
    fakes::run_until(io, [&] { return trigger->in_flight() == 0; }, std::chrono::seconds(5));
    effects->set_notice_listener(nullptr);
    trigger.reset();
    store.reset();
  }

  void put(const std::string& queue, const std::string& text) {
    auto r = wait<api::MessageReceipt>(
        [&](auto cb) { store->put_message({{kAccount, queue}, text}, cb); });
    ASSERT_TRUE(r.ok()) << r.error().message;
  }
  int64_t depth(const std::string& queue) {
    auto r = wait<api::QueueProperties>(
        [&](auto cb) { store->get_queue_properties({kAccount, queue}, cb); });
    return r.ok() ? r.value().approximate_message_count : 0;
  }
  std::vector<api::QueueMessage> peek(const std::string& queue) {
    auto r = wait<std::vector<api::QueueMessage>>(
        [&](auto cb) { store->peek_messages({kAccount, queue}, 32, cb); });
    return r.ok() ? r.value() : std::vector<api::QueueMessage>{};
  }
  uint64_t counter(const std::string& line_prefix) {
    auto text = metrics.render();
    auto at = text.find(line_prefix);
    if (at == std::string::npos) return 0;
    return std::stoull(text.substr(at + line_prefix.size() + 1));
  }
  // Starts the trigger and waits until its queue exists, so puts are not refused.
  void start() {
    trigger->start();
    ASSERT_TRUE(fakes::run_until(io, [&] {
      return wait<api::QueueProperties>(
                 [&](auto cb) { store->get_queue_properties({kAccount, "jobs"}, cb); })
          .ok();
    }));
  }
};

const std::string kProcessed =
    "nimbus_queue_messages_total{function=\"work\",queue=\"jobs\",outcome=\"processed\"}";
const std::string kPoisoned =
    "nimbus_queue_messages_total{function=\"work\",queue=\"jobs\",outcome=\"poisoned\"}";

}  // namespace

// The bug of issue 7: with maxConcurrentRequests 1, 60 messages gave 6 processed and 54
// poisoned without ever running.
TEST(QueueTrigger, HttpConcurrencyLimitNeitherThrottlesNorPoisonsQueueMessages) {
  QueueHost h(1);
  h.invoker->delay = std::chrono::milliseconds(2);
  h.start();
  for (int i = 0; i < 60; ++i) h.put("jobs", "m" + std::to_string(i));
  ASSERT_TRUE(fakes::run_until(h.io, [&] { return h.counter(kProcessed) == 60; }))
      << h.metrics.render();
  EXPECT_EQ(h.invoker->calls(), 60) << "every message ran exactly once";
  EXPECT_GT(h.invoker->max_running(), 1) << "queue invocations ran beside each other";
  EXPECT_EQ(h.counter(kPoisoned), 0u);
  EXPECT_EQ(h.depth("jobs"), 0);
  EXPECT_EQ(h.depth("jobs-poison"), 0);
}

TEST(QueueTrigger, SaturatedFunctionFetchesNothingSoNoDeliveryAttemptIsSpent) {
  QueueHost h(-1);
  h.invoker->hold();
  h.start();
  for (int i = 0; i < 60; ++i) h.put("jobs", "m" + std::to_string(i));
  // One batch of 16 runs; the next is fetched only when in-flight drops to
  // newBatchThreshold (8), which held invocations never do.
  ASSERT_TRUE(fakes::run_until(h.io, [&] { return h.invoker->running() == 16; }));
  // Give the listener every chance to over-fetch: pokes and polls keep coming.
  asio::steady_timer settle(h.io, std::chrono::milliseconds(300));
  bool waited = false;
  settle.async_wait([&](auto) { waited = true; });
  ASSERT_TRUE(fakes::run_until(h.io, [&] { return waited; }));
  EXPECT_EQ(h.invoker->calls(), 16);
  auto waiting = h.peek("jobs");
  ASSERT_FALSE(waiting.empty());
  for (const auto& m : waiting) EXPECT_EQ(m.dequeue_count, 0) << m.text << " was dequeued";
  h.invoker->release();
  ASSERT_TRUE(fakes::run_until(h.io, [&] { return h.counter(kProcessed) == 60; }));
  EXPECT_EQ(h.invoker->calls(), 60);
  EXPECT_LE(h.invoker->max_running(), 16 + 8) << "batchSize + newBatchThreshold";
  EXPECT_EQ(h.counter(kPoisoned), 0u);
}

TEST(QueueTrigger, SuccessCompletesTheMessageWithItsOutputs) {
  QueueHost h(-1);
  h.invoker->answer = [](const api::Invocation& inv) {
    api::InvocationResult r;
    r.outputs.push_back({"done", inv.queue()->text + "|done"});
    return r;
  };
  h.start();
  h.put("jobs", "alpha");
  ASSERT_TRUE(fakes::run_until(h.io, [&] { return h.counter(kProcessed) == 1; }));
  auto done = h.peek("jobs-done");
  ASSERT_EQ(done.size(), 1u);
  EXPECT_EQ(done[0].text, "alpha|done");
  EXPECT_EQ(h.depth("jobs"), 0);
}

TEST(QueueTrigger, UnwritableOutputFailsTheAttemptAndEndsInPoisonWithNothingWritten) {
  QueueHost h(-1);
  h.invoker->answer = [](const api::Invocation&) {
    api::InvocationResult r;
    r.outputs.push_back({"done", "fine"});
    r.outputs.push_back({"anywhere", "never"});  // resolves to "beta": fine
    r.outputs.push_back({"anywhere", std::string(70 * 1024, 'x')});  // over the message limit
    return r;
  };
  h.start();
  h.put("jobs", "beta");
  ASSERT_TRUE(fakes::run_until(h.io, [&] { return h.counter(kPoisoned) == 1; }));
  EXPECT_EQ(h.invoker->calls(), 3) << "maxDequeueCount attempts";
  // The dispatcher reported the committed outcome: failed, not succeeded.
  EXPECT_EQ(h.counter("nimbus_invocations_total{function=\"work\",trigger=\"queue\",status=\"failed\"}"), 3u);
  EXPECT_EQ(h.depth("jobs-done"), 0) << "no output of a failed attempt was written";
  auto poison = h.peek("jobs-poison");
  ASSERT_EQ(poison.size(), 1u);
  EXPECT_EQ(poison[0].text, "beta");
}

// Documents and the message's deletion in one commit on the real engine: a queue function's
// document output lands with its completion, and one aimed at a missing container fails the
// attempt with nothing written, the message kept for its retry.
TEST(QueueTrigger, DocumentOutputsCommitWithTheMessagesCompletion) {
  QueueHost h(-1);
  storage::SqliteDocumentStore docs(h.store->engine());
  std::promise<api::DocResult<api::DatabaseInfo>> db;
  docs.create_database("shop", std::nullopt, [&](api::DocResult<api::DatabaseInfo> r) { db.set_value(std::move(r)); });
  ASSERT_TRUE(db.get_future().get().ok());
  api::ContainerSpec spec;
  spec.id = "orders";
  spec.partition_key_paths = {"/customer"};
  std::promise<api::DocResult<api::ContainerInfo>> made;
  docs.create_container("shop", spec, [&](api::DocResult<api::ContainerInfo> r) { made.set_value(std::move(r)); });
  ASSERT_TRUE(made.get_future().get().ok());

  h.app.functions[0].outputs.push_back({"order", api::DocumentOutputSpec{"shop", "orders"}});
  h.app.functions[0].outputs.push_back({"lost", api::DocumentOutputSpec{"shop", "missing"}});
  h.invoker->answer = [](const api::Invocation& inv) {
    api::InvocationResult r;
    const auto& text = inv.queue()->text;
    if (text == "to-missing") {
      r.outputs.push_back({"done", "side effect that must not land"});
      r.outputs.push_back({"lost", R"({"id":"x","customer":"c"})"});
    } else {
      r.outputs.push_back({"order", R"({"id":")" + text + R"(","customer":"acme","total":3})"});
      r.outputs.push_back({"done", text});
    }
    return r;
  };
  h.start();
  h.put("jobs", "order-1");
  ASSERT_TRUE(fakes::run_until(h.io, [&] { return h.counter(kProcessed) == 1; }));
  std::promise<api::DocResult<api::Item>> got;
  docs.read_item({"shop", "orders"}, "order-1", boost::json::array{"acme"}, api::ItemForm::parsed,
                 [&](api::DocResult<api::Item> r) { got.set_value(std::move(r)); });
  auto item = got.get_future().get();
  ASSERT_TRUE(item.ok()) << item.error().message;
  EXPECT_EQ(item.value().document.at("total"), 3);
  EXPECT_EQ(h.peek("jobs-done").size(), 1u);

  h.put("jobs", "to-missing");
  ASSERT_TRUE(fakes::run_until(h.io, [&] { return h.counter(kPoisoned) == 1; }));
  EXPECT_EQ(h.peek("jobs-done").size(), 1u) << "the failed attempts wrote no queue output";
}

// `nimbus start --watch` replacing a queue function: the new version's listener starts beside
// the old one, which is stopped while a message runs on it; that message completes on the old
// version, later ones run on the new one, and none runs twice or is lost.
TEST(QueueTrigger, ReplacedFunctionFinishesItsMessageAndTheNewVersionTakesTheRest) {
  QueueHost h(-1);
  std::vector<const api::FunctionSpec*> ran;
  h.invoker->answer = [&](const api::Invocation& inv) {
    ran.push_back(inv.function);
    return api::InvocationResult{};
  };
  h.invoker->hold();
  h.start();
  h.put("jobs", "first");
  ASSERT_TRUE(fakes::run_until(h.io, [&] { return h.invoker->running() == 1; }));

  auto next = std::make_shared<config::AppSpec>(h.app);
  next->functions[0].outputs.clear();  // a changed definition of "work"
  h.trigger->start_function(next->functions[0], next);
  h.trigger->stop_function("work", &next->functions[0]);
  EXPECT_EQ(h.trigger->in_flight(), 1) << "the stopped listener's message still counts";

  h.invoker->release();
  ASSERT_TRUE(fakes::run_until(h.io, [&] { return h.counter(kProcessed) == 1; }));
  h.put("jobs", "second");
  ASSERT_TRUE(fakes::run_until(h.io, [&] { return h.counter(kProcessed) == 2; }));
  ASSERT_EQ(ran.size(), 2u);
  EXPECT_EQ(ran[0], &h.app.functions[0]) << "the running message finished on the old version";
  EXPECT_EQ(ran[1], &next->functions[0]) << "later messages run on the new version";
  EXPECT_EQ(h.depth("jobs"), 0);
  EXPECT_EQ(h.depth("jobs-poison"), 0);
}
