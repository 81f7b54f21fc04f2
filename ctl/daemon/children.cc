// SPDX-License-Identifier: GPL-2.0
#include "daemon/children.h"

#include <fcntl.h>
#include <signal.h>
#include <spawn.h>
#include <sys/syscall.h>
#include <sys/wait.h>
#include <unistd.h>

#include <cerrno>

#include "common/log.h"

extern char **environ;

namespace dtrbd::daemon {

namespace {

constexpr size_t kMaxOut = 4u << 20;

int pidfd_open(pid_t pid)
{
	return static_cast<int>(syscall(SYS_pidfd_open, pid, 0));
}

} // namespace

Children::~Children()
{
	for (auto &[key, k] : kids_) {
		forget(k);
		if (!k.exited) {
			kill(k.pid, SIGKILL);
			waitpid(k.pid, nullptr, 0);
		}
	}
}

void Children::forget(Kid &k)
{
	for (int fd : {k.pidfd.get(), k.out.get(), k.in.get(), k.limit.fd()})
		if (fd >= 0)
			loop_.remove(fd);
}

Status Children::start(const std::vector<std::string> &argv, std::string input,
		       std::chrono::milliseconds limit, Callback cb)
{
	if (argv.empty())
		return Status::error("no program to run", EINVAL);
	int in[2], out[2];
	if (pipe2(in, O_CLOEXEC))
		return Status::error(str("could not make a pipe: ", errno_text(errno)), errno);
	UniqueFd in_r(in[0]), in_w(in[1]);
	if (pipe2(out, O_CLOEXEC))
		return Status::error(str("could not make a pipe: ", errno_text(errno)), errno);
	UniqueFd out_r(out[0]), out_w(out[1]);
	auto t = Timer::make();
	if (!t)
		return t.status();

	posix_spawn_file_actions_t fa;
	posix_spawn_file_actions_init(&fa);
	posix_spawn_file_actions_adddup2(&fa, in_r.get(), 0);
	posix_spawn_file_actions_adddup2(&fa, out_w.get(), 1);
	posix_spawnattr_t at;
	posix_spawnattr_init(&at);
	// The daemon blocks the signals it reads through a signalfd; the
	// child starts with none blocked and default dispositions.
	sigset_t none, all;
	sigemptyset(&none);
	sigfillset(&all);
	posix_spawnattr_setsigmask(&at, &none);
	posix_spawnattr_setsigdefault(&at, &all);
	posix_spawnattr_setflags(&at, POSIX_SPAWN_SETSIGMASK | POSIX_SPAWN_SETSIGDEF);
	std::vector<char *> args;
	for (const auto &a : argv)
		args.push_back(const_cast<char *>(a.c_str()));
	args.push_back(nullptr);
	pid_t pid = -1;
	int rc = posix_spawn(&pid, argv[0].c_str(), &fa, &at, args.data(), environ);
	posix_spawn_file_actions_destroy(&fa);
	posix_spawnattr_destroy(&at);
	if (rc)
		return Status::error(str("could not run ", argv[0], ": ", errno_text(rc)), rc);
	in_r.reset();
	out_w.reset();

	UniqueFd pfd(pidfd_open(pid));
	if (!pfd.valid()) {
		int e = errno;
		kill(pid, SIGKILL);
		waitpid(pid, nullptr, 0);
		return Status::error(str("could not watch ", argv[0], ": ", errno_text(e)), e);
	}
	int key = pfd.get();
	Kid &k = kids_[key];
	k.pid = pid;
	k.pidfd = std::move(pfd);
	k.out = std::move(out_r);
	k.in = std::move(in_w);
	k.limit = std::move(*t);
	k.input = std::move(input);
	k.cb = std::move(cb);
	fcntl(k.out.get(), F_SETFL, O_NONBLOCK);
	fcntl(k.in.get(), F_SETFL, O_NONBLOCK);
	Status st = k.limit.arm(limit);
	if (st)
		st = loop_.add(k.pidfd.get(), EPOLLIN, [this, key](uint32_t) { on_exit(key); });
	if (st)
		st = loop_.add(k.out.get(), EPOLLIN, [this, key](uint32_t) { on_out(key); });
	if (st)
		st = loop_.add(k.in.get(), EPOLLOUT, [this, key](uint32_t) { on_in(key); });
	if (st)
		st = loop_.add(k.limit.fd(), EPOLLIN, [this, key](uint32_t) {
			auto it = kids_.find(key);
			if (it == kids_.end())
				return;
			it->second.limit.consume();
			it->second.timed_out = true;
			kill(it->second.pid, SIGKILL);
		});
	if (!st) {
		forget(k);
		kill(pid, SIGKILL);
		waitpid(pid, nullptr, 0);
		kids_.erase(key);
		return st;
	}
	return {};
}

void Children::on_in(int key)
{
	auto it = kids_.find(key);
	if (it == kids_.end() || !it->second.in.valid())
		return;
	Kid &k = it->second;
	while (k.input_off < k.input.size()) {
		ssize_t n = write(k.in.get(), k.input.data() + k.input_off,
				  k.input.size() - k.input_off);
		if (n < 0 && errno == EINTR)
			continue;
		if (n < 0 && errno == EAGAIN)
			return;
		if (n < 0)
			break;		// EPIPE: it does not read; its exit says the rest
		k.input_off += static_cast<size_t>(n);
	}
	loop_.remove(k.in.get());
	k.in.reset();		// EOF for the child
}

void Children::on_out(int key)
{
	auto it = kids_.find(key);
	if (it == kids_.end())
		return;
	Kid &k = it->second;
	char buf[65536];
	for (;;) {
		ssize_t n = read(k.out.get(), buf, sizeof(buf));
		if (n < 0 && errno == EINTR)
			continue;
		if (n < 0 && errno == EAGAIN)
			return;
		if (n <= 0) {
			loop_.remove(k.out.get());
			k.out.reset();
			k.out_eof = true;
			break;
		}
		if (k.output.size() < kMaxOut)
			k.output.append(buf, std::min(static_cast<size_t>(n), kMaxOut - k.output.size()));
	}
	maybe_done(key);
}

void Children::on_exit(int key)
{
	auto it = kids_.find(key);
	if (it == kids_.end())
		return;
	Kid &k = it->second;
	int status = 0;
	if (waitpid(k.pid, &status, WNOHANG) != k.pid)
		return;		// not yet (a spurious wake-up)
	k.exited = true;
	k.status = status;
	loop_.remove(k.pidfd.get());
	maybe_done(key);
}

void Children::maybe_done(int key)
{
	auto it = kids_.find(key);
	if (it == kids_.end() || !it->second.exited || !it->second.out_eof)
		return;
	Kid &k = it->second;
	Done d;
	d.exit_code = WIFEXITED(k.status) ? WEXITSTATUS(k.status)
					  : 128 + (WIFSIGNALED(k.status) ? WTERMSIG(k.status) : 0);
	d.timed_out = k.timed_out;
	d.out = std::move(k.output);
	Callback cb = std::move(k.cb);
	forget(k);
	kids_.erase(it);
	cb(d);
}

} // namespace dtrbd::daemon
