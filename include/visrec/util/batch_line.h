// The line format of `visrec query --batch` (a core helper so the fuzzer can reach it without the
// query library's OpenCV and LibTorch).
#pragma once
#include <string>

namespace visrec {

// One line: "item ID", "user ID" or "image PATH" (kind, blanks, argument; blanks around the
// argument and a trailing CR are not part of it). False for a blank or comment (#) line.
bool ParseBatchLine(const std::string& line, std::string* kind, std::string* arg);
// Text for a terminal: control bytes (escape sequences, NUL, CR...) as \xNN, nothing else changed.
std::string EscapeControl(const std::string& s);

}  // namespace visrec
