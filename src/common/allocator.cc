#include "common/allocator.h"

#include <cstdlib>

#ifdef NIMBUS_MIMALLOC
#include <mimalloc.h>
#endif

namespace nimbus {

std::string allocator_name() {
#ifdef NIMBUS_MIMALLOC
  void* p = std::malloc(64);
  bool ours = mi_is_in_heap_region(p);
  std::free(p);
  if (ours) {
    int v = mi_version();  // e.g. 209 for 2.0.9
    return "mimalloc " + std::to_string(v / 100) + "." + std::to_string(v / 10 % 10) + "." +
           std::to_string(v % 10);
  }
#endif
  return "system malloc";
}

}  // namespace nimbus
