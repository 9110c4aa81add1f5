/*
 * vectors.h - a small reader for the shared test-vector format
 * (vectors/README.md). Host-only test code: it may allocate.
 */
#ifndef MS_TEST_VECTORS_H
#define MS_TEST_VECTORS_H

#include <stddef.h>
#include <stdint.h>

#define VREC_MAX_FIELDS 32

typedef struct {
	char *name;
	char *value; /* raw text, trimmed; continuation lines appended */
} vfield;

typedef struct {
	const char *file;
	int line; /* first line of the record */
	int nfields;
	vfield f[VREC_MAX_FIELDS];
} vrecord;

typedef struct {
	const char *path;
	char *data; /* whole file, NUL-terminated, modified in place */
	char *cur;
	int lineno;
} vfile;

/* vfile_open - read path. Returns 0 or -1 (errno set). */
int vfile_open(vfile *vf, const char *path);
void vfile_close(vfile *vf);

/*
 * vfile_next - parse the next record. Returns 1 with *r filled, 0 at end
 * of file, -1 on a syntax error (message on stderr).
 */
int vfile_next(vfile *vf, vrecord *r);

/* vrec_text - the raw value of field name, or NULL if absent. */
const char *vrec_text(const vrecord *r, const char *name);

/*
 * vrec_hex - decode hex field name into a new buffer (free() it; never
 * NULL on success, even for an empty value). Returns 0, or -1 if absent or
 * not valid hex (message on stderr).
 */
int vrec_hex(const vrecord *r, const char *name, uint8_t **out, size_t *len);

/* vrec_int - decimal field; returns 0, or -1 if absent or invalid. */
int vrec_int(const vrecord *r, const char *name, unsigned long *out);

#endif /* MS_TEST_VECTORS_H */
