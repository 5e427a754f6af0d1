#pragma once
// Turns an app folder into a validated AppSpec. Every error names the file, the JSON path and
// the fix. An invalid host.json is fatal; an invalid function.json refuses that function only.
#include <map>
#include <optional>
#include <string>

#include "config/app_spec.h"

namespace nimbus::config {

struct LoadResult {
  std::optional<AppSpec> app;
  std::string fatal;  // set when app is empty
};

LoadResult load_app(const std::string& app_dir);

// Azure's function-name rule: a letter, then letters, digits, '_' or '-'; at most 128.
bool is_valid_function_name(std::string_view name);

// Validates one function definition in function.json form ({"bindings":[...], "disabled":..}).
// Used for function.json files and for functions a native worker reports. `display` names the
// source in errors ("orders/function.json"). On error returns nullopt and sets `error`.
// `settings` resolves "%Name%" in binding properties (app settings, then the environment).
std::optional<api::FunctionSpec> parse_function(const std::string& name, const boost::json::value& doc,
                                           const std::string& display, std::string& error,
                                           const std::map<std::string, std::string>& settings = {});

// Applies host.json content to `app`; returns "" or the first fatal error. Exposed for tests.
std::string apply_host_json(const boost::json::value& doc, AppSpec& app);

// Applies local.settings.json; problems become warnings (as Core Tools does) unless fatal.
void apply_local_settings(const boost::json::value& doc, AppSpec& app);

}  // namespace nimbus::config
