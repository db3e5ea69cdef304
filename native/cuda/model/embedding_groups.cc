#include "cuda/model/embedding_groups.h"

#include <algorithm>
#include <limits>

namespace dapo::cuda::model {

bool group_rows_by_token(const int32_t* tokens, size_t rows, size_t vocab, TokenGroups& out, size_t* bad_row) {
  out.packed.clear();
  out.n_ids = out.n_rows = 0;
  if (rows > static_cast<size_t>(std::numeric_limits<int32_t>::max())) {
    if (bad_row) *bad_row = rows;
    return false;
  }
  for (size_t r = 0; r < rows; ++r)
    if (tokens[r] < 0 || static_cast<size_t>(tokens[r]) >= vocab) {
      if (bad_row) *bad_row = r;
      return false;
    }
  // Row indices ordered by (token, row): a stable sort by token keeps each token's rows ascending.
  std::vector<int32_t> order(rows);
  for (size_t r = 0; r < rows; ++r) order[r] = static_cast<int32_t>(r);
  std::stable_sort(order.begin(), order.end(), [tokens](int32_t a, int32_t b) { return tokens[a] < tokens[b]; });
  size_t n_ids = 0;
  for (size_t i = 0; i < rows; ++i)
    if (i == 0 || tokens[order[i]] != tokens[order[i - 1]]) ++n_ids;
  out.n_ids = n_ids;
  out.n_rows = rows;
  out.packed.resize(2 * n_ids + 1 + rows);
  int32_t* ids = out.packed.data() + out.ids_at();
  int32_t* starts = out.packed.data() + out.starts_at();
  std::copy(order.begin(), order.end(), out.packed.begin() + static_cast<std::ptrdiff_t>(out.rows_at()));
  size_t u = 0;
  for (size_t i = 0; i < rows; ++i)
    if (i == 0 || tokens[order[i]] != tokens[order[i - 1]]) {
      ids[u] = tokens[order[i]];
      starts[u] = static_cast<int32_t>(i);
      ++u;
    }
  starts[n_ids] = static_cast<int32_t>(rows);
  return true;
}

}  // namespace dapo::cuda::model
