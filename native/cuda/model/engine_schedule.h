// Continuous batching for the CUDA engine's generate (plain C++, no device work): which sequences
// hold the KV cache's slots, which wait, how a newly admitted sequence gets its prompt's keys and
// values, and when a sequence ends. engine_generate.cu runs the device side of each decision.
//
// Sequences are admitted in order q = prompt * n + sample as slots free up. A prompt's keys and
// values are computed once and shared: a new sequence finds them already in its slot (a freed
// slot of a sibling: decoding never writes below the prompt's length), copies them from a slot
// that holds them, or has its prompt prefilled into its slot.
#pragma once
#include <cstddef>
#include <cstdint>
#include <vector>

#include "cuda/model/engine_inputs.h"

namespace dapo::cuda::model {

class DecodeSchedule {
 public:
  enum class Source { kReady, kCopy, kPrefill };
  struct Admission {
    size_t seq;         // q
    int32_t slot;
    Source source;
    int32_t from_slot;  // kCopy: the slot whose prompt keys and values are copied
  };

  // plan: the call (engine_inputs.h); slots: sequences the cache holds at once.
  DecodeSchedule(const GeneratePlan& plan, size_t slots, const int32_t* stop, size_t n_stop);

  // Fills free slots with waiting sequences, in order. Prefills come first in the list's order of
  // execution (run every kPrefill, then every kCopy in list order).
  std::vector<Admission> admit();

  // The sequences decoding now, in increasing q: the rows of the next decode step.
  const std::vector<size_t>& live() const { return live_; }

  int32_t slot_of(size_t q) const { return seq_slot_[q]; }
  // Tokens sequence q has produced so far (the Philox position of its next token).
  uint32_t produced(size_t q) const { return produced_[q]; }
  // Where sequence q's next input sits: position prompt + produced - 1, attending to that many + 1 keys.
  size_t position_of(size_t q) const { return plan_.prompt_len[q / plan_.n] + produced_[q] - 1; }

  // Records token `token` produced by live (or just admitted) sequence q. Returns true when q ended
  // (a stop id: finished; or its capacity reached); its slot is then free.
  bool record(size_t q, int32_t token, bool* stopped);
  // Drops the ended sequences from live() (after a step's records).
  void compact();

 private:
  int32_t take_slot(size_t prompt);
  int32_t holder_of(size_t prompt) const;

  const GeneratePlan& plan_;
  const int32_t* stop_;
  size_t n_stop_;
  size_t next_ = 0;                     // the first waiting sequence
  std::vector<size_t> live_;
  std::vector<int32_t> seq_slot_;       // per sequence: its slot while live, else -1
  std::vector<uint32_t> produced_;      // per sequence
  std::vector<int64_t> slot_prompt_;    // per slot: the prompt whose keys and values fill its first positions, or -1
  std::vector<uint8_t> slot_busy_;      // per slot: held by a live sequence
  std::vector<int32_t> free_;           // free slots (a stack)
};

}  // namespace dapo::cuda::model
