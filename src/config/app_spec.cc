#include "config/app_spec.h"

namespace nimbus::config {

const char* auth_level_name(AuthLevel level) {
  switch (level) {
    case AuthLevel::anonymous: return "anonymous";
    case AuthLevel::function: return "function";
    case AuthLevel::admin: return "admin";
  }
  return "function";
}

}  // namespace nimbus::config
