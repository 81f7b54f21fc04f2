// SPDX-License-Identifier: GPL-2.0
// Child processes on the event loop: dtrbdd runs the peer's slow requests
// (logical volumes, zeroing, metadata) as `dtrbdctl peer-exec` children,
// so that the loop keeps the heartbeats going meanwhile. A child gets its
// input on stdin; its stdout is collected; its end is seen through a pidfd;
// one past its time limit is killed. Nothing here blocks.
#pragma once

#include <sys/types.h>

#include <chrono>
#include <functional>
#include <map>
#include <string>
#include <vector>

#include "common/fd.h"
#include "common/status.h"
#include "daemon/loop.h"

namespace dtrbd::daemon {

class Children {
public:
	struct Done {
		int exit_code = 0;	// 128+N when killed by signal N
		bool timed_out = false;
		std::string out;	// stdout (at most 4 MiB kept)
	};
	using Callback = std::function<void(const Done &)>;

	explicit Children(Loop &loop) : loop_(loop) {}
	~Children();	// kills and reaps what still runs; no callback
	Children(const Children &) = delete;
	Children &operator=(const Children &) = delete;

	// Starts @argv (argv[0] a path, no shell) with @input on its stdin and
	// stderr inherited (the daemon's log). @cb runs on the loop once the
	// child has exited and its stdout is read.
	Status start(const std::vector<std::string> &argv, std::string input,
		     std::chrono::milliseconds limit, Callback cb);
	size_t running() const { return kids_.size(); }

private:
	struct Kid {
		pid_t pid = -1;
		UniqueFd pidfd, out, in;
		Timer limit;
		std::string input, output;
		size_t input_off = 0;
		bool exited = false, out_eof = false, timed_out = false;
		int status = 0;
		Callback cb;
	};
	void on_out(int key);
	void on_in(int key);
	void on_exit(int key);
	void maybe_done(int key);
	void forget(Kid &k);

	Loop &loop_;
	std::map<int, Kid> kids_;	// by pidfd
};

} // namespace dtrbd::daemon
