#include "client/util/log.h"

#include <stdio.h>
#include <string.h>

static int log_level = VLOG_INFO;
static vlog_sink_fn log_sink;
static void *log_sink_arg;

void vlog_set_level(int level) { log_level = level; }
int vlog_get_level(void) { return log_level; }

void vlog_set_sink(vlog_sink_fn fn, void *arg)
{
	log_sink = fn;
	log_sink_arg = arg;
}

static const char *level_name(int level)
{
	switch (level) {
	case VLOG_ERR: return "error";
	case VLOG_WARNING: return "warning";
	case VLOG_NOTICE: return "notice";
	case VLOG_INFO: return "info";
	default: return "debug";
	}
}

void vlogv(int level, const char *module, const char *fmt, va_list ap)
{
	char msg[1024];

	if (level > log_level)
		return;
	vsnprintf(msg, sizeof(msg), fmt, ap);
	if (log_sink) {
		log_sink(level, module, msg, log_sink_arg);
		return;
	}
	fprintf(stderr, "%s: %s: %s\n", level_name(level), module, msg);
}

void vlog(int level, const char *module, const char *fmt, ...)
{
	va_list ap;

	va_start(ap, fmt);
	vlogv(level, module, fmt, ap);
	va_end(ap);
}
