#include "workers/custom_handler_protocol.h"
#include <cstdio>
#include <cstdlib>
using namespace nimbus;
int main(int argc, char** argv) {
  int n = argc > 1 ? atoi(argv[1]) : 10000;
  api::FunctionSpec f; f.name = "hello"; f.trigger = api::HttpTriggerSpec{}; f.trigger_name = "req";
  f.outputs.push_back({"res", api::HttpOutputSpec{}});
  api::HttpRequestData req; req.method = "GET"; req.target = "/api/hello/bench"; req.host = "127.0.0.1:18303";
  req.path = req.target; req.params = {{"name", "bench"}}; req.headers = {{"Host", "127.0.0.1:18303"}};
  api::Invocation inv{"inv-1", &f, &req, false, {}, {}};
  size_t total = 0;
  std::string ans = R"({"Outputs":{"res":{"statusCode":200,"headers":{"Content-Type":"application/json"},"body":"{\"hello\":\"bench\",\"from\":\"node\"}"}},"Logs":["greeting bench"],"ReturnValue":null})";
  int mode = argc > 2 ? atoi(argv[2]) : 0;
  for (int i = 0; i < n; ++i) {
    if (mode == 0) total += workers::build_invocation_body(inv).size();
    else { api::InvocationResult r; std::string d; workers::map_invocation_response(f, 200, ans, r, d); total += r.response.body.size(); }
  }
  printf("%zu\n", total);
}
