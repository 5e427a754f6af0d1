#pragma once
// Shared access signatures of the queue service: account SAS and queue service SAS (with
// stored access policies from Set Queue ACL), checked as Azure checks them. Why: the Azure
// SDKs hand out SAS URLs and SAS connection strings to code that must not hold the account
// key; we must accept exactly what they sign and refuse, with the service's codes, what the
// signature does not grant.
// Plain functions on values; the service fetches a stored policy (async) between the two
// checks. Thread-safe.
#include <cstdint>
#include <optional>
#include <string>
#include <string_view>
#include <vector>

#include "api/queue_store.h"
#include "queue/queue_protocol.h"
#include "queue/shared_key.h"

namespace nimbus::queue {

// The SAS fields of a request's query, percent-decoded, as the client signed them.
struct SasToken {
  std::string sv, ss, srt, sp, st, se, sip, spr, si, ses, sig;
  // User delegation SAS fields (skoid, sktid, ...): not supported here, named in the refusal.
  std::string unsupported_field;
  bool account() const { return !ss.empty() || !srt.empty(); }
};

// Whether `name` (lower-case) is a SAS field: such pairs authorize, they do not run.
bool is_sas_field(std::string_view name);
// The SAS of a query, or nullopt when it carries no `sig` (then it is not a SAS request).
std::optional<SasToken> sas_token(const std::vector<QueryPair>& query);

// The strings the client signs (Azure's "Create an account SAS" / "Create a service SAS"):
// account SAS from 2015-04-05 (with the encryption-scope line from 2020-12-06), queue service
// SAS from 2012-02-12 (the service name in the resource from 2015-02-21, `sip` and `spr` from
// 2015-04-05).
std::string account_sas_string_to_sign(std::string_view account, const SasToken& t);
std::string queue_sas_string_to_sign(std::string_view account, std::string_view queue,
                                     const SasToken& t);

// The queue service's operations, as SAS permissions and OAuth rules name them.
enum class QueueOp {
  list_queues,
  get_service_properties,
  set_service_properties,
  get_service_stats,
  create_queue,
  delete_queue,
  get_queue_metadata,
  set_queue_metadata,
  get_queue_acl,
  set_queue_acl,
  put_message,
  get_messages,
  peek_messages,
  clear_messages,
  delete_message,
  update_message,
  other,  // no operation: the service answers it with an error and touches nothing
};
// What the service's dispatch will run for this request (the same conditions, in the same
// order); `query` is the map the dispatch reads.
QueueOp classify_operation(std::string_view method, Route::Kind kind,
                           const std::map<std::string, std::string>& query);
std::string_view op_name(QueueOp op);

// The request as the SAS checks see it.
struct SasRequest {
  std::string_view account;  // from the URL (the primary's name for "-secondary")
  std::string_view queue;    // decoded; empty for account-level operations
  QueueOp op = QueueOp::other;
  bool https = false;           // from the connection
  std::string_view client_ip;   // from the connection
  int64_t now_ms = 0;
};

// A refusal as the client sees it (ServiceError), or ok.
struct SasDecision {
  bool ok = true;
  ServiceError error;
};

// Step 1, before any store access: fields well formed, version supported, signature made with
// one of the account's keys. A service SAS naming a stored policy (`si`) then needs step 2
// with that policy.
SasDecision verify_sas_signature(const AccountSet& accounts, const SasToken& t,
                                 const SasRequest& r);
// Step 2: the grant. `policy` is the queue's stored access policy named by `si` (nullptr when
// the queue has none of that id; ignored without `si`). Checks start/expiry, IP range,
// protocol, and the service / resource type / permission the operation needs.
SasDecision authorize_sas(const SasToken& t, const api::SignedIdentifier* policy,
                          const SasRequest& r);

// "2026-11-29", "2026-11-29T10:00Z", "2026-11-29T10:00:00Z" or with fractional seconds, as
// SAS start and expiry times are written: Unix ms, else nullopt.
std::optional<int64_t> parse_sas_time(std::string_view text);
// Dotted IPv4 as a number; nullopt for anything else.
std::optional<uint32_t> parse_ipv4(std::string_view text);

}  // namespace nimbus::queue
