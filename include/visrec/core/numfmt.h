// Locale-free number formatting and parsing (std::to_chars / from_chars), for deterministic files.
#pragma once
#include <optional>
#include <string>
#include <string_view>

namespace visrec {

std::string FormatFixed(double v, int decimals);   // "0.123457"
std::string FormatShortest(double v);              // round-trippable, shortest
std::optional<double> ParseDouble(std::string_view s);  // whole string must be a finite number
std::optional<long long> ParseInt(std::string_view s);

}  // namespace visrec
