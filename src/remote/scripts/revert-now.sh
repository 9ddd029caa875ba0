# revert-now.sh IFACE SYSTEMD TOKEN: puts the previous config back at once over the apply step's own
# session (the step finished but the interface does not run the plan): the armed revert of the
# apply TOKEN, run now instead of at the timer.
paths "$1"; systemd=$2; token=$3
take_lock 60
if [ "$(cat "$state/armed" 2>/dev/null)" = "$token" ]; then
  sh "$state/revert.sh" "$token" locked && echo '@@reverted-now'
  # Its timer has nothing left to do (a systemd one would linger until it fires).
  disarm
else
  echo '@@not-armed'
fi
echo '@@end'
