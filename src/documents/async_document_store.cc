#include "documents/async_document_store.h"

#include <boost/asio/post.hpp>

namespace nimbus::documents {

AsyncDocumentStore::AsyncDocumentStore(api::DocumentStore& store,
                                       boost::asio::any_io_executor executor)
    : store_(store),
      inbox_([executor = std::move(executor)](std::function<void()> f) {
        boost::asio::post(executor, std::move(f));
      }) {}

}  // namespace nimbus::documents
