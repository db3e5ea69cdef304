// Op checks "embedding_forward" and "embedding_backward", twins of the embedding copy and
// scatter in native/model/engine.cc (forward_packed: rows of the table copied in token order;
// backward_packed: row[token[i]] += dx[i] for i ascending, in fp32).
//   dims[0] rows    tokens, 1 .. 2^22
//   dims[1] hidden  1 .. 2^16
//   dims[2] vocab   1 .. 2^20; tokens are drawn from [0, vocab), so a small vocab repeats tokens
//                   (the backward's long groups) and a large one leaves most rows alone
// Outputs: out (forward; exact), grad_table (backward: the fp32 table gradient, which starts
// random so the += is checked, over the whole table so untouched rows must stay as they were).
// The backward groups rows with group_rows_by_token (embedding_groups.h), as the engine does;
// the check first tests that host helper: a valid grouping (every row once, ids ascending, rows
// ascending), and an out-of-range token refused with its row named.
#include "cuda/model/checks/layer_check_support.cuh"
#include "cuda/model/embedding_groups.h"

namespace dapo::cuda::model {
namespace {

using namespace checks;

struct EmbeddingDims {
  size_t rows = 0, hidden = 0, vocab = 0;
};

int read_dims(const OpCase& c, EmbeddingDims& d, char* message, size_t message_size) {
  if (int rc = need_dim(c, 0, "rows", 1, int64_t{1} << 22, &d.rows, message, message_size)) return rc;
  if (int rc = need_dim(c, 1, "hidden", 1, int64_t{1} << 16, &d.hidden, message, message_size)) return rc;
  if (int rc = need_dim(c, 2, "vocab", 1, int64_t{1} << 20, &d.vocab, message, message_size)) return rc;
  if (static_cast<int64_t>(d.rows * d.hidden) > kMaxElements || static_cast<int64_t>(d.vocab * d.hidden) > kMaxElements)
    return dapo::cuda::fail(DAPO_CUDA_ERR_ARGS, message, message_size, "embedding check: rows or vocab times hidden is too large");
  return 0;
}

std::vector<int32_t> random_tokens(CheckRng& rng, size_t rows, size_t vocab) {
  std::vector<int32_t> tokens(rows);
  for (auto& t : tokens) t = rng.below(static_cast<int32_t>(vocab));
  return tokens;
}

template <typename T>
int run_forward(const OpCase& c, OpReport& report, char* message, size_t message_size) {
  EmbeddingDims d;
  if (int rc = read_dims(c, d, message, message_size)) return rc;
  CheckRng rng(c.seed);
  const std::vector<int32_t> tokens = random_tokens(rng, d.rows, d.vocab);
  const std::vector<float> table = random_values(rng, d.vocab * d.hidden, 1.0f, bf16_mode(c));
  std::vector<float> want(d.rows * d.hidden);
  for (size_t r = 0; r < d.rows; ++r)
    for (size_t j = 0; j < d.hidden; ++j) want[r * d.hidden + j] = table[static_cast<size_t>(tokens[r]) * d.hidden + j];

  DeviceBuffer tok, tab, out;
  DAPO_CUDA_TRY(upload_raw(tok, tokens), message, message_size);
  DAPO_CUDA_TRY(upload_new<T>(tab, table), message, message_size);
  DAPO_CUDA_TRY(out.alloc(d.rows * d.hidden * sizeof(T)), message, message_size);
  const auto op = [&] {
    return embedding_forward<T>(tok.as<int32_t>(), d.rows, tab.as<T>(), d.hidden, out.as<T>(), 0);
  };
  if (int rc = timed(c, report, message, message_size, op)) return rc;
  return compare_device(report, "out", out.as<T>(), want, message, message_size);
}

// group_rows_by_token must refuse a token outside [0, vocab) and name the first such row.
int check_grouping_refuses(const OpCase& c, std::vector<int32_t> tokens, size_t vocab, char* message,
                           size_t message_size) {
  const size_t bad = tokens.size() / 2;
  tokens[bad] = static_cast<int32_t>(vocab);
  TokenGroups groups;
  size_t bad_row = 0;
  if (group_rows_by_token(tokens.data(), tokens.size(), vocab, groups, &bad_row) || bad_row != bad ||
      !groups.packed.empty()) {
    std::snprintf(message, message_size, "%s: group_rows_by_token accepted token %zu at row %zu (vocab %zu)", c.op,
                  vocab, bad, vocab);
    return DAPO_CUDA_ERR_ARGS;
  }
  return 0;
}

// The grouping the kernel relies on: ids strictly ascending, each group's rows ascending and
// holding that id, every row exactly once.
int check_grouping_valid(const OpCase& c, const std::vector<int32_t>& tokens, const TokenGroups& g, char* message,
                         size_t message_size) {
  const int32_t* ids = g.packed.data() + g.ids_at();
  const int32_t* starts = g.packed.data() + g.starts_at();
  const int32_t* rows = g.packed.data() + g.rows_at();
  std::vector<char> seen(tokens.size(), 0);
  bool ok = g.n_rows == tokens.size() && g.packed.size() == 2 * g.n_ids + 1 + tokens.size() && starts[0] == 0 &&
            static_cast<size_t>(starts[g.n_ids]) == tokens.size();
  for (size_t u = 0; ok && u < g.n_ids; ++u) {
    ok = starts[u] < starts[u + 1] && (u == 0 || ids[u - 1] < ids[u]);
    for (int32_t i = starts[u]; ok && i < starts[u + 1]; ++i) {
      const int32_t r = rows[i];
      ok = r >= 0 && static_cast<size_t>(r) < tokens.size() && !seen[r] && tokens[r] == ids[u] &&
           (i == starts[u] || rows[i - 1] < r);
      if (ok) seen[r] = 1;
    }
  }
  if (ok) return 0;
  std::snprintf(message, message_size, "%s: group_rows_by_token made an invalid grouping of %zu rows", c.op,
                tokens.size());
  return DAPO_CUDA_ERR_ARGS;
}

template <typename T>
int run_backward(const OpCase& c, OpReport& report, char* message, size_t message_size) {
  EmbeddingDims d;
  if (int rc = read_dims(c, d, message, message_size)) return rc;
  CheckRng rng(c.seed);
  const std::vector<int32_t> tokens = random_tokens(rng, d.rows, d.vocab);
  const std::vector<float> dx = random_values(rng, d.rows * d.hidden, 1.0f, bf16_mode(c));
  const std::vector<float> grad0 = random_values(rng, d.vocab * d.hidden, 1.0f, false);
  std::vector<float> want = grad0;
  for (size_t i = 0; i < d.rows; ++i) {
    float* row = want.data() + static_cast<size_t>(tokens[i]) * d.hidden;
    for (size_t j = 0; j < d.hidden; ++j) row[j] += dx[i * d.hidden + j];
  }
  if (int rc = check_grouping_refuses(c, tokens, d.vocab, message, message_size)) return rc;
  TokenGroups groups;
  size_t bad_row = 0;
  if (!group_rows_by_token(tokens.data(), d.rows, d.vocab, groups, &bad_row)) {
    std::snprintf(message, message_size, "%s: group_rows_by_token refused valid row %zu", c.op, bad_row);
    return DAPO_CUDA_ERR_ARGS;
  }
  if (int rc = check_grouping_valid(c, tokens, groups, message, message_size)) return rc;

  DeviceBuffer packed, dxd, grad;
  DAPO_CUDA_TRY(upload_raw(packed, groups.packed), message, message_size);
  DAPO_CUDA_TRY(upload_new<T>(dxd, dx), message, message_size);
  DAPO_CUDA_TRY(upload_new<float>(grad, grad0), message, message_size);
  TokenRows rows;
  rows.ids = packed.as<int32_t>() + groups.ids_at();
  rows.starts = packed.as<int32_t>() + groups.starts_at();
  rows.rows = packed.as<int32_t>() + groups.rows_at();
  rows.n_ids = groups.n_ids;
  const auto op = [&] { return embedding_backward<T>(dxd.as<T>(), d.hidden, rows, grad.as<float>(), 0); };
  if (int rc = timed(c, report, message, message_size, op)) return rc;
  return compare_device(report, "grad_table", grad.as<float>(), want, message, message_size);
}

const OpCheckRegistration forward_registration("embedding_forward", by_dtype<run_forward<float>, run_forward<bf16>>);
const OpCheckRegistration backward_registration("embedding_backward",
                                                by_dtype<run_backward<float>, run_backward<bf16>>);

}  // namespace
}  // namespace dapo::cuda::model
