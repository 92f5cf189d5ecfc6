#include "visrec/util/options.h"

#include <cmath>

#include "visrec/util/errors.h"
#include "visrec/util/numfmt.h"

namespace visrec {

void CheckRange(const std::string& what, double v, double lo, double hi) {
  if (std::isfinite(v) && v >= lo && v <= hi) return;
  const double big = std::numeric_limits<double>::max();
  std::string range;
  if (lo == std::numeric_limits<double>::lowest() && hi == big)
    range = "be a finite number";
  else if (hi == big)
    range = "be a finite number >= " + FormatShortest(lo);
  else
    range = "be in [" + FormatShortest(lo) + ", " + FormatShortest(hi) + "]";
  throw UsageError(what + " must " + range + ", got " + FormatShortest(v));
}

}  // namespace visrec
