/* `sluice help`: the plugins and their options, from the options tables. */
#include <stdio.h>
#include <string.h>

#include "core/checkpoint.h"
#include "core/plugin.h"
#include "tools/sluice.h"

int sl_cmd_help(int argc, char **argv)
{
	bool markdown = argc > 1 && strcmp(argv[1], "--markdown") == 0;
	if (argc < 2 || markdown) {
		static const enum sl_node_kind kinds[] = {SL_NODE_SOURCE, SL_NODE_STEP, SL_NODE_SINK};
		for (size_t k = 0; k < 3; k++) {
			if (!markdown)
				printf("%ss:\n", sl_node_kind_name(kinds[k]));
			for (const struct sl_plugin *const *p = sl_plugins; *p; p++) {
				if ((*p)->kind != kinds[k])
					continue;
				if (!markdown) {
					printf("  %-12s %s\n", (*p)->name, (*p)->summary);
					continue;
				}
				printf("### %s `%s`\n\n%s.\n\n", sl_node_kind_name(kinds[k]), (*p)->name,
				       (*p)->summary);
				if ((*p)->options && (*p)->options[0].name)
					sl_options_markdown((*p)->options, stdout);
				else
					printf("No options.\n");
				printf("\n");
			}
		}
		if (markdown) {
			printf("### job `checkpoint:`\n\nCheckpoints, savepoints and restore (see "
			       "\"Checkpoints and recovery\").\n\n");
			sl_options_markdown(sl_ckpt_options, stdout);
			printf("\n### job `restart:`\n\nWhat `sluice run --supervise` does after a "
			       "crash.\n\n");
			sl_options_markdown(sl_restart_options, stdout);
			printf("\n### job `state:`\n\nLimits of keyed state.\n\n");
			sl_options_markdown(sl_state_options, stdout);
			printf("\n");
		} else {
			printf("\njob sections: checkpoint, restart, state\n");
			printf("\n`sluice help NAME` shows a plugin's (or section's) options.\n");
		}
		return 0;
	}
	if (strcmp(argv[1], "checkpoint") == 0 || strcmp(argv[1], "restart") == 0 ||
	    strcmp(argv[1], "state") == 0) {
		printf("job section %s:\n\n", argv[1]);
		sl_options_help(argv[1][0] == 'c'   ? sl_ckpt_options
				: argv[1][0] == 'r' ? sl_restart_options
						    : sl_state_options,
				stdout);
		return 0;
	}
	bool found = false;
	for (const struct sl_plugin *const *p = sl_plugins; *p; p++) {
		if (strcmp((*p)->name, argv[1]) != 0)
			continue;
		found = true;
		printf("%s %s: %s\n\n", sl_node_kind_name((*p)->kind), (*p)->name, (*p)->summary);
		if ((*p)->options && (*p)->options[0].name)
			sl_options_help((*p)->options, stdout);
		else
			printf("  (no options)\n");
		printf("\n");
	}
	if (!found) {
		fprintf(stderr, "sluice help: no source, step or sink called '%s'\n", argv[1]);
		return 2;
	}
	return 0;
}
