# read-generation.sh IFACE N: one recorded generation's config (for `rollback`).
paths "$1"
case $2 in '' | *[!0-9]*) fail "not a generation number: $2" ;; esac
masked_frame generation-config "$gens/$2.conf"
echo '@@end'
