#!/usr/bin/env python3
"""Raw generic netlink requests for the lab, where dtrbdctl would refuse
(or not exercise) what the kernel itself must check.

  genl.py join FAMILY GROUP
      join a multicast group; exit 0 if joined, 1 if the kernel refused
      (the error is printed), 2 if the family or group does not exist. The
      lab runs it as an unprivileged user.
  genl.py attach MINOR DISK META
  genl.py attach-name MINOR DISK NAME   (RES_NAME sent as given, unchecked)
      send DTRBD_CMD_ATTACH with these paths, bypassing dtrbdctl's own
      checks; exit 0 on success, else 1 with the errno and the kernel's
      extack message on stderr.
"""
import errno
import os
import re
import socket
import struct
import sys

UAPI = os.path.join(os.path.dirname(os.path.abspath(__file__)),
                    "../../../kmod/include/uapi/linux/dtrbd.h")
NETLINK_CAP_ACK = 10
NETLINK_EXT_ACK = 11
NLM_F_REQUEST = 1
NLM_F_ACK = 4
NLMSGERR_ATTR_MSG = 1

NETLINK_GENERIC = 16
SOL_NETLINK = 270
NETLINK_ADD_MEMBERSHIP = 1
GENL_ID_CTRL = 0x10
CTRL_CMD_GETFAMILY = 3
CTRL_ATTR_FAMILY_NAME = 2
CTRL_ATTR_MCAST_GROUPS = 7
CTRL_ATTR_MCAST_GRP_NAME = 1
CTRL_ATTR_MCAST_GRP_ID = 2
NLMSG_ERROR = 2


def attrs(buf):
    """(type, payload) of each netlink attribute in buf."""
    off = 0
    while off + 4 <= len(buf):
        alen, atype = struct.unpack_from("=HH", buf, off)
        if alen < 4:
            break
        yield atype & 0x3FFF, buf[off + 4:off + alen]
        off += (alen + 3) & ~3


def group_id(sock, family, group):
    name = family.encode() + b"\0"
    attr = struct.pack("=HH", 4 + len(name), CTRL_ATTR_FAMILY_NAME) + name
    attr += b"\0" * (-len(attr) % 4)
    body = struct.pack("=BBH", CTRL_CMD_GETFAMILY, 1, 0) + attr
    sock.send(struct.pack("=IHHII", 16 + len(body), GENL_ID_CTRL, 1, 1, 0) + body)
    reply = sock.recv(65536)
    _, mtype = struct.unpack_from("=IH", reply, 0)
    if mtype == NLMSG_ERROR:
        return None
    for atype, payload in attrs(reply[20:]):
        if atype != CTRL_ATTR_MCAST_GROUPS:
            continue
        for _, grp in attrs(payload):
            fields = dict(attrs(grp))
            gname = fields.get(CTRL_ATTR_MCAST_GRP_NAME, b"").rstrip(b"\0")
            if gname.decode() == group:
                return struct.unpack("=I", fields[CTRL_ATTR_MCAST_GRP_ID][:4])[0]
    return None


def uapi_enum(name, prefix):
    """{NAME: value} of a plain (unassigned) C enum in the dtrbd UAPI."""
    text = open(UAPI).read()
    body = re.search(r"enum " + name + r" \{(.*?)\};", text, re.S).group(1)
    body = re.sub(r"/\*.*?\*/", "", body, flags=re.S)
    names = re.findall(r"\b(" + prefix + r"\w+)\s*,", body)
    return {n: i for i, n in enumerate(names)}


def nla(atype, payload):
    a = struct.pack("=HH", 4 + len(payload), atype) + payload
    return a + b"\0" * (-len(a) % 4)


def family_id(sock, family):
    name = family.encode() + b"\0"
    body = struct.pack("=BBH", CTRL_CMD_GETFAMILY, 1, 0) + nla(CTRL_ATTR_FAMILY_NAME, name)
    sock.send(struct.pack("=IHHII", 16 + len(body), GENL_ID_CTRL, 1, 1, 0) + body)
    reply = sock.recv(65536)
    if struct.unpack_from("=IH", reply, 0)[1] == NLMSG_ERROR:
        return None
    for atype, payload in attrs(reply[20:]):
        if atype == 1:  # CTRL_ATTR_FAMILY_ID
            return struct.unpack("=H", payload[:2])[0]
    return None


def attach(minor, disk, meta, name=None):
    cmds = uapi_enum("dtrbd_cmd", "DTRBD_CMD_")
    a = uapi_enum("dtrbd_attr", "DTRBD_A_")
    sock = socket.socket(socket.AF_NETLINK, socket.SOCK_RAW, NETLINK_GENERIC)
    sock.setsockopt(SOL_NETLINK, NETLINK_EXT_ACK, 1)
    sock.setsockopt(SOL_NETLINK, NETLINK_CAP_ACK, 1)
    fid = family_id(sock, "dtrbd")
    if fid is None:
        print("no dtrbd family (module not loaded?)", file=sys.stderr)
        return 2
    body = struct.pack("=BBH", cmds["DTRBD_CMD_ATTACH"], 1, 0)
    body += nla(a["DTRBD_A_MINOR"], struct.pack("=I", int(minor)))
    body += nla(a["DTRBD_A_DISK_PATH"], disk.encode() + b"\0")
    if meta:
        body += nla(a["DTRBD_A_META_PATH"], meta.encode() + b"\0")
    if name is not None:
        body += nla(a["DTRBD_A_RES_NAME"], name.encode() + b"\0")
    sock.send(struct.pack("=IHHII", 16 + len(body), fid,
                          NLM_F_REQUEST | NLM_F_ACK, 2, 0) + body)
    reply = sock.recv(65536)
    mlen, mtype, mflags = struct.unpack_from("=IHH", reply, 0)
    if mtype != NLMSG_ERROR:
        print("unexpected reply", file=sys.stderr)
        return 2
    err = -struct.unpack_from("=i", reply, 16)[0]
    if not err:
        print(f"attached dtrbd{minor}")
        return 0
    msg = ""
    for atype, payload in attrs(reply[16 + 4 + 16:mlen]):
        if atype == NLMSGERR_ATTR_MSG:
            msg = payload.rstrip(b"\0").decode()
    print(f"attach refused: {errno.errorcode.get(err, err)}: {msg}", file=sys.stderr)
    return 1


def join(family, group):
    sock = socket.socket(socket.AF_NETLINK, socket.SOCK_RAW, NETLINK_GENERIC)
    gid = group_id(sock, family, group)
    if gid is None:
        print(f"no group {group} in family {family}", file=sys.stderr)
        return 2
    try:
        sock.setsockopt(SOL_NETLINK, NETLINK_ADD_MEMBERSHIP, gid)
    except OSError as e:
        print(f"joining {family}/{group} (uid {os.getuid()}) refused: "
              f"{errno.errorcode.get(e.errno, e.errno)}", file=sys.stderr)
        return 1
    print(f"joined {family}/{group} as uid {os.getuid()}")
    return 0


def main():
    if len(sys.argv) == 4 and sys.argv[1] == "join":
        return join(sys.argv[2], sys.argv[3])
    if len(sys.argv) == 5 and sys.argv[1] == "attach":
        return attach(*sys.argv[2:])
    if len(sys.argv) == 5 and sys.argv[1] == "attach-name":
        return attach(sys.argv[2], sys.argv[3], None, sys.argv[4])
    print(__doc__, file=sys.stderr)
    return 2


if __name__ == "__main__":
    sys.exit(main())
