#include "fhir/ndjson_reader.h"

#include <cerrno>
#include <cstring>

namespace fhir {

NdjsonReader::NdjsonReader(std::string path, Options options)
    : path_(std::move(path)), options_(options) {}

NdjsonReader::~NdjsonReader() {
  if (file_ != nullptr) std::fclose(file_);
}

Status NdjsonReader::Open() {
  file_ = std::fopen(path_.c_str(), "rb");
  if (file_ == nullptr) {
    int err = errno;
    std::string msg = path_ + ": " + std::strerror(err);
    status_ = err == ENOENT ? Status::NotFound(msg) : Status::IoError(msg);
    return status_;
  }
  std::setvbuf(file_, nullptr, _IONBF, 0);
  buf_.resize(options_.chunk_bytes + 1 + kPadding);
  return Status::Ok();
}

bool NdjsonReader::Fill() {
  if (eof_ || file_ == nullptr) return false;
  // Move unconsumed bytes to the front, grow when a single line fills the buffer.
  if (begin_ > 0) {
    std::memmove(buf_.data(), buf_.data() + begin_, end_ - begin_);
    end_ -= begin_;
    begin_ = 0;
  }
  if (buf_.size() - 1 - kPadding - end_ < options_.chunk_bytes / 2) {
    buf_.resize(buf_.size() + options_.chunk_bytes);
  }
  size_t n = std::fread(buf_.data() + end_, 1, buf_.size() - 1 - kPadding - end_, file_);
  if (n == 0) {
    if (std::ferror(file_)) status_ = Status::IoError(path_ + ": read error");
    eof_ = true;
    return false;
  }
  end_ += n;
  bytes_read_ += n;
  return true;
}

bool NdjsonReader::Next(Line* line) {
  while (true) {
    char* base = buf_.data();
    void* nl = begin_ < end_ ? std::memchr(base + begin_, '\n', end_ - begin_) : nullptr;
    size_t avail = end_ - begin_;
    if (nl == nullptr && avail > options_.max_line_bytes) {
      // Too long: consume up to and including the next newline without keeping it.
      uint64_t length = avail;
      begin_ = end_ = 0;
      ++line_number_;
      while (true) {
        if (!Fill()) break;
        void* p = std::memchr(buf_.data(), '\n', end_);
        if (p != nullptr) {
          size_t k = static_cast<char*>(p) - buf_.data();
          length += k;
          begin_ = k + 1;
          break;
        }
        length += end_;
        begin_ = end_ = 0;
      }
      *line = Line{};
      line->too_long = true;
      line->number = line_number_;
      line->length = length;
      return true;
    }
    if (nl == nullptr) {
      if (Fill()) continue;
      if (!status_.ok()) return false;
      if (begin_ == end_) return false;
      // Last line without a newline.
      nl = base + end_;
    }
    char* start = base + begin_;
    char* stop = static_cast<char*>(nl);
    size_t consumed = stop - start + (stop < base + end_ ? 1 : 0);
    ++line_number_;
    size_t len = stop - start;
    if (len > 0 && start[len - 1] == '\r') --len;
    start[len] = '\0';
    begin_ += consumed;
    if (begin_ > end_) begin_ = end_;
    // Skip blank (whitespace-only) lines.
    size_t i = 0;
    while (i < len && (start[i] == ' ' || start[i] == '\t')) ++i;
    if (i == len) continue;
    if (len > options_.max_line_bytes) {
      *line = Line{};
      line->too_long = true;
      line->number = line_number_;
      line->length = len;
      return true;
    }
    line->data = start;
    line->size = len;
    line->number = line_number_;
    line->too_long = false;
    line->length = len;
    return true;
  }
}

}  // namespace fhir
