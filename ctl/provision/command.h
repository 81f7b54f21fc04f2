// SPDX-License-Identifier: GPL-2.0
// Running a helper program (lvm) without a shell: argv as given, stdin
// /dev/null, stdout and stderr captured, a time limit after which the
// child is killed. An interface so that what callers make of the output is
// unit-tested with canned output (tests/unit/test_provision.cc).
#pragma once

#include <chrono>
#include <string>
#include <vector>

#include "common/status.h"

namespace dtrbd::provision {

struct CommandOutput {
	int exit_code = 0;	// the program's exit status; 128+N when killed by signal N
	std::string out, err;
};

class CommandRunner {
public:
	virtual ~CommandRunner() = default;
	// Fails (a Status) only when the program could not be run or did not
	// end in time; a nonzero exit is an output like any other.
	virtual Result<CommandOutput> run(const std::vector<std::string> &argv,
					  std::chrono::milliseconds limit) = 0;
};

// posix_spawnp with the environment of this process plus @extra_env
// ("NAME=value"). Output beyond 4 MiB per stream is dropped.
class SpawnRunner : public CommandRunner {
public:
	explicit SpawnRunner(std::vector<std::string> extra_env = {})
		: extra_env_(std::move(extra_env)) {}
	Result<CommandOutput> run(const std::vector<std::string> &argv,
				  std::chrono::milliseconds limit) override;

private:
	std::vector<std::string> extra_env_;
};

} // namespace dtrbd::provision
