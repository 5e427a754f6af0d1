// A native app that misbehaves on purpose, for isolation tests: it crashes, hangs and throws
// on request, and answers normally otherwise.
#include <nimbus/nimbus.h>
#include <unistd.h>

#include <cstdlib>
#include <stdexcept>

NIMBUS_APP(app) {
  nimbus::HttpOptions anon{.auth = nimbus::AuthLevel::anonymous};
  app.http("ok", anon, [](const nimbus::HttpRequest&, nimbus::Context&) {
    return nimbus::HttpResponse::text(200, "ok pid " + std::to_string(::getpid()));
  });
  app.http("crash", anon, [](const nimbus::HttpRequest&, nimbus::Context& ctx) -> nimbus::HttpResponse {
    ctx.log("about to crash");
    std::abort();
  });
  app.http("hang", anon, [](const nimbus::HttpRequest&, nimbus::Context&) -> nimbus::HttpResponse {
    for (;;) ::pause();
  });
  app.http("throw", anon, [](const nimbus::HttpRequest&, nimbus::Context&) -> nimbus::HttpResponse {
    throw std::runtime_error("boom from user code");
  });
  app.http("exit", anon, [](const nimbus::HttpRequest&, nimbus::Context&) -> nimbus::HttpResponse {
    ::_exit(7);
  });
  app.http("slow", anon, [](const nimbus::HttpRequest&, nimbus::Context&) {
    ::usleep(500 * 1000);
    return nimbus::HttpResponse::text(200, "slow ok");
  });
  app.http("inject", anon, [](const nimbus::HttpRequest&, nimbus::Context&) {
    nimbus::HttpResponse r = nimbus::HttpResponse::text(200, "body");
    r.headers.emplace_back("X-Note", "a\r\nX-Evil: 1");  // must not split the response
    r.headers.emplace_back("Content-Length", "999");      // framing is the host's
    return r;
  });
  app.http("admin-only", {.auth = nimbus::AuthLevel::admin},
           [](const nimbus::HttpRequest&, nimbus::Context&) {
             return nimbus::HttpResponse::text(200, "admin ok");
           });
}
