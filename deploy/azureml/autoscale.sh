#!/usr/bin/env bash
# Autoscale the managed online deployment on its measured capacity: Azure Monitor adds an instance
# when the deployment's RequestsPerMinute per instance passes 70% of what one instance held within
# half its p99 objective of 500 ms (1,115 per minute: 26.55 req/s on a 2-core AMD EPYC, fp32;
# `python -m bench.capacity`), and removes one below 35% for 10 minutes; 1 to 20 instances, never 0
# (managed endpoints keep one).
# Usage: deploy/azureml/autoscale.sh RESOURCE_GROUP WORKSPACE [ENDPOINT] [DEPLOYMENT]
set -euo pipefail
GROUP=$1 WORKSPACE=$2 ENDPOINT=${3:-bert-fill-mask} DEPLOYMENT=${4:-blue}
ENDPOINT_ID=$(az ml online-endpoint show -n "$ENDPOINT" -g "$GROUP" -w "$WORKSPACE" --query id -o tsv)
DEPLOYMENT_ID=$(az ml online-deployment show -n "$DEPLOYMENT" -e "$ENDPOINT" -g "$GROUP" -w "$WORKSPACE" --query id -o tsv)
LOCATION=$(az ml workspace show -n "$WORKSPACE" -g "$GROUP" --query location -o tsv)
SETTING=$(mktemp)
sed -e "s|<ENDPOINT_RESOURCE_ID>|$ENDPOINT_ID|g" -e "s|<DEPLOYMENT_RESOURCE_ID>|$DEPLOYMENT_ID|g" \
    -e "s|<LOCATION>|$LOCATION|g" -e "s|\"blue\"|\"$DEPLOYMENT\"|g" "$(dirname "$0")/autoscale.json" > "$SETTING"
az resource create -g "$GROUP" -n "$ENDPOINT-$DEPLOYMENT-autoscale" \
    --resource-type Microsoft.Insights/autoscalesettings --is-full-object --properties "@$SETTING"
rm -f "$SETTING"
