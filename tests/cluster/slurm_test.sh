#!/usr/bin/env bash
# examples/slurm on a real one-node Slurm cluster: starts munged, slurmctld and slurmd of its own
# (private ports, state and socket under WORK), runs examples/slurm/submit.sh with 4 array tasks
# over 13 images and checks that every image was explained exactly once and that the report job
# merged them all. Needs root (slurmd starts jobs as their user) and Debian's slurmctld, slurmd,
# slurm-client and munge (scripts/install_deps.sh). Exit 77 (skipped) only when not root.
#   slurm_test.sh LUMOS MODEL IMAGE_DIR WORK SOURCE_DIR
set -euo pipefail
absolute() { echo "$(cd "$(dirname "$1")" && pwd)/$(basename "$1")"; }
lumos=$(absolute "$1") model=$(absolute "$2") image_dir=$(absolute "$3") work=$4 source_dir=$(absolute "$5")

if [ "$(id -u)" -ne 0 ]; then
  echo "SKIPPED: the Slurm test starts slurmd, which must run as root; run ctest as root (CI does)"
  exit 77
fi
for tool in munged slurmctld slurmd sbatch squeue; do
  command -v "$tool" >/dev/null || { echo "slurm_test: $tool is missing; run scripts/install_deps.sh" >&2; exit 1; }
done

rm -rf "$work"
mkdir -p "$work"/{state,spool,munge,images}
work=$(cd "$work" && pwd)
pids=()
cleanup() {
  for pid in "${pids[@]}"; do kill "$pid" 2>/dev/null || true; done
  wait 2>/dev/null || true
}
trap cleanup EXIT
fail() {
  echo "slurm_test: $*" >&2
  for log in "$work"/*.log; do echo "--- $log" >&2; tail -n 20 "$log" >&2; done
  exit 1
}

# Free TCP ports for slurmctld and slurmd, so that the test runs beside another cluster or test.
read -r ctld_port slurmd_port < <(/usr/bin/python3 -c '
import socket
s = [socket.socket() for _ in range(2)]
for x in s: x.bind(("127.0.0.1", 0))
print(*[x.getsockname()[1] for x in s])')

# munge: its own key, socket and files (munged refuses group- or world-accessible ones).
chmod 711 "$work/munge"
dd if=/dev/urandom of="$work/munge/munge.key" bs=1024 count=1 status=none
chmod 400 "$work/munge/munge.key"
munged --foreground --force --key-file="$work/munge/munge.key" --socket="$work/munge/munge.socket" \
  --pid-file="$work/munge/munged.pid" --seed-file="$work/munge/munge.seed" >>"$work/munged.log" 2>&1 &
pids+=($!)

node=$(hostname -s)
node_line=$(slurmd -C | head -n 1)
cat >"$work/slurm.conf" <<CONF
ClusterName=lumos-test
SlurmctldHost=$node(127.0.0.1)
SlurmctldPort=$ctld_port
SlurmdPort=$slurmd_port
SlurmUser=root
SlurmdUser=root
AuthType=auth/munge
CredType=cred/munge
AuthInfo=socket=$work/munge/munge.socket
StateSaveLocation=$work/state
SlurmdSpoolDir=$work/spool/%n
SlurmctldPidFile=$work/slurmctld.pid
SlurmdPidFile=$work/slurmd.pid
SlurmctldLogFile=$work/slurmctld.log
SlurmdLogFile=$work/slurmd.log
ProctrackType=proctrack/linuxproc
TaskPlugin=task/none
JobAcctGatherType=jobacct_gather/none
SelectType=select/cons_tres
SelectTypeParameters=CR_Core
ReturnToService=2
MpiDefault=none
$node_line NodeAddr=127.0.0.1 State=UNKNOWN
PartitionName=debug Nodes=$node Default=YES MaxTime=INFINITE State=UP
CONF
export SLURM_CONF="$work/slurm.conf"

for _ in $(seq 50); do [ -S "$work/munge/munge.socket" ] && break; sleep 0.1; done
slurmctld -D -i -f "$SLURM_CONF" >>"$work/slurmctld.log" 2>&1 &
pids+=($!)
slurmd -D -f "$SLURM_CONF" -N "$node" >>"$work/slurmd.log" 2>&1 &
pids+=($!)
for i in $(seq 60); do
  state=$(sinfo -h -n "$node" -o %t 2>/dev/null || true)
  [ "$state" = "idle" ] && break
  [ "$i" -eq 60 ] && fail "the node did not become idle in 30 s (sinfo: '${state}')"
  sleep 0.5
done

# 13 images whose names differ in few bits (a, e, i: same low bits) and in many.
names=()
for stem in a e i m q u img_0001 img_0002 img_0010 cat dog "x y" z; do
  cp "$image_dir/rgb.png" "$work/images/$stem.png"
  names+=("images/$stem.png")
done

cd "$work"
report_job=$(LUMOS="$lumos" MODEL="$model" IMAGES=images OUT=out METHODS=gradcam \
  "$source_dir/examples/slurm/submit.sh" 4 --time=10)
for i in $(seq 240); do
  [ -z "$(squeue -h -o %i 2>/dev/null)" ] && break
  [ "$i" -eq 240 ] && fail "the jobs did not finish in 120 s: $(squeue)"
  sleep 0.5
done
[ -f out/report/report.html ] || fail "report job $report_job left no out/report/report.html"

/usr/bin/python3 - "$work" "${names[@]}" <<'PY' || fail "the shards' records do not add up"
import collections, json, pathlib, sys
work, names = pathlib.Path(sys.argv[1]), sys.argv[2:]
records = sorted((work / "out").glob("run.shard-*-of-4.json"))
assert len(records) == 4, f"expected 4 shard records, found {[r.name for r in records]}"
explained = collections.Counter()
for record in records:
    for entry in json.loads(record.read_text())["images"]:
        assert "folder" in entry, entry
        assert (work / "out" / entry["folder"] / "explanation.json").is_file(), entry
        explained[entry["image"]] += 1
assert explained == collections.Counter(names), f"explained {dict(explained)}, listed {names}"
logs = sorted(work.glob("lumos-explain-*_*.log"))
assert len(logs) == 4, logs
rows = (work / "out" / "report" / "summary.csv").read_text().strip().splitlines()
assert len(rows) == 1 + len(names), f"summary.csv has {len(rows) - 1} rows"
print(f"slurm_test: 4 array tasks explained {len(names)} images, each once "
      f"({', '.join(str(len(json.loads(r.read_text())['images'])) for r in records)} per task); report merged them")
PY
