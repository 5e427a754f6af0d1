#pragma once
// `nimbus durable ...`: a client of a running host's durable management API
// (/runtime/webhooks/durabletask), for starting and inspecting orchestrations from a shell.
namespace nimbus::durable {

// argv[0] is "durable". Returns the exit code (0 ok, 1 the host refused, 2 bad usage or no host).
int run_durable_cli(int argc, char** argv);

}  // namespace nimbus::durable
