# refresh.sh IFACE PEER-KEY...: drops the sessions a host holds with peers that just restarted, by
# removing those peers and adding them back from the config (`wg syncconf`, guarded as in apply).
paths "$1"; shift
# reset_peers KEY...: run by guarded_syncconf between its checks and the syncconf.
reset_peers() { for key in "$@"; do wg set "$name" peer "$key" remove || { strip_clean; fail "cannot reset peer $key"; }; done; }
umask 077
take_lock 30
guarded_syncconf reset_peers "$@"
echo '@@done refresh'
echo '@@end'
