#include "cuda/model/engine_schedule.h"

#include <algorithm>

namespace dapo::cuda::model {

DecodeSchedule::DecodeSchedule(const GeneratePlan& plan, size_t slots, const int32_t* stop, size_t n_stop)
    : plan_(plan), stop_(stop), n_stop_(n_stop) {
  seq_slot_.assign(plan.n_seqs, -1);
  produced_.assign(plan.n_seqs, 0);
  slot_prompt_.assign(slots, -1);
  slot_busy_.assign(slots, 0);
  // A stack with slot 0 on top, so the lowest slots are used first.
  for (size_t s = slots; s-- > 0;) free_.push_back(static_cast<int32_t>(s));
}

// A busy slot that holds the prompt's keys and values (or will, by the time copies run).
int32_t DecodeSchedule::holder_of(size_t prompt) const {
  for (size_t s = 0; s < slot_prompt_.size(); ++s)
    if (slot_busy_[s] && slot_prompt_[s] == static_cast<int64_t>(prompt)) return static_cast<int32_t>(s);
  return -1;
}

// A free slot that still holds the prompt when there is one, else the last one freed (slot 0 first).
int32_t DecodeSchedule::take_slot(size_t prompt) {
  auto pick = free_.end() - 1;
  for (auto it = free_.begin(); it != free_.end(); ++it)
    if (slot_prompt_[*it] == static_cast<int64_t>(prompt)) {
      pick = it;
      break;
    }
  const int32_t slot = *pick;
  free_.erase(pick);
  return slot;
}

std::vector<DecodeSchedule::Admission> DecodeSchedule::admit() {
  std::vector<Admission> out;
  while (next_ < plan_.n_seqs && !free_.empty()) {
    const size_t q = next_++, prompt = q / plan_.n;
    const int32_t slot = take_slot(prompt);
    Admission a{q, slot, Source::kReady, -1};
    if (slot_prompt_[slot] != static_cast<int64_t>(prompt)) {
      a.from_slot = holder_of(prompt);
      a.source = a.from_slot >= 0 ? Source::kCopy : Source::kPrefill;
      slot_prompt_[slot] = static_cast<int64_t>(prompt);
    }
    slot_busy_[slot] = 1;
    seq_slot_[q] = slot;
    live_.push_back(q);  // admitted in increasing q, so live_ stays sorted
    out.push_back(a);
  }
  return out;
}

bool DecodeSchedule::record(size_t q, int32_t token, bool* stopped) {
  const uint32_t count = ++produced_[q];
  *stopped = std::find(stop_, stop_ + n_stop_, token) != stop_ + n_stop_;
  // As the CPU engine: a stop id ends the sequence; else its capacity (maxNewTokens, or the context).
  const bool done = *stopped || count >= plan_.capacity(q);
  if (done) {
    const int32_t slot = seq_slot_[q];
    slot_busy_[slot] = 0;
    free_.push_back(slot);
    seq_slot_[q] = -1;
  }
  return done;
}

void DecodeSchedule::compact() {
  live_.erase(std::remove_if(live_.begin(), live_.end(), [this](size_t q) { return seq_slot_[q] < 0; }), live_.end());
}

}  // namespace dapo::cuda::model
