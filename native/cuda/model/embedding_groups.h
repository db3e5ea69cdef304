// The rows of a batch grouped by token, for the deterministic embedding backward
// (embedding_backward in ops.cuh): each distinct token's gradient row is summed by one block
// over that token's rows in ascending order, so no two blocks write the same row and no atomics
// are needed. Plain C++ (no CUDA), so the engine and the op check build it the same way.
#pragma once
#include <cstddef>
#include <cstdint>
#include <vector>

namespace dapo::cuda::model {

// One int32 array, uploaded in one copy: [ids (n_ids) | starts (n_ids + 1) | rows (n_rows)].
// Distinct token ids[u] (ascending) occurs at rows[starts[u]] .. rows[starts[u + 1] - 1],
// ascending. Offsets of the three parts are ids_at(), starts_at(), rows_at().
struct TokenGroups {
  std::vector<int32_t> packed;
  size_t n_ids = 0, n_rows = 0;

  size_t ids_at() const { return 0; }
  size_t starts_at() const { return n_ids; }
  size_t rows_at() const { return 2 * n_ids + 1; }
};

// Groups `rows` tokens by id into `out` (its memory reused across calls). Returns false, with
// *bad_row set to the first offending row and `out` emptied, when a token is outside
// [0, vocab); the row count must fit in int32 (else *bad_row = rows).
bool group_rows_by_token(const int32_t* tokens, size_t rows, size_t vocab, TokenGroups& out, size_t* bad_row);

}  // namespace dapo::cuda::model
