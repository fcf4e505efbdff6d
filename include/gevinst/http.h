#ifndef GEVINST_HTTP_H
#define GEVINST_HTTP_H

#include <stddef.h>

/* http: the monitoring endpoint (libmicrohttpd, its own polling thread).
 *
 *   GET /metrics  200, Prometheus text format 0.0.4 (metrics_render())
 *   GET /healthz  200 "ok\n", or 503 with the one-line reason of
 *                 metrics_health() ("postgres unreachable", ...)
 *   other paths   404; methods other than GET and HEAD: 405
 *
 * It reads only the metrics module, never pipeline state, so it needs no
 * lock shared with the pipeline thread. */
typedef struct http http_t;

/* Listens on `listen`, "host:port" or "[IPv6]:port" (e.g. "127.0.0.1:9187",
 * "[::1]:9187", "localhost:9187"), bound to that address only; port 0 takes
 * a free port (see http_port()). Returns NULL and a message in errstr when the
 * address does not parse or resolve, or the bind fails (in use, no such
 * address): a start-up error, not worth a retry. */
http_t *http_start(const char *listen, char *errstr, size_t errstr_size);

/* The port it listens on (the one the system chose for port 0). */
int http_port(const http_t *h);

/* Closes the socket and joins the thread; accepts NULL. */
void http_stop(http_t *h);

#endif
