// Base64 (RFC 4648, standard alphabet, '=' padding, no line breaks): the report embeds Grad-CAM overlay PNGs
// in index.html as data: URIs, which its Content-Security-Policy allows (img-src data:) while it forbids every
// network load.
#pragma once

#include <string>
#include <string_view>

namespace cxr::report {

std::string base64_encode(std::string_view bytes);

// "data:image/png;base64,..." for PNG bytes.
std::string png_data_uri(std::string_view png);

}  // namespace cxr::report
