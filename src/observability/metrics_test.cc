#include "observability/metrics.h"

#include <gtest/gtest.h>

TEST(Metrics, RendersPrometheusText) {
  nimbus::observability::Metrics m;
  m.invocation_started();
  m.invocation_finished("hello", "http", "succeeded", 0.002);
  m.invocation_started();
  m.worker_started("native");
  m.worker_crashed("native");
  std::string t = m.render();
  EXPECT_NE(t.find("nimbus_invocations_total{function=\"hello\",trigger=\"http\",status=\"succeeded\"} 1"),
            std::string::npos);
  EXPECT_NE(t.find("nimbus_invocation_duration_seconds_bucket{function=\"hello\",le=\"0.0025\"} 1"),
            std::string::npos);
  EXPECT_NE(t.find("nimbus_invocation_duration_seconds_bucket{function=\"hello\",le=\"0.001\"} 0"),
            std::string::npos);
  EXPECT_NE(t.find("nimbus_invocations_in_flight 1"), std::string::npos);
  EXPECT_NE(t.find("nimbus_worker_crashes_total{kind=\"native\"} 1"), std::string::npos);
}

TEST(Metrics, ProcessMetricsDescribeThisProcess) {
  std::string text = nimbus::observability::Metrics::render_process();
  for (const char* name : {"process_cpu_seconds_total ", "process_resident_memory_bytes ",
                           "process_virtual_memory_bytes ", "process_start_time_seconds ",
                           "process_open_fds ", "process_max_fds "})
    EXPECT_NE(text.find(name), std::string::npos) << name << " missing in\n" << text;
  auto value = [&](const std::string& name) {
    auto at = text.find("\n" + name + " ");
    return at == std::string::npos ? -1.0 : std::stod(text.substr(at + name.size() + 2));
  };
  EXPECT_GT(value("process_resident_memory_bytes"), 1e5);
  EXPECT_GE(value("process_open_fds"), 3);  // stdin, stdout, stderr at least
  EXPECT_GT(value("process_start_time_seconds"), 1.7e9);
}
