#include "fhir/ndjson_folder_store.h"

#include <filesystem>

#include "fhir/json.h"
#include "fhir/ndjson_parallel.h"
#include "fhir/ndjson_reader.h"

namespace fhir {

NdjsonFolderStore::NdjsonFolderStore(std::string dir, Options options)
    : dir_(std::move(dir)), options_(options) {}

void NdjsonFolderStore::Visit(const std::string& type, const SourceLocation& where, bool too_long,
                              uint64_t length, json::ParseFailure failure, const std::string& error,
                              const rapidjson::Value& resource, ResourceVisitor& visitor) {
  if (too_long) {
    visitor.OnUnreadable(type, where, "line-too-long",
                         "line of " + std::to_string(length) + " bytes exceeds the limit of " +
                             std::to_string(options_.max_line_bytes));
    return;
  }
  if (failure != json::ParseFailure::kNone) {
    visitor.OnUnreadable(type, where, json::ParseFailureName(failure), error);
    return;
  }
  ++stats_.resources;
  visitor.OnResource(type, resource, where);
}

Status NdjsonFolderStore::ReadAll(const std::vector<std::string>& types, ResourceVisitor& visitor) {
  std::error_code ec;
  if (!std::filesystem::is_directory(dir_, ec)) {
    return Status::NotFound(dir_ + ": source folder not found");
  }
  missing_.clear();
  json::LineParser parser(options_.max_depth);
  for (const std::string& type : types) {
    std::string path = (std::filesystem::path(dir_) / (type + ".ndjson")).string();
    NdjsonReader reader(path, {options_.max_line_bytes, 4u << 20});
    if (Status s = reader.Open(); !s.ok()) {
      if (s.code() == Status::Code::kNotFound) {
        missing_.push_back(type);
        continue;
      }
      return s;
    }
    if (options_.threads > 1) {
      ParallelNdjsonParser lines(reader, {options_.threads, options_.max_depth});
      while (const ParallelNdjsonParser::Line* line = lines.Next()) {
        Visit(type, {path, line->number}, line->too_long, line->length, line->failure, line->error,
              line->value, visitor);
      }
    } else {
      NdjsonReader::Line line;
      std::string error;
      while (reader.Next(&line)) {
        json::ParseFailure f = json::ParseFailure::kNone;
        if (!line.too_long) f = parser.Parse(line.data, line.size, &error);
        Visit(type, {path, line.number}, line.too_long, line.length, f, error, parser.document(),
              visitor);
      }
    }
    stats_.bytes += reader.bytes_read();
    if (!reader.status().ok()) return reader.status();
  }
  return Status::Ok();
}

}  // namespace fhir
