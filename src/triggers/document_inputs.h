#pragma once
// The input stage of the invocation pipeline for cosmosDB input bindings: before a function
// runs, each of its DocumentInputSpecs is read from the built-in store, its binding
// expressions resolved from the invocation's trigger data, and the value handed to the worker
// as JSON text (api::Invocation::inputs): the document, or null when no item has that id and
// partition key (Azure passes null too); for sqlQuery the array of every row.
//
// A read that fails for another reason (no such container, an expression with no value, a
// query that does not parse) fails the invocation with the cause; the function does not run.
// Threading: the host's single I/O thread.
#include <boost/asio/awaitable.hpp>
#include <string>

#include "api/invocation.h"
#include "documents/async_document_store.h"

namespace nimbus::triggers {

class DocumentInputs {
 public:
  // Query results above this many rows fail the invocation: an input is one payload.
  static constexpr size_t kMaxQueryRows = 10000;

  explicit DocumentInputs(documents::AsyncDocumentStore& store) : store_(store) {}
  // Fills inv.inputs; "" on success, else why the function cannot run.
  boost::asio::awaitable<std::string> load(api::Invocation& inv);

 private:
  documents::AsyncDocumentStore& store_;
};

}  // namespace nimbus::triggers
