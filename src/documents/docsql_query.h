#pragma once
// The SQL engine (query/, nimbus_docsql) behind api::DocumentQuery: what the document service
// hands a store for a query. Parses and binds once; the store asks it for index hints and runs
// it over the candidate documents it chose (the engine re-checks every predicate).
//
// Why here and not in storage: storage may not depend on documents (scripts/
// check_module_deps.py), so the store sees only the api/ interface and this adapter lives with
// the engine. Immutable after creation; one instance may run on many threads at once.
#include <memory>
#include <string_view>

#include <boost/json/object.hpp>

#include "api/document_store.h"
#include "documents/query/query.h"

namespace nimbus::documents {

class DocsqlQuery final : public api::DocumentQuery {
 public:
  // Parses `text`; a syntax or binding error is a bad_request whose message carries the
  // position and the token (what the REST layer answers with 400). `params` is keyed by the
  // name with '@' ({"@id": "a1"}).
  static api::DocResult<std::shared_ptr<const DocsqlQuery>> parse(std::string_view text,
                                                                  boost::json::object params);

  api::QueryHints hints(std::string_view partition_key_path) const override;
  api::DocResult<std::vector<boost::json::value>> run(
      const std::function<const boost::json::object*()>& next) const override;

  api::DocResult<std::shared_ptr<const api::DocumentQuery>> for_container(const api::ContainerSpec& spec) const override;

  std::string identity() const override;

  const docsql::Query& query() const { return *query_; }
  const boost::json::object& params() const { return params_; }

 private:
  DocsqlQuery(std::shared_ptr<const docsql::Query> q, boost::json::object params)
      : query_(std::move(q)), params_(std::move(params)) {}
  std::shared_ptr<const docsql::Query> query_;
  boost::json::object params_;
};

}  // namespace nimbus::documents
