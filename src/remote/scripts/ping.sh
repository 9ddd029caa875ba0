# ping.sh ADDRESS...: pings every address from the host, all at once: the real reachability behind
# `status --ping`.
# Without a `ping` binary every ping would "fail": say so instead.
command -v ping >/dev/null 2>&1 || echo '@@no-ping'
echo '@@ping'
for address in "$@"; do
  ( if ping -q -n -c 3 -i 0.2 -W 2 "$address" >/dev/null 2>&1; then printf '%s ok\n' "$address"; else printf '%s fail\n' "$address"; fi ) &
done
wait
echo '@@end'
