/* The `sluice` command: run, validate, gen, bench, help. */
#include <stdio.h>
#include <string.h>

#include "tools/sluice.h"

static void usage(FILE *f)
{
	fputs("usage: sluice <command> [options]\n"
	      "\n"
	      "  run JOB.yaml [--workers N] [--set key.path=value ...] [--summary-json FILE]\n"
	      "               [--restore latest|PATH] [--supervise]\n"
	      "               run a job until its input ends (or SIGINT/SIGTERM)\n"
	      "  savepoint --job JOB.yaml [--stop]   savepoint of the running job; prints its path\n"
	      "  checkpoints --job JOB.yaml [--json] list checkpoints and savepoints\n"
	      "  validate JOB.yaml [--set ...]   check a job file, print its graph\n"
	      "  gen customer-cdc --records N --keys K --seed S [--bad-ratio R]\n"
	      "               write generated change events (debezium-json) to stdout\n"
	      "  decode --format F --schema 'id INT, ...' [--option k=v ...] FILE\n"
	      "               print what a format makes of each message, in Flink's row notation\n"
	      "  bench [--records N] [--workers LIST] [--only NAMES]\n"
	      "               run the reference benchmarks, one JSON line per run\n"
	      "  help [PLUGIN]   list sources, steps and sinks, or one plugin's options\n"
	      "  version\n",
	      f);
}

int main(int argc, char **argv)
{
	if (argc < 2) {
		usage(stderr);
		return 2;
	}
	const char *cmd = argv[1];
	if (strcmp(cmd, "run") == 0)
		return sl_cmd_run(argc - 1, argv + 1);
	if (strcmp(cmd, "validate") == 0)
		return sl_cmd_validate(argc - 1, argv + 1);
	if (strcmp(cmd, "gen") == 0)
		return sl_cmd_gen(argc - 1, argv + 1);
	if (strcmp(cmd, "bench") == 0)
		return sl_cmd_bench(argc - 1, argv + 1);
	if (strcmp(cmd, "decode") == 0)
		return sl_cmd_decode(argc - 1, argv + 1);
	if (strcmp(cmd, "savepoint") == 0)
		return sl_cmd_savepoint(argc - 1, argv + 1);
	if (strcmp(cmd, "checkpoints") == 0)
		return sl_cmd_checkpoints(argc - 1, argv + 1);
	if (strcmp(cmd, "help") == 0)
		return sl_cmd_help(argc - 1, argv + 1);
	if (strcmp(cmd, "version") == 0 || strcmp(cmd, "--version") == 0) {
		printf("sluice %s\n", SLUICE_VERSION);
		return 0;
	}
	if (strcmp(cmd, "--help") == 0 || strcmp(cmd, "-h") == 0) {
		usage(stdout);
		return 0;
	}
	fprintf(stderr, "sluice: unknown command '%s'\n\n", cmd);
	usage(stderr);
	return 2;
}
