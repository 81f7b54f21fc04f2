// SPDX-License-Identifier: GPL-2.0
// dtrbdd's Prometheus metrics as a node-exporter textfile-collector file
// ([metrics] textfile in dtrbd.conf; Documentation/dtrbdd.md,
// "Observability", lists every metric). A file rather than an HTTP
// endpoint: the daemon opens no listening socket for it (nothing to
// authenticate, bind or rate-limit), and its single-threaded loop never
// waits on a scraper.
//
// render() is a pure function of a Snapshot, so the text is tested byte for
// byte; TextfileWriter replaces the file atomically (temp file + rename in
// the same directory), so node-exporter never reads half a file.
#pragma once

#include <sys/types.h>

#include <cstdint>
#include <optional>
#include <string>
#include <string_view>
#include <vector>

#include "common/status.h"

namespace dtrbd::daemon::metrics {

struct Snapshot {
	// false: dtrbdd stopped (the last file it writes says so).
	bool up = true;
	double start_time_seconds = 0;	// Unix time dtrbdd started

	struct Link {
		std::string peer;
		std::string address;			// the heartbeat link's peer IP
		std::optional<double> last_heard_seconds;	// unset: never heard
	};
	struct Peer {
		std::string name;
		bool alive = false;
		std::vector<Link> links;
	};
	std::vector<Peer> peers;		// the other hosts, by name

	struct Resource {
		std::string name;
		bool attached = false;
		// The names format.h gives ("primary", "connected", "uptodate");
		// meaningful when attached.
		std::string role, connection, disk, peer_disk;
		bool frozen = false;
		std::optional<uint64_t> out_of_sync_bytes;	// when the kernel reports it
		std::optional<uint64_t> resync_rate_bytes;	// per second, ditto
		uint64_t failovers = 0;		// since dtrbdd started
		std::optional<double> primary_seconds;	// Primary here this long
		std::optional<double> last_failover_seconds;	// peer dead -> domain started
	};
	std::vector<Resource> resources;	// by name
};

// The Prometheus text exposition format (version 0.0.4) of @s: one HELP
// and TYPE per family, families in a fixed order, samples in input order.
std::string render(const Snapshot &s);

// "a\"b" -> "a\\\"b": a label value as the exposition format quotes it.
std::string escape_label(std::string_view v);

// Write @text to @path atomically: a temporary file in the same directory
// (named ".<file>.XXXXXX", which the textfile collector ignores: it reads
// only *.prom), then rename() over @path. The file gets @mode exactly.
Status write_atomically(const std::string &path, std::string_view text, mode_t mode = 0644);

// The daemon's writer: writes only when the text changed, and says a
// failure once (until a write succeeds again) rather than every second.
class TextfileWriter {
public:
	explicit TextfileWriter(std::string path) : path_(std::move(path)) {}
	// Writes @text unless it is what the file already holds. Returns
	// the failure's sentence the first time it fails so (nullopt
	// otherwise: written, unchanged, or the same failure as before).
	std::optional<std::string> update(const std::string &text);
	const std::string &path() const { return path_; }
	uint64_t writes() const { return writes_; }

private:
	std::string path_;
	std::optional<std::string> last_;	// what the file holds
	std::string last_error_;
	uint64_t writes_ = 0;
};

} // namespace dtrbd::daemon::metrics
