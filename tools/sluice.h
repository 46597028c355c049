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

#endif
