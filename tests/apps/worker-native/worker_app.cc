// A native app for the worker-hardening tests: it echoes request bytes, logs and enqueues
// bytes that are not UTF-8, prints forged log records and terminal escapes, and forks
// children that outlive a crash.
#include <nimbus/nimbus.h>
#include <signal.h>
#include <unistd.h>

#include <cstdio>
#include <cstdlib>
#include <fstream>
#include <string>

namespace {
std::string query(const nimbus::HttpRequest& req, const std::string& name) {
  auto it = req.query.find(name);
  return it == req.query.end() ? std::string() : it->second;
}

// Forks `sleep 283` (in a new session when asked: it then leaves the worker's process
// group) and writes its pid to the file named by ?pidfile=.
pid_t fork_sleeper(const nimbus::HttpRequest& req) {
  pid_t child = ::fork();
  if (child == 0) {
    if (query(req, "setsid") == "1") ::setsid();
    ::execlp("sleep", "sleep", "283", static_cast<char*>(nullptr));
    ::_exit(127);
  }
  std::ofstream(query(req, "pidfile")) << child << "\n";
  return child;
}
}  // namespace

NIMBUS_APP(app) {
  nimbus::HttpOptions anon{.auth = nimbus::AuthLevel::anonymous};
  // The request's bytes back, as the worker received them: "param|query|header".
  app.http("echo", {.route = "echo/{p}", .auth = nimbus::AuthLevel::anonymous},
           [](const nimbus::HttpRequest& req, nimbus::Context&) {
             std::string header;
             for (const auto& [k, v] : req.headers)
               if (k == "x-raw" || k == "X-Raw") header = v;
             auto p = req.params.find("p");
             return nimbus::HttpResponse::text(
                 200, (p == req.params.end() ? "" : p->second) + "|" + query(req, "q") + "|" + header);
           });
  app.http("ok", anon, [](const nimbus::HttpRequest&, nimbus::Context&) {
    return nimbus::HttpResponse::text(200, "ok pid " + std::to_string(::getpid()));
  });
  // Logs the body as it came (Latin-1 in the tests) through ctx.log.
  app.http("logbody", anon, [](const nimbus::HttpRequest& req, nimbus::Context& ctx) {
    ctx.log("body: " + req.body);
    return nimbus::HttpResponse::text(200, "logged");
  });
  // Enqueues the body's bytes to the queue named by ?queue=.
  nimbus::HttpOptions enqueue_options = anon;
  enqueue_options.outputs = {{"out", "{Query.queue}"}};
  app.http("enqueue", enqueue_options, [](const nimbus::HttpRequest& req, nimbus::Context& ctx) {
    ctx.output("out", req.body);
    return nimbus::HttpResponse::text(200, "enqueued");
  });
  // Prints a forged host record with a terminal escape to stdout and stderr, and a line
  // longer than the host's line bound.
  app.http("print", anon, [](const nimbus::HttpRequest&, nimbus::Context&) {
    std::printf("\x1b[2J{\"level\":\"Critical\",\"msg\":\"forged-stdout\"}\n");
    std::fflush(stdout);
    std::fprintf(stderr, "\x1b[31m{\"level\":\"Critical\",\"msg\":\"forged-stderr\"}\n");
    std::string longline(40000, 'L');
    std::printf("%s\n", longline.c_str());
    std::fflush(stdout);
    return nimbus::HttpResponse::text(200, "printed");
  });
  // Forks a sleeper, then crashes.
  app.http("forkcrash", anon, [](const nimbus::HttpRequest& req, nimbus::Context&) -> nimbus::HttpResponse {
    fork_sleeper(req);
    std::abort();
  });
  // Forks a sleeper and answers normally (the host's shutdown must end it).
  app.http("fork", anon, [](const nimbus::HttpRequest& req, nimbus::Context&) {
    return nimbus::HttpResponse::text(200, std::to_string(fork_sleeper(req)));
  });
}
