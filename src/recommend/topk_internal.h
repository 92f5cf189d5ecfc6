// Ranking helpers shared by the similarity kernels (private to visrec_recommend).
#pragma once
#include <algorithm>
#include <cmath>
#include <vector>

#include "visrec/recommend/similarity.h"

namespace visrec::recommend::detail {

// Ranking order of neighbours: higher score first, then lower index.
inline bool Better(const Neighbor& a, const Neighbor& b) {
  return a.score > b.score || (a.score == b.score && a.item < b.item);
}
struct BetterFn {  // a functor, so the heap operations inline it (a function pointer did not)
  bool operator()(const Neighbor& a, const Neighbor& b) const { return Better(a, b); }
};

// A bounded heap of the k best neighbours of one row (front = the worst of them). Candidates come
// in ascending id, so an equal score never displaces an earlier one (ties go to the lower id).
struct RowHeap {
  std::vector<Neighbor> heap;
  static constexpr BetterFn Less{};
  // Returns the score a later candidate must beat: -inf until the heap is full.
  float Offer(Neighbor c, int k) {
    if (int(heap.size()) < k) {
      heap.push_back(c);
      std::push_heap(heap.begin(), heap.end(), Less);
    } else if (c.score > heap.front().score) {
      std::pop_heap(heap.begin(), heap.end(), Less);
      heap.back() = c;
      std::push_heap(heap.begin(), heap.end(), Less);
    }
    return int(heap.size()) < k ? -INFINITY : heap.front().score;
  }
};

}  // namespace visrec::recommend::detail
