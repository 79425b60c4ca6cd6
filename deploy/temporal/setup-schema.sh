#!/bin/sh
# Creates or upgrades Temporal's two databases in Postgres (run by the temporal-schema service
# of docker-compose.yml, in the temporalio/admin-tools image, before the server starts).
# Safe to run on every `docker compose up`: existing databases are kept, and update-schema
# applies only the versions a newer server image brings.
set -eu

: "${POSTGRES_SEEDS:?}" "${POSTGRES_USER:?}" "${SQL_PASSWORD:?}"
DB_PORT="${DB_PORT:-5432}"
SCHEMA_ROOT=/etc/temporal/schema/postgresql/v12

sql() {
    temporal-sql-tool --plugin postgres12 --ep "$POSTGRES_SEEDS" -p "$DB_PORT" -u "$POSTGRES_USER" "$@"
}

for database in temporal temporal_visibility; do
    case "$database" in
        temporal) schema="$SCHEMA_ROOT/temporal/versioned" ;;
        *) schema="$SCHEMA_ROOT/visibility/versioned" ;;
    esac
    sql --db "$database" create
    # The base version table exists after the first run; update-schema below fails loudly
    # if it really is missing, so a refusal here needs no handling.
    sql --db "$database" setup-schema -v 0.0 || echo "$database: schema already set up"
    sql --db "$database" update-schema -d "$schema"
done
echo "Temporal schema is up to date"
