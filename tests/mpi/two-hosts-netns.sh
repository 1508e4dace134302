#!/usr/bin/env bash
# Runs the MPI checks and a short MNIST training on two "machines" made on this one: network namespaces, each
# with its own interface (eth1) and address on a bridge, so that every byte between the ranks crosses a network
# stack and an interface chosen by name, as between real hosts. mpirun stays outside both and starts each rank's
# daemon through a remote shell that enters that host's namespace (where a cluster uses ssh). As root (it makes
# namespaces, veth pairs and a bridge, and removes them at the end); not part of CI, which might not let it.
#   bash tests/mpi/two-hosts-netns.sh [--no-train]
set -euo pipefail
root="$(cd "$(dirname "${BASH_SOURCE[0]}")/../.." && pwd)"
train=1
[ "${1:-}" = "--no-train" ] && train=0
command -v mpirun >/dev/null || { echo "netns: mpirun not found (apt-get install openmpi-bin)"; exit 1; }
command -v ip >/dev/null || { echo "netns: ip not found (apt-get install iproute2)"; exit 1; }

tag="ab$$"
work="$(mktemp -d /tmp/adabits-netns.XXXXXX)"
stop() {
  for h in a b; do ip link del "$tag-$h" 2>/dev/null || true; ip netns del "$tag-$h" 2>/dev/null || true; done
  ip link del "$tag-br" 2>/dev/null || true
  rm -rf "$work"
}
trap stop EXIT
# the bridge is the "switch"; mpirun talks to the daemons through its address
ip link add "$tag-br" type bridge
ip addr add 10.77.0.1/24 dev "$tag-br"
ip link set "$tag-br" up
n=2
for h in a b; do
  ip netns add "$tag-$h"
  ip link add "$tag-$h" type veth peer name eth1 netns "$tag-$h"
  ip link set "$tag-$h" master "$tag-br" up
  ip -n "$tag-$h" addr add "10.77.0.$n/24" dev eth1
  ip -n "$tag-$h" link set eth1 up
  ip -n "$tag-$h" link set lo up
  n=$((n + 1))
done

# ssh HOST COMMAND, for a host that is a namespace here: a fresh environment, as a remote login gives
cat > "$work/remote-shell" <<'EOF'
#!/bin/sh
host="$1"; shift
exec ip netns exec "$host" env -i PATH=/usr/bin:/bin HOME="$HOME" /bin/sh -c "$*"
EOF
chmod +x "$work/remote-shell"
printf '%s slots=1\n%s slots=1\n' "$tag-a" "$tag-b" > "$work/hosts"

forward=()
for v in PATH DOTNET_ROOT HOME NUGET_PACKAGES LD_LIBRARY_PATH; do [ -n "${!v:-}" ] && forward+=(-x "$v"); done
# the daemons' start-up over the bridge's subnet (mpirun is on the bridge, the daemons on eth1), the ranks' data
# over eth1 by name, as on a cluster; both daemons share this host's /dev/shm and cores, hence no hwloc shared
# topology, direct routing and no binding (MpiTests explains each)
launch=(--allow-run-as-root --hostfile "$work/hosts" --map-by ppr:1:node --bind-to none
  --mca plm_rsh_agent "$work/remote-shell" --mca rtc ^hwloc --mca routed direct
  --mca oob_tcp_if_include 10.77.0.0/24 --mca btl tcp,self --mca btl_tcp_if_include eth1 "${forward[@]}")

cd "$root"
./adabits --help >/dev/null   # build once, before several ranks start it
echo "netns: mpirun -np 2 (hosts $tag-a, $tag-b over eth1) ./adabits mpi-check allreduce"
mpirun -np 2 "${launch[@]}" ./adabits mpi-check allreduce --out "$work/allreduce"
for r in 0 1; do
  grep -q '"local_size":1' "$work/allreduce/rank$r.json" || { echo "netns: rank $r does not see itself alone on its host"; exit 1; }
done
bytes() { ip -n "$tag-a" -s link show eth1 | awk '/RX:/ { getline; rx = $1 } /TX:/ { getline; tx = $1 } END { print rx " received, " tx " sent" }'; }
echo "netns: host a's eth1 so far: $(bytes) bytes"
echo "netns: mpirun -np 2 ./adabits mpi-check equivalence"
mpirun -np 2 "${launch[@]}" ./adabits mpi-check equivalence | tail -1
echo "netns: mpirun -np 2 ./adabits mpi-check abort (must end at once, non-zero)"
start=$SECONDS
if mpirun -np 2 "${launch[@]}" ./adabits mpi-check abort >"$work/abort.log" 2>&1; then echo "netns: abort check exited 0"; exit 1; fi
echo "netns: both ranks ended after $((SECONDS - start)) s"
if [ $train = 1 ]; then
  echo "netns: mpirun -np 2 ./adabits train app:apps/mnist/adabits.yml num_epochs=1 train_limit=12800"
  OMP_NUM_THREADS=1 mpirun -np 2 "${launch[@]}" -x OMP_NUM_THREADS ./adabits train app:apps/mnist/adabits.yml num_epochs=1 \
    train_limit=12800 log_dir="$work/train" | grep -E "^communication|^best epoch"
fi
echo "netns: host a's eth1 in all: $(bytes) bytes"
echo "netns: ok"
