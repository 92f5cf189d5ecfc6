#include "visrec/util/errors.h"

#include <cerrno>
#include <cstring>

namespace visrec {

std::string ErrnoText() { return std::strerror(errno); }

}  // namespace visrec
