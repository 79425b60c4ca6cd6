#!/bin/sh
# Waits until the Temporal server answers its health check, then registers the namespace the
# services use (run by the temporal-namespace service of docker-compose.yml, in the
# temporalio/admin-tools image; `temporal` reads TEMPORAL_ADDRESS). Safe to run again.
set -eu

NAMESPACE="${TEMPORAL_NAMESPACE:-default}"
RETENTION="${TEMPORAL_NAMESPACE_RETENTION:-30d}"

attempts=0
until temporal operator cluster health >/dev/null 2>&1; do
    attempts=$((attempts + 1))
    if [ "$attempts" -ge 60 ]; then
        echo "Temporal at ${TEMPORAL_ADDRESS:-127.0.0.1:7233} is not healthy after 2 minutes" >&2
        temporal operator cluster health
        exit 1
    fi
    sleep 2
done

if temporal operator namespace describe --namespace "$NAMESPACE" >/dev/null 2>&1; then
    echo "namespace $NAMESPACE exists"
else
    temporal operator namespace create --namespace "$NAMESPACE" --retention "$RETENTION"
fi
