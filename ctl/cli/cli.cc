// SPDX-License-Identifier: GPL-2.0
#include "cli/cli.h"

#include <linux/dtrbd.h>
#include <unistd.h>

#include <algorithm>
#include <boost/program_options.hpp>
#include <cctype>
#include <climits>
#include <sstream>
#include <string_view>
#include <vector>

#include "cli/check_config.h"
#include "cli/commands.h"
#include "cli/format.h"
#include "cli/provision_cli.h"
#include "peer/peer_client.h"
#include "cli/udev_attach.h"
#include "daemon/control.h"
#include "common/crypto.h"
#include "common/log.h"
#include "common/manpage.h"
#include "config/config.h"
#include "dtrbd_logic.h"
#include "dtrbd_protocol.h"

namespace dtrbd {

namespace po = boost::program_options;

namespace {

// errnum of a Status that is a command line error (exit status 2).
constexpr int kUsageError = -1;

Status usage_error(std::string msg)
{
	return Status::error(std::move(msg), kUsageError);
}

struct Invocation {
	po::variables_map vm;
	uint32_t minor = 0;
	bool has_minor = false;
	Env &env;
	Kernel *kernel = nullptr;
	ConnectOptions connect;		// filled by prepare_connect()
	AttachOptions attach;		// prepare_attach()
	VerifyOptions verify;		// prepare_verify()
	SetOptionsRequest options;	// prepare_set_options()
	std::string name, host;		// the cluster verbs' NAME and HOST
	std::string device;		// udev-attach's DEVICE
};

struct Command {
	const char *name;
	const char *synopsis;
	const char *summary;
	const char *description;
	const char *examples;
	// The positional arguments: a device MINOR, or for the cluster verbs
	// a resource NAME (and a HOST).
	// kDevice: a block device path (udev-attach).
	enum { kNoMinor, kMinor, kOptionalMinor, kName, kOptionalName, kNameHost, kDevice } minor;
	bool needs_kernel;
	void (*options)(po::options_description_easy_init add);
	Status (*run)(Invocation &inv);
	// Validates options before the kernel is opened (usage errors first).
	Status (*prepare)(Invocation &inv) = nullptr;
};

// ---- option values ----------------------------------------------------------

bool is_digits(std::string_view s)
{
	return !s.empty() &&
	       std::all_of(s.begin(), s.end(), [](unsigned char c) { return std::isdigit(c); });
}

std::optional<uint64_t> to_number(const std::string &s)
{
	if (!is_digits(s) || s.size() > 19)
		return std::nullopt;
	return std::stoull(s);
}

Result<uint32_t> parse_minor(const std::string &s)
{
	auto v = to_number(s);
	bool numeric = is_digits(s) || (s.starts_with('-') && is_digits(s.substr(1)));
	if (numeric && (!v || *v > DTRBD_MAX_MINOR))
		return usage_error(str("minor ", s, " is out of range (0-", DTRBD_MAX_MINOR, ")"));
	if (!v)
		return usage_error(str("minor '", s, "' is not a number (0-", DTRBD_MAX_MINOR, ")"));
	return static_cast<uint32_t>(*v);
}

// The value of --NAME as a number in [min, max].
Result<uint64_t> number(const Invocation &inv, const char *name, uint64_t min,
			uint64_t max, const char *unit)
{
	const std::string &s = inv.vm[name].as<std::string>();
	auto v = to_number(s);
	if (!v || *v < min || *v > max)
		return usage_error(str("--", name, " must be a number of ", unit, " from ",
				       min, " to ", max, ", not '", s, "'"));
	return *v;
}

const std::string &text(const Invocation &inv, const char *name)
{
	return inv.vm[name].as<std::string>();
}

bool flag(const Invocation &inv, const char *name)
{
	return inv.vm.count(name) && inv.vm[name].as<bool>();
}

std::string hostname()
{
	char buf[HOST_NAME_MAX + 1] = {};
	if (gethostname(buf, sizeof(buf) - 1) != 0)
		return "unknown";
	return buf;
}

// ---- the commands -------------------------------------------------------------

void no_options(po::options_description_easy_init) {}

void disk_option(po::options_description_easy_init add)
{
	add("disk", po::value<std::string>()->value_name("PATH")->required(),
	    "backing block device (or regular file, for tests)");
}

std::optional<std::string> optional_text(const Invocation &inv, const char *name)
{
	return inv.vm.count(name) ? std::optional(text(inv, name)) : std::nullopt;
}

// --on-peer-loss: continue | freeze.
Result<uint8_t> on_peer_loss(const Invocation &inv)
{
	const std::string &s = text(inv, "on-peer-loss");
	auto v = parse_on_peer_loss(s);
	if (!v)
		return usage_error(str("--on-peer-loss must be continue or freeze, not '", s, "'"));
	return *v;
}

// --ko-count: the request timeout in peer timeouts.
Result<uint32_t> ko_count(const Invocation &inv)
{
	auto n = number(inv, "ko-count", DTRBD_KO_COUNT_MIN, DTRBD_KO_COUNT_MAX,
			"peer timeouts");
	if (!n)
		return n.status();
	return static_cast<uint32_t>(*n);
}

const std::string kKoCountHelp = str(
	"request timeout, in peer timeouts (", DTRBD_KO_COUNT_MIN, "-", DTRBD_KO_COUNT_MAX,
	"): a write, read or resync request the peer leaves waiting for N x "
	"--peer-timeout-ms gets the peer declared dead, as if the connection "
	"were lost; it is also the send timeout of the socket");

constexpr const char *kOnPeerLossHelp =
	"what a Primary does when it loses its peer: continue (writes "
	"complete on this side alone) or freeze (no write completes until "
	"resume-io, fail-io or a reconnect)";

// --resync-rate: KiB/s, 0 for "dynamic". The messages say "4G".
static_assert(DTRBD_RESYNC_RATE_MAX == 4u << 20);
Result<uint32_t> resync_rate(const Invocation &inv)
{
	const std::string &s = text(inv, "resync-rate");
	auto v = parse_resync_rate(s);
	if (!v)
		return usage_error(str("--resync-rate must be 'dynamic' or a rate per second "
				       "with a binary unit from 1K to 4G (e.g. 800K, 50M, 1G), "
				       "not '", s, "'"));
	return *v;
}

void meta_option(po::options_description_easy_init add, const char *what)
{
	add("meta", po::value<std::string>()->value_name("PATH"), what);
}

// The help texts below spell these out.
static_assert(DTRBD_AL_EXTENTS_MIN == 7 && DTRBD_AL_EXTENTS_MAX == 1018 &&
	      DTRBD_AL_EXTENTS_DEFAULT == 257 && DTRBD_MD_AL_EXTENT == 4u << 20);
static_assert(DTRBD_MD_SB_SIZE + DTRBD_MD_AL_SIZE == 36 * 1024);

constexpr const char *kRateHelp =
	"'dynamic' or a fixed rate per second with a binary unit, K, M or G "
	"(e.g. 800K, 50M, 1G), at most 4G";

Status run_create_md(Invocation &inv)
{
	return cmd_create_md(text(inv, "disk"), optional_text(inv, "meta"),
			     flag(inv, "force"), inv.env.out);
}

Status prepare_attach(Invocation &inv)
{
	AttachOptions &o = inv.attach;
	o.minor = inv.minor;
	o.disk = text(inv, "disk");
	o.meta = optional_text(inv, "meta");
	o.name = optional_text(inv, "name");
	if (o.name && !dtrbd_res_name_ok(o.name->c_str(), static_cast<uint32_t>(o.name->size())))
		return usage_error(str("--name must be 1 to ", DTRBD_RES_NAME_MAX,
				       " characters of A-Z a-z 0-9 _ . - not starting with '.' or '-', not '",
				       *o.name, "'"));
	if (inv.vm.count("al-extents")) {
		auto n = number(inv, "al-extents", DTRBD_AL_EXTENTS_MIN,
				DTRBD_AL_EXTENTS_MAX, "4 MiB extents");
		if (!n)
			return n.status();
		o.al_extents = static_cast<uint32_t>(*n);
	}
	return {};
}

Status run_attach(Invocation &inv)
{
	return cmd_attach(*inv.kernel, inv.attach, inv.env.out);
}

Status prepare_connect(Invocation &inv)
{
	ConnectOptions &o = inv.connect;
	o.minor = inv.minor;
	auto local = parse_endpoint(text(inv, "local"), "--local");
	if (!local)
		return usage_error(local.status().message());
	auto peer = parse_endpoint(text(inv, "peer"), "--peer");
	if (!peer)
		return usage_error(peer.status().message());
	auto proto = parse_protocol(text(inv, "protocol"));
	if (!proto)
		return usage_error(str("--protocol must be A, B or C, not '",
				       text(inv, "protocol"), "'"));
	auto timeout = number(inv, "timeout", 1, 86400, "seconds");
	auto ping = number(inv, "ping-ms", DTRBD_PING_MS_MIN, DTRBD_PING_MS_MAX,
			   "milliseconds");
	auto dead = number(inv, "peer-timeout-ms", DTRBD_TIMEOUT_MS_MIN,
			   DTRBD_TIMEOUT_MS_MAX, "milliseconds");
	for (const auto *r : {&timeout, &ping, &dead})
		if (!*r)
			return r->status();
	if (*dead <= *ping)
		return usage_error(str("--peer-timeout-ms (", *dead,
				       ") must be longer than --ping-ms (", *ping, ")"));
	o.local = *local;
	o.peer = *peer;
	o.protocol = *proto;
	o.timeout_s = static_cast<unsigned>(*timeout);
	o.ping_ms = static_cast<uint32_t>(*ping);
	o.peer_timeout_ms = static_cast<uint32_t>(*dead);
	o.node_name = inv.vm.count("node-name") ? text(inv, "node-name") : hostname();
	if (o.node_name.empty() || o.node_name.size() >= DTRBD_NODE_NAME_LEN)
		return usage_error(str("--node-name must be 1 to ", DTRBD_NODE_NAME_LEN - 1,
				       " characters long"));
	o.discard_my_data = flag(inv, "discard-my-data");
	o.csum_resync = flag(inv, "csum-resync");
	if (inv.vm.count("after-sb")) {
		o.after_sb = parse_after_sb(text(inv, "after-sb"));
		if (!o.after_sb)
			return usage_error(str("--after-sb must be disconnect, discard-zero-changes "
					       "or discard-secondary, not '",
					       text(inv, "after-sb"), "'"));
	}
	if (inv.vm.count("resync-rate")) {
		auto rate = resync_rate(inv);
		if (!rate)
			return rate.status();
		o.resync_rate_kib = *rate;
	}
	if (inv.vm.count("secret-file")) {
		// Not a usage error: the file is there but unfit (exit status 1).
		auto secret = crypto::read_secret_file(text(inv, "secret-file"));
		if (!secret)
			return secret.status();
		o.secret = std::move(*secret);
	}
	if (inv.vm.count("on-peer-loss")) {
		auto p = on_peer_loss(inv);
		if (!p)
			return p.status();
		o.on_peer_loss = *p;
	}
	if (inv.vm.count("ko-count")) {
		auto n = ko_count(inv);
		if (!n)
			return n.status();
		o.ko_count = *n;
	}
	return {};
}

Status run_connect(Invocation &inv)
{
	return cmd_connect(*inv.kernel, inv.connect, inv.env.out);
}

Status run_primary(Invocation &inv)
{
	return cmd_primary(*inv.kernel, inv.minor, flag(inv, "force"), inv.env.out);
}

Status run_secondary(Invocation &inv)
{
	return cmd_secondary(*inv.kernel, inv.minor, inv.env.out);
}

Status run_disconnect(Invocation &inv)
{
	return cmd_disconnect(*inv.kernel, inv.minor, inv.env.out);
}

Status run_detach(Invocation &inv)
{
	return cmd_detach(*inv.kernel, inv.minor, inv.env.out);
}

Status run_status(Invocation &inv)
{
	return cmd_status(*inv.kernel, inv.has_minor ? std::optional(inv.minor) : std::nullopt,
			  flag(inv, "json"), inv.env.out);
}

Status prepare_verify(Invocation &inv)
{
	VerifyOptions &o = inv.verify;
	o.minor = inv.minor;
	o.repair = flag(inv, "repair");
	o.json = flag(inv, "json");
	auto t = number(inv, "timeout", 0, 604800, "seconds");
	if (!t)
		return t.status();
	o.timeout_s = static_cast<unsigned>(*t);
	return {};
}

Status run_verify(Invocation &inv)
{
	inv.env.watch_signals();
	Waiting w;
	w.now = inv.env.now;
	w.stop = inv.env.stop_requested;
	w.progress = inv.env.err_is_terminal() ? &inv.env.err : nullptr;
	return cmd_verify(*inv.kernel, inv.verify, w, inv.env.out);
}

Status run_invalidate(Invocation &inv)
{
	return cmd_invalidate(*inv.kernel, inv.minor, inv.env.out);
}

Status run_invalidate_remote(Invocation &inv)
{
	return cmd_invalidate_remote(*inv.kernel, inv.minor, inv.env.out);
}

Status run_new_current_uuid(Invocation &inv)
{
	return cmd_new_current_uuid(*inv.kernel, inv.minor, flag(inv, "clear-bitmap"),
				    inv.env.out);
}

Status prepare_set_options(Invocation &inv)
{
	inv.options.minor = inv.minor;
	if (!inv.vm.count("resync-rate") && !inv.vm.count("on-peer-loss") &&
	    !inv.vm.count("ko-count"))
		return usage_error("set-options needs --resync-rate, --on-peer-loss or --ko-count "
				   "(see dtrbdctl set-options --help)");
	if (inv.vm.count("ko-count")) {
		auto n = ko_count(inv);
		if (!n)
			return n.status();
		inv.options.ko_count = *n;
	}
	if (inv.vm.count("resync-rate")) {
		auto rate = resync_rate(inv);
		if (!rate)
			return rate.status();
		inv.options.resync_rate_kib = *rate;
	}
	if (inv.vm.count("on-peer-loss")) {
		auto p = on_peer_loss(inv);
		if (!p)
			return p.status();
		inv.options.on_peer_loss = *p;
	}
	return {};
}

Status run_set_options(Invocation &inv)
{
	return cmd_set_options(*inv.kernel, inv.options, inv.env.out);
}

Status run_resume_io(Invocation &inv)
{
	return cmd_resume_io(*inv.kernel, inv.minor, inv.env.out);
}

Status run_fail_io(Invocation &inv)
{
	return cmd_fail_io(*inv.kernel, inv.minor, inv.env.out);
}

Status run_events(Invocation &inv)
{
	inv.env.watch_signals();
	return cmd_events(*inv.kernel, flag(inv, "json"), inv.env.out,
			  inv.env.stop_requested);
}

Status run_check_config(Invocation &inv)
{
	return cmd_check_config(inv.vm["config"].as<std::string>(), flag(inv, "json"), inv.env.out);
}

void force_option(po::options_description_easy_init add, const char *what)
{
	add("force", po::bool_switch(), what);
}

void json_option(po::options_description_easy_init add, const char *what)
{
	add("json", po::bool_switch(), what);
}

// ---- the cluster verbs (ask dtrbdd) ------------------------------------------

void socket_option(po::options_description_easy_init add)
{
	add("socket", po::value<std::string>()->value_name("PATH")
			      ->default_value(control::kDefaultSocket),
	    "dtrbdd's control socket");
}

void config_option(po::options_description_easy_init add)
{
	add("config", po::value<std::string>()->value_name("PATH")
			      ->default_value(config::kDefaultPath),
	    "the configuration file");
}

nlohmann::json verb_request(const Invocation &inv, const char *cmd)
{
	nlohmann::json req{{"cmd", cmd}};
	if (!inv.name.empty())
		req["resource"] = inv.name;
	if (!inv.host.empty())
		req["host"] = inv.host;
	return req;
}

Status run_verb(Invocation &inv, const char *cmd)
{
	return cmd_cluster_verb(inv.env.ask_daemon, text(inv, "socket"),
				verb_request(inv, cmd), inv.env.out);
}

Status run_up(Invocation &inv) { return run_verb(inv, "up"); }
Status run_down(Invocation &inv) { return run_verb(inv, "down"); }
Status run_reload(Invocation &inv) { return run_verb(inv, "reload"); }
Status run_fail_back(Invocation &inv) { return run_verb(inv, "fail-back"); }
Status run_migrate(Invocation &inv) { return run_verb(inv, "migrate"); }

Status run_udev_attach(Invocation &inv)
{
	UdevAttach o;
	o.devnode = inv.device;
	o.config_path = text(inv, "config");
	o.host = optional_text(inv, "host");
	o.socket = text(inv, "socket");
	return cmd_udev_attach(o, inv.env.ask_daemon, inv.env.open_kernel, inv.env.out);
}

ProvisionCli provision_cli(const Invocation &inv)
{
	ProvisionCli o;
	o.config_path = text(inv, "config");
	if (inv.vm.count("socket"))	// not peer-exec's
		o.socket = text(inv, "socket");
	if (!inv.host.empty())
		o.host = inv.host;
	o.name = inv.name;
	o.json = flag(inv, "json");
	return o;
}

Status run_provision(Invocation &inv)
{
	ProvisionCli o = provision_cli(inv);
	o.size = text(inv, "size");
	o.vg = text(inv, "vg");
	o.preferred = optional_text(inv, "preferred");
	o.domain_xml = optional_text(inv, "domain-xml");
	return cmd_provision(o, inv.env);
}

Status run_deprovision(Invocation &inv)
{
	ProvisionCli o = provision_cli(inv);
	o.keep_volumes = flag(inv, "keep-volumes");
	return cmd_deprovision(o, inv.env);
}

Status run_peer_exec(Invocation &inv)
{
	ProvisionCli o = provision_cli(inv);
	return cmd_peer_exec(o, optional_text(inv, "from").value_or(""),
			     inv.env.in ? *inv.env.in : std::cin, inv.env);
}

Status run_leaving(Invocation &inv)
{
	ProvisionCli o = provision_cli(inv);
	o.reason = optional_text(inv, "reason").value_or("");
	return cmd_leaving(o, inv.env);
}

Status run_cluster(Invocation &inv)
{
	return cmd_cluster(inv.env.ask_daemon, text(inv, "socket"), flag(inv, "json"),
			   inv.env.out);
}

const Command kCommands[] = {
{
	"create-md", "create-md --disk PATH [--meta PATH] [--force]",
	"write fresh dtrbd metadata for a backing device",
	"Internal metadata (without --meta) reserves the end of the --disk PATH\n"
	"for dtrbd's metadata and writes it: a 4 KiB superblock in the last\n"
	"4 KiB, a 32 KiB activity log before it, and before that the\n"
	"out-of-sync bitmap (one bit per 4 KiB of the device). Everything in\n"
	"front of the bitmap is the data area, which maps 1:1 to /dev/dtrbdN:\n"
	"the backing device alone stays a plain copy of the data.\n"
	"\n"
	"External metadata (--meta PATH) puts the superblock, the activity log\n"
	"and the bitmap, in that order from byte 0, on a device of its own, and\n"
	"the whole --disk (rounded down to 4 KiB) is data. The --disk device is\n"
	"only opened exclusively to learn its size and is never written. The\n"
	"metadata device needs 36 KiB plus 32 KiB of bitmap per GiB of data,\n"
	"rounded up to 4 KiB; attach must then be given the same --meta.\n"
	"\n"
	"The new metadata says the data is Inconsistent and carries a fresh\n"
	"random device uuid; the bitmap and activity log are zeroed. The data\n"
	"area is not touched. Block devices are opened exclusively (O_EXCL), so\n"
	"a mounted or attached device is refused. Valid metadata already on the\n"
	"target (or metadata of another version) is only overwritten with\n"
	"--force.",
	"dtrbdctl create-md --disk /dev/vg0/vm1\n"
	"dtrbdctl create-md --disk /dev/vg0/vm1 --force\n"
	"dtrbdctl create-md --disk /dev/vg0/vm1 --meta /dev/vg1/vm1-meta",
	Command::kNoMinor, false,
	[](po::options_description_easy_init add) {
		disk_option(add);
		meta_option(add, "put the metadata on this device instead of the end of "
			    "--disk (external metadata)");
		force_option(add, "overwrite existing dtrbd metadata");
	},
	run_create_md,
},
{
	"attach", "attach MINOR --disk PATH [--meta PATH] [--al-extents N] [--name NAME]",
	"attach a backing device as /dev/dtrbdMINOR",
	"Checks that PATH carries valid dtrbd metadata (see create-md), then asks\n"
	"the module to open PATH (by its absolute, symlink-free path) and create\n"
	"/dev/dtrbdMINOR over it. The device starts Secondary and StandAlone.\n"
	"With --meta, the metadata is read from that device instead (it must\n"
	"have been created with create-md --meta for this --disk), and the\n"
	"module is given its absolute path too.\n"
	"\n"
	"--name gives the device a resource name (1 to 31 characters of\n"
	"A-Z a-z 0-9 _ . -, not starting with '.' or '-'): status shows it, the\n"
	"module exports it as /sys/block/dtrbdMINOR/dtrbd/name and the udev\n"
	"rules link /dev/dtrbd/by-res/NAME to the device (dtrbdd passes the\n"
	"resource's name from dtrbd.conf).\n"
	"\n"
	"--al-extents sets the size of the activity log: the number of 4 MiB\n"
	"extents that may hold writes in flight at once (default 257, about\n"
	"1 GiB). A write to an extent outside the log first writes a metadata\n"
	"transaction, so more extents mean fewer metadata writes on the write\n"
	"path; but after a crash of the Primary every extent in the log must be\n"
	"resynced, so more extents also mean a longer resync then.",
	"dtrbdctl attach 0 --disk /dev/vg0/vm1 --name vm1\n"
	"dtrbdctl attach 0 --disk /dev/vg0/vm1 --meta /dev/vg1/vm1-meta --al-extents 1018",
	Command::kMinor, true,
	[](po::options_description_easy_init add) {
		disk_option(add);
		meta_option(add, "external metadata device (as given to create-md --meta)");
		add("al-extents", po::value<std::string>()->value_name("N"),
		    "activity log size in 4 MiB extents, 7-1018 (default: the "
		    "module's, 257)");
		add("name", po::value<std::string>()->value_name("NAME"),
		    "resource name: status, /dev/dtrbd/by-res/NAME");
	},
	run_attach, prepare_attach,
},
{
	"connect", "connect MINOR --local IP:PORT --peer IP:PORT [--protocol C]\n"
	"         [--timeout SECONDS] [--ping-ms N] [--peer-timeout-ms N]\n"
	"         [--discard-my-data] [--after-sb POLICY] [--resync-rate RATE]\n"
	"         [--secret-file PATH] [--on-peer-loss continue|freeze]\n"
	"         [--ko-count N]",
	"connect /dev/dtrbdMINOR to its peer",
	"Run the same command on both hosts, with --local and --peer swapped.\n"
	"The host whose local endpoint is numerically lower (IP, then port)\n"
	"listens on --local and accepts only a connection from the peer's IP;\n"
	"the other connects to --peer from its local IP, retrying every 200 ms.\n"
	"Both then exchange a hello (protocol versions, feature bits, device\n"
	"size, host name) and refuse to go on when the versions do not overlap\n"
	"or the data sizes differ. The socket is then handed to the module,\n"
	"which replicates over it; connect waits until the module reports the\n"
	"connection up and prints the peer's name. Everything, from the first\n"
	"attempt to the module's report, must finish within --timeout seconds;\n"
	"if the module took the socket but did not report the connection up\n"
	"in time, connect disconnects the device again.\n"
	"\n"
	"With --secret-file, after the hello both sides prove to each other\n"
	"that they know the shared secret (an HMAC-SHA256 challenge/response\n"
	"over fresh random nonces and both hellos); a wrong secret, or a peer\n"
	"without --secret-file when this side has one (or the reverse), is\n"
	"refused on both sides with one sentence, and no socket reaches the\n"
	"module. The hello and the authentication must finish within 10 s of\n"
	"the TCP connection, so a silent peer cannot hang connect. This\n"
	"authenticates the peer; it does not encrypt the replication traffic.\n"
	"\n"
	"Replication protocols: A - a write completes when it is on the local\n"
	"disk and in the send buffer; B - when the peer has received it; C (the\n"
	"default) - when the peer has written it. Only C loses nothing when one\n"
	"host fails.\n"
	"\n"
	"Split brain: when both sides changed the data while disconnected, the\n"
	"module refuses the connection and says so (status shows the flag\n"
	"split-brain). Decide whose changes are to be thrown away. On that side\n"
	"(it must be Secondary: run secondary first) run connect with\n"
	"--discard-my-data; on the other side run a plain connect. The side\n"
	"with --discard-my-data then becomes the resync target and receives\n"
	"every block the two sides changed. --after-sb lets the module resolve\n"
	"a split brain by itself: disconnect (the default) refuses and leaves\n"
	"the decision to you; discard-zero-changes discards the side that\n"
	"wrote nothing since the split (if neither or both did, it refuses);\n"
	"discard-secondary discards the side that is Secondary now.\n"
	"\n"
	"--resync-rate caps the resync speed so that applications keep their\n"
	"share of the disk and network: 'dynamic' (the default) lets the module\n"
	"adapt the rate to the load; a fixed rate is a size per second with a\n"
	"binary unit (800K, 50M, 1G), at most 4G. set-options changes it later.\n"
	"\n"
	"--on-peer-loss says what a Primary does when this connection is lost\n"
	"or disconnected: continue (the default) completes the writes the peer\n"
	"did not confirm on this side alone and goes on writing; freeze lets no\n"
	"write complete (new and waiting writes wait, reads go on) until\n"
	"resume-io, fail-io or a successful reconnect. The freeze lives in the\n"
	"kernel: it holds even when no program is left to end it.\n"
	"\n"
	"--ko-count bounds how long anything waits for the peer: a write the\n"
	"peer has not written, a read it has not answered or a resync chunk it\n"
	"has not acknowledged after N x --peer-timeout-ms (default 7 x 5 s =\n"
	"35 s) gets the peer declared dead, exactly as if the connection were\n"
	"lost, and --on-peer-loss applies. This catches a peer that still\n"
	"answers keep-alives but no longer does its part (a stuck disk). The\n"
	"same time is the socket's send timeout, and the module's handshake must\n"
	"finish within 2 x --peer-timeout-ms. set-options changes it later.",
	"p1# dtrbdctl connect 0 --local 10.0.0.1:7789 --peer 10.0.0.2:7789\n"
	"p2# dtrbdctl connect 0 --local 10.0.0.2:7789 --peer 10.0.0.1:7789\n"
	"\n"
	"# split brain, p2's changes are to be thrown away:\n"
	"p2# dtrbdctl secondary 0\n"
	"p2# dtrbdctl connect 0 --local 10.0.0.2:7789 --peer 10.0.0.1:7789 --discard-my-data\n"
	"p1# dtrbdctl connect 0 --local 10.0.0.1:7789 --peer 10.0.0.2:7789",
	Command::kMinor, true,
	[](po::options_description_easy_init add) {
		add("local", po::value<std::string>()->value_name("IP:PORT")->required(),
		    "this host's endpoint (IPv6: [ADDRESS]:PORT)");
		add("peer", po::value<std::string>()->value_name("IP:PORT")->required(),
		    "the peer's endpoint");
		add("protocol", po::value<std::string>()->value_name("A|B|C")->default_value("C"),
		    "replication protocol (case-insensitive)");
		add("timeout", po::value<std::string>()->value_name("SECONDS")->default_value("30"),
		    "give up after this long (1-86400)");
		add("ping-ms", po::value<std::string>()->value_name("N")
			->default_value(std::to_string(DTRBD_PING_MS_DEFAULT)),
		    "keep-alive interval of the connection (100-60000)");
		add("peer-timeout-ms", po::value<std::string>()->value_name("N")
			->default_value(std::to_string(DTRBD_TIMEOUT_MS_DEFAULT)),
		    "declare the peer dead after this much silence (500-600000, "
		    "more than --ping-ms)");
		add("node-name", po::value<std::string>()->value_name("NAME"),
		    "name sent to the peer (default: this host's name)");
		add("csum-resync", po::bool_switch(),
		    "when this side is the resync source, send a crc32c of each "
		    "4 KiB block first and the data only where the peer's block "
		    "differs (saves bandwidth when most blocks are already equal, "
		    "e.g. after invalidate; costs a read on both sides)");
		add("discard-my-data", po::bool_switch(),
		    "resolve a split brain: throw this side's changes away and "
		    "resync from the peer (this side must be Secondary)");
		add("after-sb", po::value<std::string>()->value_name("POLICY"),
		    "automatic split-brain recovery: disconnect (default), "
		    "discard-zero-changes or discard-secondary");
		add("resync-rate", po::value<std::string>()->value_name("RATE"),
		    str("resync speed: ", kRateHelp, " (default: dynamic)").c_str());
		add("secret-file", po::value<std::string>()->value_name("PATH"),
		    "authenticate the peer: both sides prove they know the secret in "
		    "PATH (at least 16 bytes, mode 600) before the socket is handed "
		    "to the module; both sides must give it, or neither");
		add("on-peer-loss", po::value<std::string>()->value_name("POLICY"),
		    str(kOnPeerLossHelp, " (default: continue)").c_str());
		add("ko-count", po::value<std::string>()->value_name("N"),
		    str(kKoCountHelp, " (default: ", DTRBD_KO_COUNT_DEFAULT, ")").c_str());
	},
	run_connect, prepare_connect,
},
{
	"primary", "primary MINOR [--force]",
	"make /dev/dtrbdMINOR primary: writable, replicated to the peer",
	"Promotes the device. The module refuses when the peer is Primary or\n"
	"when the local data is not UpToDate. --force promotes an Inconsistent\n"
	"or Outdated disk anyway and makes its data the one that counts; use it\n"
	"for the very first promotion of a new pair, and otherwise only when you\n"
	"know the peer's data is lost.",
	"dtrbdctl primary 0\n"
	"dtrbdctl primary 0 --force     # first promotion after create-md",
	Command::kMinor, true,
	[](po::options_description_easy_init add) {
		force_option(add, "promote even without UpToDate data");
	},
	run_primary,
},
{
	"secondary", "secondary MINOR",
	"make /dev/dtrbdMINOR secondary: read-only replica",
	"Demotes the device. The module refuses while /dev/dtrbdMINOR is open.",
	"dtrbdctl secondary 0",
	Command::kMinor, true, no_options, run_secondary,
},
{
	"disconnect", "disconnect MINOR",
	"close the connection of /dev/dtrbdMINOR to its peer",
	"Stops replication: the device goes StandAlone and, while Primary, keeps\n"
	"accepting writes, which the out-of-sync bitmap records for the next\n"
	"resync.",
	"dtrbdctl disconnect 0",
	Command::kMinor, true, no_options, run_disconnect,
},
{
	"detach", "detach MINOR",
	"remove /dev/dtrbdMINOR and release its backing device",
	"The module refuses while the device is open or connected.",
	"dtrbdctl detach 0",
	Command::kMinor, true, no_options, run_detach,
},
{
	"verify", "verify MINOR [--repair] [--json] [--timeout SECONDS]",
	"compare the data of /dev/dtrbdMINOR with its peer's, block by block",
	"Starts an online verify in the module and waits for its result. Both\n"
	"sides checksum every 4 KiB block and compare; the device stays in use\n"
	"meanwhile. The device must be connected and no resync may run. Blocks\n"
	"that differ are marked out of sync. With --repair the module then\n"
	"copies them from this side to the peer at once, and the command also\n"
	"waits for that resync: run it on the side whose data is right.\n"
	"\n"
	"Prints \"dtrbdN: verified N blocks, M differing\" (\", repaired\" when\n"
	"--repair copied them) or, with --json, one object: {\"minor\",\n"
	"\"blocks_checked\", \"blocks_differing\", \"repaired\", \"seconds\"}.\n"
	"Differing blocks are a finding, not a failure: the exit status is 0\n"
	"whenever the verify ran to its end. It is 1 when the module refused to\n"
	"start it, when the connection or the disk was lost meanwhile (the\n"
	"module's reason is printed), at --timeout, or on SIGINT/SIGTERM; the\n"
	"verify itself then goes on in the module (see status).\n"
	"\n"
	"While waiting on a terminal, a progress line is shown on stderr.",
	"dtrbdctl verify 0\n"
	"dtrbdctl verify 0 --repair --json | jq .blocks_differing\n"
	"dtrbdctl verify 0 --timeout 3600",
	Command::kMinor, true,
	[](po::options_description_easy_init add) {
		add("repair", po::bool_switch(),
		    "copy the blocks that differ from this side to the peer, and "
		    "wait for that");
		json_option(add, "print the result as one JSON object");
		add("timeout", po::value<std::string>()->value_name("SECONDS")->default_value("0"),
		    "stop waiting after this long, 0-604800; 0 (the default) waits "
		    "as long as the verify runs");
	},
	run_verify, prepare_verify,
},
{
	"invalidate", "invalidate MINOR",
	"discard this side's data: full resync from the peer",
	"Declares the local data of /dev/dtrbdMINOR bad: this side becomes\n"
	"Inconsistent and every block is copied from the peer, overwriting THIS\n"
	"side's data. Needs a connected peer with UpToDate data. Use it when\n"
	"the local backing device was damaged or replaced.",
	"dtrbdctl invalidate 0",
	Command::kMinor, true, no_options, run_invalidate,
},
{
	"invalidate-remote", "invalidate-remote MINOR",
	"discard the peer's data: full resync to the peer",
	"Declares the PEER's data of /dev/dtrbdMINOR bad: the peer becomes\n"
	"Inconsistent and every block is copied from this side, overwriting the\n"
	"peer's data. Needs a connected peer and UpToDate data on this side.",
	"dtrbdctl invalidate-remote 0",
	Command::kMinor, true, no_options, run_invalidate_remote,
},
{
	"new-current-uuid", "new-current-uuid MINOR [--clear-bitmap]",
	"start a new data generation of /dev/dtrbdMINOR",
	"Gives the data a new generation identifier. With --clear-bitmap, on a\n"
	"connected pair of two Secondaries whose data is known identical (for\n"
	"example both backing devices freshly zeroed, or copied block by block),\n"
	"both sides become UpToDate at once and the initial full sync is\n"
	"skipped. Be sure: if the data is not identical, the differences stay\n"
	"undetected until a verify.",
	"# two new, zeroed LVs, both attached and connected:\n"
	"dtrbdctl new-current-uuid 0 --clear-bitmap",
	Command::kMinor, true,
	[](po::options_description_easy_init add) {
		add("clear-bitmap", po::bool_switch(),
		    "both sides hold identical data: mark both UpToDate, no sync");
	},
	run_new_current_uuid,
},
{
	"set-options", "set-options MINOR [--resync-rate RATE] [--on-peer-loss POLICY]\n"
	"         [--ko-count N]",
	"change the tunables of a running device",
	"Changes the resync rate of /dev/dtrbdMINOR, also while a resync runs,\n"
	"and/or its on-peer-loss policy (it applies from the next loss of the\n"
	"peer on; a freeze already in place stays until resume-io or fail-io).\n"
	"RATE is 'dynamic' (the module adapts the rate to the load) or a fixed\n"
	"size per second with a binary unit: 800K, 50M, 1G (at most 4G).\n"
	"POLICY is continue or freeze (see connect --help).\n"
	"--ko-count sets the request timeout of the running connection at once\n"
	"(N x its peer timeout; see connect --help); the next connect sets it\n"
	"again from its own --ko-count.",
	"dtrbdctl set-options 0 --resync-rate 50M\n"
	"dtrbdctl set-options 0 --resync-rate dynamic\n"
	"dtrbdctl set-options 0 --on-peer-loss freeze\n"
	"dtrbdctl set-options 0 --ko-count 12",
	Command::kMinor, true,
	[](po::options_description_easy_init add) {
		add("resync-rate", po::value<std::string>()->value_name("RATE"),
		    kRateHelp);
		add("on-peer-loss", po::value<std::string>()->value_name("POLICY"),
		    kOnPeerLossHelp);
		add("ko-count", po::value<std::string>()->value_name("N"),
		    kKoCountHelp.c_str());
	},
	run_set_options, prepare_set_options,
},
{
	"resume-io", "resume-io MINOR",
	"let the writes of a frozen /dev/dtrbdMINOR go on alone",
	"A device with --on-peer-loss freeze that lost its peer while Primary\n"
	"is frozen: no write completes. resume-io ends that: a new data\n"
	"generation starts on this side, the writes that waited complete (their\n"
	"blocks stay marked out of sync for the next resync) and new writes go\n"
	"through. Also ends the failing state after fail-io. Run it only when\n"
	"the peer's copy is known to be no longer current (the peer is off, or\n"
	"the witness recorded it as outdated): from now on this side has data\n"
	"the peer lacks. Refused when the device is not frozen, or while a\n"
	"connection is being set up.",
	"dtrbdctl resume-io 0",
	Command::kMinor, true, no_options, run_resume_io,
},
{
	"fail-io", "fail-io MINOR",
	"fail the waiting writes of a frozen /dev/dtrbdMINOR with I/O errors",
	"The writes that wait on a frozen device complete with EIO, and every\n"
	"later write fails with EIO too, until resume-io or a successful\n"
	"reconnect; reads go on. Use it to end the processes holding the device\n"
	"(a VM) so that it can be made Secondary. Refused when the device is\n"
	"not frozen, or while a connection is being set up.",
	"dtrbdctl fail-io 0 && virsh destroy vm1 && dtrbdctl secondary 0",
	Command::kMinor, true, no_options, run_fail_io,
},
{
	"status", "status [MINOR] [--json]",
	"show the state of one or all dtrbd devices",
	"Shows role and peer role, connection, disk and peer disk state, size,\n"
	"the external metadata device, whether writes are frozen or failing\n"
	"(on-peer-loss freeze), resync or verify progress (kind, a bar,\n"
	"percent, bytes remaining, rate and estimated time left), bytes out of\n"
	"sync, the result of the last verify, traffic and resync counters, the\n"
	"activity log, and flags (crashed-primary: attached after a crash as\n"
	"Primary, or frozen with writes the peer lacks; split-brain: the last\n"
	"connect found both sides changed; peer-outdated). With --json, prints one object for MINOR or an array\n"
	"of all devices; a field the module did not report is null;\n"
	"Documentation/dtrbdctl.md describes every field.",
	"dtrbdctl status\n"
	"dtrbdctl status 0 --json | jq -r .connection",
	Command::kOptionalMinor, true,
	[](po::options_description_easy_init add) {
		json_option(add, "print JSON instead of text");
	},
	run_status,
},
{
	"events", "events [--json]",
	"print state changes of all dtrbd devices as they happen",
	"Subscribes to the module's \"events\" multicast group and prints one\n"
	"line per event: time, device, event name, role, connection and disk\n"
	"states, and the reason when the module gives one. With --json each\n"
	"line is one JSON object (the status fields plus \"event\", \"reason\" and\n"
	"\"time\"). Output is flushed after every line. Runs until SIGINT or\n"
	"SIGTERM, then exits with status 0.",
	"dtrbdctl events\n"
	"dtrbdctl events --json | jq -c 'select(.event == \"disconnected\")'",
	Command::kNoMinor, true,
	[](po::options_description_easy_init add) {
		json_option(add, "print one JSON object per line");
	},
	run_events,
},
{
	"up", "up [NAME]",
	"ask dtrbdd to bring resource NAME (or every resource) up",
	"dtrbdd attaches the resource's disk, connects to the peer (and keeps\n"
	"reconnecting), and runs the resource as the configuration says: the\n"
	"preferred host becomes Primary and starts the domain once it may.\n"
	"This undoes a 'down'. A resource that is already up is left as it is.\n"
	"Needs the running daemon; prints what it did, or one sentence why not.",
	"dtrbdctl up\n"
	"dtrbdctl up vm1",
	Command::kOptionalName, false,
	[](po::options_description_easy_init add) { socket_option(add); },
	run_up,
},
{
	"reload", "reload",
	"ask dtrbdd to read the configuration again",
	"dtrbdd reads its configuration file again and checks all of it. When\n"
	"it has no mistake, dtrbdd executes itself anew with it (the same\n"
	"process, as 'systemctl reload dtrbd' and SIGHUP do) and adopts what\n"
	"runs, as after a restart: devices, connections and domains keep\n"
	"running, and a resource added to the file is brought up. Otherwise it\n"
	"keeps the configuration it has and the first mistake is printed (see\n"
	"them all with check-config). Refused while a request of the peer is\n"
	"being carried out. Edit the same file on both hosts and reload both.",
	"dtrbdctl check-config && dtrbdctl reload",
	Command::kNoMinor, false,
	[](po::options_description_easy_init add) { socket_option(add); },
	run_reload,
},
{
	"provision", "provision NAME --size SIZE --vg VG [--preferred HOST] [--domain-xml FILE] [--json]",
	"create a replicated volume (and register its VM) on both hosts",
	"Run on either host of the pair, as root, with dtrbdd running on both.\n"
	"In one run, on both hosts: checks that the volume group VG exists with\n"
	"room enough, that NAME is new (no resource, no logical volume VG/NAME)\n"
	"and that /etc/dtrbd/dtrbd.conf is the same file on both; creates the\n"
	"logical volume VG/NAME (tagged dtrbd-provisioned, the same size on both,\n"
	"large enough that /dev/dtrbdN offers at least SIZE after the internal\n"
	"metadata), writes zeros over all of it, and writes metadata that says\n"
	"UpToDate with one generation id shared by both hosts, so that no\n"
	"initial sync is needed; with --domain-xml, copies FILE to\n"
	"/etc/dtrbd/domains/NAME.xml; adds [resources.NAME] (the lowest free\n"
	"minor, the next free port, the volume, the preferred host, the domain)\n"
	"to dtrbd.conf on both hosts, written atomically, every other line kept;\n"
	"then asks both dtrbdds to reload, after which the preferred host (by\n"
	"default this one) becomes Primary and starts the domain.\n"
	"\n"
	"The other host's half is carried out by its dtrbdd over the\n"
	"authenticated peer control channel (control-port). Any failure before\n"
	"the configuration is written on both hosts undoes what this run created,\n"
	"on both hosts, and names the step and host that failed. SIZE is a whole\n"
	"number with an optional binary suffix: 512M, 10G, 1T (1 MiB at least, a\n"
	"multiple of 4 KiB). FILE must define a domain whose disk is a\n"
	"<disk type='block'> on /dev/dtrbd/by-res/NAME (or /dev/dtrbdN). --host\n"
	"NAME says which configured host this is when the hostname does not.",
	"dtrbdctl provision vm3 --size 10G --vg vg0\n"
	"dtrbdctl provision vm3 --size 10G --vg vg0 --preferred p2 --domain-xml vm3.xml",
	Command::kName, false,
	[](po::options_description_easy_init add) {
		add("size", po::value<std::string>()->value_name("SIZE")->required(),
		    "the device's size (512M, 10G, 1T)");
		add("vg", po::value<std::string>()->value_name("VG")->required(),
		    "the LVM volume group, the same name on both hosts");
		add("preferred", po::value<std::string>()->value_name("HOST"),
		    "the host that runs it (default: this one)");
		add("domain-xml", po::value<std::string>()->value_name("FILE"),
		    "a libvirt domain XML to register for it");
		json_option(add, "print the steps and the result as one JSON object");
		config_option(add);
		socket_option(add);
	},
	run_provision,
},
{
	"deprovision", "deprovision NAME [--keep-volumes] [--json]",
	"remove a provisioned resource from both hosts",
	"Undoes provision, on both hosts: refuses while NAME is Primary on either\n"
	"host (stop it first with 'dtrbdctl down NAME' on both) or its device is\n"
	"open; removes [resources.NAME] (and the comment above it) from\n"
	"dtrbd.conf on both hosts, every other line kept, and reloads both\n"
	"dtrbdds; disconnects and detaches /dev/dtrbdN; removes\n"
	"/etc/dtrbd/domains/NAME.xml; and, unless --keep-volumes, removes the\n"
	"logical volumes, but only volumes provision created (tagged\n"
	"dtrbd-provisioned). The libvirt domain stays defined (virsh undefine).",
	"dtrbdctl down vm3   # on both hosts\n"
	"dtrbdctl deprovision vm3",
	Command::kName, false,
	[](po::options_description_easy_init add) {
		add("keep-volumes", po::bool_switch(), "keep the logical volumes (and the data)");
		json_option(add, "print the steps and the result as one JSON object");
		config_option(add);
		socket_option(add);
	},
	run_deprovision,
},
{
	"peer-exec", "peer-exec --host SELF --from PEER [--config PATH]",
	"carry out one step of the peer's provision (run by dtrbdd)",
	"dtrbdd runs this for every request the other host's dtrbdctl sends\n"
	"over the authenticated peer control channel (provision and deprovision\n"
	"steps): reads the request (one JSON object) from standard input,\n"
	"carries it out on this host and prints the answer as one JSON line.\n"
	"Not meant to be run by hand.",
	"echo '{\"cmd\":\"provision-check\",...}' | dtrbdctl peer-exec --host p2 --from p1",
	Command::kNoMinor, false,
	[](po::options_description_easy_init add) {
		add("from", po::value<std::string>()->value_name("PEER"), "the asking host");
		config_option(add);
	},
	run_peer_exec,
},
{
	"leaving", "leaving [--reason TEXT]",
	"tell the other host's dtrbdd that this host is going down now",
	"Sends the other host's dtrbdd (over the authenticated peer control\n"
	"channel) the names of the resources that are still Primary here or\n"
	"whose domain still runs here, as this host's dtrbdd reports them (every\n"
	"resource of this host when it does not answer), and --reason. The other\n"
	"host logs it and shows it in 'dtrbdctl cluster' (hosts[].leaving) until\n"
	"this host is heard again from another boot. It decides nothing there:\n"
	"when this host is gone, the other takes over as after any lost host,\n"
	"with the witness. dtrbd-shutdown runs it when the VMs did not stop\n"
	"within its time limit, just before the host goes down with them.\n"
	"Exit status 1 when the other host could not be told.",
	"dtrbdctl leaving --reason 'power maintenance, VMs did not stop'",
	Command::kNoMinor, false,
	[](po::options_description_easy_init add) {
		add("reason", po::value<std::string>()->value_name("TEXT"),
		    "why (printable ASCII, at most 200 characters are kept)");
		json_option(add, "print the peer and the resources named as one JSON object");
		config_option(add);
		socket_option(add);
	},
	run_leaving,
},
{
	"down", "down [NAME]",
	"ask dtrbdd to put this host on standby for NAME (or every resource)",
	"dtrbdd shuts the domain down cleanly (ACPI, then destroy after the\n"
	"shutdown timeout) if it runs here, demotes the device, and takes no\n"
	"role for the resource on this host until 'up'. The device stays\n"
	"attached and connected as a Secondary, so this copy stays current and\n"
	"'up' needs no resync. The other host, if it is up for the resource and\n"
	"UpToDate, takes it over (promotes, starts the domain); 'down' on both\n"
	"hosts leaves it running nowhere (the daemon keeps the devices\n"
	"connected: it reconnects whatever is disconnected by hand).",
	"dtrbdctl down vm1\n"
	"dtrbdctl down          # every resource, e.g. before maintenance",
	Command::kOptionalName, false,
	[](po::options_description_easy_init add) { socket_option(add); },
	run_down,
},
{
	"fail-back", "fail-back NAME",
	"move resource NAME back to its preferred host now",
	"For a resource with failback = \"manual\" (or \"never\") whose domain\n"
	"runs on the survivor after a failover: once the preferred host is back\n"
	"and its disk is UpToDate again, shuts the domain down here, demotes,\n"
	"and promotes and starts it on the preferred host. Refused while the\n"
	"resync runs or while the preferred host is down.",
	"dtrbdctl fail-back vm1",
	Command::kName, false,
	[](po::options_description_easy_init add) { socket_option(add); },
	run_fail_back,
},
{
	"migrate", "migrate NAME HOST",
	"planned hand-over of resource NAME and its domain to HOST",
	"Shuts the domain down cleanly where it runs, demotes the device there,\n"
	"promotes it on HOST and starts the domain there. Refused when HOST is\n"
	"down, not connected, or its disk is not UpToDate. The answer comes\n"
	"when the hand-over has started; 'dtrbdctl cluster' shows its progress.",
	"dtrbdctl migrate vm1 p2",
	Command::kNameHost, false,
	[](po::options_description_easy_init add) { socket_option(add); },
	run_migrate,
},
{
	"cluster", "cluster [--json]",
	"show the cluster as dtrbdd sees it",
	"This host; every host with whether it is alive and, per heartbeat\n"
	"link, the time since it was last heard; the witness and whether it is\n"
	"reachable; and per resource its minor, which host is Primary, the local\n"
	"role, disk and peer disk states, the connection, whether writes are\n"
	"frozen, resync progress, the domain with its state and host,\n"
	"'blocked': why the daemon refuses to act, when it does, how long the\n"
	"resource has been Primary here and its last failover (how long ago,\n"
	"why, and how long promotion and domain start took). With --json, one\n"
	"object with the keys host, hosts[] (name, alive, links[] (address,\n"
	"last_heard_ms)), witness (address, reachable), resources[] (name,\n"
	"minor, primary, role, disk, peer_disk, connection, frozen, sync, vm\n"
	"(domain, state, host), blocked, uptime, failovers, last_failover);\n"
	"Documentation/dtrbdctl.md describes each.",
	"dtrbdctl cluster\n"
	"dtrbdctl cluster --json | jq -r '.resources[] | select(.blocked) | .blocked'",
	Command::kNoMinor, false,
	[](po::options_description_easy_init add) {
		json_option(add, "print one JSON object");
		socket_option(add);
	},
	run_cluster,
},
{
	"udev-attach", "udev-attach DEVICE [--config PATH] [--host NAME]",
	"attach the resource whose backing disk DEVICE is (run by udev)",
	"The udev rules (61-dtrbd-backing.rules) run this for every block device\n"
	"that appears or changes, e.g. when LVM activates a logical volume at\n"
	"boot. If DEVICE is the backing disk of a resource of this host in the\n"
	"configuration (the same device, whichever path or symlink either\n"
	"names), the resource is attached: with dtrbdd running, dtrbdd is asked\n"
	"to attach it now (it does nothing for a resource taken down with\n"
	"'dtrbdctl down'); without dtrbdd, the device is attached here as dtrbdd\n"
	"would (minor, resource name and metadata from the configuration), and\n"
	"dtrbdd adopts it when it starts. It stays Secondary either way.\n"
	"\n"
	"Idempotent: a device attached already over this disk is left as it is,\n"
	"so a second trigger changes nothing. A DEVICE that is no resource's\n"
	"backing disk, or a host without a configuration file, is ignored\n"
	"(exit 0, nothing printed but with --verbose). A minor attached to a\n"
	"different disk is refused with what to do.",
	"dtrbdctl udev-attach /dev/dm-3\n"
	"dtrbdctl --verbose udev-attach /dev/vg0/vm1",
	Command::kDevice, false,
	[](po::options_description_easy_init add) {
		config_option(add);
		add("host", po::value<std::string>()->value_name("NAME"),
		    "which [hosts.NAME] this is (default: the one named like "
		    "this machine's hostname)");
		socket_option(add);
	},
	run_udev_attach,
},
{
	"check-config", "check-config [--config PATH] [--json]",
	"check the cluster configuration file for mistakes",
	"Reads the cluster configuration (TOML, the same file on every host;\n"
	"Documentation/configuration.md describes every key) and checks all of\n"
	"it: unknown keys at every level, values of the wrong type, minors\n"
	"(0-255) and ports (1-65535) out of range or used twice on one host,\n"
	"a preferred host or a disk table naming a host that is not configured\n"
	"(or missing one), addresses that are not numeric IPs, failback values\n"
	"other than auto, manual and never, host and resource names that are\n"
	"not safe in file names, durations without a unit, and the shared\n"
	"secret file: it must exist, hold at least 16 bytes and be readable by\n"
	"its owner only (chmod 600).\n"
	"\n"
	"Every mistake is printed on stdout as PATH:LINE:COLUMN: followed by one\n"
	"sentence saying what to change, in file order, and the command exits\n"
	"with status 1. A good file prints one summary line, e.g.\n"
	"\"2 hosts, 4 resources, witness 10.99.0.3:7790\", and exits with 0.\n"
	"A TOML syntax error stops the check at that line. Nothing is changed\n"
	"anywhere; the kernel module is not needed.\n"
	"\n"
	"With --json one object is printed: path, ok, mistakes[] (line, column,\n"
	"message) and, for a good file, summary, hosts[] (name, address,\n"
	"heartbeat), resources[] (name, minor, port, hosts, disk, preferred,\n"
	"failback, domain, protocol) and witness (IP:PORT or null).",
	"dtrbdctl check-config\n"
	"dtrbdctl check-config --config /tmp/new.conf && cp /tmp/new.conf /etc/dtrbd/dtrbd.conf\n"
	"dtrbdctl check-config --json | jq -r '.mistakes[].message'",
	Command::kNoMinor, false,
	[](po::options_description_easy_init add) {
		config_option(add);
		json_option(add, "print the result as one JSON object");
	},
	run_check_config,
},
};

const Command *find_command(std::string_view name)
{
	for (const auto &c : kCommands)
		if (name == c.name)
			return &c;
	return nullptr;
}

// ---- help ---------------------------------------------------------------------

constexpr const char *kExitStatus =
	"0   success\n"
	"1   the operation failed; the reason is printed on stderr as one\n"
	"    sentence starting with \"dtrbdctl: \"\n"
	"2   the command line is invalid (same format)";

// Man-page style: every non-empty line indented by 7 columns.
std::string indent(std::string_view text)
{
	std::string out;
	for (size_t start = 0; start <= text.size();) {
		size_t end = std::min(text.find('\n', start), text.size());
		if (end > start)
			out.append(7, ' ').append(text.substr(start, end - start));
		out += '\n';
		start = end + 1;
	}
	return out;
}

po::options_description visible_options(const Command &c)
{
	po::options_description desc(80, 40);
	auto add = desc.add_options();
	c.options(add);
	add("help,h", "show this help and exit");
	add("verbose,v", po::bool_switch(), "print debug messages on stderr");
	return desc;
}

// The positional arguments of C, for --help and the man page.
std::string arguments_text(const Command &c)
{
	if (c.minor == Command::kName || c.minor == Command::kOptionalName ||
	    c.minor == Command::kNameHost)
		return str("NAME    a resource of the configuration (its\n"
			   "        [resources.NAME] table)",
			   c.minor == Command::kOptionalName
				   ? ";\n        without it, every resource" : "",
			   c.minor == Command::kNameHost
				   ? "\nHOST    a host of the configuration" : "");
	if (c.minor == Command::kDevice)
		return "DEVICE  a block device node or a symlink to one (udev's $devnode)";
	if (c.minor != Command::kNoMinor)
		return str("MINOR   device number, 0-", DTRBD_MAX_MINOR,
			   ": the device is /dev/dtrbdMINOR",
			   c.minor == Command::kOptionalMinor
				   ? ";\n        without it, all devices" : "");
	return {};
}

void command_help(const Command &c, std::ostream &out)
{
	out << "NAME\n" << indent(str("dtrbdctl ", c.name, " - ", c.summary))
	    << "\nSYNOPSIS\n" << indent(str("dtrbdctl ", c.synopsis))
	    << "\nDESCRIPTION\n" << indent(c.description) << '\n';
	if (std::string a = arguments_text(c); !a.empty())
		out << "ARGUMENTS\n" << indent(a) << '\n';
	out << "OPTIONS\n" << visible_options(c) << "\nEXIT STATUS\n" << indent(kExitStatus)
	    << "\nEXAMPLES\n" << indent(c.examples);
}

constexpr const char *kSummary = "control dtrbd replicated block devices";
constexpr const char *kSynopsis = "dtrbdctl [--verbose] COMMAND [ARGUMENTS] [OPTIONS]\n"
				  "dtrbdctl COMMAND --help\n"
				  "dtrbdctl --version";
constexpr const char *kDescription =
	"dtrbd mirrors every write to /dev/dtrbdN to a peer host. Typical\n"
	"set-up, on both hosts: create-md, attach, connect; then primary\n"
	"on one of them (primary --force the very first time, or\n"
	"new-current-uuid --clear-bitmap for two identical new disks).\n"
	"verify checks that both copies are equal. The kernel module\n"
	"must be loaded (modprobe dtrbd) and every command but\n"
	"create-md needs CAP_SYS_ADMIN.";

void main_help(std::ostream &out)
{
	out << "NAME\n" << indent(str("dtrbdctl - ", kSummary))
	    << "\nSYNOPSIS\n" << indent(kSynopsis)
	    << "\nCOMMANDS\n";
	for (const auto &c : kCommands)
		out << indent(str(c.synopsis, "\n    ", c.summary));
	out << "\nDESCRIPTION\n"
	    << indent(kDescription)
	    << "\nEXIT STATUS\n" << indent(kExitStatus)
	    << "\nSEE ALSO\n" << indent("dtrbdctl COMMAND --help, Documentation/dtrbdctl.md");
}

// dtrbdctl(8): the main help and every command's help in roff, from the
// same table (the build runs `dtrbdctl --man`).
void man_page(std::ostream &out)
{
	out << man::title("dtrbdctl", 8, DTRBD_VERSION) << man::section("NAME")
	    << "dtrbdctl \\- " << man::escape(kSummary) << '\n'
	    << man::section("SYNOPSIS") << man::literal(kSynopsis)
	    << man::section("DESCRIPTION") << man::text(kDescription)
	    << man::text("Every command prints its own help with dtrbdctl COMMAND --help; "
			 "this page holds all of them.")
	    << man::section("COMMANDS");
	for (const auto &c : kCommands) {
		out << man::subsection(c.name) << man::literal(str("dtrbdctl ", c.synopsis))
		    << man::text(c.summary) << man::text(c.description);
		if (std::string a = arguments_text(c); !a.empty())
			out << ".PP\n\\fBArguments:\\fR\n" << man::literal(a);
		out << ".PP\n\\fBOptions:\\fR\n" << ".RS 4\n" << man::options(visible_options(c))
		    << ".RE\n.PP\n\\fBExamples:\\fR\n" << man::literal(c.examples);
	}
	out << man::section("EXIT STATUS") << man::literal(kExitStatus)
	    << man::section("FILES")
	    << man::literal(str(config::kDefaultPath, "   the cluster configuration, dtrbd.conf(5)\n",
			    control::kDefaultSocket, "   dtrbdd's control socket"))
	    << man::section("SEE ALSO")
	    << "\\fBdtrbdd\\fR(8), \\fBdtrbd.conf\\fR(5), \\fBdtrbd\\-witness\\fR(8), "
	       "\\fBudev\\fR(7)\n";
}

// For the bash completion: the command names, one a line.
void list_commands(std::ostream &out)
{
	for (const auto &c : kCommands)
		out << c.name << '\n';
}

// Lets "-1" through as the MINOR argument so that it is reported as out of
// range rather than as an unknown option.
std::vector<po::option> negative_minor(std::vector<std::string> &args)
{
	const std::string &a = args.front();
	if (!a.starts_with('-') || !is_digits(std::string_view(a).substr(1)))
		return {};
	po::option o;
	o.value.push_back(a);
	o.original_tokens.push_back(a);
	args.erase(args.begin());
	return {o};
}

// Parse, validate and run one command; returns the exit status.
int run_command(const Command &c, const std::vector<std::string> &args, Env &env)
{
	auto fail = [&](const Status &st) {
		env.err << "dtrbdctl: " << st.message() << '\n';
		return st.errnum() == kUsageError ? kExitUsage : kExitFailed;
	};
	po::options_description all = visible_options(c), hidden;
	bool by_name = c.minor == Command::kName || c.minor == Command::kOptionalName ||
		       c.minor == Command::kNameHost;
	hidden.add_options()("minor", po::value<std::string>());
	// the positional NAME; attach has a visible --name of its own
	if (by_name)
		hidden.add_options()("name", po::value<std::string>());
	// udev-attach has a visible --host of its own
	if (c.minor == Command::kDevice)
		hidden.add_options()("device", po::value<std::string>());
	else
		hidden.add_options()("host", po::value<std::string>());
	all.add(hidden);
	po::positional_options_description pos;
	if (by_name)
		pos.add("name", 1);
	if (c.minor == Command::kNameHost)
		pos.add("host", 1);
	else if (c.minor == Command::kDevice)
		pos.add("device", 1);
	else if (c.minor != Command::kNoMinor && !by_name)
		pos.add("minor", 1);

	Invocation inv{{}, 0, false, env, nullptr, {}, {}, {},
		       SetOptionsRequest{0, std::nullopt, std::nullopt, std::nullopt}, {}, {}, {}};
	try {
		po::store(po::command_line_parser(args).options(all).positional(pos)
				  .extra_style_parser(negative_minor).run(), inv.vm);
		if (inv.vm.count("help")) {
			command_help(c, env.out);
			return kExitOk;
		}
		po::notify(inv.vm);
	} catch (const po::error &e) {
		return fail(usage_error(str(e.what(), " (see dtrbdctl ", c.name, " --help)")));
	}
	log::set_verbose(flag(inv, "verbose"));

	if (inv.vm.count("minor")) {
		auto m = parse_minor(inv.vm["minor"].as<std::string>());
		if (!m)
			return fail(m.status());
		inv.minor = *m;
		inv.has_minor = true;
	} else if (c.minor == Command::kMinor) {
		return fail(usage_error(str(c.name, " needs a MINOR (0-", DTRBD_MAX_MINOR,
					    "); see dtrbdctl ", c.name, " --help")));
	}
	if (by_name && inv.vm.count("name"))
		inv.name = inv.vm["name"].as<std::string>();
	if (inv.vm.count("host"))
		inv.host = inv.vm["host"].as<std::string>();
	if ((c.minor == Command::kName || c.minor == Command::kNameHost) && inv.name.empty()) {
		return fail(usage_error(str(c.name, " needs a resource NAME; see dtrbdctl ",
					    c.name, " --help")));
	}
	if (c.minor == Command::kDevice) {
		if (!inv.vm.count("device"))
			return fail(usage_error(str(c.name, " needs a DEVICE (a block device path); "
						    "see dtrbdctl ", c.name, " --help")));
		inv.device = inv.vm["device"].as<std::string>();
	}
	if (c.minor == Command::kNameHost && inv.host.empty()) {
		return fail(usage_error(str(c.name, " needs a HOST to move ", inv.name,
					    " to; see dtrbdctl ", c.name, " --help")));
	}

	if (c.prepare) {
		Status st = c.prepare(inv);
		if (!st)
			return fail(st);
	}
	std::unique_ptr<Kernel> kernel;
	if (c.needs_kernel) {
		auto k = env.open_kernel();
		if (!k)
			return fail(k.status());
		kernel = std::move(*k);
		inv.kernel = kernel.get();
	}
	Status st = c.run(inv);
	return st ? kExitOk : fail(st);
}

} // namespace

Result<nlohmann::json> Env::default_ask_daemon(const std::string &socket,
					      const nlohmann::json &request)
{
	return control::ask(socket, request, std::chrono::seconds(30));
}

Result<nlohmann::json> Env::default_ask_peer(const config::Config &cfg, const std::string &self,
					    const std::string &peer, const nlohmann::json &request,
					    std::chrono::milliseconds timeout)
{
	return peerctl::ask_peer(cfg, self, peer, request, timeout);
}

int run_cli(int argc, const char *const argv[], Env &env)
{
	std::vector<std::string> args(argv + std::min(argc, 1), argv + argc);
	auto usage = [&](const std::string &msg) {
		env.err << "dtrbdctl: " << msg << '\n';
		return kExitUsage;
	};
	size_t i = 0;
	for (; i < args.size() && args[i].starts_with('-'); i++) {
		const std::string &a = args[i];
		if (a == "-h" || a == "--help") {
			main_help(env.out);
			return kExitOk;
		} else if (a == "--man") {
			// Hidden: prints dtrbdctl(8) for the build.
			man_page(env.out);
			return kExitOk;
		} else if (a == "--list-commands") {
			// Hidden: the verbs, for the bash completion.
			list_commands(env.out);
			return kExitOk;
		} else if (a == "--version") {
			env.out << "dtrbdctl " DTRBD_VERSION ", wire protocol "
				<< DTRBD_PROTO_MIN << '-' << DTRBD_PROTO_MAX
				<< ", metadata version " << DTRBD_MD_VERSION << '\n';
			return kExitOk;
		} else if (a == "-v" || a == "--verbose") {
			log::set_verbose(true);
		} else {
			return usage(str("unrecognised option '", a, "' (see dtrbdctl --help)"));
		}
	}
	if (i == args.size())
		return usage("no command given (see dtrbdctl --help)");
	std::string name = args[i++];
	std::vector<std::string> rest(args.begin() + static_cast<long>(i), args.end());
	if (name == "help") {
		if (rest.empty()) {
			main_help(env.out);
			return kExitOk;
		}
		name = rest[0];
		rest = {"--help"};
	}
	const Command *c = find_command(name);
	if (!c)
		return usage(str("unknown command '", name, "' (see dtrbdctl --help)"));
	// Keep a global --verbose given before the command.
	if (log::verbose())
		rest.push_back("--verbose");
	try {
		return run_command(*c, rest, env);
	} catch (const std::exception &e) {
		// Nothing below throws by design; this is the last line of defence.
		env.err << "dtrbdctl: internal error: " << e.what() << '\n';
		return kExitFailed;
	}
}

} // namespace dtrbd
