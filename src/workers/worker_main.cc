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

bool read_all(int fd, char* p, size_t n) {
  while (n > 0) {
    ssize_t r = ::read(fd, p, n);
    if (r <= 0) {
      if (r < 0 && errno == EINTR) continue;
      return false;
    }
    p += r;
    n -= static_cast<size_t>(r);
  }
  return true;
}

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

  std::string header_text, body;
  for (;;) {
    unsigned char prefix[8];
    if (!read_all(fd, reinterpret_cast<char*>(prefix), 8)) return 0;  // host closed: done
    uint32_t hl, bl;
    if (!workers::decode_prefix(prefix, hl, bl, UINT32_MAX)) return 5;
    header_text.resize(hl);
    body.resize(bl);
    if (!read_all(fd, header_text.data(), hl) || !read_all(fd, body.data(), bl)) return 0;
    json::object header;
    if (!workers::decode_header(header_text, header)) return 5;
    std::string id = header.contains("id") && header["id"].is_string()
                         ? std::string(header["id"].as_string()) : std::string();
    std::string name = header.contains("function") && header["function"].is_string()
                           ? std::string(header["function"].as_string()) : std::string();
    Context ctx(id, name);
    const App::Function* fn = app.find(name);
    if (!fn) {
      if (!send(fd, workers::error_header("no function named \"" + name + "\" in this app", ctx),
                {}))
        return 0;
      continue;
    }
    HttpResponse res;
    std::string error;
    bool ok = workers::run_function(*fn, header, std::move(body), ctx, res, error);
    body.clear();
    if (!(ok ? send(fd, workers::result_header(res, ctx), res.body)
             : send(fd, workers::error_header(error, ctx), {})))
      return 0;
  }
}
