#include "storage/sqlite/sqlite_queue_store.h"

#include "storage/sqlite/queue_tables.h"
#include "storage/sqlite/sqlite_db.h"

namespace nimbus::storage {

using api::QueueErrc;
using api::QueueError;
using namespace queue_tables;

SqliteQueueStore::SqliteQueueStore(SqliteEngine& engine, Callers callers)
    : client_(engine, callers) {}

SqliteQueueStore::SqliteQueueStore(std::unique_ptr<SqliteEngine> owned, Callers callers)
    : client_(std::move(owned), callers) {}

std::unique_ptr<SqliteQueueStore> SqliteQueueStore::open(Options options, std::string& error,
                                                         Callers callers) {
  auto engine = SqliteEngine::open(std::move(options), error);
  if (!engine) return nullptr;
  return std::unique_ptr<SqliteQueueStore>(new SqliteQueueStore(std::move(engine), callers));
}

void SqliteQueueStore::note_active_clients(size_t clients) { client_.note_active_clients(clients); }

// ---------------------------------------------------------------------------------------------
// The operations.

void SqliteQueueStore::create_queue(api::QueueRef queue, api::QueueMetadata metadata,
                                    api::QueueCallback<api::CreateQueueOutcome> done) {
  submit(make_op<api::CreateQueueOutcome>(
      [queue = std::move(queue),
       metadata = std::move(metadata)](SqliteDb& db) -> api::QueueResult<api::CreateQueueOutcome> {
        if (auto e = check_name(queue)) return *e;
        if (auto e = check_metadata(metadata)) return *e;
        {
          auto st = db.q("SELECT metadata FROM queue_queues WHERE account=?1 AND name=?2");
          st.bind(1, queue.account).bind(2, queue.name);
          if (st.step()) {
            if (same_metadata(metadata_from_json(st.text(0)), metadata))
              return api::CreateQueueOutcome::already_exists;
            return err(QueueErrc::queue_already_exists,
                       describe(queue) +
                           " already exists with different metadata; delete it first or use "
                           "set metadata");
          }
        }
        auto st = db.q("INSERT INTO queue_queues(account,name,metadata,created) VALUES(?1,?2,?3,?4)");
        std::string md = metadata_to_json(metadata);
        st.bind(1, queue.account).bind(2, queue.name).bind(3, md).bind(4, db.now);
        st.step();
        return api::CreateQueueOutcome::created;
      },
      std::move(done)));
}

void SqliteQueueStore::delete_queue(api::QueueRef queue, api::QueueCallback<void> done) {
  submit(make_op<void>(
      [queue = std::move(queue)](SqliteDb& db) -> api::QueueResult<void> {
        auto qid = find_queue(db, queue);
        if (!qid) return queue_not_found(queue);
        delete_messages(db, *qid);
        auto st = db.q("DELETE FROM queue_queues WHERE qid=?1");
        st.bind(1, *qid);
        st.step();
        return {};
      },
      std::move(done)));
}

void SqliteQueueStore::list_queues(std::string account, api::ListQueuesOptions options,
                                   api::QueueCallback<api::QueueListing> done) {
  submit(make_op<api::QueueListing>(
      [account = std::move(account),
       options = std::move(options)](SqliteDb& db) -> api::QueueResult<api::QueueListing> {
        if (options.max_results < 1)
          return err(QueueErrc::invalid_argument,
                     "maxresults " + std::to_string(options.max_results) +
                         " is out of range; use 1..5000");
        std::string from = std::max(options.marker, options.prefix);
        auto st = db.q(
            "SELECT name, metadata FROM queue_queues WHERE account=?1 AND name>=?2 AND "
            "substr(name,1,?3)=?4 ORDER BY name LIMIT ?5");
        st.bind(1, account)
            .bind(2, from)
            .bind(3, static_cast<int64_t>(options.prefix.size()))
            .bind(4, options.prefix)
            .bind(5, static_cast<int64_t>(options.max_results) + 1);
        api::QueueListing out;
        while (st.step()) {
          if (out.queues.size() == static_cast<size_t>(options.max_results)) {
            out.next_marker = st.text(0);
            break;
          }
          api::QueueInfo info;
          info.name = st.text(0);
          if (options.include_metadata) info.metadata = metadata_from_json(st.text(1));
          out.queues.push_back(std::move(info));
        }
        return out;
      },
      std::move(done)));
}

void SqliteQueueStore::get_queue_properties(api::QueueRef queue,
                                            api::QueueCallback<api::QueueProperties> done) {
  submit(make_op<api::QueueProperties>(
      [queue = std::move(queue)](SqliteDb& db) -> api::QueueResult<api::QueueProperties> {
        api::QueueProperties props;
        int64_t qid = 0;
        {
          auto st = db.q("SELECT qid, metadata FROM queue_queues WHERE account=?1 AND name=?2");
          st.bind(1, queue.account).bind(2, queue.name);
          if (!st.step()) return queue_not_found(queue);
          qid = st.i64(0);
          props.metadata = metadata_from_json(st.text(1));
        }
        auto st = db.q("SELECT count(*) FROM queue_messages WHERE qid=?1 AND expires>?2");
        st.bind(1, qid).bind(2, db.now);
        if (st.step()) props.approximate_message_count = st.i64(0);
        return props;
      },
      std::move(done)));
}

void SqliteQueueStore::set_queue_metadata(api::QueueRef queue, api::QueueMetadata metadata,
                                          api::QueueCallback<void> done) {
  submit(make_op<void>(
      [queue = std::move(queue), metadata = std::move(metadata)](SqliteDb& db) -> api::QueueResult<void> {
        if (auto e = check_metadata(metadata)) return *e;
        auto st = db.q("UPDATE queue_queues SET metadata=?3 WHERE account=?1 AND name=?2");
        std::string md = metadata_to_json(metadata);
        st.bind(1, queue.account).bind(2, queue.name).bind(3, md);
        st.step();
        if (db.changes() == 0) return queue_not_found(queue);
        return {};
      },
      std::move(done)));
}

void SqliteQueueStore::get_queue_acl(api::QueueRef queue,
                                     api::QueueCallback<std::vector<api::SignedIdentifier>> done) {
  submit(make_op<std::vector<api::SignedIdentifier>>(
      [queue = std::move(queue)](SqliteDb& db) -> api::QueueResult<std::vector<api::SignedIdentifier>> {
        auto st = db.q("SELECT acl FROM queue_queues WHERE account=?1 AND name=?2");
        st.bind(1, queue.account).bind(2, queue.name);
        if (!st.step()) return queue_not_found(queue);
        return acl_from_json(st.text(0));
      },
      std::move(done)));
}

void SqliteQueueStore::set_queue_acl(api::QueueRef queue, std::vector<api::SignedIdentifier> acl,
                                     api::QueueCallback<void> done) {
  submit(make_op<void>(
      [queue = std::move(queue), acl = std::move(acl)](SqliteDb& db) -> api::QueueResult<void> {
        if (acl.size() > 5)
          return err(QueueErrc::invalid_argument,
                     std::to_string(acl.size()) +
                         " signed identifiers given; a queue holds at most 5 stored access "
                         "policies");
        auto st = db.q("UPDATE queue_queues SET acl=?3 WHERE account=?1 AND name=?2");
        std::string text = acl_to_json(acl);
        st.bind(1, queue.account).bind(2, queue.name).bind(3, text);
        st.step();
        if (db.changes() == 0) return queue_not_found(queue);
        return {};
      },
      std::move(done)));
}

void SqliteQueueStore::get_service_properties(std::string account,
                                              api::QueueCallback<std::string> done) {
  submit(make_op<std::string>(
      [account = std::move(account)](SqliteDb& db) -> api::QueueResult<std::string> {
        auto st = db.q("SELECT properties FROM queue_service WHERE account=?1");
        st.bind(1, account);
        if (!st.step()) return std::string();
        return st.text(0);
      },
      std::move(done)));
}

void SqliteQueueStore::set_service_properties(std::string account, std::string document,
                                              api::QueueCallback<void> done) {
  submit(make_op<void>(
      [account = std::move(account), document = std::move(document)](SqliteDb& db) -> api::QueueResult<void> {
        auto st = db.q(
            "INSERT INTO queue_service(account,properties) VALUES(?1,?2) "
            "ON CONFLICT(account) DO UPDATE SET properties=excluded.properties");
        st.bind(1, account).bind(2, document);
        st.step();
        return {};
      },
      std::move(done)));
}

void SqliteQueueStore::put_message(api::NewMessage message,
                                   api::QueueCallback<api::MessageReceipt> done) {
  submit(make_op<api::MessageReceipt>(
      [m = std::move(message)](SqliteDb& db) -> api::QueueResult<api::MessageReceipt> {
        if (auto e = validate(m)) return *e;
        auto qid = find_queue(db, m.queue);
        if (!qid) return queue_not_found(m.queue);
        return insert(db, *qid, m);
      },
      std::move(done)));
}

void SqliteQueueStore::get_messages(api::QueueRef queue, int count,
                                    int64_t visibility_timeout_seconds,
                                    api::QueueCallback<std::vector<api::QueueMessage>> done) {
  submit(make_op<std::vector<api::QueueMessage>>(
      [queue = std::move(queue), count,
       vt = visibility_timeout_seconds](SqliteDb& db) -> api::QueueResult<std::vector<api::QueueMessage>> {
        if (count < 1 || count > api::kMaxMessagesPerGet)
          return err(QueueErrc::invalid_argument, "numofmessages " + std::to_string(count) +
                                                      " is out of range; use 1..32");
        if (vt < 1 || vt > api::kMaxVisibilitySeconds)
          return err(QueueErrc::invalid_argument, "visibilitytimeout " + std::to_string(vt) +
                                                      " is out of range; use 1..604800 seconds");
        auto qid = find_queue(db, queue);
        if (!qid) return queue_not_found(queue);
        std::vector<api::QueueMessage> out;
        std::vector<std::pair<int64_t, uint64_t>> rows;  // seq, salt
        {
          auto st = db.q(
              "SELECT seq, salt, inserted, expires, dequeue, body, trace FROM queue_messages "
              "WHERE qid=?1 AND visible<=?2 AND expires>?2 ORDER BY visible, seq LIMIT ?3");
          st.bind(1, *qid).bind(2, db.now).bind(3, count);
          while (st.step()) {
            api::QueueMessage m;
            rows.emplace_back(st.i64(0), static_cast<uint64_t>(st.i64(1)));
            m.insertion_time = st.i64(2);
            m.expiration_time = st.i64(3);
            m.dequeue_count = st.i64(4) + 1;
            m.text = st.text(5);
            m.traceparent = st.text(6);
            out.push_back(std::move(m));
          }
        }
        UnixMillis visible = db.now + vt * 1000;
        for (size_t i = 0; i < rows.size(); ++i) {
          uint64_t pop = db.random64();
          auto st = db.q("UPDATE queue_messages SET visible=?2, pop=?3, dequeue=dequeue+1 WHERE seq=?1");
          st.bind(1, rows[i].first).bind(2, visible).bind(3, static_cast<int64_t>(pop));
          st.step();
          out[i].id = format_message_id(rows[i].second, static_cast<uint64_t>(rows[i].first));
          out[i].pop_receipt = format_pop_receipt(pop);
          out[i].time_next_visible = visible;
        }
        return out;
      },
      std::move(done)));
}

void SqliteQueueStore::peek_messages(api::QueueRef queue, int count,
                                     api::QueueCallback<std::vector<api::QueueMessage>> done) {
  submit(make_op<std::vector<api::QueueMessage>>(
      [queue = std::move(queue), count](SqliteDb& db) -> api::QueueResult<std::vector<api::QueueMessage>> {
        if (count < 1 || count > api::kMaxMessagesPerGet)
          return err(QueueErrc::invalid_argument, "numofmessages " + std::to_string(count) +
                                                      " is out of range; use 1..32");
        auto qid = find_queue(db, queue);
        if (!qid) return queue_not_found(queue);
        std::vector<api::QueueMessage> out;
        auto st = db.q(
            "SELECT seq, salt, inserted, expires, dequeue, body, visible FROM queue_messages "
            "WHERE qid=?1 AND visible<=?2 AND expires>?2 ORDER BY visible, seq LIMIT ?3");
        st.bind(1, *qid).bind(2, db.now).bind(3, count);
        while (st.step()) {
          api::QueueMessage m;
          m.id = format_message_id(static_cast<uint64_t>(st.i64(1)), static_cast<uint64_t>(st.i64(0)));
          m.insertion_time = st.i64(2);
          m.expiration_time = st.i64(3);
          m.dequeue_count = st.i64(4);
          m.text = st.text(5);
          m.time_next_visible = st.i64(6);
          out.push_back(std::move(m));
        }
        return out;
      },
      std::move(done)));
}

void SqliteQueueStore::delete_message(api::QueueRef queue, std::string id, std::string pop_receipt,
                                      api::QueueCallback<void> done) {
  submit(make_op<void>(
      [queue = std::move(queue), id = std::move(id),
       pop = std::move(pop_receipt)](SqliteDb& db) -> api::QueueResult<void> {
        auto qid = find_queue(db, queue);
        if (!qid) return queue_not_found(queue);
        auto found = locate(db, *qid, queue, id, pop);
        if (auto* e = std::get_if<QueueError>(&found)) return *e;
        delete_row(db, std::get<Located>(found).seq);
        return {};
      },
      std::move(done)));
}

void SqliteQueueStore::update_message(api::QueueRef queue, std::string id, std::string pop_receipt,
                                      std::optional<std::string> text,
                                      int64_t visibility_timeout_seconds,
                                      api::QueueCallback<api::UpdateReceipt> done) {
  submit(make_op<api::UpdateReceipt>(
      [queue = std::move(queue), id = std::move(id), pop = std::move(pop_receipt),
       text = std::move(text),
       vt = visibility_timeout_seconds](SqliteDb& db) -> api::QueueResult<api::UpdateReceipt> {
        if (vt < 0 || vt > api::kMaxVisibilitySeconds)
          return err(QueueErrc::invalid_argument, "visibilitytimeout " + std::to_string(vt) +
                                                      " is out of range; use 0..604800 seconds");
        if (text && text->size() > api::kMaxMessageBytes)
          return err(QueueErrc::message_too_large,
                     "message of " + std::to_string(text->size()) + " bytes is over the limit of " +
                         std::to_string(api::kMaxMessageBytes) + " bytes");
        auto qid = find_queue(db, queue);
        if (!qid) return queue_not_found(queue);
        auto found = locate(db, *qid, queue, id, pop);
        if (auto* e = std::get_if<QueueError>(&found)) return *e;
        int64_t seq = std::get<Located>(found).seq;
        uint64_t new_pop = db.random64();
        UnixMillis visible = db.now + vt * 1000;
        if (text) {
          auto st = db.q("UPDATE queue_messages SET visible=?2, pop=?3, body=?4 WHERE seq=?1");
          st.bind(1, seq).bind(2, visible).bind(3, static_cast<int64_t>(new_pop)).bind_blob(4, *text);
          st.step();
        } else {
          auto st = db.q("UPDATE queue_messages SET visible=?2, pop=?3 WHERE seq=?1");
          st.bind(1, seq).bind(2, visible).bind(3, static_cast<int64_t>(new_pop));
          st.step();
        }
        db.notices.emplace_back(api::QueueVisible{queue, visible});
        return api::UpdateReceipt{format_pop_receipt(new_pop), visible};
      },
      std::move(done)));
}

void SqliteQueueStore::clear_messages(api::QueueRef queue, api::QueueCallback<void> done) {
  submit(make_op<void>(
      [queue = std::move(queue)](SqliteDb& db) -> api::QueueResult<void> {
        auto qid = find_queue(db, queue);
        if (!qid) return queue_not_found(queue);
        delete_messages(db, *qid);
        return {};
      },
      std::move(done)));
}

// The three below are api::Effects commits: one unit of change, whatever the caller.

namespace {

std::vector<api::MessageReceipt> message_receipts(api::CommitReceipt& r) {
  std::vector<api::MessageReceipt> out;
  out.reserve(r.writes.size());
  for (auto& w : r.writes) out.push_back(std::move(std::get<api::MessageReceipt>(w)));
  return out;
}

}  // namespace

void SqliteQueueStore::complete_message(api::QueueRef queue, std::string id,
                                        std::string pop_receipt,
                                        std::vector<api::NewMessage> outputs,
                                        api::QueueCallback<std::vector<api::MessageReceipt>> done) {
  api::Effects fx;
  fx.acknowledge({std::move(queue), std::move(id), std::move(pop_receipt), std::nullopt});
  for (auto& m : outputs) fx.put(std::move(m));
  client_.engine().commit(std::move(fx), [done = std::move(done)](api::QueueResult<api::CommitReceipt> r) {
    if (!r) return done(r.error());
    done(message_receipts(r.value()));
  });
}

void SqliteQueueStore::put_messages(std::vector<api::NewMessage> messages,
                                    api::QueueCallback<std::vector<api::MessageReceipt>> done) {
  api::Effects fx;
  for (auto& m : messages) fx.put(std::move(m));
  client_.engine().commit(std::move(fx), [done = std::move(done)](api::QueueResult<api::CommitReceipt> r) {
    if (!r) return done(r.error());
    done(message_receipts(r.value()));
  });
}

void SqliteQueueStore::move_to_poison(api::QueueRef queue, std::string id, std::string pop_receipt,
                                      api::QueueCallback<api::MessageReceipt> done) {
  // The engine refuses a "<queue>-poison" that is not a valid name, before anything changes.
  api::QueueRef poison{queue.account, queue.name + "-poison"};
  api::Effects fx;
  fx.acknowledge({std::move(queue), std::move(id), std::move(pop_receipt), std::move(poison)});
  client_.engine().commit(std::move(fx), [done = std::move(done)](api::QueueResult<api::CommitReceipt> r) {
    if (!r) return done(r.error());
    done(std::move(*r.value().dead_letter));
  });
}

}  // namespace nimbus::storage
