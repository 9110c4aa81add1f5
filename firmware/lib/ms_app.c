/*
 * ms_app.c - the application's table (ms_app.h), set by ms_init.
 */
#include "ms_app.h"

const struct ms_app *ms_app;
