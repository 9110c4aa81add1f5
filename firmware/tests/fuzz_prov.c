/*
 * fuzz_prov.c - fuzz target for serial provisioning (lib/prov.c behind
 * PROV frames): sequences of requests, none authenticated, on a device in
 * one of four states, with prov_test.c's device and helpers (its main
 * renamed away).
 *
 * Input: byte 0 picks the state before the requests: 0 blank (factory
 * state: anything may be written), 1 provisioned, 2 locked (a corrupt
 * config), 3 provisioned with the owner's re-provisioning session open (a
 * valid BEGIN; its DATA and END never come). Then requests, each
 * len(1) op(1) payload(len - 1).
 *
 * Invariants (abort on failure): every reply fits the frame; from states
 * 1 and 3 the config is still the provisioned one, byte for byte, and the
 * device provisioned (nothing unauthenticated changes it); from state 2
 * the device stays locked (neither provisioned nor blank).
 *
 * clang: -fsanitize=fuzzer,address,undefined (libFuzzer). Without clang,
 * -DFUZZ_STANDALONE adds a main() that runs N iterations of random
 * request sequences.
 */
#define main prov_test_main
#include "prov_test.c"
#undef main

static struct cfg fz_cfg;

static void fz_setup(uint8_t st)
{
	struct transcript t;
	uint8_t mk[16];
	blank();
	if (st == 0)
		return;
	if (factory(&fz_cfg, 7) != 0)
		abort();
	if (st == 2) {
		store_ee[30] ^= 1; /* a key byte: the CRC fails, locked */
		boot();
		return;
	}
	if (st == 3) {
		struct cfg n;
		make_cfg(&n, 2, 0, 0, 3);
		mk_of(&fz_cfg, mk);
		make_transcript(&t, mk, &n, n.len, 9, challenge());
		if (req(PROV_BEGIN, t.begin, sizeof t.begin) != 0)
			abort();
	}
}

int LLVMFuzzerTestOneInput(const uint8_t *data, size_t size);
int LLVMFuzzerTestOneInput(const uint8_t *data, size_t size)
{
	static int ready;
	if (!ready) {
		host_app_init();
		make_cfg(&fz_cfg, 1, 0, 0, 2);
		ready = 1;
	}
	if (size < 1)
		return 0;
	uint8_t st = data[0] & 3;
	fz_setup(st);
	for (size_t i = 1; i + 2 <= size;) {
		size_t n = data[i];
		if (n < 1 || i + 1 + n > size || n + MGMT_OVERHEAD > sizeof frame)
			break;
		size_t r = 0;
		memcpy(frame + MGMT_HDR_LEN, data + i + 1, n);
		uint8_t e = prov_handle(frame, n, sizeof frame, &r);
		if (e == 0 && r + MGMT_OVERHEAD > sizeof frame)
			abort();
		i += 1 + n;
	}
	if ((st == 1 || st == 3) && (!config_is(&fz_cfg) || !store_provisioned()))
		abort();
	if (st == 2 && (store_provisioned() || store_blank()))
		abort();
	return 0;
}

#ifdef FUZZ_STANDALONE
static uint32_t fz_rng = 2463534242u;
static uint32_t fz_rnd(void)
{
	fz_rng ^= fz_rng << 13;
	fz_rng ^= fz_rng >> 17;
	fz_rng ^= fz_rng << 5;
	return fz_rng;
}

int main(int argc, char **argv)
{
	unsigned long iters = argc > 1 ? strtoul(argv[1], NULL, 10) : 10000;
	static uint8_t in[2048];
	for (unsigned long it = 0; it < iters; it++) {
		size_t n = 1;
		in[0] = (uint8_t)fz_rnd();
		for (int k = (int)(fz_rnd() % 8); k-- > 0;) {
			size_t len = 1 + fz_rnd() % 64;
			in[n] = (uint8_t)len;
			in[n + 1] = (uint8_t)(1 + fz_rnd() % 8); /* an op, mostly known */
			for (size_t j = 1; j < len; j++)
				in[n + 1 + j] = (uint8_t)fz_rnd();
			n += 1 + len;
		}
		LLVMFuzzerTestOneInput(in, n);
	}
	printf("fuzz-prov: %lu iterations\n", iters);
	return 0;
}
#endif
