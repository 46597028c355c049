/* kafka-mock: librdkafka's in-process mock cluster as a test broker. Prints the bootstrap
 * servers as the first line of stdout, then answers one command per stdin line with
 * "ok" or "error: ..." (see usage). Used by the Kafka integration tests and benchmarks. */
#include <errno.h>
#include <pthread.h>
#include <signal.h>
#include <stdbool.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <unistd.h>

#include <librdkafka/rdkafka.h>
#include <librdkafka/rdkafka_mock.h>

#define MOCK_BROKERS_MAX 32
#define MOCK_PARTITIONS_MAX 10000
#define MOCK_LINE_MAX 1024
#define MOCK_ERRORS_MAX 1000

static const char mock_usage[] =
    "usage: kafka-mock [--brokers N] [--topic NAME:PARTITIONS]...\n"
    "\n"
    "Starts librdkafka's mock Kafka cluster on 127.0.0.1 and prints its bootstrap\n"
    "servers as the first line of stdout. Then reads commands on stdin, one per line,\n"
    "and answers each with \"ok\" or \"error: REASON\":\n"
    "  down BROKER               disconnect broker BROKER (1..N, -1 = all), refuse connections\n"
    "  up BROKER                 accept connections again\n"
    "  rtt BROKER MS             add MS milliseconds of round-trip time\n"
    "  errors APIKEY CODE [COUNT]  fail the next COUNT (default 1) requests of APIKEY\n"
    "                            (number or name: Produce, Fetch, Metadata, ...) with CODE\n"
    "                            (number or name: NOT_LEADER_FOR_PARTITION, _TRANSPORT, ...)\n"
    "  topic NAME:PARTITIONS     create a topic\n"
    "  quit                      stop (so do EOF and SIGTERM)\n"
    "\n"
    "Limits of the mock (librdkafka 2.0.2): about 5 MiB kept per partition (older\n"
    "records are dropped), no restart on the same ports, group rebalances wait for\n"
    "session.timeout.ms, transactions are not enforced.\n";

static volatile sig_atomic_t mock_stop;

static void mock_on_signal(int sig)
{
	(void)sig;
	mock_stop = 1;
}

/* Parses a whole decimal integer in [lo, hi]; false on anything else. */
static bool mock_parse_int(const char *s, long lo, long hi, long *out)
{
	char *end;
	errno = 0;
	long v = strtol(s, &end, 10);
	if (errno != 0 || end == s || *end != '\0' || v < lo || v > hi)
		return false;
	*out = v;
	return true;
}

static const struct {
	const char *name;
	int16_t key;
} mock_api_keys[] = {
    {"Produce", 0},	     {"Fetch", 1},
    {"ListOffsets", 2},	     {"Metadata", 3},
    {"OffsetCommit", 8},     {"OffsetFetch", 9},
    {"FindCoordinator", 10}, {"JoinGroup", 11},
    {"Heartbeat", 12},	     {"LeaveGroup", 13},
    {"SyncGroup", 14},	     {"DescribeGroups", 15},
    {"ListGroups", 16},	     {"ApiVersions", 18},
    {"InitProducerId", 22},  {"AddPartitionsToTxn", 24},
    {"AddOffsetsToTxn", 25}, {"EndTxn", 26},
    {"TxnOffsetCommit", 28},
};

static bool mock_parse_api_key(const char *s, int16_t *out)
{
	long v;
	if (mock_parse_int(s, 0, 32767, &v)) {
		*out = (int16_t)v;
		return true;
	}
	for (size_t i = 0; i < sizeof mock_api_keys / sizeof mock_api_keys[0]; i++) {
		if (strcasecmp(s, mock_api_keys[i].name) == 0) {
			*out = mock_api_keys[i].key;
			return true;
		}
	}
	return false;
}

/* Error codes by number or by librdkafka's name (with or without RD_KAFKA_RESP_ERR_). */
static bool mock_parse_err(const char *s, rd_kafka_resp_err_t *out)
{
	long v;
	if (mock_parse_int(s, -200, 1000, &v)) {
		*out = (rd_kafka_resp_err_t)v;
		return true;
	}
	if (strncmp(s, "RD_KAFKA_RESP_ERR_", 18) == 0)
		s += 18;
	const struct rd_kafka_err_desc *descs;
	size_t n;
	rd_kafka_get_err_descs(&descs, &n);
	for (size_t i = 0; i < n; i++) {
		if (descs[i].name && strcasecmp(s, descs[i].name) == 0) {
			*out = descs[i].code;
			return true;
		}
	}
	return false;
}

/* "NAME:PARTITIONS" → topic created; writes a reason to err on failure. */
static bool mock_topic(rd_kafka_mock_cluster_t *mc, const char *spec, char *err, size_t err_size)
{
	const char *colon = strrchr(spec, ':');
	long n;
	if (!colon || colon == spec || (size_t)(colon - spec) > 249 ||
	    !mock_parse_int(colon + 1, 1, MOCK_PARTITIONS_MAX, &n)) {
		snprintf(err, err_size, "expected NAME:PARTITIONS (1..%d), got '%s'",
			 MOCK_PARTITIONS_MAX, spec);
		return false;
	}
	char name[256];
	memcpy(name, spec, (size_t)(colon - spec));
	name[colon - spec] = '\0';
	rd_kafka_resp_err_t e = rd_kafka_mock_topic_create(mc, name, (int)n, 1);
	if (e) {
		snprintf(err, err_size, "topic %s: %s", name, rd_kafka_err2str(e));
		return false;
	}
	return true;
}

/* Runs one command line; false with a reason in err when it failed. */
static bool mock_command(rd_kafka_mock_cluster_t *mc, int n_brokers, char *line, char *err,
			 size_t err_size, bool *quit)
{
	char *argv[5];
	int argc = 0;
	for (char *save = NULL, *tok = strtok_r(line, " \t", &save); tok;
	     tok = strtok_r(NULL, " \t", &save)) {
		if (argc == 5) {
			snprintf(err, err_size, "too many words");
			return false;
		}
		argv[argc++] = tok;
	}
	if (argc == 0) {
		snprintf(err, err_size, "empty command");
		return false;
	}
	long broker = 0, v = 0;
	const char *cmd = argv[0];
	bool needs_broker = !strcmp(cmd, "down") || !strcmp(cmd, "up") || !strcmp(cmd, "rtt");
	if (needs_broker) {
		int want = !strcmp(cmd, "rtt") ? 3 : 2;
		if (argc != want) {
			snprintf(err, err_size, "usage: %s BROKER%s", cmd, want == 3 ? " MS" : "");
			return false;
		}
		if (!mock_parse_int(argv[1], -1, n_brokers, &broker) || broker == 0) {
			snprintf(err, err_size, "broker must be 1..%d or -1, got '%s'", n_brokers,
				 argv[1]);
			return false;
		}
	}
	rd_kafka_resp_err_t e = RD_KAFKA_RESP_ERR_NO_ERROR;
	if (!strcmp(cmd, "quit")) {
		*quit = true;
	} else if (!strcmp(cmd, "down")) {
		e = rd_kafka_mock_broker_set_down(mc, (int32_t)broker);
	} else if (!strcmp(cmd, "up")) {
		e = rd_kafka_mock_broker_set_up(mc, (int32_t)broker);
	} else if (!strcmp(cmd, "rtt")) {
		if (!mock_parse_int(argv[2], 0, 600000, &v)) {
			snprintf(err, err_size, "MS must be 0..600000, got '%s'", argv[2]);
			return false;
		}
		e = rd_kafka_mock_broker_set_rtt(mc, (int32_t)broker, (int)v);
	} else if (!strcmp(cmd, "errors")) {
		int16_t key;
		rd_kafka_resp_err_t code;
		long count = 1;
		if (argc < 3 || argc > 4) {
			snprintf(err, err_size, "usage: errors APIKEY CODE [COUNT]");
			return false;
		}
		if (!mock_parse_api_key(argv[1], &key)) {
			snprintf(err, err_size, "unknown api key '%s'", argv[1]);
			return false;
		}
		if (!mock_parse_err(argv[2], &code)) {
			snprintf(err, err_size, "unknown error code '%s'", argv[2]);
			return false;
		}
		if (argc == 4 && !mock_parse_int(argv[3], 1, MOCK_ERRORS_MAX, &count)) {
			snprintf(err, err_size, "COUNT must be 1..%d, got '%s'", MOCK_ERRORS_MAX,
				 argv[3]);
			return false;
		}
		rd_kafka_resp_err_t codes[MOCK_ERRORS_MAX];
		for (long i = 0; i < count; i++)
			codes[i] = code;
		rd_kafka_mock_push_request_errors_array(mc, key, (size_t)count, codes);
	} else if (!strcmp(cmd, "topic")) {
		if (argc != 2) {
			snprintf(err, err_size, "usage: topic NAME:PARTITIONS");
			return false;
		}
		return mock_topic(mc, argv[1], err, err_size);
	} else {
		snprintf(err, err_size, "unknown command '%s'", cmd);
		return false;
	}
	if (e) {
		snprintf(err, err_size, "%s", rd_kafka_err2str(e));
		return false;
	}
	return true;
}

int main(int argc, char **argv)
{
	long n_brokers = 1;
	int rc = 1;
	char err[512];

	for (int i = 1; i < argc; i++) {
		if (!strcmp(argv[i], "-h") || !strcmp(argv[i], "--help")) {
			fputs(mock_usage, stdout);
			return 0;
		}
		if (!strcmp(argv[i], "--brokers") && i + 1 < argc) {
			if (!mock_parse_int(argv[++i], 1, MOCK_BROKERS_MAX, &n_brokers)) {
				fprintf(stderr, "kafka-mock: --brokers must be 1..%d\n",
					MOCK_BROKERS_MAX);
				return 2;
			}
		} else if (!strcmp(argv[i], "--topic") && i + 1 < argc) {
			i++; /* created once the cluster exists */
		} else {
			fprintf(stderr, "kafka-mock: unknown argument '%s'\n%s", argv[i],
				mock_usage);
			return 2;
		}
	}

	struct sigaction sa = {.sa_handler = mock_on_signal}; /* no SA_RESTART: EINTR ends reads */
	sigemptyset(&sa.sa_mask);
	sigaction(SIGTERM, &sa, NULL);
	sigaction(SIGINT, &sa, NULL);
	signal(SIGPIPE, SIG_IGN);
	/* librdkafka's threads inherit a mask without SIGTERM/SIGINT, so the
	 * signal lands on this thread and interrupts its read of stdin. */
	sigset_t stop_sigs;
	sigemptyset(&stop_sigs);
	sigaddset(&stop_sigs, SIGTERM);
	sigaddset(&stop_sigs, SIGINT);
	pthread_sigmask(SIG_BLOCK, &stop_sigs, NULL);

	rd_kafka_conf_t *conf = rd_kafka_conf_new();
	if (rd_kafka_conf_set(conf, "log_level", "3", err, sizeof err) != RD_KAFKA_CONF_OK) {
		fprintf(stderr, "kafka-mock: %s\n", err);
		rd_kafka_conf_destroy(conf);
		return 1;
	}
	rd_kafka_t *rk = rd_kafka_new(RD_KAFKA_PRODUCER, conf, err, sizeof err);
	if (!rk) {
		fprintf(stderr, "kafka-mock: %s\n", err);
		rd_kafka_conf_destroy(conf);
		return 1;
	}
	rd_kafka_mock_cluster_t *mc = rd_kafka_mock_cluster_new(rk, (int)n_brokers);
	if (!mc) {
		fprintf(stderr, "kafka-mock: could not start the mock cluster\n");
		goto out_destroy_rk;
	}
	for (int i = 1; i < argc; i++) {
		if (!strcmp(argv[i], "--topic")) {
			if (!mock_topic(mc, argv[++i], err, sizeof err)) {
				fprintf(stderr, "kafka-mock: --topic: %s\n", err);
				goto out_destroy_mc;
			}
		} else if (!strcmp(argv[i], "--brokers")) {
			i++;
		}
	}
	pthread_sigmask(SIG_UNBLOCK, &stop_sigs, NULL);
	printf("%s\n", rd_kafka_mock_cluster_bootstraps(mc));
	fflush(stdout);

	char line[MOCK_LINE_MAX];
	bool quit = false;
	while (!quit && !mock_stop) {
		if (!fgets(line, sizeof line, stdin)) {
			if (ferror(stdin) && errno == EINTR && !mock_stop) {
				clearerr(stdin);
				continue;
			}
			break; /* EOF or a signal */
		}
		size_t len = strlen(line);
		if (len == sizeof line - 1 && line[len - 1] != '\n') {
			int c;
			while ((c = getchar()) != EOF && c != '\n')
				;
			printf("error: line longer than %d bytes\n", MOCK_LINE_MAX - 2);
		} else {
			while (len > 0 && (line[len - 1] == '\n' || line[len - 1] == '\r' ||
					   line[len - 1] == ' '))
				line[--len] = '\0';
			if (mock_command(mc, (int)n_brokers, line, err, sizeof err, &quit))
				printf("ok\n");
			else
				printf("error: %s\n", err);
		}
		fflush(stdout);
	}
	rc = 0;

out_destroy_mc:
	rd_kafka_mock_cluster_destroy(mc);
out_destroy_rk:
	rd_kafka_destroy(rk);
	return rc;
}
