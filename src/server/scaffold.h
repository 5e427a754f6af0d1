#pragma once
// Scaffolding: `nimbus init` writes a new app folder that runs as written (native C++, Node or
// Python custom handler, one HTTP function "hello"); `nimbus new` adds a function to one. The
// templates are strings in scaffold.cc; nothing is downloaded.
#include <string>

namespace nimbus::server {

// `nimbus init DIR --worker native|node|python`. argv[0] is "init"; `exe_dir` is the folder of
// the running nimbus binary (where the SDK's CMake package is looked for). Returns the exit code.
int run_init(int argc, char** argv, const std::string& exe_dir);

// `nimbus new NAME --template http|queue [--queue Q] [DIR]`. argv[0] is "new".
int run_new(int argc, char** argv);

}  // namespace nimbus::server
