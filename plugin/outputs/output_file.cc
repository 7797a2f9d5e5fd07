#include "plugin/outputs/output_file.h"

#include <fcntl.h>
#include <sched.h>
#include <sys/stat.h>
#include <unistd.h>

#include <cerrno>
#include <cstdio>
#include <cstring>
#include <filesystem>

namespace sdoh {

OutputFile::OutputFile(std::string path) : path_(std::move(path)), tmp_(path_ + ".tmp") {}

OutputFile::~OutputFile() {
  StopWriter();
  if (fd_ >= 0) {
    ::close(fd_);
    ::unlink(tmp_.c_str());
  }
}

fhir::Status OutputFile::Open() {
  // Issue 13: neither the output nor its .tmp is reached through a symlink (rename() would
  // replace a symlinked output, but a symlink there is refused as a sign of tampering).
  for (const std::string& p : {path_, tmp_}) {
    struct stat st;
    if (::lstat(p.c_str(), &st) == 0 && S_ISLNK(st.st_mode)) {
      return fhir::Status::IoError(p +
                                   " is a symlink; sdoh-bridge does not follow symlinks in its "
                                   "out folder — replace it with a regular file or remove it");
    }
  }
  fd_ = ::open(tmp_.c_str(), O_WRONLY | O_CREAT | O_TRUNC | O_CLOEXEC | O_NOFOLLOW, 0600);
  if (fd_ < 0) return fhir::Status::IoError(tmp_ + ": " + std::strerror(errno));
  ::fchmod(fd_, 0600);
  // A writer thread only helps when another core can run it; on one core (a one-CPU machine,
  // or a process pinned to one), or when the owner keeps every core busy, the producer writes
  // smaller chunks itself.
  cpu_set_t cpus;
  background_ = writer_thread_allowed_ &&
                (sched_getaffinity(0, sizeof(cpus), &cpus) != 0 || CPU_COUNT(&cpus) > 1);
  chunk_ = background_ ? kChunk : kChunk / 4;
  buf_.reserve(chunk_ + 4096);
  return fhir::Status::Ok();
}

void OutputFile::Write(std::string_view data) {
  if (fd_ < 0 || failed_.load(std::memory_order_relaxed)) return;
  buf_.append(data);
  if (buf_.size() >= chunk_) {
    Hand(&buf_);
    buf_.clear();
    buf_.reserve(chunk_ + 4096);
  }
}

void OutputFile::Hand(std::string* chunk) {
  if (!background_) {
    if (!WriteAll(*chunk)) failed_ = true;
    return;
  }
  if (!writer_.joinable()) writer_ = std::thread([this] { WriterLoop(); });
  std::unique_lock<std::mutex> lock(mu_);
  cv_.wait(lock, [this] { return !has_pending_; });
  pending_.swap(*chunk);
  has_pending_ = true;
  cv_.notify_all();
}

void OutputFile::WriterLoop() {
  for (;;) {
    std::string take;
    {
      std::unique_lock<std::mutex> lock(mu_);
      cv_.wait(lock, [this] { return has_pending_ || stop_; });
      if (!has_pending_) return;  // stopped, nothing left
      take.swap(pending_);
      has_pending_ = false;
      cv_.notify_all();
    }
    if (!failed_.load(std::memory_order_relaxed) && !WriteAll(take)) failed_ = true;
  }
}

void OutputFile::StopWriter() {
  if (!writer_.joinable()) return;
  {
    std::lock_guard<std::mutex> lock(mu_);
    stop_ = true;
    cv_.notify_all();
  }
  writer_.join();
}

bool OutputFile::WriteAll(const std::string& data) {
  const char* p = data.data();
  size_t left = data.size();
  while (left > 0) {
    ssize_t n = ::write(fd_, p, left);
    if (n < 0) {
      if (errno == EINTR) continue;
      return false;
    }
    p += n;
    left -= static_cast<size_t>(n);
  }
  return true;
}

fhir::Status OutputFile::Commit() {
  if (fd_ < 0) return fhir::Status::IoError(path_ + ": not open");
  if (!buf_.empty() && !failed_) Hand(&buf_);
  buf_.clear();
  StopWriter();  // writes what is pending, then ends
  // No fsync: outputs are regenerated whole by every run, and rename() replaces the old file
  // atomically, so a reader sees the old or the new file, never half of one.
  bool ok = !failed_;
  ok = (::close(fd_) == 0) && ok;
  fd_ = -1;
  if (!ok) {
    ::unlink(tmp_.c_str());
    return fhir::Status::IoError(path_ + ": write failed");
  }
  if (std::rename(tmp_.c_str(), path_.c_str()) != 0) {
    return fhir::Status::IoError(path_ + ": " + std::strerror(errno));
  }
  return fhir::Status::Ok();
}

fhir::Status EnsureDirectory(const std::string& dir) {
  std::error_code ec;
  std::filesystem::create_directories(dir, ec);
  if (ec) return fhir::Status::IoError(dir + ": " + ec.message());
  return fhir::Status::Ok();
}

}  // namespace sdoh
