/* SPDX-License-Identifier: Apache-2.0 */
/*
 * nettool: the lab's small network helper, built static on the host and
 * carried into L1 and the L2 initramfs (busybox has no UDP echo and cannot
 * hand a tap fd to a child).
 *
 *   nettool udpecho PORT
 *       echo every UDP datagram on 0.0.0.0:PORT back to its sender, forever.
 *   nettool udpcheck IPV4 PORT MIN MAX
 *       send one datagram of each size MIN..MAX (a pattern that differs by
 *       size and attempt), wait for it to come back (1 s, up to 5 attempts)
 *       and compare length and bytes. Prints one summary line; exit 0 when
 *       every size came back intact, 1 otherwise.
 *   nettool recvtime IPV4 PORT
 *       connect over TCP, read until the peer closes, print "RECV BYTES SECS":
 *       the bytes and the seconds from the first byte to the last (what a
 *       rate limit allows, without the connection's set-up).
 *   nettool tapfd NAME FD CMD ARG...
 *       open /dev/net/tun, TUNSETIFF NAME with IFF_TAP | IFF_NO_PI |
 *       IFF_VNET_HDR, put it on fd FD (inherited) and exec CMD.
 *   nettool http SOCKET METHOD PATH [BODY]
 *       one HTTP/1.1 request over the Unix socket SOCKET (the API socket of
 *       kvmrun --api-sock; busybox has no Unix socket client), BODY as JSON;
 *       prints "HTTP CODE" and the answer's body on a line. Exit 0 for a 2xx
 *       answer, 1 for another, 2 when no answer came (within 60 s).
 *   nettool asuser UID GID[,GID...] CMD ARG...
 *       drop to user UID, group GID and the supplementary groups after it,
 *       then exec CMD (busybox's setpriv cannot change users, and L1 has no
 *       su: no passwd file, no C library for a setuid helper).
 *   nettool streampeer SOCKET LEN [after-frame]
 *       a fake peer for kvmrun --net stream=SOCKET: listen on the Unix socket,
 *       accept one connection and send it LEN as a frame's 4-byte big-endian
 *       length (at once, or after the first bytes kvmrun sends with
 *       after-frame), no frame after it; then read until kvmrun closes and
 *       print "streampeer: sent LEN, got BYTES bytes, closed by the peer".
 */
#include <arpa/inet.h>
#include <errno.h>
#include <fcntl.h>
#include <grp.h>
#include <linux/if.h>
#include <linux/if_tun.h>
#include <netinet/in.h>
#include <poll.h>
#include <signal.h>
#include <stdint.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <sys/ioctl.h>
#include <sys/socket.h>
#include <sys/un.h>
#include <time.h>
#include <unistd.h>

#define MAXDGRAM 65507
#define ATTEMPTS 5

static int port_arg(const char *s)
{
	char *end;
	long p = strtol(s, &end, 10);
	if (*s == '\0' || *end != '\0' || p < 1 || p > 65535) {
		fprintf(stderr, "nettool: bad port '%s'\n", s);
		exit(2);
	}
	return (int)p;
}

static int udpecho(int port)
{
	static unsigned char buf[MAXDGRAM];
	struct sockaddr_in a = {.sin_family = AF_INET, .sin_port = htons(port)};
	int s = socket(AF_INET, SOCK_DGRAM, 0);
	if (s < 0 || bind(s, (struct sockaddr *)&a, sizeof(a)) < 0) {
		perror("nettool udpecho: socket/bind");
		return 1;
	}
	for (;;) {
		struct sockaddr_in from;
		socklen_t fl = sizeof(from);
		ssize_t n = recvfrom(s, buf, sizeof(buf), 0, (struct sockaddr *)&from, &fl);
		if (n < 0) {
			if (errno == EINTR)
				continue;
			perror("nettool udpecho: recvfrom");
			return 1;
		}
		if (sendto(s, buf, (size_t)n, 0, (struct sockaddr *)&from, fl) < 0)
			perror("nettool udpecho: sendto");
	}
}

/* The bytes of the datagram of `size` bytes sent in attempt `att`. */
static void pattern(unsigned char *p, size_t size, unsigned att)
{
	unsigned x = (unsigned)size * 2654435761u + att * 40503u + 1;
	for (size_t i = 0; i < size; i++) {
		x ^= x << 13;
		x ^= x >> 17;
		x ^= x << 5;
		p[i] = (unsigned char)(x >> 7);
	}
}

static int udpcheck(const char *host, int port, long min, long max)
{
	static unsigned char out[MAXDGRAM], in[MAXDGRAM + 1], want[MAXDGRAM];
	struct sockaddr_in a = {.sin_family = AF_INET, .sin_port = htons(port)};
	if (inet_pton(AF_INET, host, &a.sin_addr) != 1 || min < 1 || max > MAXDGRAM || min > max) {
		fprintf(stderr, "nettool udpcheck: bad address or sizes\n");
		return 2;
	}
	int s = socket(AF_INET, SOCK_DGRAM, 0);
	if (s < 0 || connect(s, (struct sockaddr *)&a, sizeof(a)) < 0) {
		perror("nettool udpcheck: socket/connect");
		return 1;
	}
	long ok = 0, retries = 0, stale = 0, corrupt = 0, lost = 0;
	char bad[256] = "";
	for (long size = min; size <= max; size++) {
		int good = 0;
		for (unsigned att = 0; att < ATTEMPTS && !good; att++) {
			if (att)
				retries++;
			pattern(out, (size_t)size, att);
			if (send(s, out, (size_t)size, 0) != size) {
				usleep(200000); /* e.g. ECONNREFUSED from an earlier ICMP */
				continue;
			}
			struct pollfd pfd = {.fd = s, .events = POLLIN};
			while (!good && poll(&pfd, 1, 1000) == 1) {
				ssize_t n = recv(s, in, sizeof(in), 0);
				if (n < 0)
					break;
				if (n != size) {
					stale++; /* a late answer to another size */
					continue;
				}
				int match = 0;
				for (unsigned k = 0; k <= att && !match; k++) {
					pattern(want, (size_t)size, k);
					match = memcmp(in, want, (size_t)size) == 0;
				}
				if (match) {
					good = 1;
				} else {
					size_t off = 0;
					pattern(want, (size_t)size, att);
					while (off < (size_t)size && in[off] == want[off])
						off++;
					if (corrupt++ < 5) {
						size_t l = strlen(bad);
						snprintf(bad + l, sizeof(bad) - l, " size %ld differs at byte %zu;",
							 size, off);
					}
				}
			}
		}
		if (good) {
			ok++;
		} else {
			lost++;
			if (lost <= 5) {
				size_t l = strlen(bad);
				snprintf(bad + l, sizeof(bad) - l, " size %ld never came back;", size);
			}
		}
	}
	printf("udpcheck %s:%d sizes %ld..%ld: %ld intact, %ld lost, %ld corrupt, %ld retries, %ld stale%s%s\n",
	       host, port, min, max, ok, lost, corrupt, retries, stale, *bad ? ":" : "", bad);
	return (ok == max - min + 1 && corrupt == 0) ? 0 : 1;
}

static int tapfd(const char *name, const char *fdarg, char **argv)
{
	char *end;
	long fd = strtol(fdarg, &end, 10);
	if (*fdarg == '\0' || *end != '\0' || fd < 3 || fd > 1000 || strlen(name) >= IFNAMSIZ) {
		fprintf(stderr, "nettool tapfd: bad name or fd\n");
		return 2;
	}
	int t = open("/dev/net/tun", O_RDWR);
	if (t < 0) {
		perror("nettool tapfd: /dev/net/tun");
		return 1;
	}
	struct ifreq ifr;
	memset(&ifr, 0, sizeof(ifr));
	ifr.ifr_flags = IFF_TAP | IFF_NO_PI | IFF_VNET_HDR;
	memcpy(ifr.ifr_name, name, strlen(name));
	if (ioctl(t, TUNSETIFF, &ifr) < 0) {
		fprintf(stderr, "nettool tapfd: TUNSETIFF %s: %s\n", name, strerror(errno));
		return 1;
	}
	if (t != fd) {
		if (dup2(t, (int)fd) < 0) {
			perror("nettool tapfd: dup2");
			return 1;
		}
		close(t);
	}
	execvp(argv[0], argv);
	fprintf(stderr, "nettool tapfd: exec %s: %s\n", argv[0], strerror(errno));
	return 127;
}

static double mono(void)
{
	struct timespec t;
	clock_gettime(CLOCK_MONOTONIC, &t);
	return (double)t.tv_sec + (double)t.tv_nsec / 1e9;
}

static int recvtime(const char *host, int port)
{
	struct sockaddr_in a = { .sin_family = AF_INET, .sin_port = htons((uint16_t)port) };
	static char buf[1 << 16];
	int fd = socket(AF_INET, SOCK_STREAM, 0);
	if (fd < 0 || inet_pton(AF_INET, host, &a.sin_addr) != 1 ||
	    connect(fd, (struct sockaddr *)&a, sizeof(a)) < 0) {
		fprintf(stderr, "nettool recvtime: %s:%d: %s\n", host, port, strerror(errno));
		return 1;
	}
	long long bytes = 0;
	double first = 0, last = 0;
	for (;;) {
		ssize_t r = read(fd, buf, sizeof(buf));
		if (r < 0 && errno == EINTR)
			continue;
		if (r <= 0)
			break;
		last = mono();
		if (!bytes)
			first = last;
		bytes += r;
	}
	printf("RECV %lld %.3f\n", bytes, last - first);
	return 0;
}

static int http(const char *sock, const char *method, const char *path, const char *body)
{
	static char req[65536], resp[65536];
	struct sockaddr_un a = { .sun_family = AF_UNIX };
	if (strlen(sock) >= sizeof(a.sun_path)) {
		fprintf(stderr, "nettool http: socket path too long\n");
		return 2;
	}
	strcpy(a.sun_path, sock);
	int fd = socket(AF_UNIX, SOCK_STREAM, 0);
	if (fd < 0 || connect(fd, (struct sockaddr *)&a, sizeof(a)) < 0) {
		fprintf(stderr, "nettool http: %s: %s\n", sock, strerror(errno));
		return 2;
	}
	int n = snprintf(req, sizeof(req),
			 "%s %s HTTP/1.1\r\nHost: localhost\r\nAccept: application/json\r\n"
			 "Connection: close\r\n",
			 method, path);
	if (body)
		n += snprintf(req + n, sizeof(req) - (size_t)n,
			      "Content-Type: application/json\r\nContent-Length: %zu\r\n\r\n%s",
			      strlen(body), body);
	else
		n += snprintf(req + n, sizeof(req) - (size_t)n, "\r\n");
	if (n >= (int)sizeof(req)) {
		fprintf(stderr, "nettool http: request too long\n");
		return 2;
	}
	for (int off = 0; off < n;) {
		ssize_t w = write(fd, req + off, (size_t)(n - off));
		if (w < 0 && errno == EINTR)
			continue;
		if (w <= 0) {
			fprintf(stderr, "nettool http: write: %s\n", strerror(errno));
			return 2;
		}
		off += (int)w;
	}
	/* Connection: close, so the answer ends where the server closes. */
	size_t len = 0;
	double until = mono() + 60;
	for (;;) {
		struct pollfd pfd = { .fd = fd, .events = POLLIN };
		int left = (int)((until - mono()) * 1000);
		if (left <= 0 || poll(&pfd, 1, left) == 0) {
			fprintf(stderr, "nettool http: %s %s: no answer within 60 s\n", method, path);
			return 2;
		}
		ssize_t r = read(fd, resp + len, sizeof(resp) - 1 - len);
		if (r < 0 && errno == EINTR)
			continue;
		if (r < 0) {
			fprintf(stderr, "nettool http: read: %s\n", strerror(errno));
			return 2;
		}
		if (r == 0 || (len += (size_t)r) == sizeof(resp) - 1)
			break;
	}
	resp[len] = 0;
	int code;
	char *b = strstr(resp, "\r\n\r\n");
	if (sscanf(resp, "HTTP/1.%*d %d", &code) != 1 || !b) {
		fprintf(stderr, "nettool http: %s %s: not an HTTP answer (%zu bytes)\n", method, path,
			len);
		return 2;
	}
	b += 4;
	printf("HTTP %d\n", code);
	if (*b)
		printf("%s\n", b);
	return code >= 200 && code < 300 ? 0 : 1;
}

static int asuser(const char *uidarg, const char *gidarg, char **argv)
{
	gid_t groups[16];
	int n = 0;
	char *end;
	long uid = strtol(uidarg, &end, 10);
	if (*uidarg == '\0' || *end != '\0' || uid < 1) {
		fprintf(stderr, "nettool asuser: bad uid '%s'\n", uidarg);
		return 2;
	}
	for (const char *g = gidarg;; g = end + 1) {
		long gid = strtol(g, &end, 10);
		if (end == g || gid < 0 || (*end != '\0' && *end != ',') || n == 16) {
			fprintf(stderr, "nettool asuser: bad groups '%s'\n", gidarg);
			return 2;
		}
		groups[n++] = (gid_t)gid;
		if (*end == '\0')
			break;
	}
	/* Groups first: after setuid there is no right to change them. */
	if (setgroups((size_t)n - 1, groups + 1) < 0 || setgid(groups[0]) < 0 ||
	    setuid((uid_t)uid) < 0) {
		perror("nettool asuser: setgroups/setgid/setuid");
		return 1;
	}
	if (setuid(0) == 0) {
		fprintf(stderr, "nettool asuser: still able to become root\n");
		return 1;
	}
	execvp(argv[0], argv);
	fprintf(stderr, "nettool asuser: exec %s: %s\n", argv[0], strerror(errno));
	return 127;
}

static int streampeer(const char *sock, const char *lenarg, int after_frame)
{
	static char buf[1 << 16];
	struct sockaddr_un a = { .sun_family = AF_UNIX };
	char *end;
	unsigned long len = strtoul(lenarg, &end, 0);
	if (*lenarg == '\0' || *end != '\0' || len > UINT32_MAX ||
	    strlen(sock) >= sizeof(a.sun_path)) {
		fprintf(stderr, "nettool streampeer: bad length or socket path\n");
		return 2;
	}
	strcpy(a.sun_path, sock);
	unlink(sock);
	int l = socket(AF_UNIX, SOCK_STREAM, 0);
	if (l < 0 || bind(l, (struct sockaddr *)&a, sizeof(a)) < 0 || listen(l, 1) < 0) {
		fprintf(stderr, "nettool streampeer: %s: %s\n", sock, strerror(errno));
		return 1;
	}
	int c = accept(l, NULL, NULL);
	if (c < 0) {
		perror("nettool streampeer: accept");
		return 1;
	}
	signal(SIGPIPE, SIG_IGN);
	unsigned char be[4] = { (unsigned char)(len >> 24), (unsigned char)(len >> 16),
				(unsigned char)(len >> 8), (unsigned char)len };
	int sent = 0;
	long long got = 0;
	for (;;) {
		if (!sent && (!after_frame || got > 0)) {
			if (write(c, be, sizeof(be)) != (ssize_t)sizeof(be)) {
				perror("nettool streampeer: write");
				return 1;
			}
			sent = 1;
			printf("streampeer: sent %lu after %lld bytes from the peer\n", len, got);
			fflush(stdout);
		}
		ssize_t r = read(c, buf, sizeof(buf));
		if (r < 0 && errno == EINTR)
			continue;
		if (r < 0) {
			perror("nettool streampeer: read");
			return 1;
		}
		if (r == 0)
			break;
		got += r;
	}
	printf("streampeer: sent %s, got %lld bytes, closed by the peer\n",
	       sent ? lenarg : "nothing", got);
	return sent ? 0 : 1;
}

int main(int argc, char **argv)
{
	if ((argc == 5 || argc == 6) && strcmp(argv[1], "http") == 0)
		return http(argv[2], argv[3], argv[4], argc == 6 ? argv[5] : NULL);
	if (argc == 4 && strcmp(argv[1], "recvtime") == 0)
		return recvtime(argv[2], port_arg(argv[3]));
	if (argc == 3 && strcmp(argv[1], "udpecho") == 0)
		return udpecho(port_arg(argv[2]));
	if (argc == 6 && strcmp(argv[1], "udpcheck") == 0)
		return udpcheck(argv[2], port_arg(argv[3]), atol(argv[4]), atol(argv[5]));
	if (argc >= 5 && strcmp(argv[1], "tapfd") == 0)
		return tapfd(argv[2], argv[3], argv + 4);
	if (argc >= 5 && strcmp(argv[1], "asuser") == 0)
		return asuser(argv[2], argv[3], argv + 4);
	if ((argc == 4 || (argc == 5 && strcmp(argv[4], "after-frame") == 0)) &&
	    strcmp(argv[1], "streampeer") == 0)
		return streampeer(argv[2], argv[3], argc == 5);
	fprintf(stderr, "usage: nettool udpecho PORT | udpcheck IPV4 PORT MIN MAX | "
			"recvtime IPV4 PORT | tapfd NAME FD CMD ARG... | "
			"http SOCKET METHOD PATH [BODY] | asuser UID GID[,GID...] CMD ARG... | "
			"streampeer SOCKET LEN [after-frame]\n");
	return 2;
}
