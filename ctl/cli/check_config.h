// SPDX-License-Identifier: GPL-2.0
// dtrbdctl check-config: validate the cluster configuration file.
#pragma once

#include <ostream>
#include <string>

#include "common/status.h"

namespace dtrbd {

// Prints every mistake of @path as "PATH:LINE:COL: sentence" on @out (or a
// JSON document with --json) and fails with one summary sentence when there
// is any; prints the one-line summary of a good file otherwise.
Status cmd_check_config(const std::string &path, bool json, std::ostream &out);

} // namespace dtrbd
