#include "triggers/document_inputs.h"

#include <boost/asio.hpp>
#include <boost/json.hpp>

#include "bindings/expressions.h"
#include "documents/docsql_query.h"

namespace json = boost::json;
using boost::asio::awaitable;

namespace nimbus::triggers {

awaitable<std::string> DocumentInputs::load(api::Invocation& inv) {
  auto& store = store_.store();
  for (const auto& in : inv.function->inputs) {
    const auto* dp = std::get_if<api::DocumentInputSpec>(&in.spec);
    if (!dp) continue;  // other input kinds are loaded by their own stage
    const auto& d = *dp;
    api::ContainerRef ref{d.database, d.container};
    std::string where = "input binding \"" + in.name + "\" (" + d.database + "/" + d.container + ")";
    std::string error;
    if (!d.id.empty()) {
      auto id = bindings::resolve(d.id, inv, error);
      auto pk = id ? bindings::resolve(d.partition_key, inv, error) : std::nullopt;
      if (!id || !pk) {
        inv.input_from_request_missing = true;
        co_return where + ": " + error;
      }
      auto item = co_await store_.call<api::Item>([&](auto cb) {
        store.read_item(ref, *id, api::PartitionKey{json::string(*pk)}, api::ItemForm::parsed, std::move(cb));
      });
      if (item) {
        inv.inputs.push_back({in.name, json::serialize(item.value().document)});
        continue;
      }
      if (item.error().code != api::DocErrc::not_found) co_return where + ": " + item.error().message;
      // No such item: the function gets null. No such container is a mistake in the binding.
      auto container = co_await store_.call<api::ContainerInfo>(
          [&](auto cb) { store.read_container(ref, std::move(cb)); });
      if (!container) co_return where + ": " + container.error().message;
      inv.inputs.push_back({in.name, "null"});
      continue;
    }
    auto q = bindings::parameterize(d.sql_query, inv, error);
    if (!q) {
      inv.input_from_request_missing = true;
      co_return where + ": " + error;
    }
    json::object params;
    for (auto& [name, value] : q->parameters) params[name] = value;
    auto parsed = documents::DocsqlQuery::parse(q->text, std::move(params));
    if (!parsed) co_return where + ": sqlQuery: " + parsed.error().message;
    std::shared_ptr<const api::DocumentQuery> query = parsed.value();
    json::array rows;
    api::FeedOptions o;
    o.max_item_count = api::kMaxMaxItemCount;
    for (;;) {
      auto page = co_await store_.call<api::Page>(
          [&](auto cb) { store.query(ref, query, o, std::move(cb)); });
      if (!page) co_return where + ": " + page.error().message;
      for (auto& row : page.value().items) rows.push_back(std::move(row));
      if (rows.size() > kMaxQueryRows)
        co_return where + ": sqlQuery returned more than " + std::to_string(kMaxQueryRows) +
                  " rows; narrow it (WHERE, TOP) so one invocation's input stays small";
      if (page.value().continuation.empty()) break;
      o.continuation = std::move(page.value().continuation);
    }
    inv.inputs.push_back({in.name, json::serialize(rows)});
  }
  co_return std::string();
}

}  // namespace nimbus::triggers
