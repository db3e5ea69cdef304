/* The C ABI of libdapo_cuda.so. The addon opens the module with dlopen and looks these up by
 * name, so the addon loads on machines with no CUDA at all. Bump DAPO_CUDA_API_VERSION on any
 * change to a signature or contract below. Every entry point returns 0 on success, or a
 * non-zero status with a message in the caller's buffer; nothing here exits or aborts.
 *
 * Status: a positive value is the cudaError_t of the CUDA call that failed; the negative
 * values below are our own. */
#ifndef DAPO_CUDA_API_H
#define DAPO_CUDA_API_H

#include <stddef.h>
#include <stdint.h>

#ifdef __cplusplus
extern "C" {
#endif

#define DAPO_CUDA_API_VERSION 3

#define DAPO_CUDA_ERR_RANGE (-2)  /* a value is out of range; the message names argument and row */
#define DAPO_CUDA_ERR_CUBLAS (-3) /* cuBLASLt could not be opened or a GEMM failed */
#define DAPO_CUDA_ERR_ARGS (-4)   /* an inconsistent call (the bindings check arguments first) */
#define DAPO_CUDA_ERR_OOM (-5)    /* device memory ran out; the message names what was being allocated,
                                     the bytes asked and the bytes free; the engine stays usable */
#define DAPO_CUDA_ERR_DEVICE_LOST (-6) /* the CUDA context is gone (illegal address, ECC, ...): every later
                                          call on the engine refuses with this status */
#define DAPO_CUDA_ERR_KERNEL (-7) /* a kernel failed to launch or run; the message names the kernel */
#define DAPO_CUDA_ERR_NONFINITE (-8) /* a non-finite value where a finite one is needed; the message says where */

/* Element types of buffers. */
#define DAPO_CUDA_F32 1
#define DAPO_CUDA_BF16 2

/* Aggregations, as dapo::Aggregation. */
#define DAPO_CUDA_TOKEN_MEAN 0
#define DAPO_CUDA_SEQ_MEAN_TOKEN_MEAN 1
#define DAPO_CUDA_SEQ_MEAN_TOKEN_SUM 2

int dapo_cuda_api_version(void);

/* Number of visible CUDA devices in *count; non-zero (with the CUDA message) when the driver
 * or runtime is unusable. */
int dapo_cuda_device_count(int* count, char* message, size_t message_size);

/* Name of a device, for reports. */
int dapo_cuda_device_name(int device, char* name, size_t name_size, char* message, size_t message_size);

/* ---- Device memory (device_tensor.cu) ---- */
int dapo_cuda_malloc(void** ptr, size_t bytes, char* message, size_t message_size);
int dapo_cuda_free(void* ptr, char* message, size_t message_size);
int dapo_cuda_upload(void* device_dst, const void* host_src, size_t bytes, char* message, size_t message_size);
int dapo_cuda_download(void* host_dst, const void* device_src, size_t bytes, char* message, size_t message_size);
int dapo_cuda_mem_info(size_t* free_bytes, size_t* total_bytes, char* message, size_t message_size);
/* Median over `iterations` of a device-to-device copy of `bytes`, timed with CUDA events: the
 * bandwidth ceiling the benchmark reports against. */
int dapo_cuda_copy_bench(size_t bytes, int iterations, float* median_ms, char* message, size_t message_size);

/* A buffer the caller owns, in host memory (copied in or out by the module) or already on the
 * device (used in place). */
typedef struct dapo_cuda_in {
  const void* ptr;
  int on_device;
} dapo_cuda_in;
typedef struct dapo_cuda_out {
  void* ptr;
  int on_device;
} dapo_cuda_out;

/* ---- Group advantages (group_advantages.cu); contract of dapo::group_advantages ---- */
int dapo_cuda_group_advantages(dapo_cuda_in rewards, size_t n, size_t group_size, int use_std, double eps,
                               dapo_cuda_out out, char* message, size_t message_size);

/* ---- The DAPO loss ---- */
typedef struct dapo_cuda_loss_common {
  size_t n;                          /* tokens */
  dapo_cuda_in tokens;               /* int32 [n] (logits and hidden modes) */
  dapo_cuda_in old_logprobs;         /* f32 [n] */
  dapo_cuda_in advantages;           /* f32 [n] */
  dapo_cuda_in mask;                 /* uint8 [n] */
  dapo_cuda_in seq_ids;              /* int32 [n], seq-mean modes only */
  float clip_low, clip_high, clip_c;
  int use_dual_clip;
  int aggregation;                   /* DAPO_CUDA_TOKEN_MEAN ... */
  double token_count, seq_count;     /* < 0: counted from mask / seqIds */
  int entropy;                       /* write entropy_out */
  dapo_cuda_out logprobs_out;        /* f32 [n] */
  dapo_cuda_out entropy_out;         /* f32 [n] when entropy */
  dapo_cuda_in ref_logprobs;         /* f32 [n]: the frozen reference's log-probs, with kl_coef > 0 */
  double kl_coef;                    /* verl's low_var_kl penalty weight; 0: none (DAPO) */
} dapo_cuda_loss_common;

typedef struct dapo_cuda_loss_stats {
  double loss;
  double clip_frac_low, clip_frac_high, clip_frac_dual, approx_kl;
  double kl_ref;            /* mean KL penalty to the reference over counted tokens (0 without kl_coef) */
  uint64_t tokens;
  float kernel_ms;          /* CUDA-event time of the device work, host staging excluded */
  uint64_t peak_extra_bytes; /* device scratch the call held at its peak (inputs and outputs excluded) */
} dapo_cuda_loss_stats;

/* From logits [n x vocab] (f32 or bf16) or from log-probs [n]. grad is f32 [n*vocab] (or [n]),
 * or, with grad_dtype == DAPO_CUDA_BF16, bf16 (only for in-place use over bf16 logits). grad
 * may alias logits (in place) when both are on the device and of the same type. */
typedef struct dapo_cuda_loss_args {
  dapo_cuda_loss_common common;
  size_t vocab;
  int logits_dtype;        /* 0 in log-probs mode */
  dapo_cuda_in logits;
  dapo_cuda_in logprobs;   /* f32 [n], log-probs mode */
  dapo_cuda_out grad;
  int grad_dtype;          /* DAPO_CUDA_F32 unless in place over bf16 logits */
} dapo_cuda_loss_args;

int dapo_cuda_dapo_loss(const dapo_cuda_loss_args* args, dapo_cuda_loss_stats* stats, char* message,
                        size_t message_size);

/* The LM-head variant: logits = hidden [n x h] * weight[vocab x h]^T, never materialised whole.
 * hidden and weight are bf16; grad_hidden [n x h] and grad_weight [vocab x h] are f32 (written).
 * chunk_rows: tokens per chunk (0: the most that fit in max_chunk_bytes, 0 = 896 MiB, which
 * holds the two chunks in flight: their fp32 logits and bf16 gradients). */
typedef struct dapo_cuda_hidden_args {
  dapo_cuda_loss_common common;
  size_t hidden, vocab;
  dapo_cuda_in hidden_states;
  dapo_cuda_in weight;
  dapo_cuda_out grad_hidden;
  dapo_cuda_out grad_weight;
  size_t chunk_rows;
  size_t max_chunk_bytes;
} dapo_cuda_hidden_args;

int dapo_cuda_dapo_loss_hidden(const dapo_cuda_hidden_args* args, dapo_cuda_loss_stats* stats, char* message,
                               size_t message_size);


/* ---- The op checks of the table-driven test (native/cuda/model/op_check.cuh) ----
 * Runs the registered check `op`: random inputs from `seed`, the CPU twin and the CUDA op on
 * them, and the largest error of each output. */
typedef struct dapo_cuda_op_case {
  const char* op;          /* a registered name, e.g. "rmsnorm_backward" */
  int dtype;               /* DAPO_CUDA_F32 or DAPO_CUDA_BF16 */
  uint64_t seed;
  int64_t dims[8];         /* sizes; each check documents what they mean */
  const int32_t* lengths;  /* sequence lengths for packed ops (host), or null */
  size_t n_lengths;
  double params[4];        /* real parameters (eps, temperature, top_p, ...), as the check documents */
} dapo_cuda_op_case;

#define DAPO_CUDA_OP_MAX_OUTPUTS 8
typedef struct dapo_cuda_op_result {
  int n_outputs;
  char names[DAPO_CUDA_OP_MAX_OUTPUTS][32];
  double max_abs[DAPO_CUDA_OP_MAX_OUTPUTS];
  double max_rel[DAPO_CUDA_OP_MAX_OUTPUTS];
  float cuda_ms;
} dapo_cuda_op_result;

int dapo_cuda_op_check(const dapo_cuda_op_case* c, dapo_cuda_op_result* result, char* message, size_t message_size);
/* The registered op names, comma-separated, into names (truncated to names_size). */
int dapo_cuda_op_names(char* names, size_t names_size);

/* ---- The CUDA policy engine (native/cuda/model/engine*.cu) ----
 * The twin of dapo::Engine (native/model/engine.h) with the same contracts. Parameters sit at
 * the CPU engine's flat offsets (dapo::param_layout, native/model/params.h): fp32 master
 * weights, gradients and AdamW moments, plus a compute copy in the engine's dtype. All calls
 * on one engine must come from one thread at a time (the bindings serialise them). */
typedef struct dapo_cuda_engine dapo_cuda_engine;

typedef struct dapo_cuda_model_config {
  size_t vocab, hidden, intermediate, layers, heads, kv_heads, head_dim, max_positions;
  double rope_theta, rms_eps;
  int qkv_bias, qk_norm, tie_embeddings;
  int rope_llama3;
  double rope_factor, rope_low_freq_factor, rope_high_freq_factor, rope_original_max_positions;
} dapo_cuda_model_config;

typedef struct dapo_cuda_engine_options {
  int dtype;              /* DAPO_CUDA_BF16 (bf16 compute copies and activations) or DAPO_CUDA_F32 (the test mode) */
  int device;             /* CUDA device ordinal */
  int recompute;          /* 1: keep only each layer's input and recompute the layer in the backward pass */
  int use_cuda_graphs;    /* 1: capture the decode step per batch-size bucket (default); 0: launch it each step */
} dapo_cuda_engine_options;

int dapo_cuda_engine_create(const dapo_cuda_model_config* config, const dapo_cuda_engine_options* options,
                            dapo_cuda_engine** engine, char* message, size_t message_size);
void dapo_cuda_engine_destroy(dapo_cuda_engine* engine);

/* What a read or write addresses, at flat parameter offsets. */
#define DAPO_CUDA_WEIGHTS 0
#define DAPO_CUDA_GRADS 1
#define DAPO_CUDA_ADAM_M 2
#define DAPO_CUDA_ADAM_V 3
/* Host element types of writes (reads are always f32). */
#define DAPO_CUDA_HOST_F32 1
#define DAPO_CUDA_HOST_BF16 2
#define DAPO_CUDA_HOST_F16 3

/* count values from host memory at [offset, offset + count) of `what`; writing weights refreshes
 * the compute copy of that range. */
int dapo_cuda_engine_write(dapo_cuda_engine* engine, int what, size_t offset, size_t count, const void* host,
                           int host_dtype, char* message, size_t message_size);
int dapo_cuda_engine_read(dapo_cuda_engine* engine, int what, size_t offset, size_t count, float* host,
                          char* message, size_t message_size);
/* AdamW's step counter. */
int dapo_cuda_engine_get_steps(dapo_cuda_engine* engine, uint64_t* steps, char* message, size_t message_size);
int dapo_cuda_engine_set_steps(dapo_cuda_engine* engine, uint64_t steps, char* message, size_t message_size);
int dapo_cuda_engine_zero_grad(dapo_cuda_engine* engine, char* message, size_t message_size);
/* Frees activation buffers, the KV cache and captured graphs kept between calls. */
int dapo_cuda_engine_release_buffers(dapo_cuda_engine* engine, char* message, size_t message_size);

/* A packed batch, as dapo::PackedBatch (host arrays). */
typedef struct dapo_cuda_packed_batch {
  const int32_t* tokens;
  size_t n_tokens;
  const int32_t* offsets;         /* [n_seqs + 1] */
  size_t n_seqs;
  const int32_t* prompt_lengths;  /* [n_seqs] or null */
} dapo_cuda_packed_batch;

/* logits [t, vocab] (host, f32) for every position of one sequence. */
int dapo_cuda_engine_forward_logits(dapo_cuda_engine* engine, const int32_t* tokens, size_t t, float* logits,
                                    char* message, size_t message_size);
/* log p(target) per target (host [targets]); entropy (host, or null). */
int dapo_cuda_engine_logprobs(dapo_cuda_engine* engine, const dapo_cuda_packed_batch* batch, double temperature,
                              float* logprobs, float* entropy, char* message, size_t message_size);

#define DAPO_CUDA_LOSS_DAPO 0
#define DAPO_CUDA_LOSS_NLL 1
typedef struct dapo_cuda_accumulate_args {
  dapo_cuda_packed_batch batch;
  int kind;                       /* DAPO_CUDA_LOSS_DAPO or DAPO_CUDA_LOSS_NLL */
  /* Per target, host arrays (dapo kind; mask also for nll, may be null = all counted). */
  const float* old_logprobs;
  const float* advantages;
  const uint8_t* mask;
  const float* ref_logprobs;      /* null unless kl_coef > 0 */
  float clip_low, clip_high, clip_c;
  int use_dual_clip;
  int aggregation;                /* DAPO_CUDA_TOKEN_MEAN ... */
  double token_count, seq_count;  /* < 0: counted in this call */
  double kl_coef;
  double temperature;             /* the loss sees logits / temperature */
  float* logprobs_out;            /* host [targets], or null */
  float* entropy_out;             /* host [targets], or null */
} dapo_cuda_accumulate_args;

/* As dapo::LossStats: the loss (already weighted) and its statistics. */
typedef struct dapo_cuda_accumulate_stats {
  double loss, clip_frac_low, clip_frac_high, clip_frac_dual, approx_kl, kl_ref;
  uint64_t tokens;
} dapo_cuda_accumulate_stats;

/* Forward, loss through the LM head (lm_head_loss.cuh) and backward; gradients added to the
 * fp32 accumulators. */
int dapo_cuda_engine_accumulate(dapo_cuda_engine* engine, const dapo_cuda_accumulate_args* args,
                                dapo_cuda_accumulate_stats* stats, char* message, size_t message_size);

typedef struct dapo_cuda_step_args {
  double lr, beta1, beta2, eps, weight_decay, clip_grad_norm;
} dapo_cuda_step_args;
typedef struct dapo_cuda_step_result {
  double grad_norm;  /* before clipping */
  int clipped;
  uint64_t step;     /* steps taken so far, this one included */
} dapo_cuda_step_result;
/* AdamW over all parameters; a non-finite gradient norm returns DAPO_CUDA_ERR_NONFINITE and
 * changes nothing. The gradients are zeroed. */
int dapo_cuda_engine_step(dapo_cuda_engine* engine, const dapo_cuda_step_args* args, dapo_cuda_step_result* result,
                          char* message, size_t message_size);

typedef struct dapo_cuda_generate_args {
  const int32_t* prompt_tokens;   /* host, prompts back to back */
  const int32_t* prompt_offsets;  /* [n_prompts + 1] */
  size_t n_prompts;
  const uint64_t* prompt_ids;     /* [n_prompts]: each prompt's RNG stream (null: its index) */
  size_t n;                       /* samples per prompt */
  size_t max_new_tokens;
  double temperature, top_p;
  size_t top_k;
  uint64_t seed;
  const int32_t* stop;
  size_t n_stop;
} dapo_cuda_generate_args;

/* Sequence q = prompt * n + sample. The caller sizes the outputs with
 * dapo_cuda_engine_generate_capacity: tokens and logprobs hold capacity[q] values from
 * out_offsets[q] = sum of the capacities before q; the engine writes lengths[q] <= capacity[q]
 * tokens there and finished[q] (1: ended on a stop id). */
int dapo_cuda_engine_generate_capacity(dapo_cuda_engine* engine, const dapo_cuda_generate_args* args,
                                       size_t* capacity, char* message, size_t message_size);
int dapo_cuda_engine_generate(dapo_cuda_engine* engine, const dapo_cuda_generate_args* args, int32_t* tokens,
                              float* logprobs, size_t* lengths, uint8_t* finished, char* message,
                              size_t message_size);

typedef struct dapo_cuda_memory_stats {
  uint64_t allocated_bytes;       /* held by the engine now */
  uint64_t peak_allocated_bytes;  /* since creation or the last reset */
  uint64_t free_bytes, total_bytes; /* cudaMemGetInfo */
} dapo_cuda_memory_stats;
int dapo_cuda_engine_memory(dapo_cuda_engine* engine, int reset_peak, dapo_cuda_memory_stats* stats, char* message,
                            size_t message_size);

#ifdef __cplusplus
}
#endif

#endif
