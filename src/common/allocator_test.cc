#include "common/allocator.h"

#include <gtest/gtest.h>

namespace nimbus {
namespace {

// A normal build must really run on mimalloc: an --as-needed link drops a library nothing calls
// by name, and the build would still pass on the system allocator, slower, without a word.
TEST(Allocator, ServesMallocAsTheBuildSays) {
#ifdef NIMBUS_MIMALLOC
  EXPECT_EQ(allocator_name().rfind("mimalloc ", 0), 0u) << allocator_name();
#else
  EXPECT_EQ(allocator_name(), "system malloc");
#endif
}

}  // namespace
}  // namespace nimbus
