// A native timer function for tests: every second, it logs whether the run was past due and
// the schedule status it was given.
#include <nimbus/nimbus.h>

NIMBUS_APP(app) {
  app.timer("beat", {.schedule = "*/1 * * * * *", .run_on_startup = true},
            [](const nimbus::TimerInfo& timer, nimbus::Context& ctx) {
              ctx.log(std::string("beat past_due=") + (timer.is_past_due ? "true" : "false") +
                      " json=" + timer.json);
            });
}
