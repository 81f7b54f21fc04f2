// SPDX-License-Identifier: GPL-2.0
// Status and Result<T>: errors the caller must look at. No exception crosses
// a module boundary in dtrbdctl; every failure is a Status carrying one
// human sentence (what dtrbdctl prints) and, where there is one, the errno.
#pragma once

#include <cassert>
#include <optional>
#include <string>
#include <utility>

namespace dtrbd {

class [[nodiscard]] Status {
public:
	Status() = default;		// success
	static Status error(std::string message, int errnum = 0)
	{
		Status s;
		s.failed_ = true;
		s.message_ = std::move(message);
		s.errnum_ = errnum;
		return s;
	}

	bool ok() const { return !failed_; }
	explicit operator bool() const { return ok(); }
	const std::string &message() const { return message_; }
	int errnum() const { return errnum_; }	// 0 when not from a syscall

private:
	bool failed_ = false;
	std::string message_;
	int errnum_ = 0;
};

template <typename T>
class [[nodiscard]] Result {
public:
	Result(T value) : value_(std::move(value)) {}
	Result(Status status) : status_(std::move(status))
	{
		assert(!status_.ok());
	}

	bool ok() const { return value_.has_value(); }
	explicit operator bool() const { return ok(); }
	const Status &status() const { return status_; }

	T &value() { assert(ok()); return *value_; }
	const T &value() const { assert(ok()); return *value_; }
	T &operator*() { return value(); }
	const T &operator*() const { return value(); }
	T *operator->() { return &value(); }
	const T *operator->() const { return &value(); }

private:
	std::optional<T> value_;
	Status status_;
};

// errno as a lower-case phrase, e.g. "connection refused".
std::string errno_text(int errnum);

} // namespace dtrbd
