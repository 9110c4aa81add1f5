/*
 * fuzz_coap.c - fuzz target for the CoAP server (coap.c, docs/coap.md):
 * ms_coap_input on the reference device's tasks, in a heap buffer of
 * exactly the most room the UDP layer gives a service inside ESP
 * (CONFIG_FRAME_MAX - COAP_ESP_OVERHEAD) so ASan sees any access past it.
 *
 * Input: byte 0 picks the sender's port (bits 0-1, so that some inputs
 * are duplicates of the one before) and whether the message is served
 * twice (bit 2: the retransmission path); the rest is the UDP payload.
 * Invariants checked on every reply: it fits the buffer; a Confirmable
 * request gets an Acknowledgement or a Reset with its message id, a
 * Non-confirmable one a Non-confirmable response or nothing, nothing else
 * any reply; a response carries the request's token, a response code
 * (2.xx, 4.xx, 5.xx), well-formed options (only Content-Format 42) and a
 * payload marker only before a payload; a Reset is the 4-byte empty
 * message. Seeds: tests/corpus/coap (the requests of vectors/coap.txt).
 *
 * clang: -fsanitize=fuzzer,address,undefined (libFuzzer). Without clang,
 * -DFUZZ_STANDALONE adds a main() that runs N random mutations of the
 * seed files given as arguments.
 */
#include <stdio.h>
#include <stdlib.h>
#include <string.h>

#include "config.h"
#include "coap.h"
#include "ms_base.h"
#include "host_app.h"

#define ROOM (CONFIG_FRAME_MAX - COAP_ESP_OVERHEAD)

static void require(int ok, const char *what)
{
	if (!ok) {
		fprintf(stderr, "fuzz-coap: invariant broken: %s\n", what);
		abort();
	}
}

static void check_reply(const uint8_t *req, size_t n, const uint8_t *r, uint16_t len)
{
	require(len <= ROOM, "reply fits the buffer");
	if (!len)
		return;
	require(n >= 4 && (req[0] >> 6) == 1, "only a version-1 message is answered");
	uint8_t qtype = (req[0] >> 4) & 3, type = (r[0] >> 4) & 3, tkl = r[0] & 15;
	require(len >= 4 && (r[0] >> 6) == 1, "reply is CoAP version 1");
	require(qtype < 2, "Acknowledgements and Resets are not answered");
	if (type == 3) {
		require(qtype == 0, "only a Confirmable message is Reset");
		require(len == 4 && r[0] == 0x70 && r[1] == 0, "a Reset is empty");
		require(!memcmp(r + 2, req + 2, 2), "a Reset carries the message id");
		return;
	}
	require(type == (qtype == 0 ? 2 : 1), "ACK for CON, NON for NON");
	if (type == 2)
		require(!memcmp(r + 2, req + 2, 2), "an Acknowledgement carries the message id");
	require(tkl == (req[0] & 15) && tkl <= 8 && len >= 4 + tkl &&
	        !memcmp(r + 4, req + 4, tkl), "the request's token");
	uint8_t cls = r[1] >> 5;
	require(cls == 2 || cls == 4 || cls == 5, "a response code");
	const uint8_t *q = r + 4 + tkl, *end = r + len;
	if (q < end) {
		require(end - q >= 4 && q[0] == 0xC1 && q[1] == 42 && q[2] == 0xFF,
		        "Content-Format 42, then the payload marker");
		require(cls == 2, "a payload only with a success");
	}
}

static uint16_t serve(const uint8_t *msg, size_t n, uint8_t port, uint8_t *copy)
{
	static const uint8_t ip[4] = { 10, 0, 0, 1 };
	uint8_t *p = malloc(ROOM);
	if (!p)
		abort();
	memcpy(p, msg, n);
	uint16_t r = ms_coap_input(p, (uint16_t)n, ROOM, ip, (uint16_t)(40000 + port));
	check_reply(msg, n, p, r);
	if (copy)
		memcpy(copy, p, r);
	free(p);
	return r;
}

int LLVMFuzzerTestOneInput(const uint8_t *data, size_t size);
int LLVMFuzzerTestOneInput(const uint8_t *data, size_t size)
{
	static int ready;
	if (!ready) {
		host_app_init();
		ready = 1;
	}
	if (size < 1 || size - 1 > ROOM)
		return 0;
	uint8_t sel = data[0], first[ROOM], again[ROOM];
	uint16_t r = serve(data + 1, size - 1, sel & 3, first);
	if (sel & 4) {
		uint16_t r2 = serve(data + 1, size - 1, sel & 3, again);
		/* a retransmitted Confirmable request that was answered from
		 * the cache gets the same bytes; a Non-confirmable duplicate of
		 * a request is dropped */
		if (r && size > 1 && ((data[1] >> 4) & 3) == 1 && data[2] && data[2] < 0x20 && r2)
			require(0, "a Non-confirmable duplicate is dropped");
	}
	return 0;
}

#ifdef FUZZ_STANDALONE
#include <dirent.h>

static uint8_t seeds[64][CONFIG_FRAME_MAX + 1];
static size_t seedlen[64];
static int nseeds;

/* A seed file, or a directory of them. */
static void load(const char *path)
{
	DIR *d = opendir(path);
	struct dirent *de;
	char file[1024];
	if (!d) {
		FILE *f = fopen(path, "rb");
		if (f && nseeds < 64)
			seedlen[nseeds] = fread(seeds[nseeds], 1, sizeof seeds[0], f), nseeds++;
		if (f)
			fclose(f);
		return;
	}
	while ((de = readdir(d)) != NULL) {
		if (de->d_name[0] == '.')
			continue;
		snprintf(file, sizeof file, "%s/%s", path, de->d_name);
		load(file);
	}
	closedir(d);
}

static uint32_t rng = 2463534242u;
static uint32_t rnd(void)
{
	rng ^= rng << 13;
	rng ^= rng >> 17;
	rng ^= rng << 5;
	return rng;
}

int main(int argc, char **argv)
{
	long iters = argc > 1 ? atol(argv[1]) : 100000;
	for (int a = 2; a < argc; a++)
		load(argv[a]);
	uint8_t in[CONFIG_FRAME_MAX + 1];
	for (long i = 0; i < iters; i++) {
		size_t n;
		if (nseeds && (rnd() & 3)) {
			int s = (int)(rnd() % (uint32_t)nseeds);
			n = seedlen[s];
			memcpy(in, seeds[s], n);
			for (uint32_t k = rnd() % 4; k-- && n;)
				in[rnd() % n] ^= (uint8_t)(1u << (rnd() % 8));
			if (rnd() & 1 && n)
				n = rnd() % (n + 1);
		} else {
			n = rnd() % 64;
			for (size_t k = 0; k < n; k++)
				in[k] = (uint8_t)rnd();
		}
		LLVMFuzzerTestOneInput(in, n);
	}
	printf("fuzz-coap: %ld inputs\n", iters);
	return 0;
}
#endif
