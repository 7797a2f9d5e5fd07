#include "plugin/pass/source.h"

#include "fhir/ndjson_parallel.h"
#include "plugin/setup/fhir_section.h"

namespace sdoh {

fhir::Result<std::unique_ptr<Source>> Source::Open(const Config& config) {
  std::unique_ptr<Source> s(new Source(config));
  s->is_server_ = IsServerSource(config.source);
  if (s->is_server_) {
    auto options = BuildServerSource(config, &s->client_);
    if (!options.ok()) return options.status();
    s->rest_options_ = *options;
    // Paged searches: with more than one thread, a fetch thread requests and parses the next
    // pages (at most 2 x (threads - 1) waiting) while this thread collects the current one.
    const size_t threads = s->Threads();
    s->rest_options_.pages_ahead = threads > 1 ? 2 * (threads - 1) : 0;
  }
  return s;
}

size_t Source::Threads() const {
  return config_.threads > 0 ? config_.threads : fhir::AvailableCores();
}

fhir::Store& Source::store() {
  if (store_) return *store_;
  if (is_server_ && use_bulk_) {
    completion_ = std::make_unique<fhir::client::RestStore>(client_.fhir.get(), rest_options_);
    rest_ = completion_.get();
    bulk_options_.export_options.since = rest_options_.since;
    bulk_options_.completion = rest_;
    // The downloaded files are parsed like a folder source's: on `threads` threads, in file order.
    bulk_options_.ndjson = {config_.max_line_bytes, config_.max_depth, Threads()};
    auto bulk = std::make_unique<fhir::client::BulkStore>(client_.fhir.get(), bulk_options_);
    bulk_ = bulk.get();
    store_ = std::move(bulk);
  } else if (is_server_) {
    auto rest = std::make_unique<fhir::client::RestStore>(client_.fhir.get(), rest_options_);
    rest_ = rest.get();
    store_ = std::move(rest);
  } else {
    auto folder = std::make_unique<fhir::NdjsonFolderStore>(
        config_.source,
        fhir::NdjsonFolderStore::Options{config_.max_line_bytes, config_.max_depth, Threads()});
    folder_ = folder.get();
    store_ = std::move(folder);
  }
  return *store_;
}

}  // namespace sdoh
