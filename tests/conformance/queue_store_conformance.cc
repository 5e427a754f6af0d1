// The queue store conformance suite: every observable rule of api::QueueStore, checked on a
// fake clock. See queue_store_conformance.h for how a backend joins.
#include "queue_store_conformance.h"

#include <unistd.h>

#include <filesystem>
#include <mutex>
#include <set>
#include <thread>

namespace nimbus::conformance {

using api::QueueErrc;

void QueueStoreConformance::SetUp() {
  char tmpl[] = "/tmp/nimbus-queue-conformance-XXXXXX";
  ASSERT_NE(mkdtemp(tmpl), nullptr);
  dir_ = tmpl;
  store_ = GetParam()->open(dir_, clock_);
  ASSERT_NE(store_, nullptr);
  sync_ = std::make_unique<SyncQueueStore>(*store_);
}

void QueueStoreConformance::TearDown() {
  sync_.reset();
  store_.reset();
  std::error_code ec;
  std::filesystem::remove_all(dir_, ec);
}

void QueueStoreConformance::reopen() {
  sync_.reset();
  store_.reset();
  store_ = GetParam()->open(dir_, clock_);
  ASSERT_NE(store_, nullptr);
  sync_ = std::make_unique<SyncQueueStore>(*store_);
}

#define ASSERT_OK(r) ASSERT_TRUE((r).ok()) << (r).error().message
#define EXPECT_ERR(r, c)                                                        \
  do {                                                                          \
    auto&& res_ = (r);                                                          \
    ASSERT_FALSE(res_.ok());                                                    \
    EXPECT_EQ(res_.error().code, c) << res_.error().message;                    \
    EXPECT_FALSE(res_.error().message.empty());                                 \
  } while (0)

TEST_P(QueueStoreConformance, CreateIsCreatedThenIdenticalThenConflict) {
  auto r = sync().create(q_, {{"Owner", "alice"}});
  ASSERT_OK(r);
  EXPECT_EQ(r.value(), api::CreateQueueOutcome::created);
  r = sync().create(q_, {{"owner", "alice"}});  // names compare case-insensitively
  ASSERT_OK(r);
  EXPECT_EQ(r.value(), api::CreateQueueOutcome::already_exists);
  EXPECT_ERR(sync().create(q_, {{"owner", "bob"}}), QueueErrc::queue_already_exists);
  EXPECT_ERR(sync().create(q_, {}), QueueErrc::queue_already_exists);
}

TEST_P(QueueStoreConformance, QueuesAreScopedByAccount) {
  ASSERT_OK(sync().create(q_));
  api::QueueRef other{"acct2", q_.name};
  EXPECT_ERR(sync().put(other, "x"), QueueErrc::queue_not_found);
  ASSERT_OK(sync().create(other));
  ASSERT_OK(sync().put(other, "x"));
  EXPECT_EQ(count(q_), 0);
  EXPECT_EQ(count(other), 1);
  EXPECT_EQ(sync().list("acct2").value().queues.size(), 1u);
}

TEST_P(QueueStoreConformance, DeleteQueueRemovesItAndItsMessages) {
  ASSERT_OK(sync().create(q_));
  ASSERT_OK(sync().put(q_, "a"));
  ASSERT_OK(sync().delete_queue(q_));
  EXPECT_ERR(sync().props(q_), QueueErrc::queue_not_found);
  EXPECT_ERR(sync().delete_queue(q_), QueueErrc::queue_not_found);
  ASSERT_OK(sync().create(q_));
  EXPECT_EQ(count(q_), 0);
  EXPECT_TRUE(sync().peek(q_).value().empty());
}

TEST_P(QueueStoreConformance, ListQueuesPrefixMarkerPagingMetadata) {
  for (auto n : {"alpha", "beta-1", "beta-2", "beta-3", "gamma"})
    ASSERT_OK(sync().create({q_.account, n}, {{"n", n}}));
  auto all = sync().list(q_.account);
  ASSERT_OK(all);
  ASSERT_EQ(all.value().queues.size(), 5u);
  EXPECT_EQ(all.value().queues[0].name, "alpha");
  EXPECT_TRUE(all.value().queues[0].metadata.empty());
  EXPECT_TRUE(all.value().next_marker.empty());

  api::ListQueuesOptions o;
  o.prefix = "beta";
  o.max_results = 2;
  o.include_metadata = true;
  auto page1 = sync().list(q_.account, o).value();
  ASSERT_EQ(page1.queues.size(), 2u);
  EXPECT_EQ(page1.queues[0].name, "beta-1");
  EXPECT_EQ(page1.queues[0].metadata, (api::QueueMetadata{{"n", "beta-1"}}));
  ASSERT_FALSE(page1.next_marker.empty());
  o.marker = page1.next_marker;
  auto page2 = sync().list(q_.account, o).value();
  ASSERT_EQ(page2.queues.size(), 1u);
  EXPECT_EQ(page2.queues[0].name, "beta-3");
  EXPECT_TRUE(page2.next_marker.empty());
  o.max_results = 0;
  EXPECT_ERR(sync().list(q_.account, o), QueueErrc::invalid_argument);
}

TEST_P(QueueStoreConformance, MetadataAndApproximateCount) {
  EXPECT_ERR(sync().set_metadata(q_, {}), QueueErrc::queue_not_found);
  ASSERT_OK(sync().create(q_, {{"a", "1"}}));
  ASSERT_OK(sync().set_metadata(q_, {{"Color", "blue"}, {"size", "L"}}));
  auto p = sync().props(q_);
  ASSERT_OK(p);
  EXPECT_EQ(p.value().metadata, (api::QueueMetadata{{"Color", "blue"}, {"size", "L"}}));
  for (int i = 0; i < 3; ++i) ASSERT_OK(sync().put(q_, "m"));
  ASSERT_OK(sync().put(q_, "delayed", 100, 50));
  EXPECT_EQ(count(q_), 4);  // invisible messages count too
}

TEST_P(QueueStoreConformance, AclRoundTripAndLimit) {
  EXPECT_ERR(sync().get_acl(q_), QueueErrc::queue_not_found);
  ASSERT_OK(sync().create(q_));
  EXPECT_TRUE(sync().get_acl(q_).value().empty());
  std::vector<api::SignedIdentifier> acl{{"p1", "2025-01-01T00:00:00Z", "2026-01-01T00:00:00Z", "raup"},
                                         {"p2", "", "", "r"}};
  ASSERT_OK(sync().set_acl(q_, acl));
  EXPECT_EQ(sync().get_acl(q_).value(), acl);
  EXPECT_ERR(sync().set_acl(q_, std::vector<api::SignedIdentifier>(6, acl[1])),
             QueueErrc::invalid_argument);
}

TEST_P(QueueStoreConformance, ServicePropertiesPerAccount) {
  EXPECT_EQ(sync().get_service(q_.account).value(), "");
  ASSERT_OK(sync().set_service(q_.account, "<doc/>"));
  EXPECT_EQ(sync().get_service(q_.account).value(), "<doc/>");
  EXPECT_EQ(sync().get_service("other").value(), "");
}

TEST_P(QueueStoreConformance, PutReturnsTimesAndReceipt) {
  EXPECT_ERR(sync().put(q_, "x"), QueueErrc::queue_not_found);
  ASSERT_OK(sync().create(q_));
  auto now = clock_.now.load();
  auto r = sync().put(q_, "hello", 60, 10);
  ASSERT_OK(r);
  EXPECT_EQ(r.value().id.size(), 36u);
  EXPECT_NEAR(r.value().insertion_time, now, 2000);
  EXPECT_EQ(r.value().expiration_time, r.value().insertion_time + 60'000);
  EXPECT_EQ(r.value().time_next_visible, r.value().insertion_time + 10'000);
  EXPECT_FALSE(r.value().pop_receipt.empty());
  auto forever = sync().put(q_, "keep", api::kMessageTtlForever);
  ASSERT_OK(forever);
  EXPECT_EQ(forever.value().expiration_time, api::kNeverExpires);
  EXPECT_NE(forever.value().id, r.value().id);
}

TEST_P(QueueStoreConformance, PutValidatesTtlVisibilityAndSize) {
  ASSERT_OK(sync().create(q_));
  EXPECT_ERR(sync().put(q_, "x", 0), QueueErrc::invalid_argument);
  EXPECT_ERR(sync().put(q_, "x", -2), QueueErrc::invalid_argument);
  EXPECT_ERR(sync().put(q_, "x", 10, 10), QueueErrc::invalid_argument);  // delay must be < ttl
  EXPECT_ERR(sync().put(q_, "x", 100, -1), QueueErrc::invalid_argument);
  EXPECT_ERR(sync().put(q_, "x", -1, api::kMaxVisibilitySeconds + 1), QueueErrc::invalid_argument);
  ASSERT_OK(sync().put(q_, "x", -1, api::kMaxVisibilitySeconds));
  ASSERT_OK(sync().put(q_, std::string(api::kMaxMessageBytes, 'a')));
  EXPECT_ERR(sync().put(q_, std::string(api::kMaxMessageBytes + 1, 'a')), QueueErrc::message_too_large);
  EXPECT_EQ(count(q_), 2);
}

TEST_P(QueueStoreConformance, GetHidesMessagesAndBumpsDequeueCountWithNewPopReceipts) {
  ASSERT_OK(sync().create(q_));
  auto put = sync().put(q_, "one").value();
  auto got = sync().get(q_, 1, 30);
  ASSERT_OK(got);
  ASSERT_EQ(got.value().size(), 1u);
  auto m = got.value()[0];
  EXPECT_EQ(m.id, put.id);
  EXPECT_EQ(m.text, "one");
  EXPECT_EQ(m.dequeue_count, 1);
  EXPECT_NE(m.pop_receipt, put.pop_receipt);
  EXPECT_EQ(m.time_next_visible, clock_.now.load() + 30'000);
  EXPECT_EQ(m.insertion_time, put.insertion_time);
  EXPECT_EQ(m.expiration_time, put.expiration_time);
  EXPECT_TRUE(sync().get(q_).value().empty());   // invisible now
  EXPECT_TRUE(sync().peek(q_).value().empty());
  EXPECT_EQ(count(q_), 1);
  clock_.advance_seconds(29.9);
  EXPECT_TRUE(sync().get(q_).value().empty());
  clock_.advance_seconds(0.2);
  auto again = sync().get(q_, 1, 5).value();
  ASSERT_EQ(again.size(), 1u);
  EXPECT_EQ(again[0].dequeue_count, 2);
  EXPECT_NE(again[0].pop_receipt, m.pop_receipt);
  // The first receipt is stale now.
  EXPECT_ERR(sync().del(q_, m.id, m.pop_receipt), QueueErrc::pop_receipt_mismatch);
  ASSERT_OK(sync().del(q_, again[0].id, again[0].pop_receipt));
  EXPECT_EQ(count(q_), 0);
}

TEST_P(QueueStoreConformance, GetReturnsUpTo32OldestFirstAndValidatesArguments) {
  ASSERT_OK(sync().create(q_));
  EXPECT_TRUE(sync().get(q_, 32).value().empty());
  for (int i = 0; i < 40; ++i) ASSERT_OK(sync().put(q_, "m" + std::to_string(i)));
  auto batch = sync().get(q_, 32).value();
  ASSERT_EQ(batch.size(), 32u);
  for (int i = 0; i < 32; ++i) EXPECT_EQ(batch[i].text, "m" + std::to_string(i));
  auto rest = sync().get(q_, 32).value();
  ASSERT_EQ(rest.size(), 8u);
  EXPECT_EQ(rest[0].text, "m32");
  EXPECT_ERR(sync().get(q_, 0), QueueErrc::invalid_argument);
  EXPECT_ERR(sync().get(q_, 33), QueueErrc::invalid_argument);
  EXPECT_ERR(sync().get(q_, 1, 0), QueueErrc::invalid_argument);
  EXPECT_ERR(sync().get(q_, 1, api::kMaxVisibilitySeconds + 1), QueueErrc::invalid_argument);
  EXPECT_ERR(sync().get({q_.account, "missing"}), QueueErrc::queue_not_found);
}

TEST_P(QueueStoreConformance, DelayedPutBecomesVisibleOnTime) {
  ASSERT_OK(sync().create(q_));
  ASSERT_OK(sync().put(q_, "later", 3600, 10));
  ASSERT_OK(sync().put(q_, "now"));
  auto first = sync().get(q_, 32).value();
  ASSERT_EQ(first.size(), 1u);
  EXPECT_EQ(first[0].text, "now");
  clock_.advance_seconds(10);
  auto second = sync().peek(q_, 32).value();
  ASSERT_EQ(second.size(), 1u);
  EXPECT_EQ(second[0].text, "later");
}

TEST_P(QueueStoreConformance, ExpiredMessagesVanishEverywhere) {
  ASSERT_OK(sync().create(q_));
  auto short_lived = sync().put(q_, "short", 5).value();
  ASSERT_OK(sync().put(q_, "long", 100));
  ASSERT_OK(sync().put(q_, "forever", api::kMessageTtlForever));
  EXPECT_EQ(count(q_), 3);
  clock_.advance_seconds(5);
  EXPECT_EQ(count(q_), 2);
  auto peeked = sync().peek(q_, 32).value();
  ASSERT_EQ(peeked.size(), 2u);
  EXPECT_EQ(peeked[0].text, "long");
  EXPECT_ERR(sync().del(q_, short_lived.id, short_lived.pop_receipt), QueueErrc::message_not_found);
  EXPECT_ERR(sync().update(q_, short_lived.id, short_lived.pop_receipt, "x", 0),
             QueueErrc::message_not_found);
  clock_.advance_seconds(100);
  auto got = sync().get(q_, 32).value();
  ASSERT_EQ(got.size(), 1u);
  EXPECT_EQ(got[0].text, "forever");
  EXPECT_EQ(got[0].expiration_time, api::kNeverExpires);
}

TEST_P(QueueStoreConformance, PeekChangesNothing) {
  ASSERT_OK(sync().create(q_));
  auto put = sync().put(q_, "p").value();
  for (int i = 0; i < 3; ++i) {
    auto p = sync().peek(q_, 32).value();
    ASSERT_EQ(p.size(), 1u);
    EXPECT_EQ(p[0].id, put.id);
    EXPECT_EQ(p[0].dequeue_count, 0);
    EXPECT_TRUE(p[0].pop_receipt.empty());
  }
  // The receipt from Put still works after peeks.
  ASSERT_OK(sync().del(q_, put.id, put.pop_receipt));
  EXPECT_ERR(sync().peek(q_, 33), QueueErrc::invalid_argument);
}

TEST_P(QueueStoreConformance, DeleteDistinguishesNotFoundFromMismatch) {
  ASSERT_OK(sync().create(q_));
  ASSERT_OK(sync().create({q_.account, "other"}));
  auto put = sync().put(q_, "d").value();
  EXPECT_ERR(sync().del(q_, put.id, "0000000000000000"), QueueErrc::pop_receipt_mismatch);
  EXPECT_ERR(sync().del(q_, put.id, "garbage"), QueueErrc::pop_receipt_mismatch);
  EXPECT_ERR(sync().del({q_.account, "other"}, put.id, put.pop_receipt), QueueErrc::message_not_found);
  EXPECT_ERR(sync().del(q_, "not-an-id", put.pop_receipt), QueueErrc::message_not_found);
  EXPECT_ERR(sync().del(q_, "00000000-0000-0000-0000-000000000000", put.pop_receipt),
             QueueErrc::message_not_found);
  EXPECT_ERR(sync().del({q_.account, "missing"}, put.id, put.pop_receipt), QueueErrc::queue_not_found);
  ASSERT_OK(sync().del(q_, put.id, put.pop_receipt));
  EXPECT_ERR(sync().del(q_, put.id, put.pop_receipt), QueueErrc::message_not_found);
}

TEST_P(QueueStoreConformance, UpdateChangesTextAndOrVisibilityWithANewReceipt) {
  ASSERT_OK(sync().create(q_));
  ASSERT_OK(sync().put(q_, "v1"));
  auto m = sync().get(q_, 1, 30).value().at(0);
  auto u = sync().update(q_, m.id, m.pop_receipt, "v2", 0);
  ASSERT_OK(u);
  EXPECT_NE(u.value().pop_receipt, m.pop_receipt);
  EXPECT_EQ(u.value().time_next_visible, clock_.now.load());
  EXPECT_ERR(sync().update(q_, m.id, m.pop_receipt, "v3", 0), QueueErrc::pop_receipt_mismatch);
  auto p = sync().peek(q_).value().at(0);
  EXPECT_EQ(p.text, "v2");
  EXPECT_EQ(p.dequeue_count, 1);  // update does not count as a dequeue
  // Visibility only: text stays.
  auto u2 = sync().update(q_, m.id, u.value().pop_receipt, std::nullopt, 60);
  ASSERT_OK(u2);
  EXPECT_TRUE(sync().peek(q_).value().empty());
  clock_.advance_seconds(60);
  auto again = sync().get(q_).value().at(0);
  EXPECT_EQ(again.text, "v2");
  EXPECT_EQ(again.dequeue_count, 2);
  EXPECT_ERR(sync().update(q_, m.id, again.pop_receipt, std::nullopt, -1), QueueErrc::invalid_argument);
  EXPECT_ERR(sync().update(q_, m.id, again.pop_receipt, std::string(api::kMaxMessageBytes + 1, 'x'), 0),
             QueueErrc::message_too_large);
}

TEST_P(QueueStoreConformance, ClearEmptiesOnlyThatQueue) {
  ASSERT_OK(sync().create(q_));
  ASSERT_OK(sync().create({q_.account, "keep"}));
  for (int i = 0; i < 5; ++i) ASSERT_OK(sync().put(q_, "x"));
  ASSERT_OK(sync().put({q_.account, "keep"}, "y"));
  ASSERT_OK(sync().clear(q_));
  EXPECT_EQ(count(q_), 0);
  EXPECT_EQ(count({q_.account, "keep"}), 1);
  EXPECT_ERR(sync().clear({q_.account, "missing"}), QueueErrc::queue_not_found);
}

TEST_P(QueueStoreConformance, CompleteDeletesAndPutsOutputsTogether) {
  ASSERT_OK(sync().create(q_));
  ASSERT_OK(sync().put(q_, "in"));
  auto m = sync().get(q_).value().at(0);
  api::QueueRef out1{q_.account, "out-one"}, out2{q_.account, "out-two"};
  auto r = sync().complete(q_, m.id, m.pop_receipt,
                           {{out1, "a"}, {out2, "b", api::kMessageTtlForever, 0}, {out1, "c"}});
  ASSERT_OK(r);
  ASSERT_EQ(r.value().size(), 3u);
  EXPECT_EQ(r.value()[1].expiration_time, api::kNeverExpires);
  EXPECT_EQ(count(q_), 0);
  auto o1 = sync().peek(out1, 32).value();  // created on demand
  ASSERT_EQ(o1.size(), 2u);
  EXPECT_EQ(o1[0].text, "a");
  EXPECT_EQ(o1[1].text, "c");
  EXPECT_EQ(sync().peek(out2).value().at(0).text, "b");
  // Completing again fails and writes nothing.
  EXPECT_ERR(sync().complete(q_, m.id, m.pop_receipt, {{out1, "again"}}), QueueErrc::message_not_found);
  EXPECT_EQ(count(out1), 2);
}

TEST_P(QueueStoreConformance, CompleteWithStaleReceiptOrBadOutputWritesNothing) {
  ASSERT_OK(sync().create(q_));
  ASSERT_OK(sync().put(q_, "in"));
  auto first = sync().get(q_, 1, 1).value().at(0);
  clock_.advance_seconds(1);
  auto second = sync().get(q_, 1, 30).value().at(0);
  api::QueueRef out{q_.account, "out"};
  EXPECT_ERR(sync().complete(q_, first.id, first.pop_receipt, {{out, "x"}}),
             QueueErrc::pop_receipt_mismatch);
  EXPECT_ERR(sync().props(out), QueueErrc::queue_not_found);
  EXPECT_ERR(sync().complete(q_, second.id, second.pop_receipt,
                             {{out, "ok"}, {out, std::string(api::kMaxMessageBytes + 1, 'x')}}),
             QueueErrc::message_too_large);
  EXPECT_ERR(sync().props(out), QueueErrc::queue_not_found);
  EXPECT_EQ(count(q_), 1);  // the input is still there
  ASSERT_OK(sync().complete(q_, second.id, second.pop_receipt, {}));
  EXPECT_EQ(count(q_), 0);
}

TEST_P(QueueStoreConformance, MoveToPoisonKeepsOriginalContent) {
  ASSERT_OK(sync().create(q_));
  ASSERT_OK(sync().put(q_, "bad <payload>"));
  auto m = sync().get(q_).value().at(0);
  ASSERT_OK(sync().update(q_, m.id, m.pop_receipt, std::nullopt, 0));  // stale receipt now
  EXPECT_ERR(sync().poison(q_, m.id, m.pop_receipt), QueueErrc::pop_receipt_mismatch);
  auto m2 = sync().get(q_).value().at(0);
  auto r = sync().poison(q_, m2.id, m2.pop_receipt);
  ASSERT_OK(r);
  EXPECT_EQ(count(q_), 0);
  api::QueueRef poison{q_.account, q_.name + "-poison"};
  auto p = sync().peek(poison).value();
  ASSERT_EQ(p.size(), 1u);
  EXPECT_EQ(p[0].text, "bad <payload>");
  EXPECT_EQ(p[0].id, r.value().id);
  EXPECT_EQ(p[0].dequeue_count, 0);
}

// The traceparent is kept beside the text: a got message has it, a poisoned one keeps it, and a
// message put without one has none (issue 8: trace context across a queue).
TEST_P(QueueStoreConformance, TraceparentTravelsWithTheMessageAndIntoThePoisonQueue) {
  ASSERT_OK(sync().create(q_));
  const std::string tp = "00-4bf92f3577b34da6a3ce929d0e0e4736-00f067aa0ba902b7-01";
  api::NewMessage traced{q_, "traced", api::kDefaultMessageTtlSeconds, 0, tp};
  ASSERT_OK(sync().put_all({traced}));
  ASSERT_OK(sync().put(q_, "plain"));
  auto got = sync().get(q_, 2).value();
  ASSERT_EQ(got.size(), 2u);
  EXPECT_EQ(got[0].text, "traced");
  EXPECT_EQ(got[0].traceparent, tp);
  EXPECT_EQ(got[1].traceparent, "");
  ASSERT_OK(sync().poison(q_, got[0].id, got[0].pop_receipt));
  api::QueueRef poison{q_.account, q_.name + "-poison"};
  auto again = sync().get(poison).value();
  ASSERT_EQ(again.size(), 1u);
  EXPECT_EQ(again[0].text, "traced");
  EXPECT_EQ(again[0].traceparent, tp);
}

TEST_P(QueueStoreConformance, PutMessagesWritesAllInOrderCreatingQueues) {
  api::QueueRef a{q_.account, "batch-a"}, b{q_.account, "batch-b"};
  auto r = sync().put_all({{a, "1"}, {b, "2", api::kMessageTtlForever, 0}, {a, "3"}});
  ASSERT_OK(r);
  ASSERT_EQ(r.value().size(), 3u);
  EXPECT_EQ(r.value()[1].expiration_time, api::kNeverExpires);
  auto pa = sync().peek(a, 32).value();  // created on demand, as output bindings do
  ASSERT_EQ(pa.size(), 2u);
  EXPECT_EQ(pa[0].text, "1");
  EXPECT_EQ(pa[1].text, "3");
  EXPECT_EQ(sync().peek(b).value().at(0).text, "2");
  ASSERT_OK(sync().put_all({}));  // nothing to do is not an error
}

TEST_P(QueueStoreConformance, PutMessagesWritesNothingWhenAnyMessageIsInvalid) {
  api::QueueRef a{q_.account, "batch-a"}, b{q_.account, "batch-b"};
  ASSERT_OK(sync().create(a));
  // Each kind of bad message, placed after a good one: none of the batch may land.
  EXPECT_ERR(sync().put_all({{a, "ok"}, {b, std::string(api::kMaxMessageBytes + 1, 'x')}}),
             QueueErrc::message_too_large);
  EXPECT_ERR(sync().put_all({{a, "ok"}, {{q_.account, "Bad Name"}, "x"}}),
             QueueErrc::invalid_argument);
  EXPECT_ERR(sync().put_all({{a, "ok"}, {b, "x", 0, 0}}), QueueErrc::invalid_argument);
  EXPECT_ERR(sync().put_all({{a, "ok"}, {b, "x", 10, 20}}), QueueErrc::invalid_argument);
  EXPECT_EQ(count(a), 0);
  EXPECT_ERR(sync().props(b), QueueErrc::queue_not_found);
}

TEST_P(QueueStoreConformance, EveryWritePathRefusesQueueNamesTheRestApiCannotAddress) {
  const std::string too_long(64, 'a');
  for (std::string bad : {std::string(), std::string("A"), std::string(".."),
                          std::string("Bad Name"), std::string("Not A Queue!"), std::string("ab"),
                          std::string("-ab"), std::string("ab-"), std::string("a--b"), too_long}) {
    SCOPED_TRACE("queue name \"" + bad + "\"");
    api::QueueRef q{q_.account, bad};
    EXPECT_ERR(sync().create(q), QueueErrc::invalid_argument);
    EXPECT_ERR(sync().put(q, "x"), QueueErrc::invalid_argument);
    EXPECT_ERR(sync().put_all({{q, "x"}}), QueueErrc::invalid_argument);
  }
  // Complete with an output to a bad name: nothing written, the input stays.
  ASSERT_OK(sync().create(q_));
  ASSERT_OK(sync().put(q_, "in"));
  auto m = sync().get(q_).value().at(0);
  EXPECT_ERR(sync().complete(q_, m.id, m.pop_receipt, {{{q_.account, "Bad Name"}, "x"}}),
             QueueErrc::invalid_argument);
  EXPECT_EQ(count(q_), 1);
  auto listing = sync().list(q_.account).value();
  ASSERT_EQ(listing.queues.size(), 1u);
  EXPECT_EQ(listing.queues[0].name, q_.name);
}

TEST_P(QueueStoreConformance, MoveToPoisonRefusesAPoisonNameOver63Characters) {
  api::QueueRef longest{q_.account, std::string(56, 'p')};  // "-poison" makes 63: fine
  api::QueueRef too_long{q_.account, std::string(57, 'p')};
  for (auto& q : {longest, too_long}) {
    ASSERT_OK(sync().create(q));
    ASSERT_OK(sync().put(q, "bad"));
  }
  auto m = sync().get(longest).value().at(0);
  ASSERT_OK(sync().poison(longest, m.id, m.pop_receipt));
  auto t = sync().get(too_long).value().at(0);
  auto r = sync().poison(too_long, t.id, t.pop_receipt);
  EXPECT_ERR(r, QueueErrc::invalid_argument);
  EXPECT_NE(r.error().message.find("56"), std::string::npos) << r.error().message;
  EXPECT_EQ(count(too_long), 1);  // still there, still leased to the caller
}

TEST_P(QueueStoreConformance, MetadataIsAsciiAndRoundTripsExactly) {
  api::QueueMetadata md{{"Owner", "alice smith"}, {"tags", "a,b;c=d\te"}};
  ASSERT_OK(sync().create(q_, md));
  EXPECT_EQ(sync().props(q_).value().metadata, md);
  auto again = sync().create(q_, md);
  ASSERT_OK(again);
  EXPECT_EQ(again.value(), api::CreateQueueOutcome::already_exists);
  // Values that could not go back out as HTTP headers are refused, not stored and dropped.
  for (std::string bad : {std::string("caf\xC3\xA9"), std::string("\xFF\xFE"),
                          std::string("line\nbreak"), std::string("nul\0x", 5)}) {
    EXPECT_ERR(sync().set_metadata(q_, {{"k", bad}}), QueueErrc::invalid_argument);
    EXPECT_ERR(sync().create({q_.account, "other"}, {{"k", bad}}), QueueErrc::invalid_argument);
  }
  EXPECT_ERR(sync().set_metadata(q_, {{"9lives", "x"}}), QueueErrc::invalid_argument);
  EXPECT_EQ(sync().props(q_).value().metadata, md);
}

TEST_P(QueueStoreConformance, ListenerHearsAboutNewMessagesAfterCommit) {
  std::mutex mu;
  std::vector<std::pair<std::string, api::UnixMillis>> heard;
  effects().set_notice_listener([&](const api::CommitNotice& n) {
    const auto& v = std::get<api::QueueVisible>(n);
    std::lock_guard lk(mu);
    heard.emplace_back(v.queue.name, v.visible_at);
  });
  ASSERT_OK(sync().create(q_));
  auto put = sync().put(q_, "x").value();
  ASSERT_OK(sync().put(q_, "later", 100, 50));
  auto m = sync().get(q_).value().at(0);
  ASSERT_OK(sync().complete(q_, m.id, m.pop_receipt, {{{q_.account, "next"}, "y"}}));
  std::lock_guard lk(mu);
  ASSERT_GE(heard.size(), 3u);
  EXPECT_EQ(heard[0], (std::pair<std::string, api::UnixMillis>{"orders", put.time_next_visible}));
  EXPECT_EQ(heard[1].second, put.insertion_time + 50'000);
  EXPECT_EQ(heard.back().first, "next");
  effects().set_notice_listener(nullptr);
}

// ---- Effects: one unit of change ----

api::NewMessage msg(const api::QueueRef& q, std::string text) { return {q, std::move(text)}; }

TEST_P(QueueStoreConformance, EffectsWithOneInvalidWriteCommitNothing) {
  ASSERT_OK(sync().create(q_));
  ASSERT_OK(sync().put(q_, "input"));
  auto m = sync().get(q_).value().at(0);
  api::QueueRef a{q_.account, "out-a"}, b{q_.account, "out-b"};
  struct Case {
    const char* what;
    api::NewMessage bad;
    QueueErrc code;
  } cases[] = {
      {"invalid queue name", msg({q_.account, "Not_Valid"}, "x"), QueueErrc::invalid_argument},
      {"too large", msg(b, std::string(api::kMaxMessageBytes + 1, 'x')), QueueErrc::message_too_large},
      {"bad ttl", {b, "x", 0, 0}, QueueErrc::invalid_argument},
      {"no account", msg({"", "out-c"}, "x"), QueueErrc::invalid_argument},
  };
  for (auto& c : cases) {
    SCOPED_TRACE(c.what);
    for (bool with_ack : {false, true}) {
      api::Effects fx;
      if (with_ack) fx.acknowledge({q_, m.id, m.pop_receipt, std::nullopt});
      fx.put(msg(a, "first")).put(c.bad).put(msg(b, "last"));
      EXPECT_ERR(commit(std::move(fx)), c.code);
    }
  }
  EXPECT_ERR(sync().props(a), QueueErrc::queue_not_found);  // not even created
  EXPECT_ERR(sync().props(b), QueueErrc::queue_not_found);
  ASSERT_OK(sync().del(q_, m.id, m.pop_receipt));  // the acknowledged message is untouched
}

TEST_P(QueueStoreConformance, EffectsAckAndWritesAreAllOrNothing) {
  ASSERT_OK(sync().create(q_));
  ASSERT_OK(sync().put(q_, "input"));
  auto m = sync().get(q_).value().at(0);
  api::QueueRef out{q_.account, "outputs"};
  api::Effects fx;
  fx.acknowledge({q_, m.id, m.pop_receipt, std::nullopt});
  fx.put(msg(out, "one")).put(msg(out, "two")).put(msg({q_.account, "other-out"}, "three"));
  auto r = commit(std::move(fx));
  ASSERT_OK(r);
  ASSERT_EQ(r.value().writes.size(), 3u);
  EXPECT_FALSE(r.value().dead_letter);
  EXPECT_EQ(count(q_), 0) << "acknowledged";
  auto got = sync().peek(out, 32).value();
  ASSERT_EQ(got.size(), 2u);
  EXPECT_EQ(got[0].text, "one");
  EXPECT_EQ(got[1].text, "two");
  EXPECT_EQ(got[0].id, std::get<api::MessageReceipt>(r.value().writes[0]).id);
  EXPECT_EQ(count({q_.account, "other-out"}), 1);
  // The same acknowledgement again: the message is gone, so the new writes do not land.
  api::Effects again;
  again.acknowledge({q_, m.id, m.pop_receipt, std::nullopt});
  again.put(msg(out, "three"));
  EXPECT_ERR(commit(std::move(again)), QueueErrc::message_not_found);
  EXPECT_EQ(count(out), 2);
  // Writes alone, and an empty Effects, commit too.
  ASSERT_OK(commit(api::Effects{}.put(msg(out, "plain"))));
  EXPECT_EQ(count(out), 3);
  ASSERT_OK(commit(api::Effects{}));
}

TEST_P(QueueStoreConformance, EffectsWithAStalePopReceiptCommitNothing) {
  ASSERT_OK(sync().create(q_));
  ASSERT_OK(sync().put(q_, "input"));
  auto first = sync().get(q_, 1, 1).value().at(0);
  clock_.advance_seconds(2);  // the first lease ends; someone else receives the message
  auto second = sync().get(q_, 1, 30).value().at(0);
  ASSERT_EQ(first.id, second.id);
  api::QueueRef out{q_.account, "outputs"};
  api::QueueRef dead{q_.account, "orders-poison"};
  for (bool dead_letter : {false, true}) {
    api::Effects fx;
    fx.acknowledge({q_, first.id, first.pop_receipt,
                    dead_letter ? std::optional<api::QueueRef>(dead) : std::nullopt});
    fx.put(msg(out, "from the stale holder"));
    EXPECT_ERR(commit(std::move(fx)), QueueErrc::pop_receipt_mismatch);
  }
  EXPECT_ERR(sync().props(out), QueueErrc::queue_not_found);
  EXPECT_ERR(sync().props(dead), QueueErrc::queue_not_found);
  EXPECT_EQ(count(q_), 1);
  // The current holder's receipt commits, dead-lettering the original text.
  api::Effects fx;
  fx.acknowledge({q_, second.id, second.pop_receipt, dead});
  auto r = commit(std::move(fx));
  ASSERT_OK(r);
  ASSERT_TRUE(r.value().dead_letter);
  EXPECT_EQ(count(q_), 0);
  EXPECT_EQ(sync().peek(dead).value().at(0).text, "input");
}

TEST_P(QueueStoreConformance, FailedEffectsAnnounceNothingAndLeaveTheirBatchIntact) {
  ASSERT_OK(sync().create(q_));
  std::mutex mu;
  std::set<std::string> heard;
  effects().set_notice_listener([&](const api::CommitNotice& n) {
    std::lock_guard lk(mu);
    heard.insert(std::get<api::QueueVisible>(n).queue.name);
  });
  // Many commits in flight at once, so the backend may batch them: every other one presents a
  // receipt that does not hold. Only the good ones land, each whole.
  constexpr int kN = 200;
  for (int i = 0; i < kN; ++i) ASSERT_OK(sync().put(q_, "m" + std::to_string(i)));
  std::vector<api::QueueMessage> held;
  while (held.size() < kN) {
    auto batch = sync().get(q_, 32, 60).value();
    ASSERT_FALSE(batch.empty());
    held.insert(held.end(), batch.begin(), batch.end());
  }
  std::vector<std::future<api::QueueResult<api::CommitReceipt>>> results;
  std::vector<std::promise<api::QueueResult<api::CommitReceipt>>> promises(kN);
  for (int i = 0; i < kN; ++i) {
    bool good = i % 2 == 0;
    api::Effects fx;
    fx.acknowledge({q_, held[i].id, good ? held[i].pop_receipt : "0000000000000000", std::nullopt});
    fx.put(msg({q_.account, good ? "good-out" : "ghost-out"}, "r" + std::to_string(i)));
    fx.put(msg({q_.account, good ? "good-out" : "ghost-out"}, "s" + std::to_string(i)));
    results.push_back(promises[i].get_future());
    effects().commit(std::move(fx), [&promises, i](api::QueueResult<api::CommitReceipt> r) {
      promises[i].set_value(std::move(r));
    });
  }
  for (int i = 0; i < kN; ++i) {
    auto r = results[i].get();
    if (i % 2 == 0) {
      EXPECT_TRUE(r.ok()) << i << ": " << r.error().message;
    } else {
      ASSERT_FALSE(r.ok()) << i;
      EXPECT_EQ(r.error().code, QueueErrc::pop_receipt_mismatch);
    }
  }
  EXPECT_EQ(count({q_.account, "good-out"}), kN);
  EXPECT_ERR(sync().props({q_.account, "ghost-out"}), QueueErrc::queue_not_found);
  EXPECT_EQ(count(q_), kN / 2);
  {
    std::lock_guard lk(mu);
    EXPECT_TRUE(heard.count("good-out"));
    EXPECT_FALSE(heard.count("ghost-out")) << "a rolled-back write was announced";
  }
  effects().set_notice_listener(nullptr);
}

TEST_P(QueueStoreConformance, EverythingSurvivesReopen) {
  ASSERT_OK(sync().create(q_, {{"k", "v"}}));
  std::set<std::string> ids;
  for (int i = 0; i < 50; ++i) ids.insert(sync().put(q_, "m" + std::to_string(i)).value().id);
  auto got = sync().get(q_, 1, 60).value().at(0);
  reopen();
  EXPECT_EQ(count(q_), 50);
  EXPECT_EQ(sync().props(q_).value().metadata, (api::QueueMetadata{{"k", "v"}}));
  ASSERT_OK(sync().del(q_, got.id, got.pop_receipt));  // receipts survive too
  std::set<std::string> seen;
  for (int round = 0; round < 3; ++round) {
    auto batch = sync().get(q_, 32);
    ASSERT_OK(batch);
    for (auto& m : batch.value()) seen.insert(m.id);
  }
  EXPECT_EQ(seen.size(), 49u);
  for (auto& id : seen) EXPECT_TRUE(ids.count(id));
}

TEST_P(QueueStoreConformance, ConcurrentSubmittersAllCompleteOnce) {
  ASSERT_OK(sync().create(q_));
  constexpr int kThreads = 8, kEach = 250;
  std::atomic<int> ok{0}, calls{0};
  std::vector<std::thread> threads;
  for (int t = 0; t < kThreads; ++t) {
    threads.emplace_back([&, t] {
      std::vector<std::future<void>> waits;
      std::vector<std::promise<void>> promises(kEach);
      for (int i = 0; i < kEach; ++i) {
        waits.push_back(promises[i].get_future());
        store_->put_message({q_, "t" + std::to_string(t) + "-" + std::to_string(i)},
                            [&, i](api::QueueResult<api::MessageReceipt> r) {
                              calls++;
                              if (r.ok()) ok++;
                              promises[i].set_value();
                            });
      }
      for (auto& w : waits) w.get();
    });
  }
  for (auto& th : threads) th.join();
  EXPECT_EQ(calls.load(), kThreads * kEach);
  EXPECT_EQ(ok.load(), kThreads * kEach);
  EXPECT_EQ(count(q_), kThreads * kEach);
  // Concurrent gets never hand out the same message twice.
  std::mutex mu;
  std::set<std::string> seen;
  std::atomic<int> dup{0};
  threads.clear();
  for (int t = 0; t < 4; ++t) {
    threads.emplace_back([&] {
      for (;;) {
        auto batch = sync().get(q_, 32, 300).value();
        if (batch.empty()) return;
        std::lock_guard lk(mu);
        for (auto& m : batch)
          if (!seen.insert(m.id).second) dup++;
      }
    });
  }
  for (auto& th : threads) th.join();
  EXPECT_EQ(dup.load(), 0);
  EXPECT_EQ(seen.size(), static_cast<size_t>(kThreads * kEach));
}

}  // namespace nimbus::conformance
