/* Unit tests for src/http.c over real sockets: /metrics with its content type,
 * /healthz flipping between 200 and 503 (with the reason) as the gauges
 * change, 404, 405 with Allow, HEAD, listen address parsing and bind errors. */
#include "gevinst/http.h"
#include "gevinst/metrics.h"

#include <arpa/inet.h>
#include <netinet/in.h>
#include <setjmp.h>
#include <stdarg.h>
#include <stddef.h>
#include <stdint.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <sys/socket.h>
#include <sys/time.h>
#include <unistd.h>

#include <cmocka.h>

typedef struct response {
    int status;
    char *head; /* status line and headers */
    char *body;
} response_t;

static void response_free(response_t *r)
{
    free(r->head);
    free(r->body);
}

/* One request over a fresh connection ("Connection: close"), read to EOF. */
static response_t request(int family, int port, const char *method, const char *path)
{
    int fd = socket(family, SOCK_STREAM, 0);
    assert_true(fd >= 0);
    struct timeval tv = {5, 0};
    setsockopt(fd, SOL_SOCKET, SO_RCVTIMEO, &tv, sizeof(tv));
    int rc;
    if (family == AF_INET6) {
        struct sockaddr_in6 a = {.sin6_family = AF_INET6, .sin6_port = htons((uint16_t)port)};
        a.sin6_addr = in6addr_loopback;
        rc = connect(fd, (struct sockaddr *)&a, sizeof(a));
    } else {
        struct sockaddr_in a = {.sin_family = AF_INET, .sin_port = htons((uint16_t)port)};
        a.sin_addr.s_addr = htonl(INADDR_LOOPBACK);
        rc = connect(fd, (struct sockaddr *)&a, sizeof(a));
    }
    assert_int_equal(rc, 0);
    char req[512];
    int n =
        snprintf(req, sizeof(req), "%s %s HTTP/1.1\r\nHost: localhost\r\nConnection: close\r\n\r\n",
                 method, path);
    assert_int_equal(write(fd, req, (size_t)n), n);

    size_t cap = 4096, len = 0;
    char *buf = malloc(cap);
    for (;;) {
        if (len + 1024 > cap)
            buf = realloc(buf, cap *= 2);
        ssize_t got = read(fd, buf + len, cap - len - 1);
        assert_true(got >= 0);
        if (got == 0)
            break;
        len += (size_t)got;
    }
    close(fd);
    buf[len] = '\0';

    response_t r = {0};
    assert_int_equal(sscanf(buf, "HTTP/1.1 %d", &r.status), 1);
    char *sep = strstr(buf, "\r\n\r\n");
    assert_non_null(sep);
    r.head = strndup(buf, (size_t)(sep - buf) + 2);
    r.body = strdup(sep + 4);
    free(buf);
    return r;
}

/* The value of header `name` (case-insensitive), NULL when absent; static buffer. */
static const char *header(const response_t *r, const char *name)
{
    static char value[256];
    size_t n = strlen(name);
    for (const char *p = strstr(r->head, "\r\n"); p && p[2]; p = strstr(p + 2, "\r\n")) {
        const char *line = p + 2;
        if (strncasecmp(line, name, n) == 0 && line[n] == ':') {
            const char *v = line + n + 1;
            v += strspn(v, " ");
            size_t vl = strcspn(v, "\r");
            snprintf(value, sizeof(value), "%.*s", (int)vl, v);
            return value;
        }
    }
    return NULL;
}

static http_t *start(const char *listen)
{
    char err[256] = "";
    http_t *h = http_start(listen, err, sizeof(err));
    if (!h)
        fail_msg("http_start(%s): %s", listen, err);
    assert_true(http_port(h) > 0);
    return h;
}

static int setup(void **state)
{
    (void)state;
    metrics_reset();
    return 0;
}

static void test_metrics_endpoint(void **state)
{
    (void)state;
    http_t *h = start("127.0.0.1:0");
    metrics_add(M_MESSAGES_CONSUMED, 17);
    response_t r = request(AF_INET, http_port(h), "GET", "/metrics");
    assert_int_equal(r.status, 200);
    assert_non_null(header(&r, "Content-Type"));
    assert_int_equal(strncmp(header(&r, "Content-Type"), "text/plain; version=0.0.4", 25), 0);
    assert_non_null(strstr(r.body, "\ngevinst_messages_consumed_total 17\n"));
    assert_non_null(strstr(r.body, "gevinst_build_info{version="));
    response_free(&r);

    /* A query string does not change the path. */
    r = request(AF_INET, http_port(h), "GET", "/metrics?x=1");
    assert_int_equal(r.status, 200);
    response_free(&r);

    /* HEAD: the headers of GET, no body. */
    r = request(AF_INET, http_port(h), "HEAD", "/metrics");
    assert_int_equal(r.status, 200);
    assert_string_equal(r.body, "");
    response_free(&r);
    http_stop(h);
}

static void expect_health(int port, int status, const char *body)
{
    response_t r = request(AF_INET, port, "GET", "/healthz");
    assert_int_equal(r.status, status);
    assert_string_equal(r.body, body);
    assert_int_equal(strncmp(header(&r, "Content-Type"), "text/plain", 10), 0);
    response_free(&r);
}

static void test_healthz_flips(void **state)
{
    (void)state;
    http_t *h = start("127.0.0.1:0");
    int port = http_port(h);
    expect_health(port, 503, "postgres unreachable\n");
    metrics_set(M_PG_CONNECTED, 1);
    expect_health(port, 503, "kafka unreachable\n");
    metrics_set(M_KAFKA_CONNECTED, 1);
    expect_health(port, 503, "goals file failed to load\n");
    metrics_set(M_GOALS_LOADED, 1);
    expect_health(port, 503, "not consuming yet\n");
    metrics_set(M_CONSUMING, 1);
    expect_health(port, 200, "ok\n");
    metrics_set(M_PG_CONNECTED, 0); /* PostgreSQL goes away... */
    expect_health(port, 503, "postgres unreachable\n");
    metrics_set(M_PG_CONNECTED, 1); /* ...and comes back */
    expect_health(port, 200, "ok\n");
    metrics_set(M_GOALS_LOADED, 0); /* a reload failed */
    expect_health(port, 503, "goals file failed to load\n");
    http_stop(h);
}

static void test_not_found_and_methods(void **state)
{
    (void)state;
    http_t *h = start("127.0.0.1:0");
    int port = http_port(h);
    static const char *paths[] = {"/", "/metrics/", "/healthz/x", "/favicon.ico", "/METRICS"};
    for (size_t i = 0; i < sizeof(paths) / sizeof(paths[0]); i++) {
        response_t r = request(AF_INET, port, "GET", paths[i]);
        assert_int_equal(r.status, 404);
        response_free(&r);
    }
    static const char *methods[] = {"POST", "PUT", "DELETE", "OPTIONS", "PATCH"};
    for (size_t i = 0; i < sizeof(methods) / sizeof(methods[0]); i++) {
        response_t r = request(AF_INET, port, methods[i], "/metrics");
        assert_int_equal(r.status, 405);
        assert_non_null(header(&r, "Allow"));
        assert_string_equal(header(&r, "Allow"), "GET, HEAD");
        response_free(&r);
    }
    http_stop(h);
}

static void test_bad_listen(void **state)
{
    (void)state;
    static const char *bad[] = {
        "",
        "127.0.0.1",
        ":9187",
        "127.0.0.1:",
        "127.0.0.1:x",
        "::1:9187",
        "[::1]9187",
        "[::1",
        "127.0.0.1:65536",
        "127.0.0.1:123456",
        "[]:9187",
        "127.0.0.1:-1",
        "no.such.host.invalid:9187",
    };
    for (size_t i = 0; i < sizeof(bad) / sizeof(bad[0]); i++) {
        char err[256] = "";
        http_t *h = http_start(bad[i], err, sizeof(err));
        if (h)
            fail_msg("accepted \"%s\"", bad[i]);
        assert_non_null(strstr(err, "http.listen"));
    }
}

static void test_port_in_use(void **state)
{
    (void)state;
    http_t *a = start("127.0.0.1:0");
    char listen[64], err[256] = "";
    snprintf(listen, sizeof(listen), "127.0.0.1:%d", http_port(a));
    http_t *b = http_start(listen, err, sizeof(err));
    assert_null(b);
    assert_non_null(strstr(err, "cannot listen"));
    http_stop(a);
    /* Free again once stopped. */
    b = start(listen);
    http_stop(b);
    http_stop(NULL);
}

static void test_ipv6(void **state)
{
    (void)state;
    int fd = socket(AF_INET6, SOCK_STREAM, 0);
    struct sockaddr_in6 a = {.sin6_family = AF_INET6};
    a.sin6_addr = in6addr_loopback;
    bool have_v6 = fd >= 0 && bind(fd, (struct sockaddr *)&a, sizeof(a)) == 0;
    if (fd >= 0)
        close(fd);
    if (!have_v6)
        skip(); /* no IPv6 loopback in this container */
    http_t *h = start("[::1]:0");
    response_t r = request(AF_INET6, http_port(h), "GET", "/healthz");
    assert_int_equal(r.status, 503);
    response_free(&r);
    http_stop(h);
}

int main(void)
{
    const struct CMUnitTest tests[] = {
        cmocka_unit_test_setup(test_metrics_endpoint, setup),
        cmocka_unit_test_setup(test_healthz_flips, setup),
        cmocka_unit_test_setup(test_not_found_and_methods, setup),
        cmocka_unit_test_setup(test_bad_listen, setup),
        cmocka_unit_test_setup(test_port_in_use, setup),
        cmocka_unit_test_setup(test_ipv6, setup),
    };
    return cmocka_run_group_tests(tests, NULL, NULL);
}
