// Configure-time check (CMakeLists.txt): GCC 12.2 at -O2/-O3 with AVX-512 enabled (-march=native on an
// AVX-512 machine, or x86-64-v4) vectorizes this heap store of {1, 1, 1, 0} as a broadcast of 1 and
// drops the 0. Exit 0 when the compiler got it right.
#include <vector>

__attribute__((noinline)) int LastOf(const std::vector<double>& v) { return int(v[3]); }

int main() {
  std::vector<double> v{1.0, 1.0, 1.0, 0.0};
  std::vector<double> copy(v);
  return LastOf(copy) == 0 && LastOf(v) == 0 ? 0 : 1;
}
