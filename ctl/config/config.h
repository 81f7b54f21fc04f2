// SPDX-License-Identifier: GPL-2.0
// /etc/dtrbd/dtrbd.conf: the one cluster configuration, the same file on
// every host. TOML (toml++), validated completely: load() reports every
// mistake with its line and column, not just the first, and yields a Config
// only when there is none. Documentation/configuration.md lists every key.
//
// The data model is a set of hosts per resource (two today; validation
// refuses more until the daemon supports them).
#pragma once

#include <chrono>
#include <cstdint>
#include <map>
#include <optional>
#include <string>
#include <string_view>
#include <vector>

#include "common/status.h"
#include "conn/endpoint.h"

namespace dtrbd::config {

inline constexpr const char *kDefaultPath = "/etc/dtrbd/dtrbd.conf";
inline constexpr const char *kDefaultControlSocket = "/run/dtrbd/dtrbdd.sock";
inline constexpr const char *kDefaultStateDir = "/var/lib/dtrbd";
inline constexpr uint16_t kDefaultHeartbeatPort = 7788;
// TCP, on every host's address: the daemons' authenticated peer control
// channel (provisioning; daemon/peer_control.h).
inline constexpr uint16_t kDefaultControlPort = 7787;
// Names of hosts and resources: [A-Za-z0-9_.-], not starting with '.' or
// '-', 1..kMaxNameLen bytes (a host name is sent in the hello, and both
// host and resource names in every heartbeat and witness datagram, whose
// name fields hold 31 bytes; a resource name becomes a file name under the
// state dir). ctl/cluster/heartbeat.cc checks the two limits agree.
inline constexpr size_t kMaxNameLen = 31;
// Is n such a name? (The module's rule for DTRBD_A_RES_NAME is the same:
// dtrbd_res_name_ok in kmod/dtrbd_logic.h; tests/unit/test_res_name.cc.)
bool safe_name(std::string_view n);

using Ms = std::chrono::milliseconds;

// Where something was written: 1-based line and column; 0 when unknown.
struct Position {
	uint32_t line = 0;
	uint32_t column = 0;
};

enum class Failback { Auto, Manual, Never };
const char *failback_name(Failback f);		// "auto", "manual", "never"

struct Witness {
	Endpoint address;			// IP:PORT
	Position where;
};

struct Host {
	std::string name;			// the key in [hosts.NAME]
	Endpoint address;			// IP (port 0): replication, default heartbeat link
	std::vector<Endpoint> heartbeat;	// IPs (port 0); default: {address}
	Position where;
};

struct Resource {
	std::string name;			// the key in [resources.NAME]
	uint32_t minor = 0;			// /dev/dtrbdMINOR, 0..DTRBD_MAX_MINOR
	uint16_t port = 0;			// replication TCP port, same on every host
	std::vector<std::string> hosts;		// sorted; default: every host
	std::map<std::string, std::string> disk;	// host -> backing device, one per host
	std::map<std::string, std::string> meta;	// host -> metadata device; empty: internal
	std::optional<std::string> preferred;	// a member of hosts
	Failback failback = Failback::Auto;
	std::string domain;			// libvirt domain name; empty: no VM
	std::string domain_xml;			// path; empty: the domain must already be defined
	char protocol = 'C';			// 'A', 'B' or 'C'
	Position where;
};

struct Timing {
	Ms heartbeat_interval{200};	// one datagram per link per interval
	Ms deadtime{1000};		// peer dead when no link heard it this long
	Ms witness_lease{2000};		// witness: a holder silent this long may be replaced (= dtrbd-witness --lease-ms default)
	Ms isolation_timeout{1000};	// isolated host destroys its VMs within this
	Ms reconnect_min{200};		// first reconnect delay, doubling ...
	Ms reconnect_max{5000};		// ... up to this
	Ms handshake_timeout{5000};	// whole userspace connect handshake (TCP + hello + auth)
	Ms ping_interval{1000};		// kernel keep-alive on the replication link
	Ms ping_timeout{5000};		// kernel declares the link dead after this much silence
	Ms shutdown_timeout{60000};	// ACPI shutdown of a VM before it is destroyed
	Ms start_timeout{120000};	// a domain start (or define) without a result counts as failed
};

// [metrics]: the Prometheus textfile (Documentation/dtrbdd.md,
// "Observability").
struct Metrics {
	std::string textfile;			// absolute, ends in .prom; empty: off (the default)
	Position where;
};

struct Config {
	std::string path;			// the file it was read from
	std::string secret_file;		// absolute (relative ones resolved against the file's directory)
	std::vector<uint8_t> secret;		// its content (read and checked by load())
	std::optional<Witness> witness;
	uint16_t heartbeat_port = kDefaultHeartbeatPort;	// UDP, every heartbeat link
	uint16_t control_port = kDefaultControlPort;	// TCP, the peer control channel
	std::string control_socket = kDefaultControlSocket;
	std::string state_dir = kDefaultStateDir;
	Timing timing;
	Metrics metrics;
	std::map<std::string, Host> hosts;	// by name
	std::map<std::string, Resource> resources;	// by name

	const Host *find_host(std::string_view name) const;	// nullptr: no such host
	const Resource *find_resource(std::string_view name) const;
	const Resource *find_minor(uint32_t minor) const;

	// The resources @host takes part in, by name.
	std::vector<const Resource *> resources_of(std::string_view host) const;
	// One-line summary: "2 hosts, 4 resources, witness 10.99.0.3:7790"
	// ("no witness" when none is configured).
	std::string summary() const;
};

// The other hosts of @r (all of r.hosts but @host), sorted.
std::vector<std::string> peers(const Resource &r, std::string_view host);
// @r's backing device on @host; nullopt when @host is not one of its hosts.
std::optional<std::string> disk_path(const Resource &r, std::string_view host);
// @r's metadata device on @host; nullopt for internal metadata (or a
// host that is not one of its hosts).
std::optional<std::string> meta_path(const Resource &r, std::string_view host);
// @host's replication endpoint for @r: the host's address with r.port.
// Precondition: @host is one of r.hosts (a validated Config holds it).
Endpoint replication_endpoint(const Config &c, const Resource &r, std::string_view host);

// Which host this is: @name when given (--host; must be configured),
// otherwise the one named like this machine's hostname (also tried
// without its domain part). One sentence when none matches.
Result<const Host *> this_host(const Config &c, std::optional<std::string_view> name = std::nullopt);
// The same with the hostname given (for tests and the daemon's fakes).
Result<const Host *> host_by_hostname(const Config &c, std::string_view hostname);

struct Mistake {
	std::string path;
	Position where;
	std::string message;	// one sentence, no trailing newline
	// "PATH:LINE:COL: message" ("PATH: message" without a position)
	std::string str() const;
};

struct LoadOptions {
	// read secret-file and refuse when crypto::read_secret_file does;
	// false only for tools that must not need the secret.
	bool read_secret = true;
};

struct Loaded {
	std::optional<Config> config;	// set iff mistakes is empty
	std::vector<Mistake> mistakes;	// in file order
};

// Read and validate @path (a missing or unreadable file is one mistake).
Loaded load(const std::string &path, const LoadOptions &opt = {});
// Validate @text as if read from @path (relative secret-file paths resolve
// against dirname(@path)).
Loaded parse(std::string_view text, const std::string &path, const LoadOptions &opt = {});

// load() for commands that just need a good Config: the first mistake as
// the sentence, plus how many more and how to see them all.
Result<Config> load_or_refuse(const std::string &path, const LoadOptions &opt = {});

} // namespace dtrbd::config
