/*
 * vectors.c - reader for the vector files in vectors/ (format: vectors/README.md).
 */
#include "vectors.h"

#include <ctype.h>
#include <errno.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>

int vfile_open(vfile *vf, const char *path)
{
	FILE *f = fopen(path, "rb");
	long n;

	memset(vf, 0, sizeof *vf);
	if (f == NULL) {
		return -1;
	}
	if (fseek(f, 0, SEEK_END) != 0 || (n = ftell(f)) < 0 ||
	    fseek(f, 0, SEEK_SET) != 0) {
		fclose(f);
		return -1;
	}
	vf->data = malloc((size_t)n + 1);
	if (vf->data == NULL) {
		fclose(f);
		return -1;
	}
	if (fread(vf->data, 1, (size_t)n, f) != (size_t)n) {
		fclose(f);
		free(vf->data);
		vf->data = NULL;
		errno = EIO;
		return -1;
	}
	fclose(f);
	vf->data[n] = '\0';
	vf->path = path;
	vf->cur = vf->data;
	return 0;
}

void vfile_close(vfile *vf)
{
	free(vf->data);
	vf->data = NULL;
}

/* Take the next line (without '\n', '\r' trimmed), or NULL at the end. */
static char *next_line(vfile *vf)
{
	char *s = vf->cur, *e;

	if (s == NULL || *s == '\0') {
		return NULL;
	}
	e = strchr(s, '\n');
	if (e != NULL) {
		*e = '\0';
		vf->cur = e + 1;
	} else {
		vf->cur = s + strlen(s);
	}
	vf->lineno++;
	e = s + strlen(s);
	while (e > s && e[-1] == '\r') {
		*--e = '\0';
	}
	return s;
}

static char *trim(char *s)
{
	char *e;

	while (*s != '\0' && isspace((unsigned char)*s)) {
		s++;
	}
	e = s + strlen(s);
	while (e > s && isspace((unsigned char)e[-1])) {
		*--e = '\0';
	}
	return s;
}

static int valid_name(const char *s)
{
	if (*s == '\0') {
		return 0;
	}
	for (; *s != '\0'; s++) {
		if (!(islower((unsigned char)*s) || isdigit((unsigned char)*s) ||
		      *s == '-' || *s == '_')) {
			return 0;
		}
	}
	return 1;
}

/*
 * Values live in the file buffer; a continuation needs a longer string, so
 * continued values are copied to the heap (and leaked: tests are short).
 */
static int append(vfield *f, const char *more)
{
	size_t a = strlen(f->value), b = strlen(more);
	char *v = malloc(a + b + 1);

	if (v == NULL) {
		return -1;
	}
	memcpy(v, f->value, a);
	memcpy(v + a, more, b + 1);
	f->value = v;
	return 0;
}

int vfile_next(vfile *vf, vrecord *r)
{
	char *line;

	memset(r, 0, sizeof *r);
	r->file = vf->path;
	while ((line = next_line(vf)) != NULL) {
		char *t = trim(line);
		char *eq, *name;
		int i;

		if (*t == '#') {
			continue;
		}
		if (*t == '\0') {
			if (r->nfields > 0) {
				return 1;
			}
			continue;
		}
		if (line != t) { /* starts with whitespace: continuation */
			if (r->nfields == 0) {
				fprintf(stderr, "%s:%d: continuation line outside a field\n",
				        vf->path, vf->lineno);
				return -1;
			}
			if (append(&r->f[r->nfields - 1], t) != 0) {
				return -1;
			}
			continue;
		}
		eq = strchr(t, '=');
		if (eq == NULL) {
			fprintf(stderr, "%s:%d: expected name = value\n", vf->path,
			        vf->lineno);
			return -1;
		}
		*eq = '\0';
		name = trim(t);
		if (!valid_name(name)) {
			fprintf(stderr, "%s:%d: bad field name %s\n", vf->path,
			        vf->lineno, name);
			return -1;
		}
		for (i = 0; i < r->nfields; i++) {
			if (strcmp(r->f[i].name, name) == 0) {
				fprintf(stderr, "%s:%d: duplicate field %s\n", vf->path,
				        vf->lineno, name);
				return -1;
			}
		}
		if (r->nfields == VREC_MAX_FIELDS) {
			fprintf(stderr, "%s:%d: too many fields\n", vf->path,
			        vf->lineno);
			return -1;
		}
		if (r->nfields == 0) {
			r->line = vf->lineno;
		}
		r->f[r->nfields].name = name;
		r->f[r->nfields].value = trim(eq + 1);
		r->nfields++;
	}
	return r->nfields > 0 ? 1 : 0;
}

const char *vrec_text(const vrecord *r, const char *name)
{
	int i;

	for (i = 0; i < r->nfields; i++) {
		if (strcmp(r->f[i].name, name) == 0) {
			return r->f[i].value;
		}
	}
	return NULL;
}

static int hexval(char c)
{
	if (c >= '0' && c <= '9') {
		return c - '0';
	}
	if (c >= 'a' && c <= 'f') {
		return c - 'a' + 10;
	}
	if (c >= 'A' && c <= 'F') {
		return c - 'A' + 10;
	}
	return -1;
}

int vrec_hex(const vrecord *r, const char *name, uint8_t **out, size_t *len)
{
	const char *v = vrec_text(r, name);
	size_t n, i;

	if (v == NULL) {
		fprintf(stderr, "%s:%d: missing field %s\n", r->file, r->line, name);
		return -1;
	}
	n = strlen(v);
	if (n % 2 != 0) {
		fprintf(stderr, "%s:%d: %s: odd number of hex digits\n", r->file,
		        r->line, name);
		return -1;
	}
	*out = malloc(n / 2 + 1);
	if (*out == NULL) {
		return -1;
	}
	for (i = 0; i < n / 2; i++) {
		int hi = hexval(v[2 * i]), lo = hexval(v[2 * i + 1]);

		if (hi < 0 || lo < 0) {
			fprintf(stderr, "%s:%d: %s: bad hex\n", r->file, r->line,
			        name);
			free(*out);
			*out = NULL;
			return -1;
		}
		(*out)[i] = (uint8_t)(hi << 4 | lo);
	}
	*len = n / 2;
	return 0;
}

int vrec_int(const vrecord *r, const char *name, unsigned long *out)
{
	const char *v = vrec_text(r, name);
	unsigned long x = 0;

	if (v == NULL || *v == '\0') {
		return -1;
	}
	for (; *v != '\0'; v++) {
		if (!isdigit((unsigned char)*v) || x > 100000000ul) {
			return -1;
		}
		x = x * 10 + (unsigned long)(*v - '0');
	}
	*out = x;
	return 0;
}
