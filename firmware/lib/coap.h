/*
 * coap.h - a CoAP server (RFC 7252) for the application's tasks, served
 * inside ESP (CoAP over UDP over ESP transport: the SA authenticates and
 * encrypts every message, so the server adds no security of its own and
 * is never reached in clear). docs/coap.md documents it for clients.
 *
 * Resources: /N runs task N (0..31, decimal), as the task service does
 * (tasks.h). The task's argument bytes are the Uri-Query options, one byte
 * each, decimal 0..255 (`/4?3`: adc channel 3), followed by the payload's
 * bytes. GET answers 2.05 Content, PUT 2.04 Changed, with the result as
 * the payload (Content-Format 42, application/octet-stream); a resource
 * that is not a task of the table 4.04, arguments the task refuses or a
 * query that is not such a number 4.00, a failed task 5.00, another
 * method 4.05, Proxy-Uri or Proxy-Scheme 5.05 (it is not a proxy: RFC
 * 7252 5.7.2), another critical option other than Uri-Host, Uri-Port,
 * Uri-Path and Uri-Query 4.02 (RFC 7252 5.4.1). Elective options are
 * ignored.
 *
 * Messages: a Confirmable request gets a piggy-backed response in its
 * Acknowledgement (same message id and token); a Non-confirmable request
 * a Non-confirmable response with the same token and, as its own message
 * id, the request's (unique towards that client for as long as the
 * client keeps its own ids unique: RFC 7252 4.4). A message that is not a
 * request (a format error, an empty message, a response) gets a Reset
 * when it is Confirmable (so an empty Confirmable message, a "CoAP ping",
 * is answered), nothing otherwise; Acknowledgement and Reset messages and
 * other versions are ignored (the server sends nothing Confirmable).
 *
 * De-duplication (RFC 7252 4.5): the server keeps the last request's
 * sender (address, port), header and token and, when it fits
 * CONFIG_COAP_CACHE bytes, its Confirmable response. The same request
 * again (a retransmission) gets that response without running the task a
 * second time when it is Confirmable, and is dropped when it is
 * Non-confirmable. A response too long for the cache is made again (GET
 * and PUT are idempotent, which RFC 7252 4.5 allows for). Only the last
 * request is kept, without a clock: a client that keeps its message ids
 * unique (RFC 7252 4.4) never repeats it by accident.
 *
 * Counters (ms_base.h): task requests under C_TASKS, messages that are not
 * requests under C_UDP_BAD, too little room under C_NO_SEND.
 */
#ifndef MS_COAP_H
#define MS_COAP_H

#include <stdint.h>

/*
 * What a datagram inside ESP leaves of the frame at most: outer IPv4 (20),
 * ESP header (8), the shortest IV (8), inner IPv4 (20), UDP (8). The room
 * ms_coap_input is given is at most CONFIG_FRAME_MAX minus this; the
 * library's UDP layer never gives more (a caller that does gets a result
 * capacity taken modulo 256: less room, never more).
 */
#define COAP_ESP_OVERHEAD 64

/* ms_coap_input - the CoAP server as a UDP service (ms_port_fn,
 * MS_PORT_COAP in mstool.h). */
uint16_t ms_coap_input(uint8_t *p, uint16_t n, uint16_t room,
                       const uint8_t *src_ip, uint16_t src_port);

/* ms_coap_reset - forget the last request and its cached response: the
 * keys changed (provisioning, a bootstrap join), and an answer made under
 * the old ones is never given under the new. */
void ms_coap_reset(void);

#endif /* MS_COAP_H */
