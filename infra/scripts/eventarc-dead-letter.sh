#!/usr/bin/env bash
# Attach a dead-letter topic to the Pub/Sub subscription Eventarc made for a trigger.
#
#   TRIGGER                projects/P/locations/L/triggers/T (a function's event_trigger.trigger)
#   DEAD_LETTER_TOPIC      projects/P/topics/T
#   MAX_DELIVERY_ATTEMPTS  deliveries before an event is forwarded there (5-100)
#   MIN_RETRY_DELAY_S      exponential backoff between deliveries, from (0-600)
#   MAX_RETRY_DELAY_S      up to (0-600)
#   PUBSUB_AGENT           service-NUMBER@gcp-sa-pubsub.iam.gserviceaccount.com
#
# Run by Terraform (dead_letter.tf) with the deployer's gcloud credentials.
set -euo pipefail

: "${TRIGGER:?TRIGGER is not set}"
: "${DEAD_LETTER_TOPIC:?DEAD_LETTER_TOPIC is not set}"
: "${MAX_DELIVERY_ATTEMPTS:?MAX_DELIVERY_ATTEMPTS is not set}"
: "${PUBSUB_AGENT:?PUBSUB_AGENT is not set}"
: "${MIN_RETRY_DELAY_S:?MIN_RETRY_DELAY_S is not set}"
: "${MAX_RETRY_DELAY_S:?MAX_RETRY_DELAY_S is not set}"

if ! command -v gcloud >/dev/null 2>&1; then
  echo "eventarc-dead-letter: gcloud is not installed; it attaches the dead-letter topic to the trigger's subscription" >&2
  exit 1
fi

IFS=/ read -r _ project _ location _ trigger <<<"$TRIGGER"
if [[ -z "$project" || -z "$location" || -z "$trigger" ]]; then
  echo "eventarc-dead-letter: TRIGGER must be projects/P/locations/L/triggers/T, got '$TRIGGER'" >&2
  exit 1
fi

subscription="$(gcloud eventarc triggers describe "$trigger" --project="$project" \
  --location="$location" --format='value(transport.pubsub.subscription)')"
if [[ -z "$subscription" ]]; then
  echo "eventarc-dead-letter: trigger $TRIGGER has no Pub/Sub subscription" >&2
  exit 1
fi

# Pub/Sub's agent acknowledges the event it forwards, on the source subscription.
gcloud pubsub subscriptions add-iam-policy-binding "$subscription" \
  --member="serviceAccount:$PUBSUB_AGENT" --role=roles/pubsub.subscriber --quiet >/dev/null
gcloud pubsub subscriptions update "$subscription" \
  --dead-letter-topic="$DEAD_LETTER_TOPIC" \
  --max-delivery-attempts="$MAX_DELIVERY_ATTEMPTS" \
  --min-retry-delay="${MIN_RETRY_DELAY_S}s" --max-retry-delay="${MAX_RETRY_DELAY_S}s" --quiet
echo "eventarc-dead-letter: $subscription -> $DEAD_LETTER_TOPIC after $MAX_DELIVERY_ATTEMPTS attempts, retried after ${MIN_RETRY_DELAY_S}-${MAX_RETRY_DELAY_S} s"
