// One rule for every floating-point option, shared by all stages' Validate(): the value must be a
// finite number inside its documented range. NaN fails every comparison, so a check written as
// `x < 0` lets NaN through; this one does not.
#pragma once
#include <limits>
#include <string>

namespace visrec {

// UsageError "<what> must be in [lo, hi], got <v>" (or "a finite number") unless lo <= v <= hi.
void CheckRange(const std::string& what, double v, double lo, double hi);
// The same with no upper bound other than finiteness.
inline void CheckAtLeast(const std::string& what, double v, double lo) {
  CheckRange(what, v, lo, std::numeric_limits<double>::max());
}
inline void CheckFinite(const std::string& what, double v) {
  CheckRange(what, v, std::numeric_limits<double>::lowest(), std::numeric_limits<double>::max());
}

}  // namespace visrec
