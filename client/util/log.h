/* Logging: one line per event that matters.
 *
 * Levels are syslog's so the daemon can hand them to the journal unchanged.
 * Every line names the module that wrote it ("ike", "esp", "tun", ...). A
 * sink can be installed (the daemon's journal writer, a test's collector);
 * without one, lines go to stderr. */
#ifndef VPN_UTIL_LOG_H
#define VPN_UTIL_LOG_H

#include <stdarg.h>

#ifdef __cplusplus
extern "C" {
#endif

enum vlog_level {
	VLOG_ERR = 3,
	VLOG_WARNING = 4,
	VLOG_NOTICE = 5,
	VLOG_INFO = 6,
	VLOG_DEBUG = 7,
};

typedef void (*vlog_sink_fn)(int level, const char *module, const char *msg,
			     void *arg);

/* Lines above this level are dropped before formatting. Default VLOG_INFO. */
void vlog_set_level(int level);
int vlog_get_level(void);
/* Install a sink; NULL restores stderr. */
void vlog_set_sink(vlog_sink_fn fn, void *arg);

void vlog(int level, const char *module, const char *fmt, ...)
	__attribute__((format(printf, 3, 4)));
void vlogv(int level, const char *module, const char *fmt, va_list ap)
	__attribute__((format(printf, 3, 0)));

#define vlog_err(mod, ...) vlog(VLOG_ERR, mod, __VA_ARGS__)
#define vlog_warn(mod, ...) vlog(VLOG_WARNING, mod, __VA_ARGS__)
#define vlog_notice(mod, ...) vlog(VLOG_NOTICE, mod, __VA_ARGS__)
#define vlog_info(mod, ...) vlog(VLOG_INFO, mod, __VA_ARGS__)
#define vlog_debug(mod, ...)                                      \
	do {                                                      \
		if (vlog_get_level() >= VLOG_DEBUG)               \
			vlog(VLOG_DEBUG, mod, __VA_ARGS__);       \
	} while (0)

#ifdef __cplusplus
}
#endif
#endif
