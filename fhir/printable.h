// Text from input on its way to a terminal or a log line (issue 13 #6): control characters
// must not move the cursor, recolour the terminal or forge a line.
#pragma once

#include <string>
#include <string_view>

namespace fhir {

// `s` with every C0 control byte, DEL, C1 control (U+0080..U+009F) and byte that is not part of
// well-formed UTF-8 written as "\xNN" (and '\\' as "\\\\", so the escaping is unambiguous);
// other UTF-8 is kept. At most `max_bytes` of `s` are shown, then "…" when cut.
std::string Printable(std::string_view s, size_t max_bytes = 256);

}  // namespace fhir
