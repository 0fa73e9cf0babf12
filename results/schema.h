/* schema.h — the ordered schema migrations of the results database (schema.c). */
#ifndef QB_SCHEMA_H
#define QB_SCHEMA_H

#define QB_APPLICATION_ID 0x51424442 /* "QBDB" */

int qb_schema_version(void);          /* number of migrations = current user_version */
const char *qb_schema_migration(int i); /* SQL that takes user_version i to i + 1 */

#endif
