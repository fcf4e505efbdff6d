#ifndef GEVINST_DASH_H
#define GEVINST_DASH_H

#include "gevinst/config.h"
#include "gevinst/store.h"

#include <stdbool.h>

/* dash: what dashboards need besides the views: the read-only role that sees
 * schema gevinst_dash and nothing else, and the settings the views read
 * (min_cell_size). Run after migrations, and again on reload. Creating the
 * role needs CREATEROLE: without it the role must exist already (a warning
 * says so), and the grants are still applied. */
bool dash_setup(store_t *st, const config_t *cfg, bool *retriable, char *errstr,
                size_t errstr_size);

#endif
