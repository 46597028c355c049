/* The `sluice` command's subcommands. */
#ifndef SL_TOOLS_H
#define SL_TOOLS_H

/* Each takes argv with argv[0] = the subcommand name; returns the exit code:
 * 0 ok, 1 runtime failure, 2 usage or configuration error. */
int sl_cmd_run(int argc, char **argv);
int sl_cmd_validate(int argc, char **argv);
int sl_cmd_gen(int argc, char **argv);
int sl_cmd_bench(int argc, char **argv);
int sl_cmd_help(int argc, char **argv);
int sl_cmd_decode(int argc, char **argv);
int sl_cmd_savepoint(int argc, char **argv);
int sl_cmd_checkpoints(int argc, char **argv);

struct sl_job;
/* `sluice run --supervise`: runs the job as a child process and restarts it
 * from its latest checkpoint after a crash, per the job's restart: section. */
int sl_supervise(const struct sl_job *job, int argc, char **argv);

#endif
