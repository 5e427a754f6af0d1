#include "common/trace.h"

#include <gtest/gtest.h>

namespace nimbus {
namespace {

TEST(TraceContext, ParsesValidHeadersAsTheSpecSays) {
  auto t = TraceContext::parse("00-4bf92f3577b34da6a3ce929d0e0e4736-00f067aa0ba902b7-01");
  ASSERT_TRUE(t);
  EXPECT_EQ(t->trace_id, "4bf92f3577b34da6a3ce929d0e0e4736");
  EXPECT_EQ(t->span_id, "00f067aa0ba902b7");
  EXPECT_EQ(t->flags, "01");
  // A future version may add fields after a dash; version 00 may not.
  EXPECT_TRUE(TraceContext::parse("01-4bf92f3577b34da6a3ce929d0e0e4736-00f067aa0ba902b7-01-extra"));
  for (const char* bad : {
           "", "00-4bf92f3577b34da6a3ce929d0e0e4736-00f067aa0ba902b7-01-extra",
           "ff-4bf92f3577b34da6a3ce929d0e0e4736-00f067aa0ba902b7-01",
           "00-00000000000000000000000000000000-00f067aa0ba902b7-01",
           "00-4bf92f3577b34da6a3ce929d0e0e4736-0000000000000000-01",
           "00-4BF92F3577B34DA6A3CE929D0E0E4736-00f067aa0ba902b7-01",
           "00_4bf92f3577b34da6a3ce929d0e0e4736-00f067aa0ba902b7-01",
           "00-4bf92f3577b34da6a3ce929d0e0e473-600f067aa0ba902b7-01"})
    EXPECT_FALSE(TraceContext::parse(bad)) << bad;
}

TEST(TraceContext, ChildrenKeepTheTraceAndGetTheirOwnSpan) {
  auto parent = TraceContext::parse("00-4bf92f3577b34da6a3ce929d0e0e4736-00f067aa0ba902b7-03");
  auto child = TraceContext::child_of(parent);
  EXPECT_EQ(child.trace_id, parent->trace_id);
  EXPECT_EQ(child.parent_id, parent->span_id);
  EXPECT_NE(child.span_id, parent->span_id);
  EXPECT_EQ(child.flags, "01");  // sampled kept, unknown bits cleared
  auto header = child.traceparent();
  EXPECT_EQ(TraceContext::parse(header)->span_id, child.span_id);
  auto root = TraceContext::child_of(std::nullopt);
  EXPECT_TRUE(TraceContext::parse(root.traceparent())) << root.traceparent();
  EXPECT_EQ(root.parent_id, "");
  EXPECT_NE(root.trace_id, TraceContext::child_of(std::nullopt).trace_id);
}

TEST(TraceContext, AppendTraceparentWritesTheHeaderAfterWhatIsThere) {
  auto t = TraceContext::parse("00-4bf92f3577b34da6a3ce929d0e0e4736-00f067aa0ba902b7-01");
  std::string out = "traceparent: ";
  t->append_traceparent(out);
  EXPECT_EQ(out, "traceparent: 00-4bf92f3577b34da6a3ce929d0e0e4736-00f067aa0ba902b7-01");
  EXPECT_EQ(t->traceparent(), "00-4bf92f3577b34da6a3ce929d0e0e4736-00f067aa0ba902b7-01");
}

}  // namespace
}  // namespace nimbus
