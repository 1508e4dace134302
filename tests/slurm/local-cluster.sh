#!/usr/bin/env bash
# Runs the MPI checks and a short MNIST training under Slurm's own launcher (srun --mpi=pmix) on a
# one-node Slurm cluster started here for the purpose, then stops it. As root on Debian 12; installs
# slurm-wlm, munge and libpmix-dev when missing (Slurm's PMIx plugin opens libpmix.so, which only the
# -dev package provides). Not part of CI: it starts system daemons (munged, slurmctld, slurmd).
#   bash tests/slurm/local-cluster.sh [--no-train]
set -euo pipefail
root="$(cd "$(dirname "${BASH_SOURCE[0]}")/../.." && pwd)"
train=1
[ "${1:-}" = "--no-train" ] && train=0

need=()
command -v slurmctld >/dev/null || need+=(slurm-wlm)
command -v munged >/dev/null || need+=(munge)
[ -e /usr/lib/x86_64-linux-gnu/pmix2/lib/libpmix.so ] || need+=(libpmix-dev)
command -v mpirun >/dev/null || need+=(openmpi-bin libopenmpi3)
if [ ${#need[@]} -gt 0 ]; then
  echo "slurm: installing ${need[*]}"
  DEBIAN_FRONTEND=noninteractive apt-get install -y -qq --no-install-recommends "${need[@]}" >/dev/null
fi

work="$(mktemp -d /tmp/adabits-slurm.XXXXXX)"
host="$(hostname)"
mkdir -p "$work/spool/ctld" "$work/spool/d"
export SLURM_CONF="$work/slurm.conf"
# one node with this machine's cores; no cgroups (containers rarely allow them): processes tracked by
# their parent, tasks not bound
cat > "$SLURM_CONF" <<EOF
ClusterName=adabits-local
SlurmctldHost=$host
AuthType=auth/munge
SlurmUser=root
ProctrackType=proctrack/linuxproc
TaskPlugin=task/none
JobAcctGatherType=jobacct_gather/none
SelectType=select/cons_tres
SelectTypeParameters=CR_Core
ReturnToService=2
StateSaveLocation=$work/spool/ctld
SlurmdSpoolDir=$work/spool/d
SlurmctldPidFile=$work/slurmctld.pid
SlurmdPidFile=$work/slurmd.pid
SlurmctldLogFile=$work/slurmctld.log
SlurmdLogFile=$work/slurmd.log
NodeName=$host CPUs=$(nproc) State=UNKNOWN
PartitionName=local Nodes=$host Default=YES MaxTime=INFINITE State=UP OverSubscribe=FORCE
EOF

started_munge=0
if ! munge -n >/dev/null 2>&1; then
  [ -s /etc/munge/munge.key ] || mungekey -c
  mkdir -p /run/munge && chown munge:munge /run/munge
  su -s /bin/sh munge -c munged
  started_munge=1
fi
stop() {
  for p in slurmd slurmctld; do [ -f "$work/$p.pid" ] && kill "$(cat "$work/$p.pid")" 2>/dev/null || true; done
  [ $started_munge = 1 ] && pkill -x munged 2>/dev/null || true
  sleep 1
  rm -rf "$work"
}
trap stop EXIT
slurmctld
slurmd
for _ in $(seq 1 30); do sinfo -h -o %t 2>/dev/null | grep -q idle && break; sleep 1; done
sinfo -h -o %t | grep -q idle || { echo "slurm: the node did not come up; $work/slurmd.log:"; tail -5 "$work/slurmd.log"; exit 1; }
srun --mpi=list 2>&1 | grep -q pmix || { echo "slurm: srun has no pmix plugin"; exit 1; }

cd "$root"
./adabits --help >/dev/null   # build once, before several ranks start it
echo "slurm: srun --mpi=pmix -n 2 ./adabits mpi-check allreduce"
srun --mpi=pmix -n 2 ./adabits mpi-check allreduce --out "$work/allreduce"
grep -q '"local_size":2' "$work/allreduce/rank1.json" || { echo "slurm: rank 1 did not see 2 ranks on its node"; exit 1; }
echo "slurm: srun --mpi=pmix -n 3 ./adabits mpi-check equivalence (uneven shards)"
srun --mpi=pmix -n 3 --overcommit ./adabits mpi-check equivalence | tail -1
echo "slurm: srun --mpi=pmix -n 2 ./adabits mpi-check abort (must end at once, non-zero)"
start=$SECONDS
if srun --mpi=pmix -n 2 ./adabits mpi-check abort >"$work/abort.log" 2>&1; then echo "slurm: abort check exited 0"; exit 1; fi
echo "slurm: both ranks ended after $((SECONDS - start)) s"
if [ $train = 1 ]; then
  echo "slurm: srun --mpi=pmix -n 2 ./adabits train app:apps/mnist/adabits.yml num_epochs=1 train_limit=12800"
  srun --mpi=pmix -n 2 ./adabits train app:apps/mnist/adabits.yml num_epochs=1 train_limit=12800 log_dir="$work/train" \
    | grep -E "^communication|^best epoch"
fi
echo "slurm: ok"
