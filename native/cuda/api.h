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

#define DAPO_CUDA_API_VERSION 2

#define DAPO_CUDA_ERR_RANGE (-2)  /* a value is out of range; the message names argument and row */
#define DAPO_CUDA_ERR_CUBLAS (-3) /* cuBLASLt could not be opened or a GEMM failed */
#define DAPO_CUDA_ERR_ARGS (-4)   /* an inconsistent call (the bindings check arguments first) */

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
} dapo_cuda_loss_common;

typedef struct dapo_cuda_loss_stats {
  double loss;
  double clip_frac_low, clip_frac_high, clip_frac_dual, approx_kl;
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
 * hidden and weight are bf16; grad_hidden [n x h] and grad_weight [vocab x h] are f32.
 * chunk_rows: tokens per chunk (0: the most that fit in max_chunk_bytes, 0 = 768 MiB). */
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

#ifdef __cplusplus
}
#endif

#endif
