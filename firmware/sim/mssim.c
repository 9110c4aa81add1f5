/*
 * mssim - the simulated mstool device: runs a firmware image (ELF or Intel
 * HEX) on a simulated ATmega328P/168 (libsimavr) and bridges its UART0 to a
 * pseudo-terminal, so host tools talk to it exactly as to a USB board.
 *
 *   mssim [-m MCU] [-f HZ] [-e EEPROM.bin] [-b BOOTADDR] [-B BOOT.hex] [-R]
 *         [-l LINK] [-P PID] [-v] FIRMWARE
 *   mssim -B BOOT.hex [-R] [options]        (blank application flash)
 *
 * On stdout, once the device runs, one machine-readable line:
 *   port=/dev/pts/N
 * (and "link=PATH" if -l asked for a symlink). Everything else goes to
 * stderr. SIGINT, SIGTERM and SIGHUP stop the simulation cleanly: the
 * EEPROM is saved, the symlink removed, exit status 0. The EEPROM file is
 * also written through (atomically: temporary file + rename) at the
 * instruction that completes a simulated EEPROM write, before the device
 * runs on, so a kill -9 behaves like a power loss on a real chip: every
 * write the firmware saw complete persists.
 *
 * The EEPROM file holds the device's keys: it is mode 0600, never opened
 * through a symbolic link (a link given as the file is refused), and its
 * temporary files have unpredictable names and are created with
 * O_CREAT|O_EXCL|O_NOFOLLOW. One simulator owns it: the harness holds an
 * exclusive flock on the file for as long as it runs and moves the lock to
 * each new file before renaming it into place; a second harness on the
 * same file exits with status 3. With -P PID (mstool sim passes its own),
 * the harness stops, saving the EEPROM, as soon as that parent process is
 * gone, so a killed mstool never leaves a simulator holding the file.
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
 * A simulated Arduino (-B and -R; docs/flash.md "Simulated bootloader"):
 * -B loads a bootloader such as Debian's optiboot_atmega328.hex next to
 * the application and starts at its lowest address (BOOTRST programmed).
 * A pty has no modem lines (TIOCMSET/TIOCMGET fail with ENOTTY), so the
 * DTR pulse that resets a real board when avrdude opens the port cannot be
 * seen; -R instead watches the pty slave with inotify and resets the MCU
 * with EXTRF in MCUSR whenever a host opens the port, as the DTR capacitor
 * of an Uno does. While the CPU runs in the boot section, simulated time
 * is paced to the wall clock, so optiboot's 1 s watchdog window is a real
 * second (unpaced, the simulator runs several times faster than real time
 * and the window would close before avrdude's first STK_GET_SYNC), and the
 * UART's polling sleep is turned off (simavr's usleep per poll of UCSR0A
 * would make it far slower than real time). With -R the line speed the
 * host sets on the pty must also match the UART's (UBRR0, U2X0) within
 * 5 %, or bytes are garbled both ways as a real line would garble them.
 *
 * Power cuts at EEPROM writes (cmd/mstool TestBootstrapSimPowerCut): with
 * MSSIM_EE_CUT=N in the environment the harness counts the EEPROM writes
 * that change a byte (each one saved through, above) and, right after the
 * Nth is saved, stops dead with exit status 4 as a power loss would
 * (nothing else runs or is saved); N = 0 only counts. Either way it
 * reports "eeprom-writes=COUNT" on stderr when it stops.
 *
 * Stack high-water mark (`make stack`, docs/PERFORMANCE.md "Device library:
 * profiles and sizes"): with MSSIM_STACK=FILE in the environment, the
 * harness reads the stack pointer after every instruction and, at exit,
 * writes to FILE "stack=N": the worst case of what it saw, N = main + isr,
 * with main = RAMEND minus the lowest SP of the main program (outside
 * interrupt handlers; exact, where a painted stack would show at most
 * that) and isr = the deepest any interrupt handler went from its entry
 * (the PC it pushed included), so that N does not depend on where the
 * host's timing let an interrupt land. Also "main=", "isr=",
 * "isr_vector=", "min_sp=", "ramend=", "min_pc=" and "chain=" (the frames
 * live at the main program's deepest point, read by tools/stackchain.py).
 * When FILE already holds a larger stack= (an earlier run of the same
 * measurement), it is kept.
 */
#define _GNU_SOURCE
#include <errno.h>
#include <fcntl.h>
#include <getopt.h>
#include <poll.h>
#include <pty.h>
#include <sys/file.h>
#include <sys/inotify.h>
#include <sys/prctl.h>
#include <sys/random.h>
#include <sys/stat.h>
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
#include <simavr/avr_adc.h>
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

/* ---- lifetime: die with the parent (-P) ----------------------------- */

static pid_t parent_pid; /* -P: the process that owns this simulator */

static int parent_gone(void) { return parent_pid > 0 && getppid() != parent_pid; }

/* The parent-death signal comes when the thread that forked us exits,
 * which in a multi-threaded parent (Go) is not always the process: only a
 * parent that is really gone (we were re-parented) stops the device. */
static void on_parent_death(int sig)
{
	(void)sig;
	if (parent_gone())
		stop_requested = 1;
}

/* 0, or -1 if the parent is already gone. */
static int watch_parent(void)
{
	struct sigaction sa;
	memset(&sa, 0, sizeof sa);
	sa.sa_handler = on_parent_death;
	sigaction(SIGUSR1, &sa, NULL);
	if (prctl(PR_SET_PDEATHSIG, SIGUSR1) != 0)
		logf_err("cannot ask for the parent-death signal: %s (polling instead)", strerror(errno));
	return parent_gone() ? -1 : 0;
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

/* ---- line speed (-R) ------------------------------------------------ */

static int check_speed;     /* -R: host and device speeds must match */
static unsigned long garbled;

static unsigned long host_baud(void)
{
	static const struct { speed_t s; unsigned long b; } tab[] = {
		{ B300, 300 }, { B600, 600 }, { B1200, 1200 }, { B2400, 2400 },
		{ B4800, 4800 }, { B9600, 9600 }, { B19200, 19200 }, { B38400, 38400 },
		{ B57600, 57600 }, { B115200, 115200 }, { B230400, 230400 },
		{ B460800, 460800 }, { B500000, 500000 }, { B921600, 921600 },
		{ B1000000, 1000000 },
	};
	struct termios tio;
	if (tcgetattr(br.slave, &tio) != 0)
		return 0;
	speed_t sp = cfgetospeed(&tio);
	for (size_t i = 0; i < sizeof tab / sizeof tab[0]; i++)
		if (tab[i].s == sp)
			return tab[i].b;
	return 0; /* unknown: no check */
}

/* The UART0 speed the firmware configured (UBRR0, U2X0 of UCSR0A); the
 * same addresses on the ATmega168 and 328P. 0 while unconfigured. */
#define R_UCSR0A 0xC0
#define R_UCSR0B 0xC1
#define R_UBRR0L 0xC4
#define R_UBRR0H 0xC5
static unsigned long device_baud(avr_t *avr)
{
	if (!(avr->data[R_UCSR0B] & 0x18)) /* RXEN0|TXEN0 */
		return 0;
	unsigned ubrr = avr->data[R_UBRR0L] | (avr->data[R_UBRR0H] & 0x0F) << 8;
	unsigned div = (avr->data[R_UCSR0A] & 0x02) ? 8 : 16;
	return avr->frequency / (div * (ubrr + 1u));
}

/* What a receiver at rx baud reads from one 8N1 byte sent at tx baud: it
 * samples data bit i at (1.5 + i) of its own bit times after the start
 * edge, whatever the sender's line level is then. */
static unsigned char resample(unsigned char b, unsigned long tx, unsigned long rx)
{
	unsigned char out = 0;
	for (int i = 0; i < 8; i++) {
		unsigned long k = (unsigned long)((1.5 + i) * (double)tx / (double)rx);
		int level = k == 0 ? 0 : (k <= 8 ? (b >> (k - 1)) & 1 : 1);
		out |= (unsigned char)(level << i);
	}
	return out;
}

/* 0 if the speeds match within 5 % (or are unknown). */
static int speed_mismatch(avr_t *avr, unsigned long *h, unsigned long *d)
{
	if (!check_speed)
		return 0;
	*h = host_baud();
	*d = device_baud(avr);
	if (!*h || !*d)
		return 0;
	unsigned long diff = *h > *d ? *h - *d : *d - *h;
	return diff * 20 > *d;
}

static void uart_out_hook(struct avr_irq_t *irq, uint32_t value, void *param)
{
	(void)irq;
	unsigned long h, d;
	if (speed_mismatch((avr_t *)param, &h, &d)) {
		if (verbose && garbled < 4)
			logf_err("line speed mismatch: device %lu baud, host %lu baud: output garbled (pc=0x%x)",
				d, h, (unsigned)((avr_t *)param)->pc);
		value = resample((unsigned char)value, d, h);
		garbled++;
	}
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
	avr_irq_register_notify(src, uart_out_hook, avr);
	avr_irq_register_notify(xon, uart_xon_hook, NULL);
	avr_irq_register_notify(xoff, uart_xoff_hook, NULL);
	return 0;
}

/* Move bytes both ways without blocking. */
static void bridge_pump(avr_t *avr)
{
	if (br.in_off == br.in_len) {
		ssize_t n = read(br.master, br.in, sizeof br.in);
		br.in_off = 0;
		br.in_len = n > 0 ? (size_t)n : 0;
	}
	unsigned long h, d;
	int garble = br.in_off < br.in_len && speed_mismatch(avr, &h, &d);
	if (garble && verbose)
		logf_err("line speed mismatch: host %lu baud, device %lu baud: bytes garbled", h, d);
	while (br.xon && br.in_off < br.in_len) {
		unsigned char b = br.in[br.in_off++];
		if (garble) {
			b = resample(b, h, d);
			garbled++;
		}
		avr_raise_irq(br.to_avr, b);
	}

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

/* ---- simulated Arduino: auto-reset and boot-section pacing --------- */

static int ino_fd = -1;         /* inotify on the pty slave (-R) */
static unsigned long resets;    /* host opens that reset the MCU */
static long boot_start = -1;    /* byte address of the boot section */

/* Reset as an external reset (the RESET pin pulled low by the DTR
 * capacitor): MCUSR = EXTRF, execution at the reset vector (BOOTRST). */
static void external_reset(avr_t *avr)
{
	avr_reset(avr);
	avr->pc = avr->reset_pc;
	avr_regbit_set(avr, avr->reset_flags.extrf);
	/* Bytes of the previous client are not for the bootloader. */
	unsigned char junk[256];
	while (read(br.master, junk, sizeof junk) > 0)
		;
	br.in_len = br.in_off = 0;
	br.xon = 1; /* the UART's input FIFO was emptied by the reset */
	resets++;
	if (verbose)
		logf_err("host opened the port: external reset #%lu (MCUSR=EXTRF, pc=0x%x)",
			resets, (unsigned)avr->pc);
}

static int autoreset_open(void)
{
	ino_fd = inotify_init1(IN_NONBLOCK | IN_CLOEXEC);
	if (ino_fd < 0 || inotify_add_watch(ino_fd, br.path, IN_OPEN) < 0) {
		logf_err("cannot watch %s for opens (inotify): %s", br.path, strerror(errno));
		return -1;
	}
	return 0;
}

/* Resets the MCU once per batch of opens seen since the last call. */
static void autoreset_poll(avr_t *avr)
{
	if (ino_fd < 0)
		return;
	char buf[4096] __attribute__((aligned(__alignof__(struct inotify_event))));
	int opened = 0;
	ssize_t n;
	while ((n = read(ino_fd, buf, sizeof buf)) > 0) {
		for (char *q = buf; q < buf + n;) {
			struct inotify_event *e = (struct inotify_event *)q;
			if (e->mask & IN_OPEN)
				opened = 1;
			q += sizeof *e + e->len;
		}
	}
	if (opened)
		external_reset(avr);
}

/*
 * While the CPU is in the boot section, keep simulated time from running
 * ahead of the wall clock: the bootloader's timeouts (optiboot's 1 s
 * watchdog) then last as long as on a board. The anchor is re-taken each
 * time execution enters the boot section, so time spent in the
 * application (which runs unpaced) is never "caught up".
 */
static void boot_pace(avr_t *avr)
{
	static int pacing;
	static struct timespec t0;
	static avr_cycle_count_t c0;
	if (boot_start < 0 || avr->pc < (avr_flashaddr_t)boot_start) {
		pacing = 0;
		return;
	}
	struct timespec now;
	clock_gettime(CLOCK_MONOTONIC, &now);
	if (!pacing) {
		pacing = 1;
		t0 = now;
		c0 = avr->cycle;
		return;
	}
	uint64_t sim_ns = (uint64_t)(avr->cycle - c0) * 1000000000u / avr->frequency;
	uint64_t wall_ns = (uint64_t)(now.tv_sec - t0.tv_sec) * 1000000000u + (uint64_t)now.tv_nsec - (uint64_t)t0.tv_nsec;
	if (sim_ns > wall_ns + 500000) {
		uint64_t d = sim_ns - wall_ns;
		if (d > 10000000)
			d = 10000000;
		struct timespec ts = { 0, (long)d };
		nanosleep(&ts, NULL);
	}
}

/* ---- watchdog jitter ----------------------------------------------- */

/*
 * On a chip the watchdog's 128 kHz RC oscillator drifts and jitters
 * against the crystal; the firmware samples that at boot (entropy.c) so
 * that its nonces differ even when its EEPROM is reloaded from an old
 * image. simavr's watchdog is exact, so every simulated boot would draw
 * the same epoch. Each time the device takes the watchdog interrupt
 * (vector 6 on the ATmega168 and 328P: byte address 0x18), simulated time
 * moves on by 0..255 cycles drawn from the host's random source.
 */
#define WDT_VECTOR_ADDR 0x18

static void wdt_jitter(avr_t *avr)
{
	static unsigned char pool[64];
	static size_t left;
	if (!left) {
		if (getrandom(pool, sizeof pool, 0) != (ssize_t)sizeof pool) {
			logf_err("getrandom: %s", strerror(errno));
			exit(1);
		}
		left = sizeof pool;
	}
	avr->cycle += pool[--left];
}

/* ---- EEPROM persistence -------------------------------------------- */

static const char *ee_path;

/* ---- stack high-water mark (MSSIM_STACK) ----------------------------- */

static const char *stack_path;
static uint16_t stack_min_sp = 0xffff;
/*
 * The call chain at the deepest point, for mapping the depth to its frames
 * (tools/stackchain.py): a shadow stack of (SP after the return address
 * was pushed, entry PC) kept from the instruction stream. A step that
 * lowers SP by 2 and leaves on the stack the address of the instruction
 * it started at (an interrupt) or of the one after (call, rcall, icall)
 * entered a function or a handler; an entry is dropped when SP rises
 * above it (ret, reti, or a reset).
 */
#define STACK_CHAIN_MAX 64
static struct { uint16_t sp; uint32_t pc; } stack_chain[STACK_CHAIN_MAX], stack_min_chain[STACK_CHAIN_MAX];
static unsigned stack_chain_n, stack_min_chain_n;
static uint16_t stack_prev_sp;
static uint32_t stack_prev_pc, stack_prev_pc2, stack_min_pc;
/*
 * Interrupts are accounted apart, so that the figure does not depend on
 * where the host's timing lets one land: the main program's deepest point
 * (stack_min_sp, outside any handler) plus the deepest any handler went
 * from its entry (stack_isr_max: the pushed PC, its saves and frames);
 * handlers do not nest (AVR clears I on entry; no ISR here sets it). A
 * handler is entered when a step ends on an interrupt vector (the first
 * 26 vectors: the ATmega48/88/168/328 family) and left when SP rises
 * above the PC it pushed.
 */
#define STACK_VECTORS 26u
static int stack_in_isr;
static uint16_t stack_isr_sp;
static uint32_t stack_isr_vec, stack_isr_max_vec;
static unsigned stack_isr_max;

/* 1 if the instruction at pc is OUT SPH, Rr (1011 1AAr rrrr AAAA, A = 0x3e). */
static int stack_out_sph(avr_t *avr, uint32_t pc)
{
	if (pc + 1 >= avr->flashend)
		return 0;
	uint16_t op = (uint16_t)(avr->flash[pc] | avr->flash[pc + 1] << 8);
	return (op & 0xFE0F) == 0xBE0E;
}

static inline void stack_sample(avr_t *avr)
{
	/* A frame is set up as OUT SPH, OUT SREG, OUT SPL with interrupts
	 * off until the last (avr-gcc's prologues): between the two halves
	 * SP is neither the old nor the new value (up to 255 bytes below
	 * both when the frame crosses a 256-byte boundary) and nothing can
	 * use it; such a step is not a sample. */
	if (stack_out_sph(avr, stack_prev_pc) || stack_out_sph(avr, stack_prev_pc2)) {
		stack_prev_pc2 = stack_prev_pc;
		stack_prev_pc = avr->pc;
		return;
	}
	uint16_t sp = (uint16_t)(avr->data[R_SPL] | avr->data[R_SPH] << 8);
	while (stack_chain_n && stack_chain[stack_chain_n - 1].sp < sp)
		stack_chain_n--;
	if (sp == (uint16_t)(stack_prev_sp - 2) && sp + 2u <= avr->ramend) {
		uint32_t ret = (uint32_t)(avr->data[sp + 1] << 8 | avr->data[sp + 2]) * 2;
		if ((ret == stack_prev_pc || ret == stack_prev_pc + 2 || ret == stack_prev_pc + 4) &&
		    stack_chain_n < STACK_CHAIN_MAX) {
			stack_chain[stack_chain_n].sp = sp;
			stack_chain[stack_chain_n].pc = avr->pc;
			stack_chain_n++;
		}
	}
	stack_prev_sp = sp;
	stack_prev_pc2 = stack_prev_pc;
	stack_prev_pc = avr->pc;
	if (stack_in_isr && sp > stack_isr_sp)
		stack_in_isr = 0;
	if (!stack_in_isr && avr->pc != 0 && avr->pc < STACK_VECTORS * avr->vector_size &&
	    sp + 2u <= avr->ramend) {
		stack_in_isr = 1;
		stack_isr_sp = sp;
		stack_isr_vec = avr->pc;
	}
	if (stack_in_isr) {
		unsigned f = (unsigned)(stack_isr_sp + 2u - sp);
		if (sp <= stack_isr_sp + 2u && f > stack_isr_max) {
			stack_isr_max = f;
			stack_isr_max_vec = stack_isr_vec;
		}
		return;
	}
	/* Below the SRAM: not yet set up (or a crash the harness reports). */
	if (sp < stack_min_sp && sp >= 0x100) {
		stack_min_sp = sp;
		stack_min_pc = avr->pc;
		memcpy(stack_min_chain, stack_chain, stack_chain_n * sizeof stack_chain[0]);
		stack_min_chain_n = stack_chain_n;
	}
}

static void stack_report(avr_t *avr)
{
	if (!stack_path || stack_min_sp == 0xffff)
		return;
	unsigned main_depth = (unsigned)(avr->ramend - stack_min_sp);
	unsigned depth = main_depth + stack_isr_max, old = 0;
	FILE *f = fopen(stack_path, "r");
	if (f) {
		char line[64];
		while (fgets(line, sizeof line, f))
			if (sscanf(line, "stack=%u", &old) == 1 && old > depth)
				break;
		fclose(f);
		if (old > depth)
			return;
	}
	f = fopen(stack_path, "w");
	if (!f) {
		logf_err("cannot write %s: %s", stack_path, strerror(errno));
		return;
	}
	fprintf(f, "stack=%u\nmain=%u\nisr=%u\nisr_vector=0x%x\nmin_sp=0x%x\nramend=0x%x\nmin_pc=0x%x\nchain=",
		depth, main_depth, stack_isr_max, (unsigned)stack_isr_max_vec, stack_min_sp,
		avr->ramend, (unsigned)stack_min_pc);
	/* the frames, outermost first: depth (RAMEND - SP after the call) @ entry PC */
	for (unsigned i = 0; i < stack_min_chain_n; i++)
		fprintf(f, "%s%u@0x%x", i ? " " : "", (unsigned)(avr->ramend - stack_min_chain[i].sp),
			(unsigned)stack_min_chain[i].pc);
	fputc('\n', f);
	fclose(f);
}
static int ee_fd = -1;        /* the EEPROM file, open and flock()ed */
static unsigned char ee_saved[4096];
static uint32_t ee_size;

/* Opens the EEPROM file (created empty, i.e. erased, with mode 0600 if
 * missing; never through a symbolic link) and takes the simulator's
 * exclusive lock on it. The lock belongs to the file, not the name:
 * eeprom_save locks each new file before renaming it over the old one, so
 * whoever locked a file the name no longer points to tries again.
 * Returns 0, 3 if another simulator holds the file, 1 on other errors. */
static int eeprom_open(void)
{
	for (int tries = 0; tries < 100; tries++) {
		int fd = open(ee_path, O_RDONLY | O_CREAT | O_NOFOLLOW | O_NONBLOCK | O_CLOEXEC, 0600);
		if (fd < 0) {
			if (errno == ELOOP)
				logf_err("%s is a symbolic link: give the EEPROM file itself", ee_path);
			else
				logf_err("cannot open %s: %s", ee_path, strerror(errno));
			return 1;
		}
		struct stat a, b;
		if (fstat(fd, &a) != 0 || !S_ISREG(a.st_mode)) {
			logf_err("%s is not a regular file", ee_path);
			close(fd);
			return 1;
		}
		if (flock(fd, LOCK_EX | LOCK_NB) != 0) {
			int e = errno;
			close(fd);
			if (e == EWOULDBLOCK) {
				logf_err("%s is in use by another simulator", ee_path);
				return 3;
			}
			logf_err("cannot lock %s: %s", ee_path, strerror(e));
			return 1;
		}
		if (lstat(ee_path, &b) == 0 && a.st_dev == b.st_dev && a.st_ino == b.st_ino) {
			ee_fd = fd;
			return 0;
		}
		close(fd); /* replaced meanwhile: lock the new file */
	}
	logf_err("%s keeps being replaced", ee_path);
	return 1;
}

/* simavr's EEPROM ioctls copy between the simulated EEPROM and a
 * caller-owned buffer (desc.ee, offset, size). */
static void eeprom_load(avr_t *avr)
{
	unsigned char buf[sizeof ee_saved];
	ee_size = avr->e2end + 1;
	if (ee_size > sizeof ee_saved)
		ee_size = sizeof ee_saved;
	if (ee_fd < 0)
		return;
	memset(buf, 0xFF, ee_size); /* a new file starts erased, as a fresh chip */
	size_t n = 0;
	while (n < ee_size) {
		ssize_t r = pread(ee_fd, buf + n, ee_size - n, (off_t)n);
		if (r < 0 && errno == EINTR)
			continue;
		if (r < 0)
			logf_err("cannot read %s: %s", ee_path, strerror(errno));
		if (r <= 0)
			break;
		n += (size_t)r;
	}
	avr_eeprom_desc_t d = { .ee = buf, .offset = 0, .size = ee_size };
	avr_ioctl(avr, AVR_IOCTL_EEPROM_SET, &d); /* its return value is not an error code */
	memcpy(ee_saved, buf, ee_size);
	if (verbose)
		logf_err("loaded %zu EEPROM bytes from %s", n, ee_path);
}

/* A new file next to the EEPROM file, under a name nobody can predict:
 * mode 0600, O_CREAT|O_EXCL|O_NOFOLLOW (an existing name or a link planted
 * there fails, and another name is drawn). */
static int eeprom_tmp(char *tmp, size_t size)
{
	for (int tries = 0; tries < 16; tries++) {
		unsigned long long r;
		if (getrandom(&r, sizeof r, 0) != (ssize_t)sizeof r) {
			logf_err("getrandom: %s", strerror(errno));
			return -1;
		}
		if ((size_t)snprintf(tmp, size, "%s.%016llx.tmp", ee_path, r) >= size) {
			logf_err("%s: name too long", ee_path);
			return -1;
		}
		int fd = open(tmp, O_WRONLY | O_CREAT | O_EXCL | O_NOFOLLOW | O_CLOEXEC, 0600);
		if (fd >= 0 || errno != EEXIST)
			return fd;
	}
	return -1;
}

static long ee_cut = -1; /* MSSIM_EE_CUT: -1 off, 0 count only, N cut */
static long ee_writes;   /* EEPROM writes that changed a byte, with it on */

/* Writes the EEPROM file atomically if changed (or always, with force): a
 * new 0600 file, synced and locked, renamed over the old one, whose lock
 * is then let go. */
static void eeprom_save(avr_t *avr, int force)
{
	unsigned char buf[sizeof ee_saved];
	if (ee_fd < 0 || !ee_size)
		return;
	avr_eeprom_desc_t d = { .ee = buf, .offset = 0, .size = ee_size };
	memcpy(buf, ee_saved, ee_size);
	avr_ioctl(avr, AVR_IOCTL_EEPROM_GET, &d);
	if (!force && memcmp(ee_saved, buf, ee_size) == 0)
		return;
	char tmp[4200];
	int fd = eeprom_tmp(tmp, sizeof tmp);
	if (fd < 0) {
		logf_err("cannot create a temporary file next to %s: %s", ee_path, strerror(errno));
		return;
	}
	size_t n = 0;
	while (n < ee_size) {
		ssize_t w = write(fd, buf + n, ee_size - n);
		if (w < 0 && errno == EINTR)
			continue;
		if (w <= 0)
			break;
		n += (size_t)w;
	}
	if (n != ee_size || fchmod(fd, 0600) != 0 || fsync(fd) != 0 ||
	    flock(fd, LOCK_EX | LOCK_NB) != 0 || rename(tmp, ee_path) != 0) {
		logf_err("cannot save EEPROM to %s: %s", ee_path, strerror(errno));
		close(fd);
		unlink(tmp);
		return;
	}
	close(ee_fd);
	ee_fd = fd;
	int changed = memcmp(ee_saved, buf, ee_size) != 0;
	memcpy(ee_saved, buf, ee_size);
	if (ee_cut >= 0 && changed && ++ee_writes == ee_cut) {
		logf_err("eeprom-writes=%ld: power cut", ee_writes);
		_exit(4);
	}
}

/*
 * Write-through: simavr's EEPROM module stores a byte into its array at
 * the write to EECR that sets EEPE (the write is instantaneous in the
 * simulation; only the ready interrupt comes 3.4 ms later). A second
 * writer on EECR (simavr multiplexes several) runs right after it and
 * saves the file if the array changed. EECR is data address 0x3F on the
 * ATmega48/88/168/328 family. Reads (EERE) also write EECR; they find
 * nothing changed, which costs one compare of the EEPROM.
 */
#define EECR_DATA_ADDR 0x3F

static void eeprom_write_hook(struct avr_t *avr, avr_io_addr_t addr, uint8_t v, void *param)
{
	(void)addr;
	(void)v;
	(void)param;
	eeprom_save(avr, 0);
}

static void eeprom_write_through(avr_t *avr)
{
	if (ee_fd >= 0)
		avr_register_io_write(avr, EECR_DATA_ADDR, eeprom_write_hook, NULL);
}

/* ---- firmware loading ---------------------------------------------- */

static int has_suffix(const char *s, const char *suf)
{
	size_t a = strlen(s), b = strlen(suf);
	return a >= b && strcasecmp(s + a - b, suf) == 0;
}

/* Intel HEX: flash chunks below 0x810000 go to flash, 0x810000.. to EEPROM
 * (avr-objcopy's convention). */
static int load_hex(avr_t *avr, const char *path, long *lowest)
{
	ihex_chunk_p chunks = NULL;
	int n = read_ihex_chunks(path, &chunks);
	if (n <= 0) {
		logf_err("cannot read Intel HEX file %s", path);
		return -1;
	}
	for (int i = 0; i < n; i++) {
		uint32_t a = chunks[i].baseaddr, sz = chunks[i].size;
		if (a < 0x810000 && lowest && (*lowest < 0 || (long)a < *lowest))
			*lowest = (long)a;
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
		"usage: mssim [-m MCU] [-f HZ] [-e EEPROM.bin] [-b BOOTADDR] [-B BOOT.hex] [-R] [-l LINK] [-P PID] [-v] FIRMWARE.elf|.hex\n"
		"       mssim -B BOOT.hex [-R] [options]   (bootloader only: blank application flash)\n"
		"  -m MCU       atmega328p (default) or atmega168; an ELF's .mmcu section wins unless -m is given\n"
		"  -f HZ        clock (default 16000000)\n"
		"  -e FILE      EEPROM image: loaded at start (missing = erased), written through on every\n"
		"               EEPROM write (atomically) and saved at exit; mode 0600, never a symbolic\n"
		"               link, locked while the simulator runs (exit status 3: in use by another)\n"
		"  -b ADDR      start at this byte address (a bootloader, e.g. 0x7e00 for optiboot on a 328P)\n"
		"  -B FILE      also load this bootloader (Intel HEX) and start at its lowest address\n"
		"               (BOOTRST programmed); the boot section runs paced to the wall clock\n"
		"  -R           Arduino auto-reset: each time a host opens the port the MCU is reset\n"
		"               with EXTRF set (as DTR does on a board); the host's line speed must\n"
		"               match the UART's or bytes are garbled\n"
		"  -l LINK      also create the symlink LINK to the pty (removed at exit)\n"
		"  -P PID       stop (saving the EEPROM) when process PID, the parent, is gone\n"
		"  -v           verbose simulator messages on stderr\n"
		"prints 'port=/dev/pts/N' on stdout when running; SIGINT/SIGTERM stop it cleanly\n");
}

int main(int argc, char **argv)
{
	const char *mcu = NULL, *link_path = NULL, *boot_path = NULL;
	int autoreset = 0;
	unsigned long freq = 0;
	long boot = -1;
	int c;
	while ((c = getopt(argc, argv, "m:f:e:b:B:Rl:P:vh")) != -1) {
		switch (c) {
		case 'm': mcu = optarg; break;
		case 'f': freq = strtoul(optarg, NULL, 0); break;
		case 'e': ee_path = optarg; break;
		case 'b': boot = strtol(optarg, NULL, 0); break;
		case 'B': boot_path = optarg; break;
		case 'R': autoreset = 1; break;
		case 'l': link_path = optarg; break;
		case 'P': parent_pid = (pid_t)strtol(optarg, NULL, 0); break;
		case 'v': verbose = 1; break;
		case 'h': usage(); return 0;
		default: usage(); return 2;
		}
	}
	if (optind != argc - 1 && !(boot_path && optind == argc)) {
		usage();
		return 2;
	}
	const char *fw_path = optind < argc ? argv[optind] : NULL;
	avr_global_logger_set(sim_logger);
	if (parent_pid > 0 && watch_parent() != 0) {
		logf_err("parent process %ld is gone", (long)parent_pid);
		return 1;
	}
	if (ee_path) {
		int rc = eeprom_open();
		if (rc != 0)
			return rc;
	}

	/* elf_firmware_t is large; keep it off the stack. */
	static elf_firmware_t fw;
	int is_hex = fw_path && (has_suffix(fw_path, ".hex") || has_suffix(fw_path, ".ihex"));
	if (!fw_path) {
		/* bootloader only */
	} else if (!is_hex) {
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
	if (!fw_path) {
		/* blank application: erased flash */
	} else if (!is_hex) {
		snprintf(fw.mmcu, sizeof fw.mmcu, "%s", mcu);
		fw.frequency = (uint32_t)freq;
		avr_load_firmware(avr, &fw);
	} else if (load_hex(avr, fw_path, NULL) != 0) {
		return 1;
	}
	if (boot_path) {
		long lowest = -1;
		if (load_hex(avr, boot_path, &lowest) != 0)
			return 1;
		if (lowest < 0) {
			logf_err("%s: no flash data", boot_path);
			return 1;
		}
		if (boot < 0)
			boot = lowest;
		avr->codeend = avr->flashend + 1;
		/* optiboot polls UCSR0A; simavr's poll sleep (usleep per read)
		 * would make the bootloader far slower than real time. */
		uint32_t f = 0;
		avr_ioctl(avr, AVR_IOCTL_UART_GET_FLAGS('0'), &f);
		f &= ~(uint32_t)AVR_UART_FLAG_POOL_SLEEP;
		avr_ioctl(avr, AVR_IOCTL_UART_SET_FLAGS('0'), &f);
	}
	if (boot >= 0) {
		if ((unsigned long)boot > avr->flashend) {
			logf_err("boot address 0x%lx is beyond flash", boot);
			return 2;
		}
		avr->reset_pc = (avr_flashaddr_t)boot;
		avr->pc = (avr_flashaddr_t)boot;
		if (boot_path)
			boot_start = boot;
	}
	/* The internal temperature sensor (ADC channel 8) reads as a chip at
	 * 25 C: 314 mV (ATmega328P datasheet, "Temperature Measurement");
	 * simavr's own default is 0 mV. firmware/examples/sensor reads it. */
	avr_raise_irq(avr_io_getirq(avr, AVR_IOCTL_ADC_GETIRQ, ADC_IRQ_TEMP), 314);
	eeprom_load(avr);
	eeprom_write_through(avr);
	if (bridge_open(avr) != 0)
		return 1;
	avr->sleep = sim_sleep;
	if (autoreset) {
		check_speed = 1;
		if (autoreset_open() != 0)
			return 1;
	}

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

	stack_path = getenv("MSSIM_STACK");
	if (stack_path && !*stack_path)
		stack_path = NULL;
	const char *cut = getenv("MSSIM_EE_CUT");
	if (cut && *cut)
		ee_cut = strtol(cut, NULL, 10);
	int rc = 0;
	struct timespec last, now;
	clock_gettime(CLOCK_MONOTONIC, &last);
	unsigned batch = 0;
	while (!stop_requested) {
		int state = avr_run(avr);
		if (stack_path)
			stack_sample(avr);
		if (avr->pc == WDT_VECTOR_ADDR)
			wdt_jitter(avr);
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
			autoreset_poll(avr);
			bridge_pump(avr);
			boot_pace(avr);
			clock_gettime(CLOCK_MONOTONIC, &now);
			if (now.tv_sec != last.tv_sec) {
				last = now;
				eeprom_save(avr, 0); /* a fallback: writes are saved as they happen */
				if (parent_gone()) /* a fallback for the parent-death signal */
					stop_requested = 1;
			}
		}
	}
	eeprom_save(avr, 1); /* always leave a file behind, even if unchanged */
	if (ee_cut >= 0)
		logf_err("eeprom-writes=%ld", ee_writes);
	stack_report(avr);
	if (link_path)
		unlink(link_path);
	if (br.dropped && verbose)
		logf_err("%lu output bytes dropped (no reader)", br.dropped);
	if (verbose && (resets || garbled))
		logf_err("%lu auto-resets, %lu bytes garbled by a line speed mismatch", resets, garbled);
	close(br.master);
	close(br.slave);
	avr_terminate(avr);
	return rc;
}
