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

#include "cli/commands.h"
#include "cli/format.h"
#include "common/log.h"
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
};

struct Command {
	const char *name;
	const char *synopsis;
	const char *summary;
	const char *description;
	const char *examples;
	enum { kNoMinor, kMinor, kOptionalMinor } minor;
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

Status run_create_md(Invocation &inv)
{
	return cmd_create_md(text(inv, "disk"), flag(inv, "force"), inv.env.out);
}

Status run_attach(Invocation &inv)
{
	return cmd_attach(*inv.kernel, inv.minor, text(inv, "disk"), inv.env.out);
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

Status run_events(Invocation &inv)
{
	inv.env.watch_signals();
	return cmd_events(*inv.kernel, flag(inv, "json"), inv.env.out,
			  inv.env.stop_requested);
}

void force_option(po::options_description_easy_init add, const char *what)
{
	add("force", po::bool_switch(), what);
}

void json_option(po::options_description_easy_init add, const char *what)
{
	add("json", po::bool_switch(), what);
}

const Command kCommands[] = {
{
	"create-md", "create-md --disk PATH [--force]",
	"write fresh dtrbd metadata to the end of a backing device",
	"Reserves the end of PATH for dtrbd's metadata and writes it: a 4 KiB\n"
	"superblock in the last 4 KiB, a 32 KiB activity log before it, and\n"
	"before that the out-of-sync bitmap (one bit per 4 KiB of the device).\n"
	"Everything in front of the bitmap is the data area, which maps 1:1 to\n"
	"/dev/dtrbdN: the backing device alone stays a plain copy of the data.\n"
	"\n"
	"The new metadata says the data is Inconsistent and carries a fresh\n"
	"random device uuid; the bitmap and activity log are zeroed. The data\n"
	"area is not touched. A block device is opened exclusively (O_EXCL), so\n"
	"a mounted or attached device is refused. Valid metadata already on\n"
	"PATH is only overwritten with --force.",
	"dtrbdctl create-md --disk /dev/vg0/vm1\n"
	"dtrbdctl create-md --disk /dev/vg0/vm1 --force",
	Command::kNoMinor, false,
	[](po::options_description_easy_init add) {
		disk_option(add);
		force_option(add, "overwrite existing dtrbd metadata");
	},
	run_create_md,
},
{
	"attach", "attach MINOR --disk PATH",
	"attach a backing device as /dev/dtrbdMINOR",
	"Checks that PATH carries valid dtrbd metadata (see create-md), then asks\n"
	"the module to open PATH (by its absolute, symlink-free path) and create\n"
	"/dev/dtrbdMINOR over it. The device starts Secondary and StandAlone.",
	"dtrbdctl attach 0 --disk /dev/vg0/vm1",
	Command::kMinor, true, disk_option, run_attach,
},
{
	"connect", "connect MINOR --local IP:PORT --peer IP:PORT [--protocol C]\n"
	"         [--timeout SECONDS] [--ping-ms N] [--peer-timeout-ms N]",
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
	"Replication protocols: A - a write completes when it is on the local\n"
	"disk and in the send buffer; B - when the peer has received it; C (the\n"
	"default) - when the peer has written it. Only C loses nothing when one\n"
	"host fails.",
	"p1# dtrbdctl connect 0 --local 10.0.0.1:7789 --peer 10.0.0.2:7789\n"
	"p2# dtrbdctl connect 0 --local 10.0.0.2:7789 --peer 10.0.0.1:7789",
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
	"status", "status [MINOR] [--json]",
	"show the state of one or all dtrbd devices",
	"Shows role and peer role, connection, disk and peer disk state, size,\n"
	"resync progress (a bar, percent and bytes remaining) and traffic\n"
	"counters. With --json, prints one object for MINOR or an array of all\n"
	"devices; Documentation/dtrbdctl.md describes every field.",
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

void command_help(const Command &c, std::ostream &out)
{
	out << "NAME\n" << indent(str("dtrbdctl ", c.name, " - ", c.summary))
	    << "\nSYNOPSIS\n" << indent(str("dtrbdctl ", c.synopsis))
	    << "\nDESCRIPTION\n" << indent(c.description) << '\n';
	if (c.minor != Command::kNoMinor)
		out << "ARGUMENTS\n"
		    << indent(str("MINOR   device number, 0-", DTRBD_MAX_MINOR,
				  ": the device is /dev/dtrbdMINOR",
				  c.minor == Command::kOptionalMinor
					  ? ";\n        without it, all devices" : ""))
		    << '\n';
	out << "OPTIONS\n" << visible_options(c) << "\nEXIT STATUS\n" << indent(kExitStatus)
	    << "\nEXAMPLES\n" << indent(c.examples);
}

void main_help(std::ostream &out)
{
	out << "NAME\n" << indent("dtrbdctl - control dtrbd replicated block devices")
	    << "\nSYNOPSIS\n" << indent("dtrbdctl [--verbose] COMMAND [ARGUMENTS] [OPTIONS]\n"
					"dtrbdctl COMMAND --help\n"
					"dtrbdctl --version")
	    << "\nCOMMANDS\n";
	for (const auto &c : kCommands)
		out << indent(str(c.synopsis, "\n    ", c.summary));
	out << "\nDESCRIPTION\n"
	    << indent("dtrbd mirrors every write to /dev/dtrbdN to a peer host. Typical\n"
		      "set-up, on both hosts: create-md, attach, connect; then primary\n"
		      "on one of them. The kernel module must be loaded (modprobe dtrbd)\n"
		      "and every command but create-md needs CAP_SYS_ADMIN.")
	    << "\nEXIT STATUS\n" << indent(kExitStatus)
	    << "\nSEE ALSO\n" << indent("dtrbdctl COMMAND --help, Documentation/dtrbdctl.md");
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
	hidden.add_options()("minor", po::value<std::string>());
	all.add(hidden);
	po::positional_options_description pos;
	if (c.minor != Command::kNoMinor)
		pos.add("minor", 1);

	Invocation inv{{}, 0, false, env, nullptr, {}};
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
