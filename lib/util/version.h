/*
 * The one version string of remus, defined by the Makefile (REMUS_VERSION)
 * and shared by every program's --version, the man pages and remus.pc.
 */
#ifndef REMUS_UTIL_VERSION_H
#define REMUS_UTIL_VERSION_H

/* "0.1.0" */
const char *remus_version(void);

/* --version: "PROG (remus) VERSION" on stdout. */
void remus_print_version(const char *prog);

#endif
