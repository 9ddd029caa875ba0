# then-apply.sh: in apply's survey, after facts.sh on the same command (see
# remote::facts_then_apply_script): says it is ready (`@@wgdeploy-ready NONCE`), then waits for the
# apply step, which the operator sends on stdin once it has planned the host: one line of apply.sh's
# arguments as quoted words (a newline inside one written "$nl", revert.sh's text as
# "$revert_systemd" or "$revert_direct", which this command already holds), then the config. An
# empty stdin (a host with nothing to change) ends the command.
# shellcheck disable=SC2154 # set in front of facts.sh
printf '@@wgdeploy-ready %s\n' "$ready"
# revert.sh as an armed apply writes it (remote::revert_script): which service manager, lib.sh,
# then its own text.
# shellcheck disable=SC2034,SC2154 # used by the words of the step line; set in front of facts.sh
revert_systemd="#!/bin/sh
systemd=yes
$lib$revert_body" revert_direct="#!/bin/sh
systemd=
$lib$revert_body"
# shellcheck disable=SC2034 # used by the words of the step line
nl='
'
IFS= read -r step || exit 0
eval "set -- $step"
