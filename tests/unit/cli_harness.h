// SPDX-License-Identifier: GPL-2.0
// Runs dtrbdctl's command line in-process against a FakeKernel.
#pragma once

#include <initializer_list>
#include <sstream>
#include <string>
#include <vector>

#include "cli/cli.h"
#include "fake_kernel.h"

namespace dtrbd::test {

struct CliRun {
	int rc;
	std::string out, err;
};

struct Cli {
	FakeKernel kernel;
	int opens = 0;			// how often the kernel was opened
	Status open_error;		// e.g. module not loaded
	std::function<bool()> stop = [] { return false; };
	bool terminal = false;		// what err_is_terminal() says
	std::string input;		// standard input (peer-exec)
	// dtrbdd's control socket and the peer's dtrbdd; unset: the real ones.
	AskDaemon ask_daemon;
	decltype(Env::ask_peer) ask_peer;

	CliRun operator()(std::initializer_list<std::string> args)
	{
		return (*this)(std::vector<std::string>(args));
	}

	CliRun operator()(const std::vector<std::string> &args)
	{
		std::vector<std::string> words{"dtrbdctl"};
		words.insert(words.end(), args.begin(), args.end());
		std::vector<const char *> argv;
		for (const auto &w : words)
			argv.push_back(w.c_str());
		std::ostringstream out, err;
		Env env{out, err, [this]() -> Result<std::unique_ptr<Kernel>> {
			opens++;
			if (!open_error.ok())
				return open_error;
			return std::unique_ptr<Kernel>(new Borrowed(kernel));
		}};
		std::istringstream in(input);
		env.in = &in;
		env.stop_requested = stop;
		if (ask_daemon)
			env.ask_daemon = ask_daemon;
		if (ask_peer)
			env.ask_peer = ask_peer;
		env.err_is_terminal = [this] { return terminal; };
		// Time passes only while the fake kernel is waited on.
		env.now = [this] { return std::chrono::steady_clock::time_point() + kernel.waited; };
		int rc = run_cli(static_cast<int>(argv.size()), argv.data(), env);
		return {rc, out.str(), err.str()};
	}

private:
	// Hands the CLI a Kernel that forwards to the long-lived fake.
	struct Borrowed : Kernel {
		explicit Borrowed(Kernel &k) : k(k) {}
		Status attach(const AttachRequest &r) override { return k.attach(r); }
		Status verify(uint32_t m, bool r) override { return k.verify(m, r); }
		Status invalidate(uint32_t m) override { return k.invalidate(m); }
		Status invalidate_remote(uint32_t m) override { return k.invalidate_remote(m); }
		Status new_current_uuid(uint32_t m, bool c) override
		{
			return k.new_current_uuid(m, c);
		}
		Status set_options(const SetOptionsRequest &r) override { return k.set_options(r); }
		Status resume_io(uint32_t m) override { return k.resume_io(m); }
		Status fail_io(uint32_t m) override { return k.fail_io(m); }
		Status detach(uint32_t m) override { return k.detach(m); }
		Status connect(const ConnectRequest &r) override { return k.connect(r); }
		Status disconnect(uint32_t m) override { return k.disconnect(m); }
		Status primary(uint32_t m, bool f) override { return k.primary(m, f); }
		Status secondary(uint32_t m) override { return k.secondary(m); }
		Result<DeviceStatus> get(uint32_t m) override { return k.get(m); }
		Result<std::vector<DeviceStatus>> dump() override { return k.dump(); }
		Status subscribe() override { return k.subscribe(); }
		Result<std::optional<Event>> next_event(std::chrono::milliseconds t) override
		{
			return k.next_event(t);
		}
		Kernel &k;
	};
};

} // namespace dtrbd::test
