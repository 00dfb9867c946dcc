#!/usr/bin/env bash
# Stops the daemons .ci/slurm_up.sh started (listed in $SLURM_STATE/started), newest first, by
# their pids; daemons that were running before it are left alone. With PIDs as arguments, only
# those of the list (what one test session started).
set -uo pipefail
SLURM_STATE=${SLURM_STATE:-/tmp/selfsynth-slurm}
list="$SLURM_STATE/started"
[ -s "$list" ] || exit 0
tac "$list" | while read -r name pid; do
  if [ $# -gt 0 ] && [[ " $* " != *" $pid "* ]]; then continue; fi
  kill "$pid" 2>/dev/null || continue
  for _ in $(seq 100); do kill -0 "$pid" 2>/dev/null || break; sleep 0.1; done
  echo "slurm_down: stopped $name ($pid)"
done
if [ $# -eq 0 ]; then : > "$list"; else grep -vwF -f <(printf '%s\n' "$@") "$list" > "$list.new"; mv "$list.new" "$list"; fi
