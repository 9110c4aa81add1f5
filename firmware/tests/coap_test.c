/*
 * coap_test.c - host tests of the CoAP server (coap.c, docs/coap.md)
 * under ASan/UBSan (`make coap-test`, part of `make net-test`):
 *
 *   - vectors/coap.txt in order on one fresh server, byte for byte: each
 *     request from its sender (src: address and port) gives its response
 *     (empty: no reply); the records cover the message layer (CON/NON,
 *     ping, Reset, duplicates), the options (extended deltas and
 *     lengths, critical and elective, Uri-Host), the resources and the
 *     task statuses' codes;
 *   - a duplicate Confirmable request is answered from the cache without
 *     running the task again (led toggle); another sender's message with
 *     the same id, or another token, is a new one, and so is everything
 *     after ms_coap_reset (keys changed);
 *   - every truncation of every vector's request, and every single-byte
 *     change of it, is answered within the buffer or not at all;
 *   - too little room: no reply, counted under C_NO_SEND.
 * COAP_PRINT=1 prints each record's actual response (to write new records).
 */
#include <stdio.h>
#include <stdlib.h>
#include <string.h>

#include "config.h"
#include "coap.h"
#include "ms_base.h"
#include "host_app.h"
#include "vectors.h"

#include "check.h"

/* The most room the UDP layer gives a service inside ESP (coap.h). */
#define ROOM (CONFIG_FRAME_MAX - COAP_ESP_OVERHEAD)

static uint8_t default_src[6] = { 10, 0, 0, 1, 0x9c, 0x40 };

/* serve - one request from src in a heap buffer of room bytes (so ASan
 * sees any access past it); the response's length, copied to out. */
static uint16_t serve(const uint8_t *req, size_t n, const uint8_t *src,
                      uint16_t room, uint8_t *out)
{
	uint8_t *p = malloc(room);
	if (!p)
		abort();
	memcpy(p, req, n);
	uint16_t r = ms_coap_input(p, (uint16_t)n, room, src, net_be16(src + 4));
	CHECK(r <= room);
	if (out)
		memcpy(out, p, r);
	free(p);
	return r;
}

static void hex(const uint8_t *b, size_t n)
{
	for (size_t i = 0; i < n; i++)
		printf("%02x", b[i]);
	printf("\n");
}

static void test_vectors(const char *path)
{
	vfile vf;
	vrecord r;
	int print = getenv("COAP_PRINT") != NULL, n = 0;
	if (vfile_open(&vf, path)) {
		perror(path);
		exit(2);
	}
	while (vfile_next(&vf, &r) == 1) {
		const char *alg = vrec_text(&r, "alg"), *name = vrec_text(&r, "name");
		if (!alg || strcmp(alg, "coap"))
			continue;
		uint8_t *req, *want, *src = NULL, out[ROOM];
		size_t nreq, nwant, nsrc;
		if (!CHECK(vrec_hex(&r, "request", &req, &nreq) == 0 &&
		           vrec_hex(&r, "response", &want, &nwant) == 0))
			continue;
		if (vrec_text(&r, "src") && !CHECK(vrec_hex(&r, "src", &src, &nsrc) == 0 && nsrc == 6))
			continue;
		uint16_t got = serve(req, nreq, src ? src : default_src, ROOM, out);
		if (print) {
			printf("%s: ", name);
			hex(out, got);
		}
		if (!CHECK(got == nwant && memcmp(out, want, got) == 0))
			fprintf(stderr, "  vector %s (%s:%d)\n", name, path, r.line);
		free(req);
		free(want);
		free(src);
		n++;
	}
	vfile_close(&vf);
	CHECK(n >= 30);
}

/* A Confirmable PUT /3 (led) with payload 02 (toggle), message id mid. */
static uint16_t toggle(uint16_t mid, const uint8_t *src, uint8_t *out)
{
	uint8_t req[] = { 0x41, 0x03, 0, 0, 0x5A, 0xB1, '3', 0xFF, 2 };
	net_put16(req + 2, mid);
	return serve(req, sizeof req, src, ROOM, out);
}

static void test_duplicates(void)
{
	uint8_t a[ROOM], b[ROOM], other[6] = { 10, 0, 0, 1, 0x9c, 0x41 };
	uint16_t na, nb;
	uint32_t tasks = net_counters[C_TASKS];

	na = toggle(0x7000, default_src, a);
	CHECK(na == 9 && a[0] == 0x61 && a[1] == 0x44 && net_be16(a + 2) == 0x7000);
	uint8_t state = a[8];
	nb = toggle(0x7000, default_src, b); /* the client retransmits */
	CHECK(nb == na && memcmp(a, b, na) == 0);
	nb = toggle(0x7000, default_src, b); /* and again */
	CHECK(nb == na && memcmp(a, b, na) == 0);
	CHECK(net_counters[C_TASKS] == tasks + 1); /* ran once */
	/* another sender (port) with the same id and token: a new request */
	nb = toggle(0x7000, other, b);
	CHECK(nb == na && b[8] == (state ^ 1) && net_counters[C_TASKS] == tasks + 2);
	/* the same id from the same sender with another token: a new one */
	uint8_t req[] = { 0x41, 0x03, 0x70, 0x00, 0x5B, 0xB1, '3', 0xFF, 2 };
	nb = serve(req, sizeof req, other, ROOM, b);
	CHECK(nb == na && b[4] == 0x5B && b[8] == state && net_counters[C_TASKS] == tasks + 3);
	/* the next id: a new request */
	nb = toggle(0x7001, default_src, b);
	CHECK(nb == na && b[8] == (state ^ 1) && net_counters[C_TASKS] == tasks + 4);
	/* the keys changed (ms_coap_reset, as provisioning and a join do): its
	 * repetition is served anew, not from what the old keys cached */
	ms_coap_reset();
	nb = toggle(0x7001, default_src, b);
	CHECK(nb == na && b[8] == state && net_counters[C_TASKS] == tasks + 5);
}

static void test_mutations(const char *path)
{
	vfile vf;
	vrecord r;
	if (vfile_open(&vf, path)) {
		perror(path);
		exit(2);
	}
	while (vfile_next(&vf, &r) == 1) {
		const char *alg = vrec_text(&r, "alg");
		uint8_t *req;
		size_t n;
		if (!alg || strcmp(alg, "coap") || vrec_hex(&r, "request", &req, &n))
			continue;
		for (size_t k = 0; k < n; k++) /* every truncation */
			serve(req, k, default_src, ROOM, NULL);
		for (size_t k = 0; k < n; k++) { /* every byte, 256 ways */
			uint8_t c = req[k];
			for (int v = 0; v < 256; v++) {
				req[k] = (uint8_t)v;
				uint8_t src[6];
				memcpy(src, default_src, 6);
				src[5] = (uint8_t)v; /* a new sender: no duplicate */
				serve(req, n, src, ROOM, NULL);
			}
			req[k] = c;
		}
		free(req);
	}
	vfile_close(&vf);
}

static void test_room(void)
{
	static const uint8_t req[] = { 0x40, 0x01, 0x11, 0x11, 0xB1, '4', 0x41, '3' };
	uint32_t c = net_counters[C_NO_SEND];
	CHECK(serve(req, sizeof req, default_src, 4 + 8 + 3 + 4 * NET_NCOUNTERS - 1, NULL) == 0);
	CHECK(net_counters[C_NO_SEND] == c + 1);
	CHECK(serve(req, sizeof req, default_src, 4 + 8 + 3 + 4 * NET_NCOUNTERS, NULL) == 9);
}

int main(int argc, char **argv)
{
	if (argc != 2) {
		fprintf(stderr, "usage: coap-test VECTORS-DIR\n");
		return 2;
	}
	char path[4096];
	snprintf(path, sizeof path, "%s/coap.txt", argv[1]);
	host_app_init();
	test_vectors(path);
	test_duplicates();
	test_room();
	test_mutations(path);
	printf("coap-test: %d passed, %d failed\n", passed, failed);
	return failed ? 1 : 0;
}
