/*
 * coap.c - the CoAP server of the application's tasks (coap.h,
 * docs/coap.md): RFC 7252's message layer for a lock-step server, the
 * options a task request needs, piggy-backed responses.
 */
#include <string.h>

#include "config.h"
#include "ms_base.h"
#include "ms_app.h"
#include "tasks.h"
#include "coap.h"

#if CONFIG_COAP

#define OPT_URI_PATH 11
#define OPT_URI_QUERY 15

#define CODE_CHANGED 0x44       /* 2.04 */
#define CODE_CONTENT 0x45       /* 2.05 */
#define CODE_BAD_REQUEST 0x80   /* 4.00 */
#define CODE_BAD_OPTION 0x82    /* 4.02 */
#define CODE_NOT_FOUND 0x84     /* 4.04 */
#define CODE_BAD_METHOD 0x85    /* 4.05 */
#define CODE_SERVER_ERROR 0xA0  /* 5.00 */
#define CODE_NO_PROXY 0xA5      /* 5.05 Proxying Not Supported */

/* Content-Format 42 (application/octet-stream) and the payload marker:
 * what comes between the token and a result. */
#define RESULT_HDR 3

#define KEY_LEN (4 + 2 + 4 + 8)
/* The last request (de-duplication, coap.h). */
static struct {
	/* source address and port, header and token (all zero at first:
	 * no ESP peer is 0.0.0.0 port 0) */
	uint8_t key[KEY_LEN];
	uint8_t len;     /* the cached response's length, 0: not cached */
	uint8_t reply[CONFIG_COAP_CACHE];
} last;

/* decimal - the l bytes at s as a decimal number 0..999 (1 to 3
 * digits), or 0xFFFF when they are not one. */
static __attribute__((noinline)) uint16_t decimal(const uint8_t *s, uint8_t l)
{
	uint16_t x = 0;
	if (!l || l > 3)
		return 0xFFFF;
	do {
		uint8_t c = (uint8_t)(*s++ - '0');
		if (c > 9)
			return 0xFFFF;
		x = (uint16_t)(x * 10 + c);
	} while (--l);
	return x;
}

/* nibble - an option header's delta or length nibble x with its
 * extension bytes at *q (RFC 7252 3.1), advancing *q past them; 0xFFFF
 * when the message ends first, x is 15 (reserved) or the value passes
 * 65535. */
static uint16_t nibble(uint8_t **q, const uint8_t *end, uint8_t x)
{
	uint8_t *r = *q;
	uint16_t v = x;
	if (x > 12) {
		if (x == 15 || end - r < x - 12)
			return 0xFFFF;
		v = *r++;
		if (x == 14) {
			v = (uint16_t)(v << 8 | *r++);
			if (v > 0xFFFF - 269)
				return 0xFFFF;
			v = (uint16_t)(v + 256);
		}
		v = (uint16_t)(v + 13);
		*q = r;
	}
	return v;
}

/*
 * options - the options from q to end, in order, then the payload: the
 * task's argument bytes are written from q on, behind the reader (each
 * comes from an option of at least two bytes, or from the payload, which
 * follows them); *w is set to their end, *task to the resource's task.
 * Returns 0, a response code for a request it cannot serve, or REJECT
 * for a message that is not well-formed.
 */
#define REJECT 1
static uint8_t options(uint8_t *q, uint8_t *end, uint8_t **wp, uint16_t *task)
{
	uint8_t *w = q, paths = 0, rcode = 0;
	uint16_t opt = 0, t = 0xFFFF;
	while (q < end) {
		uint8_t b = *q++;
		if (b == 0xFF) { /* the payload marker */
			if (q == end)
				return REJECT; /* a marker with no payload */
			memmove(w, q, (size_t)(end - q));
			w += end - q;
			break;
		}
		uint16_t d = nibble(&q, end, b >> 4), l = nibble(&q, end, b & 15);
		if (d == 0xFFFF || l > (uint16_t)(end - q) || (uint16_t)(opt + d) < opt)
			return REJECT;
		opt = (uint16_t)(opt + d);
		uint8_t *val = q;
		q += l;
		if (opt == OPT_URI_PATH) {
			t = paths++ ? 0xFFFF : decimal(val, (uint8_t)l);
		} else if (opt == OPT_URI_QUERY) {
			uint16_t v = decimal(val, (uint8_t)l);
			if (v > 255)
				rcode = CODE_BAD_REQUEST;
			else
				*w++ = (uint8_t)v;
		} else if ((opt & 1) && (opt | 4) != 7) {
			/* critical, and not Uri-Host (3) or Uri-Port (7), which
			 * name this server: not understood; Proxy-Uri (35) and
			 * Proxy-Scheme (39) ask for a proxy, which it is not */
			rcode = (opt | 4) == 39 ? CODE_NO_PROXY : CODE_BAD_OPTION;
		}
	}
	*wp = w;
	*task = t;
	return rcode ? rcode : t > 31 ? CODE_NOT_FOUND : 0;
}

void ms_coap_reset(void) { memset(&last, 0, sizeof last); }

uint16_t ms_coap_input(uint8_t *p, uint16_t n, uint16_t room,
                       const uint8_t *src_ip, uint16_t src_port)
{
	if (room < 4 + 8 + RESULT_HDR + 4 * NET_NCOUNTERS)
		return net_count(C_NO_SEND);
	uint8_t h = p[0], tkl = h & 15, code = p[1], con = !(h & 0x10);
	if (n < 4 || (h & 0xE0) != 0x40)
		return 0; /* not version 1, or an Acknowledgement or Reset
		           * (nothing of ours to match): ignored */
	uint8_t *end = p + n, *q = p + 4 + tkl;
	/* Not a request: a format error, an empty message (a Confirmable one
	 * is a "CoAP ping", which a Reset answers) or a response. */
	if (tkl > 8 || q > end || (uint8_t)(code - 1) > 0x1E)
		goto reject;

	/* A duplicate: the same sender, header and token as the last. */
	uint8_t key[KEY_LEN], klen = (uint8_t)(10 + tkl);
	memcpy(key, src_ip, 4);
	net_put16(key + 4, src_port);
	memcpy(key + 6, p, (uint8_t)(4 + tkl));
	/* (the header's first byte holds the token's length: two keys of
	 * different lengths differ before either ends) */
	if (!memcmp(last.key, key, klen)) {
		if (!con)
			return 0; /* processed once */
		if (last.len) {
			memcpy(p, last.reply, last.len);
			return last.len;
		}
	}

	uint8_t *args = q, *w;
	uint16_t task;
	uint8_t rcode = options(q, end, &w, &task);
	if (rcode == REJECT)
		goto reject;
	if ((code | 2) != 3) /* neither GET (1) nor PUT (3) */
		rcode = CODE_BAD_METHOD;

	memcpy(last.key, key, klen);

	uint8_t rl = 0;
	if (!rcode) {
		ms_task_fn run = tasks_find((uint8_t)task);
		rcode = CODE_NOT_FOUND;
		if (run) {
			/* the room after the longest header (a token of 8) */
	#if CONFIG_FRAME_MAX - COAP_ESP_OVERHEAD - (4 + 8 + RESULT_HDR) > 255
		rl = room > 255 + 4 + 8 + RESULT_HDR ? 255 : (uint8_t)(room - (4 + 8 + RESULT_HDR));
#else
		/* room <= CONFIG_FRAME_MAX - COAP_ESP_OVERHEAD (coap.h): fits */
		rl = (uint8_t)(room - (4 + 8 + RESULT_HDR));
#endif
			uint8_t st = run(args, (uint16_t)(w - args), args + RESULT_HDR, &rl);
			NET_COUNT(C_TASKS);
			if (st) {
				rl = 0;
				rcode = st == TASK_E_ARGS ? CODE_BAD_REQUEST : CODE_SERVER_ERROR;
			} else {
				/* 2.05 Content for GET (1), 2.04 Changed for PUT (3) */
				rcode = (uint8_t)(CODE_CONTENT - (code >> 1));
			}
		}
	}

	/* The response: Acknowledgement (piggy-backed) or Non-confirmable,
	 * the request's token (still at p + 4). */
	if (con)
		p[0] = (uint8_t)(h | 0x20); /* Acknowledgement */
	p[1] = rcode;
	n = (uint16_t)(4 + tkl);
	if (rl) {
		args[0] = 0xC1; /* Content-Format (12), one byte: */
		args[1] = 42;   /* application/octet-stream */
		args[2] = 0xFF;
		n = (uint16_t)(n + RESULT_HDR + rl);
	}
	last.len = 0;
	if (con && n <= CONFIG_COAP_CACHE)
		memcpy(last.reply, p, last.len = (uint8_t)n);
	return n;

reject:
	NET_COUNT(C_UDP_BAD);
	if (!con)
		return 0;
	p[0] = 0x70; /* Reset, no token, the message's id */
	p[1] = 0;
	return 4;
}

#endif /* CONFIG_COAP */
