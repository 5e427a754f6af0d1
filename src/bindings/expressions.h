#pragma once
// Binding expressions: "{name}" placeholders in binding properties (a queue output's
// queueName, a document input's id, partitionKey and sqlQuery, a moderation input's text),
// resolved per invocation from its trigger data, as Azure Functions resolves them:
//   any trigger      {rand-guid} {DateTime} {sys.MethodName} {sys.UtcNow} {sys.RandGuid}
//   httpTrigger      {<route parameter>} {Query.<name>} {Headers.<name>}, then {<property>} of
//                    a body that is a JSON object (route parameters win over the body)
//   queueTrigger     {queueTrigger} (the message text) {Id} {DequeueCount} {InsertionTime}
//                    {ExpirationTime} {NextVisibleTime} {PopReceipt}, and {<property>} of a
//                    message that is a JSON object
//   activityTrigger  {<property>} of an input that is a JSON object
// Properties are top-level only, with string, number or boolean values (numbers and booleans
// as JSON writes them). Names match case-insensitively. "%Setting%" (app settings) is resolved
// earlier, at load. Because a body, message or input property is only known when it arrives,
// check_template accepts any name for HTTP, queue and activity triggers; resolve() then fails
// the invocation with an error naming the expression. Not supported (yet): nested paths ({a.b}).
#include <optional>
#include <string>
#include <string_view>
#include <vector>

#include "api/invocation.h"

namespace nimbus::bindings {

struct TemplatePart {
  bool expression = false;
  std::string text;  // literal text, or the expression without braces
};

// Splits "{id}-x-{Query.kind}" into parts. nullopt (with `error`) for an unclosed or empty
// brace, or a brace inside an expression. "{{" and "}}" are not escapes in Azure; neither here.
std::optional<std::vector<TemplatePart>> parse_template(std::string_view tmpl, std::string& error);

// Checks at load time that every expression in `tmpl` can be resolved for a function with
// this trigger ("" or why not, with the names that would work). `route_params` are the HTTP
// route's parameter names.
std::string check_template(std::string_view tmpl, const api::FunctionSpec& fn,
                           const std::vector<std::string>& route_params);

// Resolves `tmpl` for one invocation; nullopt (with `error` naming the expression) when the
// trigger data has no such value (a missing query parameter, a message that is not JSON).
std::optional<std::string> resolve(std::string_view tmpl, const api::Invocation& inv,
                                   std::string& error);

// A cosmosDB input's sqlQuery with each binding expression turned into a query parameter
// ("... = {customer}" -> "... = @_p0", {"@_p0": "acme"}), so no value is ever spliced into the
// query text. Values are strings, as the trigger data holds them. nullopt as resolve().
struct ParameterizedQuery {
  std::string text;
  std::vector<std::pair<std::string, std::string>> parameters;
};
std::optional<ParameterizedQuery> parameterize(std::string_view tmpl, const api::Invocation& inv,
                                               std::string& error);

}  // namespace nimbus::bindings
