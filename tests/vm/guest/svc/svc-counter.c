// SPDX-License-Identifier: GPL-2.0
/*
 * svc-counter: the workload of the lab's service VMs (tests/vm/vm.sh).
 *
 * Proves that a service VM is alive and that no write it saw acknowledged is
 * lost across a failover. It keeps one record at a fixed offset of its disk
 * (the replicated device, seen as /dev/vda inside the VM):
 *
 *   at boot:  reads the record and prints "last=N" (0 if there is none)
 *   loop:     N++, pwrite the record with O_DIRECT, fdatasync, and only
 *             then print "counter=N"
 *
 * So every "counter=N" on the serial console is a write the disk stack
 * acknowledged; a later boot anywhere must print "last=M" with M >= N.
 * SIGTERM (the VM's power button, see svc-init) ends the loop after the
 * write in progress and prints "stopped counter=N".
 *
 * Built statically by the lab (gcc -static), cached with the initramfs.
 * Usage: svc-counter DEVICE [OFFSET [INTERVAL_MS]]
 */
#define _GNU_SOURCE
#include <errno.h>
#include <fcntl.h>
#include <inttypes.h>
#include <signal.h>
#include <stdint.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <time.h>
#include <unistd.h>

#define BLOCK 4096
#define MAGIC "DTRBDCNT"

struct record {
	char magic[8];
	uint64_t counter;
	uint64_t check;		/* ~counter: a torn or foreign block is no record */
};

static volatile sig_atomic_t stop;

static void on_term(int sig)
{
	(void)sig;
	stop = 1;
}

static double uptime(void)
{
	struct timespec ts;

	clock_gettime(CLOCK_BOOTTIME, &ts);
	return ts.tv_sec + ts.tv_nsec / 1e9;
}

int main(int argc, char **argv)
{
	const char *dev = argc > 1 ? argv[1] : "/dev/vda";
	off_t off = argc > 2 ? strtoll(argv[2], NULL, 0) : 1 << 20;
	long interval_ms = argc > 3 ? strtol(argv[3], NULL, 0) : 200;
	struct sigaction sa;
	struct record *rec;
	uint64_t n = 0;
	void *buf;
	int fd;

	setvbuf(stdout, NULL, _IOLBF, 0);
	memset(&sa, 0, sizeof(sa));
	sa.sa_handler = on_term;
	sigaction(SIGTERM, &sa, NULL);

	if (off % BLOCK) {
		printf("svc: offset %lld is not a multiple of %d\n", (long long)off, BLOCK);
		return 2;
	}
	if (posix_memalign(&buf, BLOCK, BLOCK)) {
		printf("svc: out of memory\n");
		return 1;
	}
	fd = open(dev, O_RDWR | O_DIRECT);
	if (fd < 0) {
		printf("svc: cannot open %s: %s\n", dev, strerror(errno));
		return 1;
	}
	if (pread(fd, buf, BLOCK, off) != BLOCK) {
		printf("svc: cannot read %s at %lld: %s\n", dev, (long long)off, strerror(errno));
		return 1;
	}
	rec = buf;
	if (!memcmp(rec->magic, MAGIC, 8) && rec->check == ~rec->counter)
		n = rec->counter;
	else
		printf("svc: no counter record on %s\n", dev);
	printf("last=%" PRIu64 "\n", n);

	while (!stop) {
		memset(buf, 0, BLOCK);
		memcpy(rec->magic, MAGIC, 8);
		rec->counter = n + 1;
		rec->check = ~rec->counter;
		if (pwrite(fd, buf, BLOCK, off) != BLOCK || fdatasync(fd)) {
			/* Not acknowledged: do not count it; try again. */
			printf("svc: write of %" PRIu64 " failed: %s\n", n + 1, strerror(errno));
			sleep(1);
			continue;
		}
		n++;
		printf("counter=%" PRIu64 " t=%.2f\n", n, uptime());
		if (interval_ms > 0)
			usleep(interval_ms * 1000);
	}
	printf("stopped counter=%" PRIu64 "\n", n);
	return 0;
}
