// SPDX-License-Identifier: GPL-2.0
#include "provision/command.h"

#include <fcntl.h>
#include <poll.h>
#include <signal.h>
#include <spawn.h>
#include <sys/wait.h>
#include <unistd.h>

#include <cerrno>
#include <cstring>

#include "common/fd.h"
#include "common/log.h"

extern char **environ;

namespace dtrbd::provision {

namespace {

constexpr size_t kMaxCapture = 4u << 20;

// posix_spawn_file_actions_t and posix_spawnattr_t, destroyed once.
struct FileActions {
	posix_spawn_file_actions_t fa;
	FileActions() { posix_spawn_file_actions_init(&fa); }
	~FileActions() { posix_spawn_file_actions_destroy(&fa); }
	FileActions(const FileActions &) = delete;
	FileActions &operator=(const FileActions &) = delete;
};

struct SpawnAttr {
	posix_spawnattr_t a;
	SpawnAttr() { posix_spawnattr_init(&a); }
	~SpawnAttr() { posix_spawnattr_destroy(&a); }
	SpawnAttr(const SpawnAttr &) = delete;
	SpawnAttr &operator=(const SpawnAttr &) = delete;
};

int exit_code_of(int wstatus)
{
	if (WIFEXITED(wstatus))
		return WEXITSTATUS(wstatus);
	if (WIFSIGNALED(wstatus))
		return 128 + WTERMSIG(wstatus);
	return 255;
}

} // namespace

Result<CommandOutput> SpawnRunner::run(const std::vector<std::string> &argv,
				       std::chrono::milliseconds limit)
{
	if (argv.empty())
		return Status::error("no program to run");
	const std::string &prog = argv[0];
	int po[2], pe[2];
	if (pipe2(po, O_CLOEXEC) != 0)
		return Status::error(str("cannot run ", prog, ": pipe: ", std::strerror(errno)), errno);
	UniqueFd out_r(po[0]), out_w(po[1]);
	if (pipe2(pe, O_CLOEXEC) != 0)
		return Status::error(str("cannot run ", prog, ": pipe: ", std::strerror(errno)), errno);
	UniqueFd err_r(pe[0]), err_w(pe[1]);

	FileActions fa;
	posix_spawn_file_actions_addopen(&fa.fa, 0, "/dev/null", O_RDONLY, 0);
	posix_spawn_file_actions_adddup2(&fa.fa, out_w.get(), 1);
	posix_spawn_file_actions_adddup2(&fa.fa, err_w.get(), 2);
	// The child starts with default signal handling and an empty mask
	// (dtrbdd blocks its signals for its signalfd).
	SpawnAttr at;
	sigset_t none, all;
	sigemptyset(&none);
	sigfillset(&all);
	posix_spawnattr_setsigmask(&at.a, &none);
	posix_spawnattr_setsigdefault(&at.a, &all);
	posix_spawnattr_setflags(&at.a, POSIX_SPAWN_SETSIGMASK | POSIX_SPAWN_SETSIGDEF);

	std::vector<char *> args;
	for (const auto &a : argv)
		args.push_back(const_cast<char *>(a.c_str()));
	args.push_back(nullptr);
	std::vector<char *> env;
	for (char **e = environ; e && *e; e++)
		env.push_back(*e);
	for (const auto &e : extra_env_)
		env.push_back(const_cast<char *>(e.c_str()));
	env.push_back(nullptr);

	pid_t pid;
	int rc = posix_spawnp(&pid, prog.c_str(), &fa.fa, &at.a, args.data(), env.data());
	if (rc != 0)
		return Status::error(str("cannot run ", prog, ": ", std::strerror(rc),
					 rc == ENOENT ? " (is it installed and in PATH?)" : ""),
				     rc);
	out_w.reset();
	err_w.reset();

	CommandOutput res;
	auto deadline = std::chrono::steady_clock::now() + limit;
	bool timed_out = false;
	int poll_errno = 0;
	struct pollfd pfd[2] = {{out_r.get(), POLLIN, 0}, {err_r.get(), POLLIN, 0}};
	std::string *sink[2] = {&res.out, &res.err};
	int open_fds = 2;
	while (open_fds > 0) {
		auto left = std::chrono::duration_cast<std::chrono::milliseconds>(
			deadline - std::chrono::steady_clock::now());
		if (left.count() <= 0) {
			timed_out = true;
			break;
		}
		int n = poll(pfd, 2, static_cast<int>(left.count()));
		if (n < 0 && errno == EINTR)
			continue;
		if (n < 0) {
			poll_errno = errno;
			break;
		}
		for (int i = 0; i < 2; i++) {
			if (pfd[i].fd < 0 || !(pfd[i].revents & (POLLIN | POLLHUP | POLLERR)))
				continue;
			char buf[4096];
			ssize_t got = read(pfd[i].fd, buf, sizeof(buf));
			if (got < 0 && errno == EINTR)
				continue;
			if (got <= 0) {
				pfd[i].fd = -1;
				open_fds--;
				continue;
			}
			if (sink[i]->size() < kMaxCapture)
				sink[i]->append(buf, std::min(static_cast<size_t>(got),
							      kMaxCapture - sink[i]->size()));
		}
	}
	// Whatever ended the reading early, the child must not outlive it:
	// waitpid below would wait for it without a limit.
	if (timed_out || poll_errno)
		kill(pid, SIGKILL);
	int ws = 0;
	while (waitpid(pid, &ws, 0) < 0 && errno == EINTR)
		;
	if (timed_out)
		return Status::error(str(prog, " did not finish within ",
					 limit.count() / 1000.0, " s and was killed"),
				     ETIMEDOUT);
	if (poll_errno)
		return Status::error(str("cannot read the output of ", prog, ": poll: ",
					 std::strerror(poll_errno)),
				     poll_errno);
	res.exit_code = exit_code_of(ws);
	return res;
}

} // namespace dtrbd::provision
