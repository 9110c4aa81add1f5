/*
 * manifest.c - not compiled: tools/manifest.py runs it through the
 * preprocessor of an image's build (avr-gcc -dM -E with the image's flags)
 * and reads the build options from the macros it defines.
 */
#include <avr/io.h>

#include "config.h"
#include "store.h"
#include "tasks.h"
