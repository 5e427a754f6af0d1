// nimbus-worker: loads a native app's shared library and serves its functions to the host
// over the socketpair inherited as fd 3 (protocol in native_protocol.h). One invocation at a
// time; the host runs several workers for parallelism, so a crash or hang in user code costs
// one process, never the host.
#include <dlfcn.h>
#include <signal.h>
#include <sys/prctl.h>
#include <unistd.h>

#include <boost/json.hpp>
#include <cstdio>
#include <cstring>
#include <string>

#include "workers/native_protocol.h"

namespace json = boost::json;
using namespace nimbus;

namespace {

bool write_all(int fd, const std::string& s) {
  const char* p = s.data();
  size_t n = s.size();
  while (n > 0) {
    ssize_t w = ::write(fd, p, n);
    if (w <= 0) {
      if (w < 0 && errno == EINTR) continue;
      return false;
    }
    p += w;
    n -= static_cast<size_t>(w);
  }
  return true;
}

bool send(int fd, const json::object& header, std::string_view body) {
  std::string out;
  workers::encode_frame(header, body, out);
  return write_all(fd, out);
}

}  // namespace

int main(int argc, char** argv) {
  if (argc != 2) {
    std::fprintf(stderr, "usage: nimbus-worker LIBRARY (started by the nimbus host)\n");
    return 2;
  }
  // Die with the host: a worker must never outlive the process that supervises it.
  prctl(PR_SET_PDEATHSIG, SIGKILL);
  signal(SIGPIPE, SIG_IGN);
  // stdout is a pipe to the host, which logs it line by line: flush each line, or what user
  // code printed before a crash would be lost in the buffer.
  std::setvbuf(stdout, nullptr, _IOLBF, 0);
  const int fd = workers::kWorkerFd;
  void* lib = dlopen(argv[1], RTLD_NOW | RTLD_LOCAL);
  if (!lib) {
    std::fprintf(stderr, "nimbus-worker: cannot load %s: %s\n", argv[1], dlerror());
    return 3;
  }
  auto version = reinterpret_cast<int (*)()>(dlsym(lib, "nimbus_sdk_version"));
  auto define = reinterpret_cast<void (*)(App&)>(dlsym(lib, "nimbus_define_app"));
  if (!version || !define) {
    std::fprintf(stderr,
                 "nimbus-worker: %s does not define an app; add NIMBUS_APP(app) { ... } to it\n",
                 argv[1]);
    return 3;
  }
  if (version() != kSdkVersion) {
    std::fprintf(stderr, "nimbus-worker: %s was built against SDK %d, this worker speaks %d; "
                         "rebuild the app\n", argv[1], version(), kSdkVersion);
    return 3;
  }
  App app;
  define(app);
  if (!send(fd, json::object{{"type", "ready"}, {"sdk", kSdkVersion},
                             {"functions", workers::describe_functions(app)}}, {}))
    return 4;

  // The host may queue several invocations on this connection: read what is there, run the
  // complete frames in order, and write all their results at once before blocking again.
  std::string in, out;
  size_t pos = 0;
  for (;;) {
    uint32_t hl = 0, bl = 0;
    bool have_prefix = in.size() - pos >= 8;
    if (have_prefix &&
        !workers::decode_prefix(reinterpret_cast<const unsigned char*>(in.data() + pos), hl, bl,
                                UINT32_MAX))
      return 5;
    if (!have_prefix || in.size() - pos < 8 + size_t(hl) + bl) {
      if (!out.empty()) {
        if (!write_all(fd, out)) return 0;
        out.clear();
      }
      in.erase(0, pos);
      pos = 0;
      char buf[64 * 1024];
      ssize_t n = ::read(fd, buf, sizeof buf);
      if (n < 0 && errno == EINTR) continue;
      if (n <= 0) return 0;  // host closed: done
      in.append(buf, static_cast<size_t>(n));
      continue;
    }
    // Parsed into a stack buffer: one header per invocation, no allocation for its values.
    unsigned char scratch[4096];
    json::monotonic_resource mr(scratch, sizeof scratch);
    json::value parsed(&mr);
    const json::object* h =
        workers::decode_header(std::string_view(in).substr(pos + 8, hl), parsed);
    if (!h) return 5;
    const json::object& header = *h;
    std::string body = in.substr(pos + 8 + hl, bl);
    pos += 8 + size_t(hl) + bl;
    auto text = [&](std::string_view key) {
      auto* v = header.if_contains(key);
      return v && v->is_string() ? std::string(v->as_string()) : std::string();
    };
    std::string id = text("id");
    std::string name = text("function");
    Context ctx(id, name);
    const App::Function* fn = app.find(name);
    if (!fn) {
      workers::encode_error_frame("no function named \"" + name + "\" in this app", ctx, out);
      continue;
    }
    HttpResponse res;
    std::string error;
    if (workers::run_function(*fn, header, std::move(body), ctx, res, error))
      workers::encode_result_frame(res, ctx, out);
    else
      workers::encode_error_frame(error, ctx, out);
  }
}
