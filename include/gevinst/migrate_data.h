#ifndef GEVINST_MIGRATE_DATA_H
#define GEVINST_MIGRATE_DATA_H

#include <stddef.h>

/* One embedded SQL migration; generated from sql/NNN_name.sql at build time. */
typedef struct migration {
    int version;
    const char *name;
    const char *sql;
} migration_t;

/* Sorted by version, ascending. */
extern const migration_t migrations[];
extern const size_t migrations_count;

#endif
