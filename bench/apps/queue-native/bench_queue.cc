// Queue-trigger benchmark functions: "drain" does nothing but stamp the time (messages/s through
// the trigger, timed from the first invocation to the last), "latency" reports how long after
// the producer's put began the function started.
//
// Stamps: when NIMBUS_BENCH_STAMPS names a file of 24 zero bytes, every "drain" invocation
// updates three 64-bit counters in it through a shared mapping (both worker processes map the
// same file): the earliest start and the latest end, in wall-clock microseconds, and the count.
#include <fcntl.h>
#include <nimbus/nimbus.h>
#include <sys/mman.h>
#include <unistd.h>

#include <atomic>
#include <chrono>
#include <cstdint>
#include <cstdlib>
#include <string>

namespace {

struct Stamps {
  uint64_t first_us, last_us, count;
};

Stamps* stamps() {
  static Stamps* mapped = [] () -> Stamps* {
    const char* path = std::getenv("NIMBUS_BENCH_STAMPS");
    if (!path || !*path) return nullptr;
    int fd = ::open(path, O_RDWR | O_CLOEXEC);
    if (fd < 0) return nullptr;
    void* p = ::mmap(nullptr, sizeof(Stamps), PROT_READ | PROT_WRITE, MAP_SHARED, fd, 0);
    ::close(fd);
    return p == MAP_FAILED ? nullptr : static_cast<Stamps*>(p);
  }();
  return mapped;
}

uint64_t now_us() {
  return std::chrono::duration_cast<std::chrono::microseconds>(
             std::chrono::system_clock::now().time_since_epoch()).count();
}

void stamp(uint64_t start, uint64_t end) {
  Stamps* s = stamps();
  if (!s) return;
  std::atomic_ref<uint64_t> first(s->first_us), last(s->last_us), count(s->count);
  uint64_t cur = first.load();
  while ((cur == 0 || start < cur) && !first.compare_exchange_weak(cur, start)) {
  }
  cur = last.load();
  while (end > cur && !last.compare_exchange_weak(cur, end)) {
  }
  count.fetch_add(1);
}

}  // namespace

NIMBUS_APP(app) {
  app.queue("drain", {.queue = "bench-in"}, [](const nimbus::QueueMessage&, nimbus::Context&) {
    uint64_t t = now_us();
    stamp(t, now_us());
  });
  app.queue("latency", {.queue = "lat-in", .outputs = {{"out", "lat-out"}}},
            [](const nimbus::QueueMessage& m, nimbus::Context& ctx) {
    // The text is the producer's wall clock in microseconds when it began the put.
    auto now = std::chrono::duration_cast<std::chrono::microseconds>(
                   std::chrono::system_clock::now().time_since_epoch()).count();
    ctx.output("out", std::to_string(now - std::stoll(m.text)));
  });
}
