// Keeping the system BLAS single-threaded while visrec splits a product over its own threads.
#pragma once

namespace visrec {

// The big products in reduce and recommend are split into row blocks over visrec's own threads,
// each calling BLAS on its block. A multithreaded BLAS (OpenBLAS's default) would start its own
// threads inside each call; two levels of threads on two cores measured slower, and OpenBLAS
// serializes concurrent callers. While a guard lives, the BLAS is asked for one thread when it
// offers a way to (OpenBLAS, looked up at run time: visrec links the generic libblas and Debian's
// alternatives pick the implementation); the previous setting is restored afterwards.
class SingleThreadedBlas {
 public:
  SingleThreadedBlas();
  ~SingleThreadedBlas();
  SingleThreadedBlas(const SingleThreadedBlas&) = delete;
  SingleThreadedBlas& operator=(const SingleThreadedBlas&) = delete;

 private:
  void (*set_)(int) = nullptr;
  int before_ = 0;
};

}  // namespace visrec
