#include "visrec/util/blas.h"

#include <dlfcn.h>

namespace visrec {

SingleThreadedBlas::SingleThreadedBlas() {
  set_ = reinterpret_cast<void (*)(int)>(::dlsym(RTLD_DEFAULT, "openblas_set_num_threads"));
  auto get = reinterpret_cast<int (*)()>(::dlsym(RTLD_DEFAULT, "openblas_get_num_threads"));
  if (set_ && get) {
    before_ = get();
    set_(1);
  }
}

SingleThreadedBlas::~SingleThreadedBlas() {
  if (set_ && before_ > 0) set_(before_);
}

}  // namespace visrec
