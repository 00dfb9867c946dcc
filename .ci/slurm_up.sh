#!/usr/bin/env bash
# A single-node Slurm on this machine (munged, slurmctld, slurmd), for the cluster tests.
# Idempotent: what already runs is kept; the daemons this call starts are listed in
# $SLURM_STATE/started (one "name pid" a line), which .ci/slurm_down.sh stops and nothing else.
# Exit 0: the node is idle and accepts jobs. Exit 3: this machine cannot host it (the reason on
# stderr: not root, no apt-get, a foreign slurm.conf). Exit 1: it was set up but did not come up.
set -euo pipefail
SLURM_STATE=${SLURM_STATE:-/tmp/selfsynth-slurm}
CONF=/etc/slurm/slurm.conf
MARK="# written by selfsynth .ci/slurm_up.sh"
unable() { echo "slurm_up: $*" >&2; exit 3; }

[ "$(id -u)" = 0 ] || unable "needs root (it installs packages and runs slurmd as root)"
if ! command -v slurmctld >/dev/null || ! command -v slurmd >/dev/null || ! command -v sbatch >/dev/null || ! command -v munged >/dev/null; then
  command -v apt-get >/dev/null || unable "slurmctld/slurmd/munge are not installed and there is no apt-get to install them"
  { apt-get update -qq && DEBIAN_FRONTEND=noninteractive apt-get install -y -qq slurmctld slurmd slurm-client munge; } >/dev/null 2>&1 \
    || unable "apt-get install slurmctld slurmd slurm-client munge failed"
fi
if [ -f "$CONF" ] && ! grep -qF "$MARK" "$CONF"; then
  unable "$CONF exists and was not written by this script (a real cluster's?); not touching it"
fi
mkdir -p "$SLURM_STATE"/{state,spool,log}
touch "$SLURM_STATE/started"
node=$(hostname -s)
mem_mb=$(awk '/MemTotal/ {print int($2 / 1024 * 0.9)}' /proc/meminfo)
conf=$(cat <<CONF
$MARK
ClusterName=selfsynth
SlurmctldHost=$node
SlurmUser=root
AuthType=auth/munge
# a requeued job may start again after 10 s (default 120 s): keeps the requeue test short
AuthInfo=cred_expire=10
ProctrackType=proctrack/linuxproc
TaskPlugin=task/none
SelectType=select/cons_tres
SelectTypeParameters=CR_Core
SchedulerType=sched/backfill
MpiDefault=none
ReturnToService=2
JobRequeue=1
# finished jobs stay visible to scontrol for a while (there is no accounting database)
MinJobAge=600
KillWait=5
AccountingStorageType=accounting_storage/none
JobCompType=jobcomp/none
StateSaveLocation=$SLURM_STATE/state
SlurmdSpoolDir=$SLURM_STATE/spool
SlurmctldPidFile=$SLURM_STATE/slurmctld.pid
SlurmdPidFile=$SLURM_STATE/slurmd.pid
SlurmctldLogFile=$SLURM_STATE/log/slurmctld.log
SlurmdLogFile=$SLURM_STATE/log/slurmd.log
NodeName=$node CPUs=$(nproc) RealMemory=$mem_mb State=UNKNOWN
PartitionName=debug Nodes=$node Default=YES MaxTime=INFINITE State=UP
CONF
)
changed=0
if [ ! -f "$CONF" ] || [ "$(cat "$CONF")" != "$conf" ]; then
  mkdir -p /etc/slurm
  printf '%s\n' "$conf" > "$CONF.tmp" && mv "$CONF.tmp" "$CONF"
  changed=1
fi

if [ ! -s /etc/munge/munge.key ]; then
  mkdir -p /etc/munge
  dd if=/dev/urandom of=/etc/munge/munge.key bs=1024 count=1 status=none
fi
chown munge:munge /etc/munge/munge.key && chmod 400 /etc/munge/munge.key
mkdir -p /run/munge /var/log/munge /var/lib/munge && chown munge:munge /run/munge /var/log/munge /var/lib/munge

running() { [ -f "$1" ] && kill -0 "$(cat "$1")" 2>/dev/null; }
if ! munge -n </dev/null >/dev/null 2>&1; then
  runuser -u munge -- /usr/sbin/munged --pid-file=/run/munge/munged.pid
  for _ in $(seq 50); do munge -n </dev/null >/dev/null 2>&1 && break; sleep 0.1; done
  echo "munged $(cat /run/munge/munged.pid)" >> "$SLURM_STATE/started"
fi
started_now=0
if ! running "$SLURM_STATE/slurmctld.pid"; then
  started_now=1
  slurmctld
  for _ in $(seq 50); do running "$SLURM_STATE/slurmctld.pid" && break; sleep 0.1; done
  echo "slurmctld $(cat "$SLURM_STATE/slurmctld.pid")" >> "$SLURM_STATE/started"
fi
if ! running "$SLURM_STATE/slurmd.pid"; then
  slurmd
  for _ in $(seq 50); do running "$SLURM_STATE/slurmd.pid" && break; sleep 0.1; done
  echo "slurmd $(cat "$SLURM_STATE/slurmd.pid")" >> "$SLURM_STATE/started"
fi
if [ "$changed" = 1 ] && [ "$started_now" = 0 ]; then
  scontrol reconfigure >/dev/null  # daemons that ran before read the new slurm.conf
fi
for _ in $(seq 60); do
  state=$(sinfo -h -n "$node" -o %T 2>/dev/null || true)
  case "$state" in
    idle|mixed|allocated) echo "slurm_up: node $node $state (logs: $SLURM_STATE/log)"; exit 0 ;;
    down*|drain*) scontrol update nodename="$node" state=resume >/dev/null 2>&1 || true ;;
  esac
  sleep 0.5
done
echo "slurm_up: node $node did not come up (state '${state:-none}'); logs: $SLURM_STATE/log" >&2
exit 1
