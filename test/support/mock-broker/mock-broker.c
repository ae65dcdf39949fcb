/*
 * mock-broker: a throwaway Kafka cluster for tests, built on librdkafka's
 * in-process mock cluster (rdkafka_mock.h, shipped by Debian's
 * librdkafka-dev). It lets the test suite talk real Kafka protocol to
 * real client code without a JVM, ZooKeeper or Docker.
 *
 * Usage: mock-broker [BROKERS]      (default 3)
 *
 * Protocol (line based, driven by test/support/mock-broker.ts):
 *   stdout, first line:  {"bootstrap_servers":"127.0.0.1:P1,..."}
 *   then one JSON answer line per stdin command:
 *     topic NAME PARTITIONS [REPLICATION]   create a topic
 *     broker_down ID | broker_up ID         drop / accept connections
 *     rtt ID MS                             add latency to a broker
 *     leader TOPIC PARTITION ID             move a partition leader
 *     coordinator group|transaction KEY ID  pin a coordinator
 *     errors APIKEY ERR [ERR...]            fail the next requests of a
 *                                           type (e.g. 0 Produce, 1 Fetch,
 *                                           8 OffsetCommit) with these
 *                                           Kafka error codes, in order
 *     quit                                  (or stdin EOF) shut down
 *   answers: {"ok":true} or {"ok":false,"error":"..."}
 *
 * Env: MOCK_BROKER_DEBUG=mock,protocol  librdkafka debug contexts (stderr).
 *
 * stdout carries only protocol lines; librdkafka's own logging goes to
 * stderr (its default logger), so the driver can parse stdout blindly.
 *
 * Build: cc -O2 -o mock-broker mock-broker.c -lrdkafka
 */
#include <errno.h>
#include <fcntl.h>
#include <poll.h>
#include <signal.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <unistd.h>

#include <librdkafka/rdkafka.h>
#include <librdkafka/rdkafka_mock.h>

#define MAX_LINE 4096

/* Self-pipe: a signal may land on any of librdkafka's threads, so the
 * handler only pokes this pipe and the main loop does the shutdown. */
static int signal_pipe[2] = {-1, -1};

static void on_signal(int sig) {
        int saved = errno;
        unsigned char b = (unsigned char)sig;
        ssize_t r       = write(signal_pipe[1], &b, 1);
        (void)r;
        errno = saved;
}

/* Writes a JSON string literal; error texts come from librdkafka and the
 * command line, so quotes and control characters must be escaped. */
static void print_json_string(const char *s) {
        putchar('"');
        for (; *s; s++) {
                unsigned char c = (unsigned char)*s;
                if (c == '"' || c == '\\')
                        printf("\\%c", c);
                else if (c < 0x20)
                        printf("\\u%04x", c);
                else
                        putchar(c);
        }
        putchar('"');
}

static void reply_ok(void) {
        fputs("{\"ok\":true}\n", stdout);
        fflush(stdout);
}

static void reply_error(const char *msg) {
        fputs("{\"ok\":false,\"error\":", stdout);
        print_json_string(msg);
        fputs("}\n", stdout);
        fflush(stdout);
}

static void reply_err(rd_kafka_resp_err_t err) {
        if (err == RD_KAFKA_RESP_ERR_NO_ERROR)
                reply_ok();
        else
                reply_error(rd_kafka_err2str(err));
}

/* Strict integer parsing so a typo in a test fails loudly instead of
 * silently meaning 0. */
static int parse_int(const char *s, long *out) {
        char *end;
        if (!s || !*s)
                return 0;
        errno = 0;
        *out  = strtol(s, &end, 10);
        return errno == 0 && *end == '\0';
}

static void handle_command(rd_kafka_mock_cluster_t *mc,
                           char *line,
                           int broker_cnt,
                           int *quit) {
        char *argv[34];
        int argc = 0;
        char *save = NULL;
        char *tok;
        long a, b, c;

        for (tok = strtok_r(line, " \t\r", &save); tok && argc < 34;
             tok = strtok_r(NULL, " \t\r", &save))
                argv[argc++] = tok;

        if (argc == 0) {
                reply_error("empty command");
                return;
        }

        if (!strcmp(argv[0], "quit")) {
                reply_ok();
                *quit = 1;

        } else if (!strcmp(argv[0], "topic")) {
                /* Replication defaults to the broker count (max 3) like the
                 * mock's own auto-created topics. */
                long repl = broker_cnt < 3 ? broker_cnt : 3;
                if (argc < 3 || argc > 4 || !parse_int(argv[2], &a) ||
                    a < 1 || (argc == 4 && (!parse_int(argv[3], &repl) ||
                                            repl < 1 || repl > broker_cnt))) {
                        reply_error(
                            "usage: topic NAME PARTITIONS [REPLICATION]");
                        return;
                }
                reply_err(rd_kafka_mock_topic_create(mc, argv[1], (int)a,
                                                     (int)repl));

        } else if (!strcmp(argv[0], "broker_down") ||
                   !strcmp(argv[0], "broker_up")) {
                if (argc != 2 || !parse_int(argv[1], &a)) {
                        reply_error("usage: broker_down|broker_up ID");
                        return;
                }
                reply_err(!strcmp(argv[0], "broker_down")
                              ? rd_kafka_mock_broker_set_down(mc, (int32_t)a)
                              : rd_kafka_mock_broker_set_up(mc, (int32_t)a));

        } else if (!strcmp(argv[0], "rtt")) {
                if (argc != 3 || !parse_int(argv[1], &a) ||
                    !parse_int(argv[2], &b) || b < 0) {
                        reply_error("usage: rtt ID MS");
                        return;
                }
                reply_err(
                    rd_kafka_mock_broker_set_rtt(mc, (int32_t)a, (int)b));

        } else if (!strcmp(argv[0], "leader")) {
                if (argc != 4 || !parse_int(argv[2], &a) ||
                    !parse_int(argv[3], &b)) {
                        reply_error("usage: leader TOPIC PARTITION ID");
                        return;
                }
                reply_err(rd_kafka_mock_partition_set_leader(
                    mc, argv[1], (int32_t)a, (int32_t)b));

        } else if (!strcmp(argv[0], "coordinator")) {
                if (argc != 4 || !parse_int(argv[3], &c) ||
                    (strcmp(argv[1], "group") &&
                     strcmp(argv[1], "transaction"))) {
                        reply_error(
                            "usage: coordinator group|transaction KEY ID");
                        return;
                }
                reply_err(rd_kafka_mock_coordinator_set(mc, argv[1], argv[2],
                                                        (int32_t)c));

        } else if (!strcmp(argv[0], "errors")) {
                rd_kafka_resp_err_t errs[32];
                int i;
                if (argc < 3 || !parse_int(argv[1], &a) || a < 0 ||
                    a > 32767) {
                        reply_error("usage: errors APIKEY ERR [ERR...] (32 at most)");
                        return;
                }
                for (i = 2; i < argc; i++) {
                        if (!parse_int(argv[i], &b)) {
                                reply_error("errors: ERR must be an integer error code");
                                return;
                        }
                        errs[i - 2] = (rd_kafka_resp_err_t)b;
                }
                rd_kafka_mock_push_request_errors_array(mc, (int16_t)a,
                                                        (size_t)(argc - 2), errs);
                reply_ok();

        } else {
                reply_error("unknown command");
        }
}

int main(int argc, char **argv) {
        long broker_cnt = 3;
        char errstr[512];
        rd_kafka_conf_t *conf;
        rd_kafka_t *rk;
        rd_kafka_mock_cluster_t *mc;
        char buf[MAX_LINE];
        size_t used = 0;
        int quit    = 0;
        struct sigaction sa;

        if (argc > 2 || (argc == 2 && (!parse_int(argv[1], &broker_cnt) ||
                                       broker_cnt < 1 || broker_cnt > 64))) {
                fprintf(stderr, "usage: %s [BROKERS(1-64)]\n", argv[0]);
                return 2;
        }

        if (pipe(signal_pipe) == -1) {
                perror("pipe");
                return 1;
        }
        fcntl(signal_pipe[1], F_SETFL, O_NONBLOCK);
        memset(&sa, 0, sizeof(sa));
        sa.sa_handler = on_signal;
        sigemptyset(&sa.sa_mask);
        sigaction(SIGTERM, &sa, NULL);
        sigaction(SIGINT, &sa, NULL);
        /* A vanished parent must surface as a write error, not kill us
         * before the cluster is torn down. */
        signal(SIGPIPE, SIG_IGN);

        /* The handle only hosts the mock cluster; it never produces.
         * log_level 4 hides its "no bootstrap.servers" notice but keeps
         * warnings; MOCK_BROKER_DEBUG=mock,protocol,... turns on tracing. */
        conf = rd_kafka_conf_new();
        if (rd_kafka_conf_set(conf, "log_level", "4", errstr,
                              sizeof(errstr)) != RD_KAFKA_CONF_OK ||
            (getenv("MOCK_BROKER_DEBUG") &&
             (rd_kafka_conf_set(conf, "log_level", "7", errstr,
                                sizeof(errstr)) != RD_KAFKA_CONF_OK ||
              rd_kafka_conf_set(conf, "debug", getenv("MOCK_BROKER_DEBUG"),
                                errstr, sizeof(errstr)) != RD_KAFKA_CONF_OK))) {
                fprintf(stderr, "mock-broker: bad config: %s\n", errstr);
                rd_kafka_conf_destroy(conf);
                return 1;
        }
        rk   = rd_kafka_new(RD_KAFKA_PRODUCER, conf, errstr, sizeof(errstr));
        if (!rk) {
                fprintf(stderr, "mock-broker: rd_kafka_new failed: %s\n",
                        errstr);
                return 1;
        }

        mc = rd_kafka_mock_cluster_new(rk, (int)broker_cnt);
        if (!mc) {
                fprintf(stderr, "mock-broker: failed to create cluster\n");
                rd_kafka_destroy(rk);
                return 1;
        }

        fputs("{\"bootstrap_servers\":", stdout);
        print_json_string(rd_kafka_mock_cluster_bootstraps(mc));
        fputs("}\n", stdout);
        fflush(stdout);

        while (!quit) {
                struct pollfd fds[2] = {{STDIN_FILENO, POLLIN, 0},
                                        {signal_pipe[0], POLLIN, 0}};
                ssize_t n;
                char *nl;

                if (poll(fds, 2, -1) == -1) {
                        if (errno == EINTR)
                                continue;
                        perror("poll");
                        break;
                }
                if (fds[1].revents)
                        break; /* SIGTERM/SIGINT */
                if (!fds[0].revents)
                        continue;

                n = read(STDIN_FILENO, buf + used, sizeof(buf) - 1 - used);
                if (n == -1 && errno == EINTR)
                        continue;
                if (n <= 0)
                        break; /* EOF: the driver is gone */
                used += (size_t)n;
                buf[used] = '\0';

                /* Raw read() instead of stdio so poll() never misses lines
                 * already sitting in a FILE buffer. */
                while (!quit && (nl = memchr(buf, '\n', used))) {
                        size_t len = (size_t)(nl - buf) + 1;
                        *nl        = '\0';
                        handle_command(mc, buf, (int)broker_cnt, &quit);
                        memmove(buf, buf + len, used - len);
                        used -= len;
                        buf[used] = '\0';
                }
                if (used == sizeof(buf) - 1) {
                        reply_error("line too long");
                        used = 0;
                }
        }

        rd_kafka_mock_cluster_destroy(mc);
        rd_kafka_destroy(rk);
        return 0;
}
