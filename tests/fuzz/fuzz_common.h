/* Shared by the fuzz targets. */
#ifndef VPN_FUZZ_COMMON_H
#define VPN_FUZZ_COMMON_H

#include <stdlib.h>

/* A log sink that drops every line: the messages are still formatted (so
 * the fuzzer exercises what refusals print), just not written. */
static inline void fuzz_quiet(int level, const char *module, const char *msg, void *arg)
{
	(void)level;
	(void)module;
	(void)msg;
	(void)arg;
}

/* An invariant of the code under test; abort() is what libFuzzer reports. */
static inline void fuzz_check(int ok)
{
	if (!ok)
		abort();
}

#endif
