// Line-by-line reading of plain or gzip-compressed text (NIH ships both .csv and .csv.gz), with
// CRLF/LF handling and the current line number for error messages.
#pragma once

#include <memory>
#include <string>

namespace cxr::data {

class LineReader {
 public:
  explicit LineReader(const std::string& path);  // throws UserError if it cannot be opened
  ~LineReader();
  LineReader(const LineReader&) = delete;
  LineReader& operator=(const LineReader&) = delete;

  // Next line without its line ending; false at end of file.
  bool next(std::string& line);
  int64_t line_number() const { return line_number_; }  // 1-based number of the last line returned
  const std::string& path() const { return path_; }
  // "file:line" for messages.
  std::string where() const { return path_ + ":" + std::to_string(line_number_); }

 private:
  std::string path_;
  void* gz_ = nullptr;  // gzFile; zlib reads uncompressed files transparently
  int64_t line_number_ = 0;
};

}  // namespace cxr::data
