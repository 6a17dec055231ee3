// LineReader over zlib's gzFile (see text_reader.h).
#include "data/text_reader.h"

#include <zlib.h>

#include "core/error.h"

namespace cxr::data {

LineReader::LineReader(const std::string& path) : path_(path) {
  gz_ = gzopen(path.c_str(), "rb");
  if (!gz_) throw UserError("cannot open '" + path + "'", "check the path and permissions");
  gzbuffer(static_cast<gzFile>(gz_), 1 << 20);
}

LineReader::~LineReader() {
  if (gz_) gzclose(static_cast<gzFile>(gz_));
}

bool LineReader::next(std::string& line) {
  line.clear();
  char buf[4096];
  bool got = false;
  while (gzgets(static_cast<gzFile>(gz_), buf, sizeof buf)) {
    got = true;
    line += buf;
    if (!line.empty() && line.back() == '\n') break;
  }
  if (!got) {
    int err = 0;
    const char* msg = gzerror(static_cast<gzFile>(gz_), &err);
    if (err != Z_OK && err != Z_STREAM_END)
      throw UserError(path_ + ": read error after line " + std::to_string(line_number_) + ": " + msg,
                      "the file is truncated or corrupt; re-download it");
    return false;
  }
  while (!line.empty() && (line.back() == '\n' || line.back() == '\r')) line.pop_back();
  ++line_number_;
  return true;
}

}  // namespace cxr::data
