/*
 * mssim - the simulated mstool device: runs a firmware image (ELF or Intel
 * HEX) on a simulated ATmega328P/168 (libsimavr) and bridges its UART0 to a
 * pseudo-terminal, so host tools talk to it exactly as to a USB board.
 *
 *   mssim [-m MCU] [-f HZ] [-e EEPROM.bin] [-b BOOTADDR] [-l LINK] [-v] FIRMWARE
 *
 * On stdout, once the device runs, one machine-readable line:
 *   port=/dev/pts/N
 * (and "link=PATH" if -l asked for a symlink). Everything else goes to
 * stderr. SIGINT, SIGTERM and SIGHUP stop the simulation cleanly: the
 * EEPROM is saved (it is also saved within about a second of any change,
 * so a kill -9 loses little), the symlink removed, exit status 0.
 *
 * Why not libsimavrparts' uart_pty: Debian's version always replaces the
 * fixed symlink /tmp/simavr-uart0 (two simulators clash), prints chatter on
 * stdout, optionally opens a CR/LF-translating "tap" pty, and runs a
 * second thread whose blocking writes stall when nobody reads the pty.
 * This bridge is single-threaded: the main loop alternates between running
 * the AVR and moving bytes, honours the UART's XON/XOFF IRQs (the simulated
 * UART's input FIFO is never overrun by the host) and drops output nobody
 * reads, as a real UART with no listener would.
 *
 * Future hook (not built yet): a DTR/RTS-driven reset for avrdude+optiboot
 * would watch the pty's modem lines here and call avr_reset().
 */
#define _GNU_SOURCE
#include <errno.h>
#include <fcntl.h>
#include <getopt.h>
#include <poll.h>
#include <pty.h>
#include <signal.h>
#include <stdarg.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <termios.h>
#include <time.h>
#include <unistd.h>

#include <simavr/sim_avr.h>
#include <simavr/sim_elf.h>
#include <simavr/sim_hex.h>
#include <simavr/avr_uart.h>
#include <simavr/avr_eeprom.h>
#include <simavr/avr_ioport.h>

static volatile sig_atomic_t stop_requested;
static int verbose;

static void on_signal(int sig) { (void)sig; stop_requested = 1; }

static void logf_err(const char *fmt, ...)
{
	va_list ap;
	va_start(ap, fmt);
	fputs("mssim: ", stderr);
	vfprintf(stderr, fmt, ap);
	fputc('\n', stderr);
	va_end(ap);
}

/* simavr's own messages go to stderr, never stdout (stdout is for port=). */
static void sim_logger(avr_t *avr, const int level, const char *fmt, va_list ap)
{
	(void)avr;
	if (level > LOG_WARNING && !verbose)
		return;
	vfprintf(stderr, fmt, ap);
}

/* ---- UART <-> pty bridge ------------------------------------------- */

struct bridge {
	int master, slave;
	char path[128];
	avr_irq_t *to_avr;       /* UART_IRQ_INPUT */
	int xon;                 /* UART input FIFO has room */
	unsigned char in[1024];  /* host -> device, not yet accepted */
	size_t in_len, in_off;
	unsigned char out[4096]; /* device -> host, not yet written */
	size_t out_len;
	unsigned long dropped;   /* output bytes nobody read */
};

static struct bridge br;

static void uart_out_hook(struct avr_irq_t *irq, uint32_t value, void *param)
{
	(void)irq; (void)param;
	if (br.out_len < sizeof br.out)
		br.out[br.out_len++] = (unsigned char)value;
	else
		br.dropped++;
}

static void uart_xon_hook(struct avr_irq_t *irq, uint32_t value, void *param)
{
	(void)irq; (void)value; (void)param;
	br.xon = 1;
}

static void uart_xoff_hook(struct avr_irq_t *irq, uint32_t value, void *param)
{
	(void)irq; (void)value; (void)param;
	br.xon = 0;
}

static int bridge_open(avr_t *avr)
{
	struct termios tio;
	if (openpty(&br.master, &br.slave, br.path, NULL, NULL) < 0) {
		logf_err("cannot create a pseudo-terminal: %s", strerror(errno));
		return -1;
	}
	/* Raw 8-bit on both sides; the slave stays open here so the master
	 * never sees EIO/hangup while no client has the port open. */
	tcgetattr(br.slave, &tio);
	cfmakeraw(&tio);
	cfsetispeed(&tio, B115200);
	cfsetospeed(&tio, B115200);
	tcsetattr(br.slave, TCSANOW, &tio);
	fcntl(br.master, F_SETFL, fcntl(br.master, F_GETFL) | O_NONBLOCK);

	uint32_t f = 0;
	avr_ioctl(avr, AVR_IOCTL_UART_GET_FLAGS('0'), &f);
	f &= ~(uint32_t)AVR_UART_FLAG_STDIO; /* binary data: no console echo */
	avr_ioctl(avr, AVR_IOCTL_UART_SET_FLAGS('0'), &f);

	avr_irq_t *src = avr_io_getirq(avr, AVR_IOCTL_UART_GETIRQ('0'), UART_IRQ_OUTPUT);
	br.to_avr = avr_io_getirq(avr, AVR_IOCTL_UART_GETIRQ('0'), UART_IRQ_INPUT);
	avr_irq_t *xon = avr_io_getirq(avr, AVR_IOCTL_UART_GETIRQ('0'), UART_IRQ_OUT_XON);
	avr_irq_t *xoff = avr_io_getirq(avr, AVR_IOCTL_UART_GETIRQ('0'), UART_IRQ_OUT_XOFF);
	if (!src || !br.to_avr || !xon || !xoff) {
		logf_err("this MCU has no UART0");
		return -1;
	}
	avr_irq_register_notify(src, uart_out_hook, NULL);
	avr_irq_register_notify(xon, uart_xon_hook, NULL);
	avr_irq_register_notify(xoff, uart_xoff_hook, NULL);
	return 0;
}

/* Move bytes both ways without blocking. */
static void bridge_pump(void)
{
	if (br.in_off == br.in_len) {
		ssize_t n = read(br.master, br.in, sizeof br.in);
		br.in_off = 0;
		br.in_len = n > 0 ? (size_t)n : 0;
	}
	while (br.xon && br.in_off < br.in_len)
		avr_raise_irq(br.to_avr, br.in[br.in_off++]);

	if (br.out_len > 0) {
		ssize_t n = write(br.master, br.out, br.out_len);
		if (n > 0) {
			memmove(br.out, br.out + n, br.out_len - (size_t)n);
			br.out_len -= (size_t)n;
		} else if (n < 0 && errno == EAGAIN && br.out_len == sizeof br.out) {
			/* Nobody reads and the pty is full: drop, like a real line. */
			br.dropped += br.out_len;
			br.out_len = 0;
		}
	}
	/* With no client, up to a pty buffer of old output waits in the
	 * slave's queue: clients flush their input when they open the port. */
}

/*
 * The device sleeps (SLEEP instruction) while it waits for input. simavr's
 * default sleep callback paces simulated time to the wall clock in
 * absolute terms: after a burst of computation that ran faster than real
 * time, it sleeps until the wall clock catches up, which stalls replies by
 * seconds. Here a sleep waits at most the simulated interval (capped at
 * 10 ms) and ends at once when the host sends something: the simulator
 * runs at full speed while the device computes and costs no CPU while it
 * waits.
 */
static void sim_sleep(avr_t *avr, avr_cycle_count_t how_long)
{
	if (br.xon && br.in_off < br.in_len)
		return; /* input waiting to be delivered */
	uint64_t usec = (uint64_t)how_long * 1000000u / (avr->frequency ? avr->frequency : 16000000u);
	/* No cycle timer pending: simavr suggests a token 1000 cycles; only
	 * the host can wake the device, so wait for it (10 ms at most, to
	 * see signals and save the EEPROM). */
	if (!avr->cycle_timers.timer || usec > 10000)
		usec = 10000;
	if (usec < 50)
		return;
	struct pollfd p = { .fd = br.master, .events = POLLIN };
	struct timespec ts = { 0, (long)usec * 1000 };
	ppoll(&p, 1, &ts, NULL);
}

/* ---- EEPROM persistence -------------------------------------------- */

static const char *ee_path;
static unsigned char ee_saved[4096];
static uint32_t ee_size;

/* simavr's EEPROM ioctls copy between the simulated EEPROM and a
 * caller-owned buffer (desc.ee, offset, size). */
static void eeprom_load(avr_t *avr)
{
	unsigned char buf[sizeof ee_saved];
	ee_size = avr->e2end + 1;
	if (ee_size > sizeof ee_saved)
		ee_size = sizeof ee_saved;
	if (!ee_path)
		return;
	memset(buf, 0xFF, ee_size); /* a new file starts erased, as a fresh chip */
	size_t n = 0;
	FILE *f = fopen(ee_path, "rb");
	if (f) {
		n = fread(buf, 1, ee_size, f);
		fclose(f);
	} else if (errno != ENOENT) {
		logf_err("cannot read %s: %s", ee_path, strerror(errno));
	}
	avr_eeprom_desc_t d = { .ee = buf, .offset = 0, .size = ee_size };
	avr_ioctl(avr, AVR_IOCTL_EEPROM_SET, &d); /* its return value is not an error code */
	memcpy(ee_saved, buf, ee_size);
	if (verbose)
		logf_err("loaded %zu EEPROM bytes from %s", n, ee_path);
}

/* Writes the EEPROM file atomically (temporary file + rename) if changed
 * (or always, with force). */
static void eeprom_save(avr_t *avr, int force)
{
	unsigned char buf[sizeof ee_saved];
	if (!ee_path || !ee_size)
		return;
	avr_eeprom_desc_t d = { .ee = buf, .offset = 0, .size = ee_size };
	memcpy(buf, ee_saved, ee_size);
	avr_ioctl(avr, AVR_IOCTL_EEPROM_GET, &d);
	if (!force && memcmp(ee_saved, buf, ee_size) == 0)
		return;
	char tmp[4200];
	snprintf(tmp, sizeof tmp, "%s.tmp%ld", ee_path, (long)getpid());
	FILE *f = fopen(tmp, "wb");
	if (!f) {
		logf_err("cannot write %s: %s", tmp, strerror(errno));
		return;
	}
	size_t n = fwrite(buf, 1, ee_size, f);
	if (fclose(f) != 0 || n != ee_size || rename(tmp, ee_path) != 0) {
		logf_err("cannot save EEPROM to %s: %s", ee_path, strerror(errno));
		unlink(tmp);
		return;
	}
	memcpy(ee_saved, buf, ee_size);
}

/* ---- firmware loading ---------------------------------------------- */

static int has_suffix(const char *s, const char *suf)
{
	size_t a = strlen(s), b = strlen(suf);
	return a >= b && strcasecmp(s + a - b, suf) == 0;
}

/* Intel HEX: flash chunks below 0x810000 go to flash, 0x810000.. to EEPROM
 * (avr-objcopy's convention). */
static int load_hex(avr_t *avr, const char *path)
{
	ihex_chunk_p chunks = NULL;
	int n = read_ihex_chunks(path, &chunks);
	if (n <= 0) {
		logf_err("cannot read Intel HEX file %s", path);
		return -1;
	}
	for (int i = 0; i < n; i++) {
		uint32_t a = chunks[i].baseaddr, sz = chunks[i].size;
		if (a < 0x810000) {
			if ((uint64_t)a + sz > (uint64_t)avr->flashend + 1) {
				logf_err("%s: data at 0x%x..0x%x does not fit in flash", path, a, a + sz);
				free_ihex_chunks(chunks);
				return -1;
			}
			memcpy(avr->flash + a, chunks[i].data, sz);
			if (a + sz > avr->codeend)
				avr->codeend = a + sz;
		} else {
			avr_eeprom_desc_t d = { .ee = chunks[i].data, .offset = (uint16_t)(a - 0x810000), .size = sz };
			avr_ioctl(avr, AVR_IOCTL_EEPROM_SET, &d);
		}
	}
	free_ihex_chunks(chunks);
	return 0;
}

static void usage(void)
{
	fprintf(stderr,
		"usage: mssim [-m MCU] [-f HZ] [-e EEPROM.bin] [-b BOOTADDR] [-l LINK] [-v] FIRMWARE.elf|.hex\n"
		"  -m MCU       atmega328p (default) or atmega168; an ELF's .mmcu section wins unless -m is given\n"
		"  -f HZ        clock (default 16000000)\n"
		"  -e FILE      EEPROM image: loaded at start (missing = erased), saved on change and at exit\n"
		"  -b ADDR      start at this byte address (a bootloader, e.g. 0x7e00 for optiboot on a 328P)\n"
		"  -l LINK      also create the symlink LINK to the pty (removed at exit)\n"
		"  -v           verbose simulator messages on stderr\n"
		"prints 'port=/dev/pts/N' on stdout when running; SIGINT/SIGTERM stop it cleanly\n");
}

int main(int argc, char **argv)
{
	const char *mcu = NULL, *link_path = NULL;
	unsigned long freq = 0;
	long boot = -1;
	int c;
	while ((c = getopt(argc, argv, "m:f:e:b:l:vh")) != -1) {
		switch (c) {
		case 'm': mcu = optarg; break;
		case 'f': freq = strtoul(optarg, NULL, 0); break;
		case 'e': ee_path = optarg; break;
		case 'b': boot = strtol(optarg, NULL, 0); break;
		case 'l': link_path = optarg; break;
		case 'v': verbose = 1; break;
		case 'h': usage(); return 0;
		default: usage(); return 2;
		}
	}
	if (optind != argc - 1) {
		usage();
		return 2;
	}
	const char *fw_path = argv[optind];
	avr_global_logger_set(sim_logger);

	/* elf_firmware_t is large; keep it off the stack. */
	static elf_firmware_t fw;
	int is_hex = has_suffix(fw_path, ".hex") || has_suffix(fw_path, ".ihex");
	if (!is_hex) {
		if (access(fw_path, R_OK) != 0) {
			logf_err("cannot read %s: %s", fw_path, strerror(errno));
			return 1;
		}
		if (elf_read_firmware(fw_path, &fw) != 0) {
			logf_err("%s: not a readable AVR ELF file", fw_path);
			return 1;
		}
	} else if (access(fw_path, R_OK) != 0) {
		logf_err("cannot read %s: %s", fw_path, strerror(errno));
		return 1;
	}
	if (!mcu)
		mcu = fw.mmcu[0] ? fw.mmcu : "atmega328p";
	if (!freq)
		freq = fw.frequency ? fw.frequency : 16000000UL;

	avr_t *avr = avr_make_mcu_by_name(mcu);
	if (!avr) {
		logf_err("unknown MCU %s (try atmega328p or atmega168)", mcu);
		return 2;
	}
	avr_init(avr);
	avr->frequency = (uint32_t)freq;
	if (!is_hex) {
		snprintf(fw.mmcu, sizeof fw.mmcu, "%s", mcu);
		fw.frequency = (uint32_t)freq;
		avr_load_firmware(avr, &fw);
	} else if (load_hex(avr, fw_path) != 0) {
		return 1;
	}
	if (boot >= 0) {
		if ((unsigned long)boot > avr->flashend) {
			logf_err("boot address 0x%lx is beyond flash", boot);
			return 2;
		}
		avr->reset_pc = (avr_flashaddr_t)boot;
		avr->pc = (avr_flashaddr_t)boot;
	}
	eeprom_load(avr);
	if (bridge_open(avr) != 0)
		return 1;
	avr->sleep = sim_sleep;

	if (link_path) {
		unlink(link_path);
		if (symlink(br.path, link_path) != 0) {
			logf_err("cannot create %s: %s", link_path, strerror(errno));
			link_path = NULL;
		}
	}

	struct sigaction sa;
	memset(&sa, 0, sizeof sa);
	sa.sa_handler = on_signal;
	sigaction(SIGINT, &sa, NULL);
	sigaction(SIGTERM, &sa, NULL);
	sigaction(SIGHUP, &sa, NULL);
	signal(SIGPIPE, SIG_IGN);

	printf("port=%s\n", br.path);
	if (link_path)
		printf("link=%s\n", link_path);
	printf("mcu=%s\nf_cpu=%lu\n", mcu, freq);
	fflush(stdout);

	int rc = 0;
	struct timespec last, now;
	clock_gettime(CLOCK_MONOTONIC, &last);
	unsigned batch = 0;
	while (!stop_requested) {
		int state = avr_run(avr);
		if (state == cpu_Done || state == cpu_Crashed) {
			logf_err("the device stopped (%s) at pc=0x%x",
				state == cpu_Done ? "done: sleeping with interrupts off" : "crashed",
				(unsigned)avr->pc);
			rc = 1;
			break;
		}
		/* Pump often while the device sleeps (it waits for us), every few
		 * thousand instructions while it computes. */
		if (state == cpu_Sleeping || ++batch >= 2000) {
			batch = 0;
			bridge_pump();
			clock_gettime(CLOCK_MONOTONIC, &now);
			if (now.tv_sec != last.tv_sec) {
				last = now;
				eeprom_save(avr, 0);
			}
		}
	}
	eeprom_save(avr, 1); /* always leave a file behind, even if unchanged */
	if (link_path)
		unlink(link_path);
	if (br.dropped && verbose)
		logf_err("%lu output bytes dropped (no reader)", br.dropped);
	close(br.master);
	close(br.slave);
	avr_terminate(avr);
	return rc;
}
