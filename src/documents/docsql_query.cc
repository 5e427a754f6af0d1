#include "documents/docsql_query.h"

#include <boost/json/serialize.hpp>

namespace nimbus::documents {

namespace {

api::DocError to_error(const docsql::QueryError& e) {
  return api::DocError{api::DocErrc::bad_request, e.to_string()};
}

// Adapts the store's pull function to the engine's source interface.
class FunctionSource final : public docsql::DocumentSource {
 public:
  explicit FunctionSource(const std::function<const boost::json::object*()>& next) : next_(next) {}
  const boost::json::object* next() override { return next_ ? next_() : nullptr; }

 private:
  const std::function<const boost::json::object*()>& next_;
};

}  // namespace

api::DocResult<std::shared_ptr<const DocsqlQuery>> DocsqlQuery::parse(std::string_view text,
                                                                      boost::json::object params) {
  auto q = docsql::parse_query(text);
  if (!q) return to_error(q.error());
  return std::shared_ptr<const DocsqlQuery>(new DocsqlQuery(std::move(q.value()), std::move(params)));
}

api::DocResult<std::shared_ptr<const api::DocumentQuery>> DocsqlQuery::for_container(const api::ContainerSpec& spec) const {
  docsql::ContainerDefinitions defs;
  defs.computed.reserve(spec.computed_properties.size());
  for (const auto& [name, text] : spec.computed_properties) {
    auto d = docsql::parse_computed_property(text);
    if (!d)
      return api::DocError{api::DocErrc::bad_request, "computed property \"" + name + "\": " + d.error().to_string()};
    defs.computed.push_back({name, std::move(d.value())});
  }
  // The policy was checked when the container was written: "/a/b" paths, known functions.
  if (const auto* list = spec.vector_embedding_policy.if_contains("vectorEmbeddings"); list && list->is_array())
    for (const auto& e : list->get_array()) {
      const auto* path = e.is_object() ? e.get_object().if_contains("path") : nullptr;
      const auto* fn = e.is_object() ? e.get_object().if_contains("distanceFunction") : nullptr;
      if (!path || !path->is_string() || !fn || !fn->is_string()) continue;
      std::vector<std::string> steps;
      std::string_view p = path->get_string();
      while (!p.empty()) {
        p.remove_prefix(p.front() == '/' ? 1 : 0);
        size_t n = p.find('/');
        if (n != 0 && !p.empty()) steps.emplace_back(p.substr(0, n));
        if (n == std::string_view::npos) break;
        p.remove_prefix(n);
      }
      defs.vector_functions.emplace_back(std::move(steps), std::string(fn->get_string()));
    }
  if (defs.computed.empty() && defs.vector_functions.empty())
    return std::shared_ptr<const api::DocumentQuery>(new DocsqlQuery(query_, params_));
  auto q = docsql::parse_query(query_->text, {}, &defs);
  if (!q) return to_error(q.error());
  return std::shared_ptr<const api::DocumentQuery>(new DocsqlQuery(std::move(q.value()), params_));
}

api::QueryHints DocsqlQuery::hints(std::string_view partition_key_path) const {
  docsql::IndexHints h = docsql::index_hints(*query_, params_, partition_key_path);
  api::QueryHints out;
  out.reads_documents = h.reads_documents;
  out.partition_key = std::move(h.partition_key);
  if (h.order) {
    out.order_path = std::move(h.order->path);
    out.order_descending = h.order->descending;
  }
  if (h.vector_order) {
    api::QueryHints::VectorOrder v;
    v.path = std::move(h.vector_order->path);
    v.query = std::move(h.vector_order->query);
    using D = docsql::VectorOrderHint::Distance;
    using A = api::QueryHints::VectorOrder::Distance;
    v.distance = h.vector_order->distance == D::cosine ? A::cosine : h.vector_order->distance == D::dot_product ? A::dot_product : A::euclidean;
    v.descending = h.vector_order->descending;
    v.unscored_last = h.vector_order->unscored_last;
    out.vector_order = std::move(v);
  }
  out.take = h.take;
  out.skip = h.skip;
  out.count_only = h.count_only;
  const docsql::Query& q = *query_;
  // Each document's rows depend on it alone, and no row count cuts the answer.
  bool per_document = q.has_from && !q.distinct && !q.grouped && !q.top.present && !q.offset.present && !q.limit.present;
  out.streams = per_document && q.order_by.empty();
  out.order_streams = per_document && out.order_path && q.order_by.size() == 1 && q.joins.empty() &&
                      !q.from.iterate && q.from.path.empty();
  out.predicates.reserve(h.predicates.size());
  for (auto& p : h.predicates) {
    api::IndexPredicate ip;
    ip.path = std::move(p.path);
    switch (p.op) {
      case docsql::PredOp::eq: ip.op = api::IndexPredicate::Op::eq; break;
      case docsql::PredOp::in: ip.op = api::IndexPredicate::Op::in; break;
      case docsql::PredOp::lt: ip.op = api::IndexPredicate::Op::lt; break;
      case docsql::PredOp::le: ip.op = api::IndexPredicate::Op::le; break;
      case docsql::PredOp::gt: ip.op = api::IndexPredicate::Op::gt; break;
      case docsql::PredOp::ge: ip.op = api::IndexPredicate::Op::ge; break;
      case docsql::PredOp::text: ip.op = api::IndexPredicate::Op::text; break;
    }
    ip.values = std::move(p.values);
    out.predicates.push_back(std::move(ip));
  }
  return out;
}

api::DocResult<std::vector<boost::json::value>> DocsqlQuery::run(
    const std::function<const boost::json::object*()>& next) const {
  FunctionSource source(next);
  auto rows = docsql::execute(*query_, params_, source);
  if (!rows) return to_error(rows.error());
  return std::move(rows.value());
}

std::string DocsqlQuery::identity() const { return query_->text + "\n" + boost::json::serialize(params_); }

}  // namespace nimbus::documents
