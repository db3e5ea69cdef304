/* The C ABI of libdapo_cuda.so. The addon opens the module with dlopen and looks these up by
 * name, so the addon loads on machines with no CUDA at all. Bump DAPO_CUDA_API_VERSION on any
 * change to a signature or contract below. Every entry point returns 0 on success, or a
 * non-zero status with a message in the caller's buffer; nothing here exits or aborts. */
#ifndef DAPO_CUDA_API_H
#define DAPO_CUDA_API_H

#include <stddef.h>

#ifdef __cplusplus
extern "C" {
#endif

#define DAPO_CUDA_API_VERSION 1

int dapo_cuda_api_version(void);

/* Number of visible CUDA devices in *count; non-zero (with the CUDA message) when the driver
 * or runtime is unusable. */
int dapo_cuda_device_count(int* count, char* message, size_t message_size);

/* Name of a device, for reports. */
int dapo_cuda_device_name(int device, char* name, size_t name_size, char* message, size_t message_size);

#ifdef __cplusplus
}
#endif

#endif
