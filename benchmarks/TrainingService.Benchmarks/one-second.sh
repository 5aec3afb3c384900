#!/usr/bin/env bash
# The benchmark's training program: stamps its start and end (epoch seconds, ns) around one second of "training".
echo "program-start $(date +%s.%N)"
sleep 1
echo "model" > "$SM_MODEL_DIR/model.txt"
echo "program-end $(date +%s.%N)"
