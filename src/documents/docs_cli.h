#pragma once
// `nimbus docs ...`: a small client of the document service's Cosmos DB REST API (the host's,
// or nimbus-docs-server), signing every request with the master key as the SDKs do. For
// looking at and fixing data by hand; programs use an SDK.
namespace nimbus::documents {

// argv[0] is "docs". Returns the process exit code (0 ok, 1 the service refused, 2 bad usage
// or no service).
int run_docs_cli(int argc, char** argv);

}  // namespace nimbus::documents
