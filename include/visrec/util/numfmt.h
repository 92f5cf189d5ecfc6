// Locale-free number formatting and parsing (std::to_chars / from_chars), for deterministic files.
#pragma once
#include <optional>
#include <string>
#include <string_view>

namespace visrec {

// Safe for every double: "inf", "-inf" and "nan" for non-finite values, any magnitude in fixed.
std::string FormatFixed(double v, int decimals);        // "0.123457"
std::string FormatShortest(double v);                   // round-trippable, shortest
std::optional<double> ParseDouble(std::string_view s);  // whole string must be a finite number
std::optional<long long> ParseInt(std::string_view s);

// UTF-8 as RFC 3629 defines it (no overlong forms, no surrogates). Input text is checked at the
// readers: ids and paths must be valid (a malformed row otherwise), other text is repaired with
// U+FFFD replacement characters, so no later stage (JSON, pictures) meets stray bytes.
bool IsValidUtf8(std::string_view s);
std::string ToValidUtf8(std::string_view s);

}  // namespace visrec
