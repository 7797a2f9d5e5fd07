#include "plugin/output_file.h"

#include <fcntl.h>
#include <sys/stat.h>
#include <unistd.h>

#include <cerrno>
#include <cstring>
#include <filesystem>

namespace sdoh {

OutputFile::OutputFile(std::string path) : path_(std::move(path)), tmp_(path_ + ".tmp") {}

OutputFile::~OutputFile() {
  if (f_ != nullptr) {
    std::fclose(f_);
    ::unlink(tmp_.c_str());
  }
}

fhir::Status OutputFile::Open() {
  int fd = ::open(tmp_.c_str(), O_WRONLY | O_CREAT | O_TRUNC | O_CLOEXEC, 0600);
  if (fd < 0) return fhir::Status::IoError(tmp_ + ": " + std::strerror(errno));
  ::fchmod(fd, 0600);
  f_ = ::fdopen(fd, "w");
  if (f_ == nullptr) {
    ::close(fd);
    return fhir::Status::IoError(tmp_ + ": " + std::strerror(errno));
  }
  // 1 MiB of buffer: outputs run to hundreds of MB, and 4 KiB writes cost a syscall each.
  ::setvbuf(f_, nullptr, _IOFBF, 1 << 20);
  return fhir::Status::Ok();
}

void OutputFile::Write(std::string_view data) {
  if (f_ == nullptr || failed_) return;
  if (std::fwrite(data.data(), 1, data.size(), f_) != data.size()) failed_ = true;
}

fhir::Status OutputFile::Commit() {
  if (f_ == nullptr) return fhir::Status::IoError(path_ + ": not open");
  // No fsync: outputs are regenerated whole by every run, and rename() replaces the old file
  // atomically, so a reader sees the old or the new file, never half of one.
  bool ok = !failed_ && std::fflush(f_) == 0;
  ok = (std::fclose(f_) == 0) && ok;
  f_ = nullptr;
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
