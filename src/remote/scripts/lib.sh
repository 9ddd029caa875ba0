# lib.sh: shell functions shared by every script wgdeploy runs on hosts. It is concatenated in front
# of each script at compile time, and each script runs as `sh -c "$SCRIPT" wgdeploy ARG...`: every
# value arrives as a positional argument, nothing from the inventory or a host is spliced into this
# text. POSIX sh (tested under dash, busybox sh and posh; shellcheck -s sh in CI).

# Every host path starts with $root. On hosts it is empty: WGDEPLOY_ROOT is set only by wgdeploy's
# own tests, which run the scripts against a temporary directory.
root=${WGDEPLOY_ROOT:-}

# paths IFACE: where wgdeploy keeps things for IFACE (the layout of core::paths::Paths).
# (Not every script uses every path.)
# shellcheck disable=SC2034
paths() {
  name=$1
  dir=$root/etc/wireguard
  config=$dir/$name.conf
  backup=$dir/$name.conf.wgdeploy-prev
  lock=$dir/.$name.wgdeploy.lock
  temp_prefix=$dir/.$name.conf.wgdeploy-tmp
  log=$dir/.$name.wgdeploy.log
  sysctl_file=$root/etc/sysctl.d/99-wgdeploy-$name.conf
  key_file=$dir/$name.key
  pending_key=$dir/$name.key.next
  state_root=$root/var/lib/wgdeploy
  state=$state_root/$name
  gens=$state/generations
  retired_keys=$state/keys
  unit=wg-quick@$name
}

# (apply.sh redefines it to revert at once once armed.)
# shellcheck disable=SC2317
fail() { printf '@@fail %s\n' "$*"; exit 1; }

# take_lock SECONDS: the interface's advisory lock on descriptor 9 (every apply, confirm, revert
# and removal holds it), waiting at most SECONDS.
take_lock() {
  exec 9>>"$lock" || fail "cannot open the lock file $lock"
  flock -w "$1" 9 || fail "another wgdeploy run holds the lock on $name (waited $1 s)"
}

# frame NAME FILE [SIZE]: FILE's bytes after `@@NAME LENGTH`. SIZE, when the caller has it from
# `stat`, saves the `wc` (whose padding, printed by some, the arithmetic expansion drops).
frame() { if [ -f "$2" ] && [ -r "$2" ]; then printf '@@%s %s\n' "$1" "${3:-$(($(wc -c < "$2")))}"; cat "$2"; printf '\n'; elif [ -e "$2" ]; then printf '@@%s unreadable\n' "$1"; else printf '@@%s absent\n' "$1"; fi; }
# With `keys: on-host` the host keeps its private key in $key_file, and the configs wgdeploy sends
# carry this line instead (core::keys::ON_HOST_KEY_MARKER); the apply step puts the key there.
# shellcheck disable=SC2034
key_line='PrivateKey = <kept on the host>'
# config_key: the config's own PrivateKey, when it is a key (not the marker, not a hook's job).
config_key() {
  [ -f "$config" ] && [ -r "$config" ] || return 0
  LC_ALL=C awk '/^[ \t]*\[/ { s = tolower($0); gsub(/[ \t]/, "", s); inif = (s == "[interface]"); next }
    inif { k = $0; sub(/=.*/, "", k); gsub(/[ \t]/, "", k); if (tolower(k) == "privatekey") { v = substr($0, index($0, "=") + 1); gsub(/[ \t\r]/, "", v); if (v ~ /^[A-Za-z0-9+\/]+=?=?$/ && length(v) == 44) print v; exit } }' "$config"
}
# masked_frame NAME FILE [SIZE]: frame FILE (SIZE: see frame) with the line naming one of the host's own keys (the current
# one in $key_file, a pending one from `wgdeploy rotate`, or one it ran before, kept under
# $retired_keys) read back as $key_line, so no key of the host ever crosses the connection. awk
# reads the key files itself (no key on a command line). Two passes: the frame's size first, then
# the text (no copy of a large config is held in memory).
masked_frame() {
  frame_name=$1 frame_file=$2 frame_size=${3:-}
  set --
  for k in "$key_file" "$pending_key" "$retired_keys"/*.key "$retired_keys"/.*.key; do
    if [ -s "$k" ] && [ -r "$k" ]; then set -- "$@" "$k"; fi
  done
  if [ -f "$frame_file" ] && [ -r "$frame_file" ] && [ $# -gt 0 ]; then
    # shellcheck disable=SC2016
    mask='FILENAME != cfg { if (FNR == 1) { k = $0; gsub(/[ \t\r]/, "", k); if (k != "") known["PrivateKey=" k] = 1 } next }
      { line = $0; bare = line; gsub(/[ \t\r]/, "", bare); if (bare in known) line = marker }'
    printf '@@%s %s\n' "$frame_name" "$(LC_ALL=C awk -v cfg="$frame_file" -v marker="$key_line" "$mask"' { n += length(line) + 1 } END { print n + 0 }' "$@" "$frame_file")"
    LC_ALL=C awk -v cfg="$frame_file" -v marker="$key_line" "$mask"' { print line }' "$@" "$frame_file"
    printf '\n'
  else
    frame "$frame_name" "$frame_file" "$frame_size"
  fi
}
# frame_without_key NAME FILE: frame FILE with the line `PrivateKey = $host_key` read back as
# $key_line, then forget $host_key. Two passes: the frame's size first, then the text (no copy
# of a large config is held in memory).
frame_without_key() {
  # shellcheck disable=SC2016
  mask='{ line = $0; bare = line; gsub(/[ \t\r]/, "", bare); if (bare == "PrivateKey=" key) line = marker }'
  printf '@@%s %s\n' "$1" "$(LC_ALL=C awk -v key="$host_key" -v marker="$key_line" "$mask"' { n += length(line) + 1 } END { print n + 0 }' "$2")"
  LC_ALL=C awk -v key="$host_key" -v marker="$key_line" "$mask"' { print line }' "$2"
  printf '\n'
  host_key=
}
# public_of FILE: the public half of the key in FILE (empty when it holds none).
public_of() { first_line pk_secret "$1"; [ -n "$pk_secret" ] && printf '%s\n' "$pk_secret" | wg pubkey 2>/dev/null; pk_secret=; return 0; }
# key_with PUBLIC: the path of the host's own key file (current, pending or retired) whose public
# half is PUBLIC, or empty.
key_with() {
  for k in "$key_file" "$pending_key" "$retired_keys"/*.key "$retired_keys"/.*.key; do
    if [ ! -s "$k" ] || [ ! -r "$k" ]; then continue; fi
    if [ "$(public_of "$k")" = "$1" ]; then printf '%s\n' "$k"; return 0; fi
  done
  return 0
}
# promote_key FILE: FILE (pending or kept) becomes the current key; the current one is kept under
# $retired_keys, named by its public half (0600 in a 0700 directory), so a rollback to a config
# naming it finds it again. Copies, not links: /etc and /var may be different filesystems. A kept
# key is never deleted; a promoted pending key is (a later rotation makes a new one).
promote_key() {
  [ "$1" = "$key_file" ] && return 0
  if [ -s "$key_file" ]; then
    old_public=$(public_of "$key_file")
    [ -n "$old_public" ] || fail "$key_file holds no WireGuard private key"
    { mkdir -p "$retired_keys" && chmod 700 "$state_root" "$state" "$retired_keys"; } || fail "cannot create $retired_keys"
    # The public key names the file ('/+=' as '_.-'): a key starting with '+' makes a dot file,
    # which every glob of $retired_keys lists with `.*.key` too.
    retired=$retired_keys/$(printf '%s' "$old_public" | tr '/+=' '_.-').key
    if [ ! -s "$retired" ]; then
      { cp "$key_file" "$retired.tmp" && chmod 600 "$retired.tmp" && { sync "$retired.tmp" 2>/dev/null || sync; } && mv -f "$retired.tmp" "$retired"; } ||
        { rm -f "$retired.tmp"; fail "cannot keep $key_file in $retired_keys"; }
    fi
  fi
  { cp "$1" "$key_file.tmp" && chmod 600 "$key_file.tmp" && { sync "$key_file.tmp" 2>/dev/null || sync; } && mv -f "$key_file.tmp" "$key_file"; } ||
    { rm -f "$key_file.tmp"; fail "cannot make $1 the current key"; }
  if [ "$1" = "$pending_key" ]; then rm -f "$pending_key"; fi
  sync "$dir" 2>/dev/null
  return 0
}
# key_since: `@@key-since SECONDS`, when the oldest generation that carries the key the config
# runs was written (the key's age for `status`; kept generations only, so at most that old). awk
# compares the PrivateKey lines itself and prints only a file name: the key never leaves it.
key_since() {
  [ -f "$config" ] && [ -r "$config" ] || return 0
  set --
  for g in "$gens"/*.conf; do if [ -f "$g" ] && [ -r "$g" ]; then set -- "$@" "$g"; fi; done
  [ $# -gt 0 ] || return 0
  # shellcheck disable=SC2016
  oldest=$(LC_ALL=C awk -v cfg="$config" '{ l = $0; gsub(/[ \t\r]/, "", l) }
    FILENAME == cfg { if (key == "" && l ~ /^PrivateKey=./) key = l; next }
    key != "" && l == key { n = FILENAME; sub(/.*\//, "", n); sub(/\.conf$/, "", n); if (n ~ /^[0-9]+$/ && (best == "" || n + 0 < best + 0)) best = n }
    END { if (best != "") print best }' "$config" "$@")
  [ -n "$oldest" ] && printf '@@key-since %s\n' "$(stat -c %Y "$gens/$oldest.conf" 2>/dev/null)"
  return 0
}
# stamp FILE: FILE's inode, size and modification time (the compare-and-swap of apply.sh against
# the survey's, which prints the same `stat -c "$stamp_format"`), or `absent`.
stamp_format='%i %s %y'
stamp() { stat -c "$stamp_format" "$1" 2>/dev/null || echo absent; }
# dump IFACE [now]: `wg show IFACE dump`. It prints the private key (line 1, field 1) and each
# peer's preshared key (field 2): blank them on the host so no secret ever crosses the connection
# or reaches a log. With `now`, then `@@now SECONDS`, the host's clock read from /proc (boot time
# plus uptime: no `date` process); fails, having printed the dump, when /proc has neither.
# shellcheck disable=SC2016
dump() {
  wg show "$1" dump 2>/dev/null | awk -v now="${2:-}" 'BEGIN { FS = OFS = "\t" } NR == 1 { $1 = "-" } NR > 1 { $2 = "-" } { print }
    END {
      if (now == "") exit
      if ((getline line < "/proc/uptime") > 0) { split(line, field, " "); up = int(field[1]) }
      while ((getline line < "/proc/stat") > 0) if (line ~ /^btime /) { split(line, field, " "); boot = field[2] + 0; break }
      if (up > 0 && boot > 0) print "@@now " (boot + up); else exit 3
    }'
}
# Every survey runs the facts script on every host, so what it reads often is read by the shell
# itself, starting no process (on 100 hosts that halves the survey's CPU time on the hosts).
# first_line VAR FILE: VAR = FILE's first line, or empty. (VAR is always a literal name here.)
first_line() { eval "$1="; [ -r "$2" ] && IFS= read -r "$1" < "$2"; return 0; }
# rm_present FILE...: removes the FILEs, starting `rm` only when one of them exists (a step
# usually finds none of the leftovers it clears).
rm_present() { for present in "$@"; do if [ -e "$present" ] || [ -L "$present" ]; then rm -f "$@"; return; fi; done; return 0; }
# print_file FILE: FILE's lines (small files only).
print_file() { while IFS= read -r line || [ -n "$line" ]; do printf '%s\n' "$line"; done < "$1"; }
# generation_numbers: the numbers of the generations in $gens with a meta file, one per line
# (glob order), read by the shell itself.
generation_numbers() { for meta in "$gens"/*.meta; do n=${meta##*/}; n=${n%.meta}; case $n in '' | *[!0-9]*) continue ;; esac; [ -f "$meta" ] && printf '%s\n' "$n"; done; return 0; }
# newest_generation: the highest generation number in $gens, 0 when there is none.
newest_generation() { newest=0; for n in $(generation_numbers); do [ "$n" -gt "$newest" ] && newest=$n; done; echo "$newest"; }
# prune_generations KEEP: removes all but the KEEP newest generations (generation 0, the config
# found before wgdeploy, always stays; it counts among the KEEP like any other).
prune_generations() {
  numbers=$(generation_numbers)
  for n in $numbers; do
    [ "$n" = 0 ] && continue
    newer=0
    for m in $numbers; do [ "$m" -gt "$n" ] && newer=$((newer + 1)); done
    [ "$newer" -ge "$1" ] && rm -f "$gens/$n.meta" "$gens/$n.conf"
  done
  return 0
}
# prune_kept_keys: removes the keys kept under $retired_keys (by `promote_key`: a rotated-out key,
# for a rollback) that no kept generation names any more (its `# PublicKey = ` comment): once the
# generations that ran a key are pruned, nothing can roll back to it. Without any generation,
# nothing is removed.
prune_kept_keys() {
  [ -d "$retired_keys" ] || return 0
  set -- "$gens"/*.conf
  [ -f "$1" ] || return 0
  in_use=$(LC_ALL=C awk '$1 == "#" && $2 == "PublicKey" && $3 == "=" { print $4 }' "$@")
  for kept in "$retired_keys"/*.key "$retired_keys"/.*.key; do
    [ -f "$kept" ] || continue
    public=${kept##*/}; public=$(printf '%s' "${public%.key}" | tr '_.-' '/+=')
    case "
$in_use
" in
      *"
$public
"*) ;;
      *) rm -f "$kept" ;;
    esac
  done
  return 0
}
# The generations recorded in directory $1 (in glob order; the parser sorts them): "generation=N"
# then that generation's meta.
generations() { for meta in "$1"/*.meta; do n=${meta##*/}; n=${n%.meta}; case $n in '' | *[!0-9]*) continue ;; esac; if [ -f "$meta" ] && [ -r "$meta" ]; then printf 'generation=%s\n' "$n"; print_file "$meta"; fi; done; }
# routes IFACE: every route through IFACE in every table (wgdeploy checks them against AllowedIPs).
routes() { echo '@@routes4'; ip -4 route show table all dev "$1" 2>/dev/null; echo '@@routes6'; ip -6 route show table all dev "$1" 2>/dev/null; return 0; }
# sysctl_path KEY: sets `proc` to the /proc/sys file of KEY (dots become slashes), starting no process.
sysctl_path() {
  rest=$1 proc=$root/proc/sys/
  while :; do
    case $rest in
      *.*) proc=$proc${rest%%.*}/; rest=${rest#*.} ;;
      *) proc=$proc$rest; return 0 ;;
    esac
  done
}
# The live answer every changing script ends with, for verification.
live_answer() { echo '@@dump'; dump "$name"; routes "$name"; echo '@@end'; }

# take_down / bring_up: the interface ($name) down (its current config's PostDown hooks run) and up
# again, with systemd's unit when $systemd is set.
take_down() {
  if [ -n "$systemd" ]; then
    systemctl stop "$unit" 9>&-
    if ip link show dev "$name" >/dev/null 2>&1; then wg-quick down "$name" 9>&- || ip link del dev "$name"; fi
  else
    wg-quick down "$name" 9>&- || ip link del dev "$name"
  fi
  uapi_gone
}
# uapi_gone: a userspace WireGuard (wireguard-go) exits a moment after its link is deleted, and
# removes its control socket only then; a `wg-quick up` started before that finds the old socket
# and fails (seen with 100 hosts restarting at once). Wait for it to go, at most ~5 s, then let
# `up` report whatever is still wrong. The kernel module has no such socket: no wait.
uapi_gone() {
  sock=$root/run/wireguard/$name.sock
  tries=0
  while [ -e "$sock" ] && [ "$tries" -lt 50 ]; do
    sleep 0.1 2>/dev/null || sleep 1
    tries=$((tries + 1))
  done
  return 0
}
bring_up() {
  if [ -n "$systemd" ]; then systemctl start "$unit" 9>&-; else setsid -w wg-quick up "$name" < /dev/null 9>&-; fi
}

# Shell functions for a `wg syncconf` that leaves the interface as `wg-quick up` would have made
# it: syncconf neither keeps a port the config does not set nor touches routes (DESIGN.md §1.8).

# strip_config LIVE TABLE_FILE: the config as `wg-quick strip` prints it, from the shell and one
# awk (wg-quick is a bash script that starts five processes to strip): every line trimmed of the
# blanks wg-quick's `read` drops, without [Interface]'s wg-quick-only keys (Address, MTU, DNS,
# Table, PreUp, PreDown, PostUp, PostDown, SaveConfig: matched without case, as wg-quick does), and
# an empty line last. Its `Table =` (the last one, as wg-quick takes it; empty when unset) goes to
# TABLE_FILE. Then, from LIVE (`wg show IFACE dump` of the running interface, or empty):
# - a stripped config without ListenPort makes syncconf bind a new random port, and a host behind
#   NAT then gets a new mapping its peers learn only when it next sends: the port the interface
#   listens on now is written in;
# - for a /0 in AllowedIPs (an exit's full tunnel) `wg-quick up` marks the interface's own packets
#   (FwMark, 51820 unless the config sets one) and routes everything else into the tunnel by policy
#   rules. A stripped config without FwMark makes syncconf clear that mark: the handshakes and
#   keepalives to the peers' endpoints then follow the policy rules into the tunnel itself and
#   every peer is lost. So with a /0 and no FwMark the mark the interface has now is written in (a
#   change of FwMark, or a /0 that comes or goes, restarts the interface instead).
# Fails (exit 2) when no PrivateKey is left: syncconf removes whatever its input lacks.
# shellcheck disable=SC2016
strip_config() {
  LC_ALL=C awk -v live="$1" -v table_file="$2" '
    BEGIN {
      # [[:space:]] spelled out (older mawk has no character classes)
      ws = "[ \t\r" sprintf("%c%c", 11, 12) "]"
      split("address mtu dns table preup predown postup postdown saveconfig", own, " ")
      for (i in own) wgquick[own[i]] = 1
    }
    FILENAME == live { if (FNR == 1) { split($0, f, "\t"); port = f[3]; mark = f[4] } next }
    {
      line = $0; sub(/^[ \t]+/, "", line); sub(/[ \t]+$/, "", line)
      bare = line; sub(/#.*/, "", bare)
      key = bare; sub(/=.*/, "", key); gsub("^" ws "+|" ws "+$", "", key); key = tolower(key)
      if (substr(key, 1, 1) == "[") iface = (key == "[interface]")
      if (iface && (key in wgquick)) {
        if (key == "table") { v = bare; sub(/^[^=]*=/, "", v); gsub("^" ws "+|" ws "+$", "", v); table = v }
        next
      }
      n++; out[n] = line
      low = tolower(line)
      if (low ~ "^" ws "*privatekey" ws "*=") haskey = 1
      if (low ~ "^" ws "*listenport" ws "*=") hasport = 1
      if (low ~ "^" ws "*fwmark" ws "*=") hasmark = 1
      low = tolower(bare)
      if (low ~ /^[ \t]*allowedips[ \t]*=/) {
        sub(/^[^=]*=/, "", low); m = split(low, item, ",")
        for (i = 1; i <= m; i++) { gsub(/[ \t\r]/, "", item[i]); if (item[i] == "0.0.0.0/0" || item[i] == "::/0") full = 1 }
      }
    }
    END {
      print table > table_file
      if (!haskey) exit 2
      addport = !hasport && port ~ /^[0-9]+$/ && port + 0 != 0
      addmark = !hasmark && full && mark != "" && mark != "off" && mark != "0" && mark !~ /[^0-9a-fA-Fx]/
      for (i = 1; i <= n; i++) {
        print out[i]
        if (!done && tolower(out[i]) ~ /^[ \t]*\[interface\][ \t]*$/) {
          if (addmark) print "FwMark = " mark
          if (addport) print "ListenPort = " port
          done = 1
        }
      }
      print ""
    }' "$1" "$config"
}
# sync_routes IFACE TABLE: adds the routes `wg-quick up` makes of IFACE's AllowedIPs: one per prefix
# not already covered by a route of the interface (its own addresses' routes included), or every
# prefix in TABLE when one is set. `off` leaves routing to the config's own hooks; a /0 with an
# automatic table is wg-quick's policy routing, set up at `up` only (a change to it restarts the
# interface instead). Routes of prefixes that went away are removed by name (planned from facts).
sync_routes() {
  case $2 in off) return 0 ;; '' | auto) table= ;; *) table=$2 ;; esac
  # (Word splitting of the prefixes is intended: one per word.)
  # shellcheck disable=SC2013
  # Each prefix once, longest first (as wg-quick orders them), by one awk: bucketed by length.
  for prefix in $(wg show "$1" allowed-ips | awk '{ for (i = 2; i <= NF; i++) if ($i ~ /\/[0-9]+$/ && !($i in seen)) { seen[$i] = 1; len = $i; sub(/.*\//, "", len); by[len + 0] = by[len + 0] " " $i } }
      END { for (len = 128; len >= 0; len--) if (len in by) print substr(by[len], 2) }'); do
    family=-4; case $prefix in *:*) family=-6 ;; esac
    if [ -z "$table" ]; then
      case $prefix in */0) continue ;; esac
      [ -n "$(ip $family route show dev "$1" match "$prefix" 2>/dev/null)" ] || ip $family route add "$prefix" dev "$1" || return 1
    else
      [ -n "$(ip $family route show dev "$1" table "$table" exact "$prefix" 2>/dev/null)" ] || ip $family route add "$prefix" dev "$1" table "$table" || return 1
    fi
  done
}
# drop_route IFACE TABLE PREFIX: removes that route through IFACE if it is still there.
drop_route() {
  family=-4; case $3 in *:*) family=-6 ;; esac
  [ -z "$(ip $family route show dev "$1" table "$2" exact "$3" 2>/dev/null)" ] || ip $family route del "$3" dev "$1" table "$2"
}
# sync_sparing IFACE FILE LIVE: the effect of `wg syncconf IFACE FILE` without touching the allowed IPs
# of peers whose prefixes stay the same (returns 1, having changed nothing, when it cannot; the
# caller then runs syncconf). wg's parser sets "replace allowed IPs" on every [Peer] section of a
# file, so each syncconf removes and re-inserts every peer's prefixes, and a packet routed in that
# gap (wireguard-go and the kernel module both have it) finds no peer and is dropped, even for peers
# nothing changed about. So a peer whose prefixes equal (as a set) those it holds now for its key
# goes to `wg set` without allowed-ips (keepalive, endpoint and preshared key set as syncconf
# would: unset ones switched off, the key through a 0600 file), the [Interface] and every other
# peer go to `wg addconf` with what syncconf would reset written out (FwMark, PersistentKeepalive
# and PresharedKey off when unset) and without a ListenPort the interface already listens on
# (wireguard-go closes and reopens its socket on every port it is given, dropping what arrives
# meanwhile), and live peers FILE lacks are removed. A peer whose prefixes do change keeps the gap
# (wg 1.0.20210914 cannot add or remove single prefixes from a file). Anything unsure means
# syncconf, as before: a key in two sections, a prefix in two places, an empty list item, a field
# wg would not know, no ListenPort, no peer to spare; text is compared as `wg show` prints it (a
# prefix written otherwise counts as changed). LIVE is `wg show IFACE dump` (taken by the caller after
# anything it changed itself). It leaves FILE.add, FILE.args and FILE.psk.N (0600 under the callers'
# umask 077) for the caller to remove.
sync_sparing() {
  sync_if=$1 sync_file=$2 sync_live=$3
  # shellcheck disable=SC2016
  awk '
    # The prefixes item[1..n], sorted and without repeats, as one string.
    function canon(n,    i, j, t, out) {
      for (i = 2; i <= n; i++) { t = item[i]; for (j = i - 1; j >= 1 && item[j] > t; j--) item[j + 1] = item[j]; item[j + 1] = t }
      out = ""
      for (i = 1; i <= n; i++) if (i == 1 || item[i] != item[i - 1]) out = out " " item[i]
      return out
    }
    # wg reads a line without what follows "#" and without any white space (C isspace).
    BEGIN { live = ARGV[1]; base = ARGV[2]; ws = "[ \t\r\n" sprintf("%c%c", 11, 12) "]" }
    # `wg show IFACE dump`: the interface (its listen port third), then a line a peer: KEY, its
    # preshared key, endpoint, and its prefixes fourth (PREFIX,PREFIX... or (none)), tab-separated.
    FILENAME == live && FNR == 1 { split($0, field, "\t"); liveport = field[3]; next }
    FILENAME == live {
      m = split($0, field, "\t")
      if (m < 4 || (field[1] in liveset)) { unsure = 1; next }
      nlive++; livekey[nlive] = field[1]
      if (field[4] == "(none)") { liveset[field[1]] = ""; next }
      m = split(field[4], item, ","); for (i = 1; i <= m; i++) item[i] = tolower(item[i])
      liveset[field[1]] = canon(m)
      next
    }
    {
      n++; text[n] = $0; owner[n] = s
      c = $0; sub(/#.*/, "", c); gsub(ws, "", c)
      if (c == "") next
      if (substr(c, 1, 1) == "[") {
        s++; peer[s] = (tolower(c) == "[peer]"); head[s] = n; owner[n] = s
        if (!peer[s]) { if (tolower(c) != "[interface]" || ifaces++) unsure = 1 }
        next
      }
      eq = index(c, "=")
      if (!s || !eq) { unsure = 1; next }
      k = tolower(substr(c, 1, eq - 1)); v = substr(c, eq + 1)
      if (!peer[s]) {
        if (k == "fwmark") fwmark = 1
        else if (k == "listenport") { port = 1; if (v != "" && v == liveport) sameport[n] = 1 }
        else if (k != "privatekey") unsure = 1
      } else if (k == "publickey") {
        if ((s in pub) || (v in keysec)) unsure = 1
        pub[s] = v; keysec[v] = s
      } else if (k == "allowedips") {
        has[s] = 1
        if (v == "") next
        m = split(v, parts, ",")
        for (i = 1; i <= m; i++) {
          p = tolower(parts[i])
          if (p == "" || (p in where)) unsure = 1
          where[p] = s; cnt[s]++; it[s, cnt[s]] = p
        }
      } else if (k == "persistentkeepalive") keepalive[s] = v
      else if (k == "endpoint") endpoint[s] = v
      else if (k == "presharedkey") psk[s] = v
      else unsure = 1
    }
    END {
      if (unsure || !port || !ifaces) exit
      for (t = 1; t <= s; t++) {
        if (!peer[t]) continue
        if (!(t in pub)) exit
        if (!has[t] || !(pub[t] in liveset)) continue
        for (i = 1; i <= cnt[t]; i++) item[i] = it[t, i]
        if (canon(cnt[t] + 0) == liveset[pub[t]]) { spared[t] = 1; nspared++ }
      }
      if (!nspared) exit
      add = base ".add"; args = base ".args"
      for (i = 1; i <= n; i++) {
        t = owner[i]
        if (spared[t] || sameport[i]) continue
        print text[i] > add
        if (i == head[t] && !peer[t] && !fwmark) print "FwMark = off" > add
        if (i == head[t] && peer[t]) {
          if (!(t in keepalive)) print "PersistentKeepalive = off" > add
          if (!(t in psk)) print "PresharedKey = AAAAAAAAAAAAAAAAAAAAAAAAAAAAAAAAAAAAAAAAAAA=" > add
        }
      }
      close(add)
      for (t = 1; t <= s; t++) {
        if (!spared[t]) continue
        printf "peer\n%s\npersistent-keepalive\n%s\n", pub[t], ((t in keepalive) ? keepalive[t] : "off") > args
        if (t in endpoint) printf "endpoint\n%s\n", endpoint[t] > args
        if (t in psk) { f = base ".psk." t; print psk[t] > f; close(f) } else f = "/dev/null"
        printf "preshared-key\n%s\n", f > args
      }
      for (i = 1; i <= nlive; i++) if (!(livekey[i] in keysec)) printf "peer\n%s\nremove\n", livekey[i] > args
      close(args)
    }' "$sync_live" "$sync_file" || return 1
  [ -f "$sync_file.add" ] && [ -f "$sync_file.args" ] || return 1
  set --
  while IFS= read -r word; do set -- "$@" "$word"; done < "$sync_file.args"
  { wg addconf "$sync_if" "$sync_file.add" 2> "$log" && wg set "$sync_if" "$@" 2>> "$log"; } ||
    { strip_clean; echo '@@log'; cat "$log"; fail "wg addconf/set $sync_if failed"; }
}
# guarded_syncconf HOOK ARG...: the `wg syncconf` of a script that holds the interface's lock: one
# `wg show dump` of the running interface, the config stripped into a file (strip_config: no empty
# or keyless file, since syncconf removes whatever its input lacks; the listen port and fwmark
# kept), then `HOOK ARG...` (`:` for none; the refresh resets peers there, and the interface is read
# again after it), sync (sparing unchanged AllowedIPs), then make the routes match the new
# AllowedIPs. Its temp files are named by the shell's pid (the lock makes it the only one; an
# interrupted run's are cleared first) and removed by one `rm` at the end. Uses the script's `fail`.
guarded_syncconf() {
  strip=$dir/.$name.wgdeploy-strip.$$
  rm_present "$dir/.$name.wgdeploy-strip."*
  wg show "$name" dump > "$strip.live" 2>/dev/null || : > "$strip.live"
  strip_config "$strip.live" "$strip.table" > "$strip" 2> "$log"
  case $? in
    0) ;;
    2) strip_clean; fail "$name.conf stripped for wg syncconf has no PrivateKey; refusing wg syncconf" ;;
    *) strip_clean; echo '@@log'; cat "$log"; fail "cannot strip $name.conf for wg syncconf" ;;
  esac
  "$@"
  # After the hook: a peer the refresh just removed is not live, so it is not spared.
  [ "$1" = : ] || wg show "$name" dump > "$strip.live" 2>/dev/null || : > "$strip.live"
  if ! sync_sparing "$name" "$strip" "$strip.live"; then
    wg syncconf "$name" "$strip" 2> "$log" || { strip_clean; echo '@@log'; cat "$log"; fail "wg syncconf $name failed"; }
  fi
  read -r strip_table < "$strip.table" || strip_table=
  strip_clean
  sync_routes "$name" "$strip_table" 2> "$log" || { echo '@@log'; cat "$log"; fail "cannot add the routes of $name's AllowedIPs"; }
}
# strip_clean: removes guarded_syncconf's temp files (the preshared keys' among them).
strip_clean() { rm -f "$strip" "$strip".*; }

# Lock-out protection (the apply arms it, the confirm disarms it; revert.sh is what fires).
# disarm: stops a pending revert timer of $name (best effort: the token check is what makes a late
# one harmless). The pid is checked to still be wgdeploy's sleeper before its process group is
# signalled. With systemd it also sets `timer_unit`, the name start_timer uses.
disarm() {
  if [ -n "$systemd" ]; then
    timer_unit=wgdeploy-revert-$(systemd-escape "$name")
    systemctl stop "$timer_unit.timer" "$timer_unit.service" >/dev/null 2>&1
    systemctl reset-failed "$timer_unit.timer" "$timer_unit.service" >/dev/null 2>&1
  else
    first_line pid "$state/armed.pid"
    # (The shell reads the command line itself; every shell here drops its NUL separators.)
    sleeper=
    [ -n "$pid" ] && { IFS= read -r sleeper < /proc/"$pid"/cmdline; } 2>/dev/null
    case $sleeper in *wgdeploy-revert*) kill -s TERM -- -"$pid" 2>/dev/null ;; esac
  fi
  return 0
}
# start_timer SECONDS TOKEN [WINDOW]: `revert.sh TOKEN` in SECONDS, detached from the SSH session and
# the lock (systemd: a transient timer named by disarm, which always runs first; the apply step
# starts another one at its end). Without systemd, WINDOW makes the one timer also fire WINDOW
# seconds after the step's end, which the step writes into $state/applied (its token, then the
# uptime then): it wakes every WINDOW seconds (reading that file and /proc/uptime itself) and fires
# at the step's end plus WINDOW, or at SECONDS if the step never ends. So the step's end starts no
# process for it (a restarted timer cost three), and the confirm finds the one timer to stop.
start_timer() {
  if [ -n "$systemd" ]; then
    systemd-run --quiet --unit="$timer_unit" --on-active="$1" --timer-property=AccuracySec=1s /bin/sh "$state/revert.sh" "$2" 9>&-
  else
    # Own session (no hangup when SSH goes), no inherited lock descriptor, no open output. One
    # line: disarm knows the sleeper by the first line of its command line.
    # shellcheck disable=SC2016
    setsid sh -c 'limit=$1 window=${4:-$1} slept=0; while [ "$slept" -lt "$limit" ]; do chunk=$((limit - slept)); [ "$chunk" -gt "$window" ] && chunk=$window; sleep "$chunk"; slept=$((slept + chunk)); [ -n "$4" ] || continue; end=; { read -r token && read -r end; } < "$5" 2>/dev/null; case $end in "" | *[!0-9]*) continue ;; esac; up=; read -r up < /proc/uptime; up=${up%%.*}; case $up in "" | *[!0-9]*) continue ;; esac; [ $((end + window)) -gt "$up" ] && sleep $((end + window - up)); break; done; exec sh "$2" "$3"' wgdeploy-revert "$1" "$state/revert.sh" "$2" "${3:-}" "$state/applied" < /dev/null > /dev/null 2>&1 9>&- &
    echo $! > "$state/armed.pid"
  fi
}

# What decommissioning a removed host keeps and switches off, shared by inspect.sh (for `plan`)
# and remove-host.sh (for `apply`), so the plan says exactly what apply then does.
# decide_generation: sets `gen` to `kept N` (the newest generation N already holds the config),
# `new N` (the config is to be recorded as generation N) or empty (no config). (`gen` is read by
# the scripts after lib.sh.)
# shellcheck disable=SC2034
decide_generation() {
  # (With no generation at all, the newest is 0, whose config does not exist: `new 1`.)
  last=$(newest_generation)
  if [ ! -f "$config" ]; then gen=
  elif cmp -s "$config" "$gens/$last.conf"; then gen="kept $last"
  else gen="new $(( last + 1 ))"; fi
}
# decide_forwarding KEY...: for each forwarding sysctl KEY that wgdeploy's sysctl.d file sets and
# that is on, `off KEY` when only that file sets it, or `keep KEY WHY` when something else wants it
# on too (WHY: the other file, or docker0 for IPv4 when Docker runs).
decide_forwarding() {
  for key; do
    # `net.ipv4.ip_forward = 1` (sysctl.d also accepts slashes and a leading `-`).
    pattern="^[[:space:]]*-?$(printf '%s' "$key" | sed 's|\.|[./]|g')[[:space:]]*=[[:space:]]*1[[:space:]]*\$"
    if [ -f "$sysctl_file" ] && grep -Eq "$pattern" "$sysctl_file"; then
      sysctl_path "$key"
      value=; [ -r "$proc" ] && read -r value < "$proc"
      if [ "$value" = 1 ]; then
        other=$(grep -lE "$pattern" "$root/etc/sysctl.conf" "$root"/etc/sysctl.d/*.conf "$root"/run/sysctl.d/*.conf "$root"/usr/local/lib/sysctl.d/*.conf "$root"/usr/lib/sysctl.d/*.conf "$root"/lib/sysctl.d/*.conf 2>/dev/null | grep -vxF "$sysctl_file" | head -n 1)
        if [ -n "$other" ]; then echo "keep $key $other"
        elif [ "$key" = net.ipv4.ip_forward ] && [ -e "$root/sys/class/net/docker0" ]; then echo "keep $key docker0"
        else echo "off $key"; fi
      fi
    fi
  done
}
