/*
 * remus_version(): the string comes from the compiler command line so that
 * the Makefile is the only place it is written.
 */
#include "util/version.h"

#include <stdio.h>

#ifndef REMUS_VERSION
#error "REMUS_VERSION is defined by the Makefile"
#endif

const char *remus_version(void)
{
	return REMUS_VERSION;
}

void remus_print_version(const char *prog)
{
	printf("%s (remus) %s\n", prog, REMUS_VERSION);
}
