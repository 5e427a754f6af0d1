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
