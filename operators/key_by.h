/* key_by: the exchange that routes rows to the worker owning their key group. */
#ifndef SL_KEY_BY_H
#define SL_KEY_BY_H

#include "core/options.h"

struct sl_key_by_conf {
	struct sl_strlist key;
};

#endif
