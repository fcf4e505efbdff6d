/* http: /metrics and /healthz over libmicrohttpd.
 *
 * libmicrohttpd runs its own polling thread; the handler only reads the
 * metrics module (atomics and its own mutex), so nothing else is shared with
 * the pipeline. A small connection limit and a short idle timeout keep a slow
 * or hostile client from holding more than a few sockets. */
#include "gevinst/http.h"

#include "gevinst/log.h"
#include "gevinst/metrics.h"

#include <microhttpd.h>
#include <netdb.h>
#include <stdarg.h>
#include <stdatomic.h>
#include <stdbool.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <sys/socket.h>

#define HTTP_MAX_CONNECTIONS 16
#define HTTP_IDLE_TIMEOUT_S 10

struct http {
    struct MHD_Daemon *mhd;
    int port;
    atomic_bool starting; /* while set, libmicrohttpd's messages go to err, not the log */
    char err[256];
};

#define CT_TEXT "text/plain; charset=utf-8"
#define CT_METRICS "text/plain; version=0.0.4; charset=utf-8"

__attribute__((format(printf, 2, 0))) static void mhd_log(void *cls, const char *fmt, va_list ap)
{
    http_t *h = cls;
    char buf[256];
    vsnprintf(buf, sizeof(buf), fmt, ap);
    buf[strcspn(buf, "\n")] = '\0';
    if (h->starting)
        snprintf(h->err, sizeof(h->err), "%s", buf);
    else
        log_warn("http: %s", buf);
}

static enum MHD_Result reply(struct MHD_Connection *conn, unsigned status, const char *ctype,
                             char *body, size_t len, enum MHD_ResponseMemoryMode mode)
{
    struct MHD_Response *r = MHD_create_response_from_buffer(len, body, mode);
    if (!r) {
        if (mode == MHD_RESPMEM_MUST_FREE)
            free(body);
        return MHD_NO;
    }
    MHD_add_response_header(r, MHD_HTTP_HEADER_CONTENT_TYPE, ctype);
    MHD_add_response_header(r, MHD_HTTP_HEADER_CACHE_CONTROL, "no-store");
    if (status == MHD_HTTP_METHOD_NOT_ALLOWED)
        MHD_add_response_header(r, MHD_HTTP_HEADER_ALLOW, "GET, HEAD");
    enum MHD_Result ret = MHD_queue_response(conn, status, r);
    MHD_destroy_response(r);
    return ret;
}

static enum MHD_Result reply_text(struct MHD_Connection *conn, unsigned status, const char *text)
{
    return reply(conn, status, CT_TEXT, (char *)text, strlen(text), MHD_RESPMEM_PERSISTENT);
}

static enum MHD_Result on_request(void *cls, struct MHD_Connection *conn, const char *url,
                                  const char *method, const char *version, const char *upload_data,
                                  size_t *upload_data_size, void **req_cls)
{
    (void)cls;
    (void)version;
    (void)upload_data;
    (void)upload_data_size;
    (void)req_cls;
    /* HEAD too: every general-purpose server must support it (RFC 9110);
     * libmicrohttpd leaves the body out. */
    if (strcmp(method, MHD_HTTP_METHOD_GET) != 0 && strcmp(method, MHD_HTTP_METHOD_HEAD) != 0)
        return reply_text(conn, MHD_HTTP_METHOD_NOT_ALLOWED, "method not allowed\n");

    if (strcmp(url, "/metrics") == 0) {
        size_t len = 0;
        char *body = metrics_render(&len);
        if (!body)
            return reply_text(conn, MHD_HTTP_INTERNAL_SERVER_ERROR, "out of memory\n");
        return reply(conn, MHD_HTTP_OK, CT_METRICS, body, len, MHD_RESPMEM_MUST_FREE);
    }
    if (strcmp(url, "/healthz") == 0) {
        const char *why = metrics_health();
        if (!why)
            return reply_text(conn, MHD_HTTP_OK, "ok\n");
        char buf[128];
        int n = snprintf(buf, sizeof(buf), "%s\n", why);
        char *body = strdup(buf);
        if (!body)
            return MHD_NO;
        return reply(conn, MHD_HTTP_SERVICE_UNAVAILABLE, CT_TEXT, body, (size_t)n,
                     MHD_RESPMEM_MUST_FREE);
    }
    return reply_text(conn, MHD_HTTP_NOT_FOUND, "not found\n");
}

/* Splits "host:port" or "[v6]:port". The host must be there: binding to every
 * interface has to be asked for ("0.0.0.0:9187", "[::]:9187"). */
static bool split_listen(const char *listen, char *host, size_t host_size, char *port,
                         size_t port_size, char *errstr, size_t errstr_size)
{
    const char *h = listen, *hend, *p;
    if (*listen == '[') {
        h = listen + 1;
        hend = strchr(h, ']');
        if (!hend || hend[1] != ':') {
            snprintf(errstr, errstr_size, "http.listen \"%s\": expected [IPv6 address]:port",
                     listen);
            return false;
        }
        p = hend + 2;
    } else {
        hend = strrchr(listen, ':');
        if (!hend || memchr(listen, ':', (size_t)(hend - listen))) {
            snprintf(errstr, errstr_size,
                     "http.listen \"%s\": expected host:port (IPv6 as [address]:port)", listen);
            return false;
        }
        p = hend + 1;
    }
    size_t hlen = (size_t)(hend - h), plen = strlen(p);
    bool digits = plen > 0 && plen <= 5 && strspn(p, "0123456789") == plen;
    if (hlen == 0 || hlen >= host_size || !digits || atoi(p) > 65535 || plen >= port_size) {
        snprintf(errstr, errstr_size,
                 "http.listen \"%s\": expected host:port with a host and a port 0-65535", listen);
        return false;
    }
    memcpy(host, h, hlen);
    host[hlen] = '\0';
    memcpy(port, p, plen + 1);
    return true;
}

http_t *http_start(const char *listen, char *errstr, size_t errstr_size)
{
    char host[256], port[8];
    if (!split_listen(listen, host, sizeof(host), port, sizeof(port), errstr, errstr_size))
        return NULL;

    struct addrinfo hints = {0}, *ai = NULL;
    hints.ai_family = AF_UNSPEC;
    hints.ai_socktype = SOCK_STREAM;
    hints.ai_flags = AI_NUMERICSERV;
    int gai = getaddrinfo(host, port, &hints, &ai);
    if (gai != 0) {
        snprintf(errstr, errstr_size, "http.listen \"%s\": %s", listen, gai_strerror(gai));
        return NULL;
    }

    http_t *h = calloc(1, sizeof(*h));
    if (!h) {
        freeaddrinfo(ai);
        snprintf(errstr, errstr_size, "out of memory");
        return NULL;
    }
    unsigned flags = MHD_USE_AUTO_INTERNAL_THREAD | MHD_USE_ERROR_LOG;
    if (ai->ai_family == AF_INET6)
        flags |= MHD_USE_IPv6;
    h->starting = true;
    /* The port argument only names the port in libmicrohttpd's messages: the
     * address it binds is MHD_OPTION_SOCK_ADDR. */
    h->mhd = MHD_start_daemon(
        flags, (uint16_t)atoi(port), NULL, NULL, on_request, h, MHD_OPTION_SOCK_ADDR, ai->ai_addr,
        MHD_OPTION_CONNECTION_LIMIT, (unsigned)HTTP_MAX_CONNECTIONS, MHD_OPTION_CONNECTION_TIMEOUT,
        (unsigned)HTTP_IDLE_TIMEOUT_S, MHD_OPTION_EXTERNAL_LOGGER, mhd_log, h, MHD_OPTION_END);
    freeaddrinfo(ai);
    if (!h->mhd) {
        snprintf(errstr, errstr_size, "http.listen \"%s\": cannot listen: %s", listen,
                 h->err[0] ? h->err : "libmicrohttpd refused to start");
        free(h);
        return NULL;
    }
    const union MHD_DaemonInfo *info = MHD_get_daemon_info(h->mhd, MHD_DAEMON_INFO_BIND_PORT);
    h->port = info ? info->port : atoi(port);
    h->starting = false;
    return h;
}

int http_port(const http_t *h)
{
    return h ? h->port : 0;
}

void http_stop(http_t *h)
{
    if (!h)
        return;
    MHD_stop_daemon(h->mhd);
    free(h);
}
