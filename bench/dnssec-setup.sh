# Shared by bench/instructions-dnssec and bench/dnssec-cpu: the zone (a
# static name, a wildcard, a geo pool), a KSK + ZSK (algorithm 13), the two
# configs ($WORK/unsigned.json, $WORK/signed.json: the same data, the second
# signed), the ECS option and the query of each workload. Sourced; expects
# $WORK, $PORT and $MMDB.
cat > "$WORK/bench.test.zone" <<ZONE
\$ORIGIN bench.test.
@ 3600 SOA ns1 hostmaster 1 7200 3600 1209600 300
@ 3600 NS ns1
ns1 3600 A 127.0.0.1
static 30 A 192.0.2.1
*.wild 30 A 192.0.2.7
ZONE
KSK=$(cd "$WORK" && ldns-keygen -a ECDSAP256SHA256 -k bench.test)
ZSK=$(cd "$WORK" && ldns-keygen -a ECDSAP256SHA256 bench.test)
config() {  # signed|unsigned
  local dnssec=""
  [ "$1" = signed ] && dnssec=", \"dnssec\": {\"keys\": [\"$WORK/$KSK.private\", \"$WORK/$ZSK.private\"]}"
  cat <<JSON
{
  "listen": ["127.0.0.1:$PORT"], "workers": 1,
  "zones": [{"origin": "bench.test", "file": "$WORK/bench.test.zone"$dnssec}],
  "geo": {"databases": [{"file": "$MMDB"}]},
  "regions": {"us-east": {}, "eu-central": {}, "ap-northeast": {}},
  "pools": {"web": {"ttl": 30, "regions": {
    "us-east": {"members": [{"address": "192.0.2.10"}]},
    "eu-central": {"members": [{"address": "198.51.100.10"}]},
    "ap-northeast": {"members": [{"address": "203.0.113.10"}]}}}},
  "policies": {"geo": {"steps": [{"step": "geo_map", "map": {
    "country:US": ["us-east", "eu-central"], "continent:EU": ["eu-central", "us-east"],
    "continent:AS": ["ap-northeast", "us-east"], "default": ["us-east", "eu-central", "ap-northeast"]}}]}},
  "bindings": [{"name": "geo.bench.test", "pool": "web", "policy": "geo"}]
}
JSON
}
config unsigned > "$WORK/unsigned.json"
config signed > "$WORK/signed.json"

ECS="8:00011800c63364"  # family 1, source /24, scope 0, 198.51.100.0 (FIELD-NOTES.md)
query_for() {
  case $1 in
    static) echo "static.bench.test A" ;;
    geo-ecs) echo "geo.bench.test A" ;;
    nxdomain) echo "nx.bench.test A" ;;
    wildcard) echo "x.wild.bench.test A" ;;
  esac
}

