// Which allocator serves this process's malloc (and so operator new).
#pragma once

#include <string>

namespace nimbus {

// "mimalloc <version>" when the build links mimalloc (release builds: NIMBUS_MIMALLOC) and it
// really serves malloc here; "system malloc" otherwise (sanitizer and fuzz builds, which need
// their own). Checked by allocating, not assumed from the build flag: a link that lost the
// library (an --as-needed link, a preload) would show here and in the host's startup line.
std::string allocator_name();

}  // namespace nimbus
