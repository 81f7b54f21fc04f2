// SPDX-License-Identifier: GPL-2.0
#include "provision/lvm.h"

#include <algorithm>

#include <nlohmann/json.hpp>

#include "common/log.h"
#include "config/config.h"
#include "provision/size.h"

namespace dtrbd::provision {

namespace {

std::string trim(std::string_view s)
{
	size_t b = s.find_first_not_of(" \t\r\n");
	if (b == std::string_view::npos)
		return {};
	size_t e = s.find_last_not_of(" \t\r\n");
	return std::string(s.substr(b, e - b + 1));
}

// lvm prints numbers as strings under --nosuffix ("1069547520").
Result<uint64_t> number(const nlohmann::json &row, const char *key, const char *what)
{
	auto it = row.find(key);
	if (it == row.end() || !it->is_string())
		return Status::error(str("unexpected output of lvm ", what, ": no ", key));
	const std::string &s = it->get_ref<const std::string &>();
	if (s.empty() || s.find_first_not_of("0123456789") != std::string::npos)
		return Status::error(str("unexpected output of lvm ", what, ": ", key, " is '", s, "'"));
	try {
		return static_cast<uint64_t>(std::stoull(s));
	} catch (const std::exception &) {
		return Status::error(str("unexpected output of lvm ", what, ": ", key, " is '", s, "'"));
	}
}

// report[0].<table>: the rows, or a sentence.
Result<nlohmann::json> rows(const std::string &out, const char *table, const char *what)
{
	auto j = nlohmann::json::parse(out, nullptr, false);
	if (j.is_discarded() || !j.is_object() || !j.contains("report") ||
	    !j["report"].is_array() || j["report"].empty() || !j["report"][0].is_object() ||
	    !j["report"][0].contains(table) || !j["report"][0][table].is_array())
		return Status::error(str("unexpected output of lvm ", what,
					 " (not an lvm JSON report); is this lvm2 2.02.158 or later?"));
	return j["report"][0][table];
}

Status vg_not_found(const std::string &vg)
{
	return Status::error(str("volume group ", vg, " not found; create it with vgcreate "
				 "or name one that 'vgs' shows"));
}

// Names go to lvm as arguments: one that could be an option ("-a") or a
// path ("../x", "vg/x") never does.
Status check_name(const std::string &n, const char *what)
{
	if (config::safe_name(n))
		return {};
	return Status::error(str("'", n, "' is not a ", what, " name dtrbd accepts "
				 "(letters, digits, _ . -, not starting with . or -, at most 31 bytes)"));
}

} // namespace

std::string lvm_reason(const std::string &err)
{
	std::string first;
	size_t pos = 0;
	while (pos <= err.size()) {
		size_t nl = err.find('\n', pos);
		std::string line = trim(std::string_view(err).substr(
			pos, nl == std::string::npos ? std::string::npos : nl - pos));
		pos = nl == std::string::npos ? err.size() + 1 : nl + 1;
		if (line.empty())
			continue;
		if (first.empty())
			first = line;
		// Warnings come first; the error is the first line that is not one.
		if (line.rfind("WARNING:", 0) != 0)
			return line;
	}
	return first.empty() ? "no message" : first;
}

Result<VgInfo> parse_vgs_json(const std::string &out, const std::string &vg)
{
	auto r = rows(out, "vg", "vgs");
	if (!r)
		return r.status();
	for (const auto &row : *r) {
		if (!row.is_object() || row.value("vg_name", std::string()) != vg)
			continue;
		VgInfo v;
		v.name = vg;
		auto size = number(row, "vg_size", "vgs");
		auto free = number(row, "vg_free", "vgs");
		auto ext = number(row, "vg_extent_size", "vgs");
		for (const auto *x : {&size, &free, &ext})
			if (!*x)
				return x->status();
		v.size = *size;
		v.free = *free;
		v.extent_size = *ext;
		if (v.extent_size == 0)
			return Status::error("unexpected output of lvm vgs: vg_extent_size is 0");
		return v;
	}
	return vg_not_found(vg);
}

Result<std::vector<LvInfo>> parse_lvs_json(const std::string &out, const std::string &vg)
{
	auto r = rows(out, "lv", "lvs");
	if (!r)
		return r.status();
	std::vector<LvInfo> lvs;
	for (const auto &row : *r) {
		if (!row.is_object() || !row.contains("lv_name") || !row["lv_name"].is_string())
			return Status::error(str("unexpected output of lvm lvs for ", vg, ": a row without lv_name"));
		LvInfo l;
		l.name = row["lv_name"].get<std::string>();
		auto size = number(row, "lv_size", "lvs");
		if (!size)
			return size.status();
		l.size = *size;
		// lv_tags: comma-separated, "" for none (absent in old reports).
		if (row.contains("lv_tags") && row["lv_tags"].is_string()) {
			std::string t = row["lv_tags"].get<std::string>();
			for (size_t at = 0; at < t.size();) {
				size_t comma = t.find(',', at);
				if (comma == std::string::npos)
					comma = t.size();
				if (comma > at)
					l.tags.push_back(t.substr(at, comma - at));
				at = comma + 1;
			}
		}
		lvs.push_back(std::move(l));
	}
	return lvs;
}

LvmCommand::LvmCommand(std::unique_ptr<CommandRunner> runner, std::chrono::milliseconds limit)
	: runner_(runner ? std::move(runner)
			 : std::make_unique<SpawnRunner>(
				   std::vector<std::string>{"LVM_SUPPRESS_FD_WARNINGS=1"})),
	  limit_(limit)
{
}

Result<CommandOutput> LvmCommand::lvm(std::vector<std::string> args)
{
	args.insert(args.begin(), "lvm");
	return runner_->run(args, limit_);
}

Result<std::string> LvmCommand::report(const char *cmd, const char *fields,
				       const std::string &vg)
{
	if (Status st = check_name(vg, "volume group"); !st)
		return st;
	auto o = lvm({cmd, "--reportformat", "json", "--units", "b", "--nosuffix", "-o",
		      fields, vg});
	if (!o)
		return o.status();
	if (o->exit_code == 0)
		return std::move(o->out);
	if (o->err.find(str("Volume group \"", vg, "\" not found")) != std::string::npos)
		return vg_not_found(vg);
	return Status::error(str("lvm ", cmd, " ", vg, " failed: ", lvm_reason(o->err)));
}

Result<VgInfo> LvmCommand::vg_info(const std::string &vg)
{
	auto out = report("vgs", "vg_name,vg_size,vg_free,vg_extent_size", vg);
	if (!out)
		return out.status();
	return parse_vgs_json(*out, vg);
}

Result<std::vector<LvInfo>> LvmCommand::lvs(const std::string &vg)
{
	auto out = report("lvs", "lv_name,lv_size,lv_tags", vg);
	if (!out)
		return out.status();
	return parse_lvs_json(*out, vg);
}

bool LvInfo::has_tag(const std::string &t) const
{
	return std::find(tags.begin(), tags.end(), t) != tags.end();
}

Status LvmCommand::lv_create(const std::string &vg, const std::string &lv, uint64_t bytes,
			     const std::string &tag)
{
	if (Status st = check_name(vg, "volume group"); !st)
		return st;
	if (Status st = check_name(lv, "logical volume"); !st)
		return st;
	if (!tag.empty())
		if (Status st = check_name(tag, "tag"); !st)
			return st;
	std::vector<std::string> args{"lvcreate", "--yes", "--wipesignatures", "y", "--zero", "y",
				      "-L", str(bytes, "b"), "-n", lv};
	if (!tag.empty()) {
		args.push_back("--addtag");
		args.push_back(tag);
	}
	args.push_back(vg);
	auto o = lvm(std::move(args));
	if (!o)
		return o.status();
	if (o->exit_code == 0)
		return {};
	std::string why = lvm_reason(o->err);
	if (o->err.find("insufficient free space") != std::string::npos)
		return Status::error(str("volume group ", vg, " has no room for ", human_size(bytes),
					 " (", why, "); free space with lvremove or vgextend, "
					 "or ask for less"));
	if (o->err.find("already exists") != std::string::npos)
		return Status::error(str("a logical volume ", vg, "/", lv, " exists already; "
					 "pick another name, or remove it if it is not in use"));
	return Status::error(str("lvm lvcreate ", vg, "/", lv, " failed: ", why));
}

Status LvmCommand::lv_remove(const std::string &vg, const std::string &lv)
{
	if (Status st = check_name(vg, "volume group"); !st)
		return st;
	if (Status st = check_name(lv, "logical volume"); !st)
		return st;
	auto o = lvm({"lvremove", "--yes", vg + "/" + lv});
	if (!o)
		return o.status();
	if (o->exit_code == 0)
		return {};
	return Status::error(str("lvm lvremove ", vg, "/", lv, " failed: ", lvm_reason(o->err),
				 "; remove it by hand with 'lvremove ", vg, "/", lv, "'"));
}

} // namespace dtrbd::provision
