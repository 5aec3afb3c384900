#!/usr/bin/env bash
# A bring-your-own training program in SageMaker's container contract, run by the local training service as the image
# "byo-script". Hyperparameters (input/config/hyperparameters.json): loss (printed as the final metric), sleep_seconds
# (how long it "trains"), fail (a message for output/failure, exit 1).
set -euo pipefail
config="$SM_INPUT_CONFIG_DIR/hyperparameters.json"
param() { sed -n "s/.*\"$1\": *\"\([^\"]*\)\".*/\1/p" "$config" | head -1; }

echo "training on $(find "$SM_CHANNEL_TRAIN" -type f | wc -l) file(s): $(cat "$SM_CHANNEL_TRAIN"/*)"
echo "metric loss=0.9 iteration=1"
sleep "$(param sleep_seconds || true)" 2>/dev/null || true
if [ -n "$(param fail)" ]; then
  echo "$(param fail)" > "$SM_OUTPUT_DIR/failure"
  echo "failing: $(param fail)" >&2
  exit 1
fi
echo "metric loss=$(param loss) iteration=2"
echo "trained on $(cat "$SM_CHANNEL_TRAIN"/*)" > "$SM_MODEL_DIR/model.txt"
echo '{"loss": "'"$(param loss)"'"}' > "$SM_OUTPUT_DATA_DIR/metrics.json"
