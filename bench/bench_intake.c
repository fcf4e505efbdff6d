/* bench_intake: events/s of event_decode() (parse, validate, pseudonymise)
 * against a bare json_loadb()/json_decref() loop over the same messages.
 *
 * Usage: bench_intake [MESSAGES [RUNS]]   (defaults 200000 and 7)
 * See bench/README.md for method and figures. */
#include "gevinst/event.h"

#include <jansson.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <time.h>

typedef struct msg {
    char *buf;
    size_t len;
} msg_t;

static unsigned long long rng_state = 0x9e3779b97f4a7c15ULL;

static unsigned rnd(unsigned n)
{
    /* xorshift64*: reproducible across runs and machines. */
    rng_state ^= rng_state >> 12;
    rng_state ^= rng_state << 25;
    rng_state ^= rng_state >> 27;
    return (unsigned)((rng_state * 2685821657736338717ULL) >> 33) % n;
}

static const char *const units[] = {"phr-poliklinikk-ost",   "fysioterapi", "hjemmetj-midtbyen",
                                    "kirurgisk-poliklinikk", "legevakt",    "barn-og-unge"};
static const char *const channels[] = {"portal", "staff", "phone", "other"};
static const char *const appt_types[][2] = {
    {"appointment.booked", "booked"},       {"appointment.rescheduled", "booked"},
    {"appointment.cancelled", "cancelled"}, {"appointment.arrived", "arrived"},
    {"appointment.fulfilled", "fulfilled"}, {"appointment.noshow", "noshow"},
};
static const char *const items[] = {"vital-signs", "medication-list", "nursing-note", "care-plan"};
static const char *const actions[] = {"note.edit", "flowsheet.view", "inbasket.read", "order.sign"};

static void uuid(char out[37])
{
    snprintf(out, 37, "%08x-%04x-4%03x-8%03x-%06x%06x", rnd(0x7fffffff), rnd(0xffff), rnd(0xfff),
             rnd(0xfff), rnd(0xffffff), rnd(0xffffff));
}

static msg_t make_message(void)
{
    char buf[1024], id[37];
    unsigned pick = rnd(1000);
    uuid(id);
    int day = 1 + (int)rnd(28), hour = (int)rnd(24), min = (int)rnd(60);
    const char *unit = units[rnd(6)];

    if (pick < 20) {
        /* ~2% bad, a mix of reasons; the id goes between the two halves. */
        static const char *const bad[][2] = {
            {"{\"specversion\":\"1.0\",\"id\":\"",
             "\",\"source\":\"helseplattformen/prod\",\"type\":\"appointment.booked\","
             "\"time\":\"2025-02-30T08:12:44Z\",\"data\":{}}"},
            {"{\"specversion\":\"1.0\",\"id\":\"",
             "\",\"source\":\"helseplattformen/prod\",\"type\":\"appointment.booked\","
             "\"time\":\"2025-02-03T08:12:44Z\",\"data\":{\"unit_id\":\"fysioterapi\"}}"},
            {"{\"specversion\":\"0.3\",\"id\":\"", "\"}"},
            {"{\"specversion\":\"1.0\",\"id\":\"", "\",\"source\":\"x\",\"type\":\"lab.result\"}"},
            {"{\"specversion\":\"1.0\",\"id\":\"",
             "\",\"source\":\"x\",\"type\":\"audit.access\",\"time\":\"2025-02-03T08:12:44Z\","
             "\"data\":{\"user_id\":\"U-1\",\"unit_id\":\"\",\"action\":\"note.edit\"}}"},
            {"{\"specversion\":\"1.0\",\"id\":\"", "\",\"source\":\"x\",\"type\":"},
        };
        unsigned b = rnd(6);
        snprintf(buf, sizeof(buf), "%s%s%s", bad[b][0], id, bad[b][1]);
    } else if (pick < 820) {
        unsigned t = rnd(6);
        int n = snprintf(
            buf, sizeof(buf),
            "{\"specversion\":\"1.0\",\"id\":\"%s\",\"source\":\"helseplattformen/prod\","
            "\"type\":\"%s\",\"time\":\"2025-02-%02dT%02d:%02d:44.%03uZ\","
            "\"datacontenttype\":\"application/json\",\"data\":{\"appointment_id\":\"A-%06u\","
            "\"unit_id\":\"%s\",\"start\":\"2025-03-%02dT%02d:30:00+01:00\","
            "\"booked_at\":\"2025-02-%02dT09:12:44+01:00\",\"booking_channel\":\"%s\","
            "\"status\":\"%s\"",
            id, appt_types[t][0], day, hour, min, rnd(1000), rnd(1000000), unit, day,
            8 + (int)rnd(8), day, channels[rnd(4)], appt_types[t][1]);
        if (t == 2)
            n += snprintf(buf + n, sizeof(buf) - (size_t)n, ",\"cancelled_by\":\"%s\"",
                          rnd(2) ? "patient" : "staff");
        snprintf(buf + n, sizeof(buf) - (size_t)n, ",\"patient_id\":\"P-%07u\"}}", rnd(10000000));
    } else if (pick < 940) {
        snprintf(buf, sizeof(buf),
                 "{\"specversion\":\"1.0\",\"id\":\"%s\",\"source\":\"helseplattformen/prod\","
                 "\"type\":\"journal.entry-recorded\",\"time\":\"2025-02-%02dT%02d:%02d:30+01:00\","
                 "\"data\":{\"entry_id\":\"J-%07u\",\"unit_id\":\"%s\",\"author_id\":\"U-%04u\","
                 "\"patient_id\":\"P-%07u\",\"item_type\":\"%s\",\"fingerprint\":\"%08x%08x\","
                 "\"source_system\":\"gerica\",\"duration_s\":%u}}",
                 id, day, hour, min, rnd(10000000), unit, rnd(10000), rnd(10000000), items[rnd(4)],
                 rnd(0x7fffffff), rnd(0x7fffffff), rnd(900));
    } else {
        snprintf(buf, sizeof(buf),
                 "{\"specversion\":\"1.0\",\"id\":\"%s\",\"source\":\"helseplattformen/prod\","
                 "\"type\":\"audit.access\",\"time\":\"2025-02-%02dT%02d:%02d:07+01:00\","
                 "\"data\":{\"user_id\":\"U-%04u\",\"unit_id\":\"%s\",\"action\":\"%s\","
                 "\"patient_id\":\"P-%07u\",\"workstation\":\"WS-%02u\"}}",
                 id, day, hour, min, rnd(10000), unit, actions[rnd(4)], rnd(10000000), rnd(100));
    }
    msg_t m = {strdup(buf), strlen(buf)};
    return m;
}

static double now_s(clockid_t clock)
{
    struct timespec ts;
    clock_gettime(clock, &ts);
    return (double)ts.tv_sec + (double)ts.tv_nsec / 1e9;
}

static int cmp_double(const void *a, const void *b)
{
    double x = *(const double *)a, y = *(const double *)b;
    return (x > y) - (x < y);
}

typedef struct counts {
    long events, rejects;
    unsigned long long check; /* keeps the work observable */
} counts_t;

static void on_event(void *opaque, const event_t *ev, int index)
{
    counts_t *c = opaque;
    (void)index;
    c->events++;
    c->check += (unsigned char)ev->unit_id[0] + (unsigned long long)ev->time_us;
}

static void on_reject(void *opaque, const event_reject_t *rej, int index)
{
    counts_t *c = opaque;
    (void)index;
    c->rejects++;
    c->check += (unsigned)rej->reason;
}

static double median(double *v, int n)
{
    qsort(v, (size_t)n, sizeof(*v), cmp_double);
    return n % 2 ? v[n / 2] : (v[n / 2 - 1] + v[n / 2]) / 2;
}

int main(int argc, char **argv)
{
    int nmsg = argc > 1 ? atoi(argv[1]) : 200000;
    int runs = argc > 2 ? atoi(argv[2]) : 7;
    if (nmsg <= 0 || runs <= 0 || runs > 100) {
        fprintf(stderr, "usage: bench_intake [MESSAGES [RUNS<=100]]\n");
        return 2;
    }
    msg_t *msgs = malloc((size_t)nmsg * sizeof(*msgs));
    size_t bytes = 0;
    for (int i = 0; i < nmsg; i++) {
        msgs[i] = make_message();
        bytes += msgs[i].len;
    }
    printf("messages: %d, mean %.0f bytes, %d runs, median reported\n", nmsg, (double)bytes / nmsg,
           runs);

    char err[256];
    static const unsigned char key[] = "bench-key-0123456789abcdef0123456789abcdef";
    pseudo_t *p = pseudo_new(key, sizeof(key) - 1, err, sizeof(err));
    event_decoder_t *d = p ? event_decoder_new(p, 0, err, sizeof(err)) : NULL;
    if (!d) {
        fprintf(stderr, "bench_intake: %s\n", err);
        return 1;
    }

    /* Runs alternate (b), (a), (b), (a)... so both see the same machine; the
     * hooks installed by event_decoder_new() fall back to malloc for (b). */
    double bare[100], dec[100], bare_cpu[100], dec_cpu[100];
    counts_t c = {0, 0, 0};
    event_sink_t sink = {on_event, on_reject, &c};
    long parsed = 0;
    for (int r = 0; r < runs; r++) {
        double t0 = now_s(CLOCK_MONOTONIC), c0 = now_s(CLOCK_THREAD_CPUTIME_ID);
        parsed = 0;
        for (int i = 0; i < nmsg; i++) {
            json_error_t e;
            json_t *j = json_loadb(msgs[i].buf, msgs[i].len, 0, &e);
            parsed += j != NULL;
            json_decref(j);
        }
        bare[r] = now_s(CLOCK_MONOTONIC) - t0;
        bare_cpu[r] = now_s(CLOCK_THREAD_CPUTIME_ID) - c0;

        c.events = c.rejects = 0;
        t0 = now_s(CLOCK_MONOTONIC);
        c0 = now_s(CLOCK_THREAD_CPUTIME_ID);
        for (int i = 0; i < nmsg; i++)
            event_decode(d, msgs[i].buf, msgs[i].len, &sink);
        dec[r] = now_s(CLOCK_MONOTONIC) - t0;
        dec_cpu[r] = now_s(CLOCK_THREAD_CPUTIME_ID) - c0;
    }
    printf("bare json_loadb: %ld of %d parsed\n", parsed, nmsg);
    printf("decoder: %ld events, %ld rejected (%.1f%%)\n", c.events, c.rejects,
           100.0 * (double)c.rejects / nmsg);

    double tbc = median(bare_cpu, runs), tdc = median(dec_cpu, runs);
    printf("thread CPU time (less noisy on a shared machine):\n");
    printf("  (a) event_decode:      %10.0f events/s  (%.2f us/event)\n", nmsg / tdc,
           tdc * 1e6 / nmsg);
    printf("  (b) bare json_loadb:   %10.0f events/s  (%.2f us/event)\n", nmsg / tbc,
           tbc * 1e6 / nmsg);
    printf("  ratio (a)/(b):         %10.1f %%\n", 100.0 * tbc / tdc);
    printf("CLOCK_MONOTONIC:\n");
    double tb = median(bare, runs), td = median(dec, runs);
    printf("  (a) event_decode:      %10.0f events/s  (%.2f us/event)\n", nmsg / td,
           td * 1e6 / nmsg);
    printf("  (b) bare json_loadb:   %10.0f events/s  (%.2f us/event)\n", nmsg / tb,
           tb * 1e6 / nmsg);
    printf("  ratio (a)/(b):         %10.1f %%\n", 100.0 * tb / td);
    printf("(check %llu)\n", c.check);

    event_decoder_destroy(d);
    pseudo_destroy(p);
    for (int i = 0; i < nmsg; i++)
        free(msgs[i].buf);
    free(msgs);
    return 0;
}
