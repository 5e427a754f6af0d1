#include "queue/async_queue_store.h"

#include <boost/asio/async_result.hpp>
#include <boost/asio/post.hpp>
#include <boost/asio/use_awaitable.hpp>
#include <memory>

namespace asio = boost::asio;

namespace nimbus::queue {

namespace {

// Submits through `submit(callback)` and resumes the coroutine on the facade's executor with
// the result, through its inbox.
template <class T, class Submit>
asio::awaitable<api::QueueResult<T>> run(AsyncQueueStore& self, Submit submit) {
  return asio::async_initiate<const asio::use_awaitable_t<>&, void(api::QueueResult<T>)>(
      [&self, submit = std::move(submit)](auto handler) mutable {
        // std::function needs a copyable callable; the handler is move-only.
        auto h = std::make_shared<decltype(handler)>(std::move(handler));
        submit([h, &self](api::QueueResult<T> result) {
          auto r = std::make_shared<api::QueueResult<T>>(std::move(result));
          self.deliver([h, r] { (*h)(std::move(*r)); });
        });
      },
      asio::use_awaitable);
}

}  // namespace

AsyncQueueStore::AsyncQueueStore(api::QueueStore& store, asio::any_io_executor executor)
    : store_(store),
      executor_(std::move(executor)),
      inbox_([executor = executor_](std::function<void()> f) { asio::post(executor, std::move(f)); }) {}

AsyncQueueStore::Task<api::CreateQueueOutcome> AsyncQueueStore::create_queue(
    api::QueueRef queue, api::QueueMetadata metadata) {
  return run<api::CreateQueueOutcome>(*this, [&s = store_, queue = std::move(queue),
                                                  md = std::move(metadata)](auto cb) mutable {
    s.create_queue(std::move(queue), std::move(md), std::move(cb));
  });
}

AsyncQueueStore::Task<void> AsyncQueueStore::delete_queue(api::QueueRef queue) {
  return run<void>(*this, [&s = store_, queue = std::move(queue)](auto cb) mutable {
    s.delete_queue(std::move(queue), std::move(cb));
  });
}

AsyncQueueStore::Task<api::QueueListing> AsyncQueueStore::list_queues(
    std::string account, api::ListQueuesOptions options) {
  return run<api::QueueListing>(*this, [&s = store_, account = std::move(account),
                                            o = std::move(options)](auto cb) mutable {
    s.list_queues(std::move(account), std::move(o), std::move(cb));
  });
}

AsyncQueueStore::Task<api::QueueProperties> AsyncQueueStore::get_queue_properties(
    api::QueueRef queue) {
  return run<api::QueueProperties>(*this, [&s = store_, queue = std::move(queue)](auto cb) mutable {
    s.get_queue_properties(std::move(queue), std::move(cb));
  });
}

AsyncQueueStore::Task<void> AsyncQueueStore::set_queue_metadata(api::QueueRef queue,
                                                                api::QueueMetadata metadata) {
  return run<void>(*this, [&s = store_, queue = std::move(queue),
                               md = std::move(metadata)](auto cb) mutable {
    s.set_queue_metadata(std::move(queue), std::move(md), std::move(cb));
  });
}

AsyncQueueStore::Task<std::vector<api::SignedIdentifier>> AsyncQueueStore::get_queue_acl(
    api::QueueRef queue) {
  return run<std::vector<api::SignedIdentifier>>(
      *this, [&s = store_, queue = std::move(queue)](auto cb) mutable {
        s.get_queue_acl(std::move(queue), std::move(cb));
      });
}

AsyncQueueStore::Task<void> AsyncQueueStore::set_queue_acl(api::QueueRef queue,
                                                           std::vector<api::SignedIdentifier> acl) {
  return run<void>(*this, [&s = store_, queue = std::move(queue),
                               acl = std::move(acl)](auto cb) mutable {
    s.set_queue_acl(std::move(queue), std::move(acl), std::move(cb));
  });
}

AsyncQueueStore::Task<std::string> AsyncQueueStore::get_service_properties(std::string account) {
  return run<std::string>(*this, [&s = store_, account = std::move(account)](auto cb) mutable {
    s.get_service_properties(std::move(account), std::move(cb));
  });
}

AsyncQueueStore::Task<void> AsyncQueueStore::set_service_properties(std::string account,
                                                                    std::string document) {
  return run<void>(*this, [&s = store_, account = std::move(account),
                               doc = std::move(document)](auto cb) mutable {
    s.set_service_properties(std::move(account), std::move(doc), std::move(cb));
  });
}

AsyncQueueStore::Task<api::MessageReceipt> AsyncQueueStore::put_message(api::NewMessage message) {
  return run<api::MessageReceipt>(*this, [&s = store_, m = std::move(message)](auto cb) mutable {
    s.put_message(std::move(m), std::move(cb));
  });
}

AsyncQueueStore::Task<std::vector<api::QueueMessage>> AsyncQueueStore::get_messages(
    api::QueueRef queue, int count, int64_t visibility_timeout_seconds) {
  return run<std::vector<api::QueueMessage>>(
      *this, [&s = store_, queue = std::move(queue), count,
                  vt = visibility_timeout_seconds](auto cb) mutable {
        s.get_messages(std::move(queue), count, vt, std::move(cb));
      });
}

AsyncQueueStore::Task<std::vector<api::QueueMessage>> AsyncQueueStore::peek_messages(
    api::QueueRef queue, int count) {
  return run<std::vector<api::QueueMessage>>(
      *this, [&s = store_, queue = std::move(queue), count](auto cb) mutable {
        s.peek_messages(std::move(queue), count, std::move(cb));
      });
}

AsyncQueueStore::Task<void> AsyncQueueStore::delete_message(api::QueueRef queue, std::string id,
                                                            std::string pop_receipt) {
  return run<void>(*this, [&s = store_, queue = std::move(queue), id = std::move(id),
                               pop = std::move(pop_receipt)](auto cb) mutable {
    s.delete_message(std::move(queue), std::move(id), std::move(pop), std::move(cb));
  });
}

AsyncQueueStore::Task<api::UpdateReceipt> AsyncQueueStore::update_message(
    api::QueueRef queue, std::string id, std::string pop_receipt, std::optional<std::string> text,
    int64_t visibility_timeout_seconds) {
  return run<api::UpdateReceipt>(
      *this, [&s = store_, queue = std::move(queue), id = std::move(id),
                  pop = std::move(pop_receipt), text = std::move(text),
                  vt = visibility_timeout_seconds](auto cb) mutable {
        s.update_message(std::move(queue), std::move(id), std::move(pop), std::move(text), vt,
                         std::move(cb));
      });
}

AsyncQueueStore::Task<void> AsyncQueueStore::clear_messages(api::QueueRef queue) {
  return run<void>(*this, [&s = store_, queue = std::move(queue)](auto cb) mutable {
    s.clear_messages(std::move(queue), std::move(cb));
  });
}

}  // namespace nimbus::queue
