// Source lines for fault reports: a return address inside the module, resolved with addr2line
// (binutils) from the module's line tables (-g1). Only used once a launch has failed.
#include <dlfcn.h>

#include <cstdio>
#include <map>
#include <string>

#include "internal.h"

namespace emu {

std::string source_line(const void* pc) {
  if (!pc) return "";
  static auto& known = *new std::map<const void*, std::string>;
  if (auto it = known.find(pc); it != known.end()) return it->second;
  Dl_info info{};
  std::string text;
  if (dladdr(pc, &info) && info.dli_fname) {
    // The call's return address is one past the call: step back into it.
    const unsigned long offset =
        static_cast<unsigned long>(static_cast<const char*>(pc) - static_cast<const char*>(info.dli_fbase)) - 1;
    char command[1200];
    std::snprintf(command, sizeof command, "addr2line -i -e '%s' 0x%lx 2>/dev/null", info.dli_fname, offset);
    if (FILE* f = popen(command, "r")) {
      char line[512];
      while (std::fgets(line, sizeof line, f)) {
        std::string s(line);
        while (!s.empty() && (s.back() == '\n' || s.back() == '\r')) s.pop_back();
        if (s.empty() || s.find("??") == 0) continue;
        const size_t slash = s.find("native/");
        text += (text.empty() ? "" : " <- ") + (slash != std::string::npos ? s.substr(slash) : s);
      }
      pclose(f);
    }
    if (text.empty()) {
      char buf[64];
      std::snprintf(buf, sizeof buf, "+0x%lx", offset);
      text = std::string(info.dli_fname) + buf;
    }
  }
  known.emplace(pc, text);
  return text;
}

}  // namespace emu
