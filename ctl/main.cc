// SPDX-License-Identifier: GPL-2.0
// dtrbdctl: command line control of dtrbd devices. All logic lives in the
// dtrbdcore library; this file only wires it to the process.
#include <unistd.h>

#include <csignal>
#include <iostream>

#include "cli/cli.h"
#include "netlink/netlink_kernel.h"

namespace {

volatile sig_atomic_t g_stop = 0;

void on_signal(int) { g_stop = 1; }

// SIGINT/SIGTERM end "events" cleanly. No SA_RESTART: a blocked poll()
// returns at once.
void watch_signals()
{
	struct sigaction sa = {};
	sa.sa_handler = on_signal;
	sigemptyset(&sa.sa_mask);
	sigaction(SIGINT, &sa, nullptr);
	sigaction(SIGTERM, &sa, nullptr);
}

} // namespace

int main(int argc, char **argv)
{
	dtrbd::Env env{std::cout, std::cerr, dtrbd::NetlinkKernel::open};
	env.watch_signals = watch_signals;
	env.stop_requested = [] { return g_stop != 0; };
	env.err_is_terminal = [] { return isatty(STDERR_FILENO) == 1; };
	return dtrbd::run_cli(argc, argv, env);
}
