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
  buf_size_ = options_.chunk_bytes + 1 + kPadding;
  buf_ = NewBuffer(buf_size_);
  return Status::Ok();
}

std::shared_ptr<char[]> NdjsonReader::NewBuffer(size_t bytes) {
  std::unique_ptr<char[]> p;
  {
    std::lock_guard<std::mutex> lock(spares_->mu);
    if (spares_->bytes != bytes) {  // the reader grew: only buffers of the new size are kept
      spares_->buffers.clear();
      spares_->bytes = bytes;
    }
    if (!spares_->buffers.empty()) {
      p = std::move(spares_->buffers.back());
      spares_->buffers.pop_back();
    }
  }
  if (!p) p.reset(new char[bytes]);
  // The deleter holds the spares, so a buffer may outlive the reader.
  return std::shared_ptr<char[]>(p.release(), [spares = spares_, bytes](char* b) {
    std::unique_ptr<char[]> owned(b);
    std::lock_guard<std::mutex> lock(spares->mu);
    if (spares->bytes == bytes && spares->buffers.size() < Spares::kKept) {
      spares->buffers.push_back(std::move(owned));
    }
  });
}

bool NdjsonReader::Fill() {
  if (eof_ || file_ == nullptr) return false;
  // Move unconsumed bytes to the front, grow when a single line fills the buffer. With
  // HandOff(), a buffer lines were returned from is left as it is: the unconsumed bytes move to
  // another buffer, laid out exactly as the move in place would (the same reads follow).
  const size_t pending = end_ - begin_;
  const bool grow = buf_size_ - 1 - kPadding - pending < options_.chunk_bytes / 2;
  if (grow || (hand_off_ && returned_)) {
    const size_t size = grow ? buf_size_ + options_.chunk_bytes : buf_size_;
    std::shared_ptr<char[]> next = NewBuffer(size);
    if (pending > 0) std::memcpy(next.get(), buf_.get() + begin_, pending);
    buf_ = std::move(next);
    buf_size_ = size;
    returned_ = false;
  } else if (begin_ > 0) {
    std::memmove(buf_.get(), buf_.get() + begin_, pending);
  }
  end_ = pending;
  begin_ = 0;
  size_t n = std::fread(buf_.get() + end_, 1, buf_size_ - 1 - kPadding - end_, file_);
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
    char* base = buf_.get();
    void* nl = begin_ < end_ ? std::memchr(base + begin_, '\n', end_ - begin_) : nullptr;
    size_t avail = end_ - begin_;
    // One byte over the limit may still be a '\r' before the newline: a line of the limit's
    // length then, read whole below. Whatever the buffer's size and the reads' boundaries,
    // a line gets the same verdict and length (the lines read in place and those streamed
    // alike: a final '\r' is not counted, and a blank line is skipped).
    if (nl == nullptr && avail > options_.max_line_bytes + 1) {
      // Too long: consume up to and including the next newline without keeping it.
      uint64_t length = 0;
      uint64_t nonblank = 0;  // bytes other than ' ' and '\t'
      char last = 0;
      const auto consume = [&](const char* p, size_t n) {
        if (n == 0) return;
        length += n;
        for (size_t i = 0; i < n; ++i) nonblank += p[i] != ' ' && p[i] != '\t';
        last = p[n - 1];
      };
      consume(base + begin_, avail);
      begin_ = end_ = 0;
      ++line_number_;
      while (true) {
        if (!Fill()) break;
        void* p = std::memchr(buf_.get(), '\n', end_);
        if (p != nullptr) {
          size_t k = static_cast<char*>(p) - buf_.get();
          consume(buf_.get(), k);
          begin_ = k + 1;
          break;
        }
        consume(buf_.get(), end_);
        begin_ = end_ = 0;
      }
      if (last == '\r') {
        --length;
        --nonblank;
      }
      if (nonblank == 0) continue;  // blank, as a line read whole would be
      *line = Line{};
      line->too_long = true;
      line->number = line_number_;
      line->length = length;
      return true;
    }
    if (nl == nullptr) {
      if (Fill()) continue;
      base = buf_.get();  // Fill may have moved the unconsumed bytes to another buffer
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
    returned_ = true;
    line->data = start;
    line->size = len;
    line->number = line_number_;
    line->too_long = false;
    line->length = len;
    return true;
  }
}

}  // namespace fhir
