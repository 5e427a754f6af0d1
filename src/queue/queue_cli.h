#pragma once
// `nimbus queue list|create|put|peek|get|delete|clear`: the queue service for people at a
// terminal. It talks HTTP (SharedKey-signed, like any SDK client) to a running host's queue
// endpoint rather than opening nimbus.db itself, because the host owns the database while it
// runs and its trigger must hear about new messages.
// Stateless; call from main() only.
namespace nimbus::queue {

// argv[0] is "queue" (the subcommand name); returns the process exit code
// (0 ok, 1 the service refused or could not be reached, 2 bad command line).
int run_cli(int argc, char** argv);

}  // namespace nimbus::queue
