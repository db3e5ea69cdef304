// The CUDA runtime header for dapo's sources compiled by g++ on the CPU emulator
// (tools/cuda-emu/README.md): the runtime API (libdapo_cudaemu.so), the built-in variables and
// device functions, launches, and the PTX the kernels use.
#pragma once
#include "emu/device.h"
#include "emu/intrinsics.h"
#include "emu/launch.h"
#include "emu/ptx.h"
#include "emu/runtime_api.h"
#include "emu/types.h"
