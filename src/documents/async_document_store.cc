#include "documents/async_document_store.h"

#include <boost/asio/post.hpp>

namespace nimbus::documents {

AsyncDocumentStore::AsyncDocumentStore(api::DocumentStore& store,
                                       boost::asio::any_io_executor executor)
    : store_(store), executor_(std::move(executor)) {}

void AsyncDocumentStore::deliver(std::function<void()> resume) {
  bool post;
  {
    std::lock_guard lk(inbox_->mu);
    inbox_->items.push_back(std::move(resume));
    post = !inbox_->drain_posted;
    inbox_->drain_posted = true;
  }
  if (post) boost::asio::post(executor_, [inbox = inbox_] { drain(inbox); });
}

void AsyncDocumentStore::drain(const std::shared_ptr<Inbox>& inbox) {
  std::vector<std::function<void()>> items;
  {
    std::lock_guard lk(inbox->mu);
    items.swap(inbox->items);
    inbox->drain_posted = false;
  }
  for (auto& resume : items) resume();
}

}  // namespace nimbus::documents
