#include "fhir/ndjson_folder_store.h"

#include <filesystem>

#include "fhir/json.h"
#include "fhir/ndjson_reader.h"

namespace fhir {

NdjsonFolderStore::NdjsonFolderStore(std::string dir, Options options)
    : dir_(std::move(dir)), options_(options) {}

Status ReadNdjsonFile(const std::string& path, const std::string& type,
                      const NdjsonFolderStore::Options& options, ResourceVisitor& visitor,
                      StoreStats* stats) {
  json::LineParser parser(options.max_depth);
  NdjsonReader reader(path, {options.max_line_bytes, 4u << 20});
  if (Status s = reader.Open(); !s.ok()) return s;
  NdjsonReader::Line line;
  std::string error;
  while (reader.Next(&line)) {
    SourceLocation where{path, line.number};
    if (line.too_long) {
      visitor.OnUnreadable(type, where, "line-too-long",
                           "line of " + std::to_string(line.length) +
                               " bytes exceeds the limit of " +
                               std::to_string(options.max_line_bytes));
      continue;
    }
    json::ParseFailure f = parser.Parse(line.data, line.size, &error);
    if (f != json::ParseFailure::kNone) {
      visitor.OnUnreadable(type, where, json::ParseFailureName(f), error);
      continue;
    }
    ++stats->resources;
    visitor.OnResource(type, parser.document(), where);
  }
  stats->bytes += reader.bytes_read();
  return reader.status();
}

Status NdjsonFolderStore::ReadAll(const std::vector<std::string>& types, ResourceVisitor& visitor) {
  std::error_code ec;
  if (!std::filesystem::is_directory(dir_, ec)) {
    return Status::NotFound(dir_ + ": source folder not found");
  }
  missing_.clear();
  for (const std::string& type : types) {
    std::string path = (std::filesystem::path(dir_) / (type + ".ndjson")).string();
    Status s = ReadNdjsonFile(path, type, options_, visitor, &stats_);
    if (s.code() == Status::Code::kNotFound) {
      missing_.push_back(type);
      continue;
    }
    if (!s.ok()) return s;
  }
  return Status::Ok();
}

}  // namespace fhir
