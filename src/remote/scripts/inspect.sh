# inspect.sh IFACE KEY...: read-only, for `plan`: what decommissioning the removed host's IFACE would
# keep (`@@generation kept N|new N`, empty without a config) and switch off among the forwarding
# sysctls KEY... (`@@forward`, a line each: see decide_forwarding).
paths "$1"; shift
decide_generation
printf '@@generation %s\n' "$gen"
echo '@@forward'
decide_forwarding "$@"
echo '@@end'
