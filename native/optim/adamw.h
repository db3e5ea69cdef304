// AdamW (Loshchilov & Hutter) with fp32 state, decoupled weight decay as torch.optim.AdamW,
// and global-norm gradient clipping (torch.nn.utils.clip_grad_norm_).
#pragma once
#include <cstddef>
#include <cstdint>
#include <vector>

namespace dapo {

struct AdamWOptions {
  double lr = 1e-6;
  double beta1 = 0.9, beta2 = 0.999;
  double eps = 1e-8;
  double weight_decay = 0.01;
  double clip_grad_norm = 0;  // <= 0: no clipping
};

struct AdamWStats {
  double grad_norm = 0;  // before clipping
  bool clipped = false;
  uint64_t step = 0;     // steps taken so far, this one included
};

class AdamW {
 public:
  // A run of parameters [begin, end) and whether weight decay applies to it.
  struct Span {
    size_t begin, end;
    bool decay;
  };
  // One update of w from g over the spans (which cover [0, n) in order). Non-finite gradients
  // throw before anything changes. With zero_grad, g is cleared in the same pass (one sweep
  // over memory fewer).
  AdamWStats step(float* w, float* g, const std::vector<Span>& spans, size_t n, const AdamWOptions& o,
                  bool zero_grad = false);

  enum class Moment { First, Second };  // m (exp_avg) and v (exp_avg_sq)
  // One moment of n parameters, to write (a restore). Both moments are made together (zeros)
  // when either is missing, so one set alone before the first step leaves the other usable, and
  // the step counter is kept, as the CUDA engine does when its moments are written.
  float* moment(Moment which, size_t n);
  // The moments to read: empty until made (by moment() or the first step), zeros in effect.
  const std::vector<float>& m() const { return m_; }
  const std::vector<float>& v() const { return v_; }
  uint64_t steps() const { return t_; }
  void set_steps(uint64_t t) { t_ = t; }

 private:
  bool has_moments(size_t n) const { return m_.size() == n && v_.size() == n; }
  void make_moments(size_t n);

  std::vector<float> m_, v_;
  uint64_t t_ = 0;
};

// sqrt(sum g^2) in double, in a fixed order (fixed chunks, then the chunk sums in sequence).
double global_norm(const float* g, size_t n);

}  // namespace dapo
